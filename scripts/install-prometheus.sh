#!/usr/bin/env bash
# Install the Prometheus server (Debian's `prometheus` package) so that the metrics test can have a real
# Prometheus scrape `mdtool run`. Only the binary is used: the test starts its own throw-away server on a
# free port, so the package's own service is stopped and disabled where systemd runs. Does nothing when
# the binary is already there; also installs systemd's `systemd-analyze` for the unit-file check.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
if [ ${#missing[@]} -eq 0 ]; then
    echo "prometheus: already installed ($(command -v prometheus))"
    exit 0
fi

echo "prometheus: installing ${missing[*]}"
$SUDO apt-get update -qq
# policy-rc.d 101: the package's post-install must not start a server of its own on :9090.
POLICY=/usr/sbin/policy-rc.d
CREATED_POLICY=0
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    CREATED_POLICY=1
fi
trap '[ "$CREATED_POLICY" = 1 ] && $SUDO rm -f "$POLICY"' EXIT
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "prometheus: installed $(command -v prometheus)"
