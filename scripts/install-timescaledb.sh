#!/usr/bin/env bash
# Make the TimescaleDB extension available to the machine's PostgreSQL 15.
#
# Debian bookworm ships no timescaledb binary package; trixie carries it as a *source* package.
# We fetch that source with apt-get using a private apt state directory (so the machine's own apt
# configuration is untouched) and the mirror URI the machine already uses, then build the
# Apache-licensed part and install it into PostgreSQL 15. Does nothing when already installed.
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
CONTROL="/usr/share/postgresql/${PG_MAJOR}/extension/timescaledb.control"

if [ -f "$CONTROL" ] && ls /usr/lib/postgresql/"${PG_MAJOR}"/lib/timescaledb*.so >/dev/null 2>&1; then
    echo "timescaledb: already installed for PostgreSQL ${PG_MAJOR}"
    exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

echo "timescaledb: installing build dependencies"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "postgresql-${PG_MAJOR}" "postgresql-server-dev-${PG_MAJOR}" \
    cmake dpkg-dev gcc make libssl-dev >/dev/null

mirror_uri() {
    # First "deb" URI of the configured Debian archive (deb822 or one-line format).
    local uri=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
    fi
    echo "$uri"
}

URI=$(mirror_uri)
if [ -z "$URI" ]; then
    echo "timescaledb: cannot find the Debian mirror URI in the apt sources" >&2
    exit 1
fi

WORK=$(mktemp -d)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/state/lists/partial" "$WORK/cache/archives/partial" "$WORK/etc/sources.list.d" "$WORK/src"
echo "deb-src ${URI} trixie main" > "$WORK/etc/sources.list"

APT_OPTS=(
    -o "Dir::Etc::SourceList=$WORK/etc/sources.list"
    -o "Dir::Etc::SourceParts=$WORK/etc/sources.list.d"
    -o "Dir::State=$WORK/state"
    -o "Dir::State::status=/var/lib/dpkg/status"
    -o "Dir::Cache=$WORK/cache"
    -o "APT::Get::List-Cleanup=0"
)

echo "timescaledb: fetching the trixie source package"
apt-get "${APT_OPTS[@]}" update -qq
(cd "$WORK/src" && apt-get "${APT_OPTS[@]}" source -qq timescaledb >/dev/null)

SRC_DIR=$(find "$WORK/src" -maxdepth 1 -mindepth 1 -type d -name 'timescaledb-*' | head -n 1)
if [ -z "$SRC_DIR" ]; then
    echo "timescaledb: the source package did not unpack" >&2
    exit 1
fi

echo "timescaledb: building $(basename "$SRC_DIR")"
cd "$SRC_DIR"
PATH="/usr/lib/postgresql/${PG_MAJOR}/bin:$PATH" ./bootstrap -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF \
    -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF -DPG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config" >/dev/null
make -C build -j "$(nproc)" >/dev/null
$SUDO make -C build install >/dev/null
echo "timescaledb: installed for PostgreSQL ${PG_MAJOR}"
