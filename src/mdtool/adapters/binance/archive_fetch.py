"""Downloads from the Binance public data archive: streamed to temporary files, checksummed, in parallel.

Every zip is streamed to a file in a private temporary directory while its SHA-256 is computed, and is
handed on only when that digest equals the one in the `.zip.CHECKSUM` file beside it (sha256sum
format: `<hex>  <name>`). A mismatch is fetched once more (a torn download or a re-upload caught
half-way); a second mismatch fails the command naming the file, so nothing from a bad file is ever
stored. A 404 (on the zip or its CHECKSUM) means "not archived": the caller falls back to smaller
files or to REST. Memory stays bounded (chunks of `_CHUNK` bytes), at most `workers` downloads run at
once, and the directory is removed on `close` - also on Ctrl-C, whose `KeyboardInterrupt` unwinds
through the `with` block, and whose worker threads stop at their next chunk.
"""

from __future__ import annotations

import hashlib
import logging
import random
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

from mdtool.adapters.binance.archive_layout import ArchiveFile
from mdtool.errors import ExchangeError

log = logging.getLogger(__name__)

_CHUNK = 1 << 18
_ATTEMPTS = 4
"""Connection failures and 5xx answers are retried this many times in all, with backoff."""


class ArchiveError(ExchangeError):
    """The archive served a file whose checksum never matched, or kept failing."""


class ArchiveCancelled(ArchiveError):
    """Downloads stopped because the client was closed (Ctrl-C)."""


@dataclass(frozen=True)
class Downloaded:
    """A verified zip on disk (`path`), or `path=None` when the archive does not have the file."""

    file: ArchiveFile
    path: Path | None
    size: int = 0
    sha256: str = ""


class ArchiveClient:
    """Fetches archive files below `base_url` (`BINANCE_ARCHIVE_URL`)."""

    def __init__(
        self, base_url: str, *, workers: int = 4, timeout: float = 60.0, backoff: float = 0.5
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.workers = max(1, workers)
        self.timeout = timeout
        self.backoff = backoff
        self.downloads = 0
        """Zips fetched (verified or not), for the summary line."""
        self.bytes = 0
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._local = threading.local()
        self._dir = Path(tempfile.mkdtemp(prefix="mdtool-archive-"))

    def __enter__(self) -> ArchiveClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop downloads in flight and delete every temporary file (idempotent)."""
        self._cancel.set()
        shutil.rmtree(self._dir, ignore_errors=True)

    def fetch(self, file: ArchiveFile, on_bytes: Callable[[int], None] | None = None) -> Downloaded:
        """Download and verify one file; `Downloaded(path=None)` when the archive does not have it."""
        expected = self._expected_digest(file)
        if expected is None:
            return Downloaded(file, None)
        for attempt in (1, 2):
            target = self._dir / f"{attempt}-{file.name}"
            got = self._download(self._url(file.path), target, on_bytes)
            if got is None:
                return Downloaded(file, None)
            size, digest = got
            if digest == expected:
                return Downloaded(file, target, size, digest)
            target.unlink(missing_ok=True)
            log.warning(
                "archive: %s checksum mismatch (attempt %d): fetching it once more", file.name, attempt
            )
            expected = self._expected_digest(file) or expected  # a re-upload brings a new CHECKSUM
        raise ArchiveError(
            f"archive file {file.name} failed its SHA-256 check twice ({self._url(file.path)}); "
            "nothing from it was stored"
        )

    def fetch_all(
        self, files: Iterable[ArchiveFile], on_bytes: Callable[[int], None] | None = None
    ) -> Iterator[Downloaded]:
        """Verified downloads in the order given, up to `workers` fetched ahead.

        Each file is deleted once the caller asks for the next one, so at most `workers + 1` zips are
        on disk at a time.
        """
        queue = iter(files)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="binance-archive") as pool:
            pending: deque[Future[Downloaded]] = deque()
            try:
                while True:
                    while len(pending) < self.workers and (nxt := next(queue, None)) is not None:
                        pending.append(pool.submit(self.fetch, nxt, on_bytes))
                    if not pending:
                        return
                    done = pending.popleft().result()
                    try:
                        yield done
                    finally:
                        if done.path is not None:
                            done.path.unlink(missing_ok=True)
            except BaseException:
                # Ctrl-C or a failure: downloads in flight stop at their next chunk, so leaving the
                # pool (which waits for its threads) is prompt.
                self._cancel.set()
                raise
            finally:
                self._cancel_pending(pending)

    def _cancel_pending(self, pending: deque[Future[Downloaded]]) -> None:
        for future in pending:
            future.cancel()
        for future in pending:
            if not future.cancelled() and future.done() and future.exception() is None:
                path = future.result().path
                if path is not None:
                    path.unlink(missing_ok=True)

    # --- HTTP -------------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path}"

    def _session(self) -> requests.Session:
        """One session per thread: `requests.Session` is not documented as thread-safe."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    def _expected_digest(self, file: ArchiveFile) -> str | None:
        """The SHA-256 from the CHECKSUM file, or None when there is no such file (404)."""
        url = self._url(file.path) + ".CHECKSUM"
        response = self._get(url, stream=False)
        if response is None:
            return None
        fields = response.text.split()
        if not fields or len(fields[0]) != 64 or any(c not in "0123456789abcdefABCDEF" for c in fields[0]):
            raise ArchiveError(
                f"archive checksum file {url} is not in sha256sum format: {response.text[:100]!r}"
            )
        return fields[0].lower()

    def _download(
        self, url: str, target: Path, on_bytes: Callable[[int], None] | None
    ) -> tuple[int, str] | None:
        """Stream `url` into `target`; (size, sha256 hex), or None on 404."""
        response = self._get(url, stream=True)
        if response is None:
            return None
        digest = hashlib.sha256()
        size = 0
        with self._lock:
            self.downloads += 1
        try:
            with target.open("wb") as out:
                for chunk in response.iter_content(_CHUNK):
                    if self._cancel.is_set():
                        raise ArchiveCancelled("archive download cancelled")
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    with self._lock:
                        self.bytes += len(chunk)
                    if on_bytes is not None:
                        on_bytes(len(chunk))
        except requests.RequestException as exc:
            target.unlink(missing_ok=True)
            raise ArchiveError(f"archive download of {url} broke off: {type(exc).__name__}") from None
        finally:
            response.close()
        return size, digest.hexdigest()

    def _get(self, url: str, *, stream: bool) -> requests.Response | None:
        """GET with bounded retries on connection failures and 5xx; None on 404 (or 403, S3's 404)."""
        for attempt in range(1, _ATTEMPTS + 1):
            if self._cancel.is_set():
                raise ArchiveCancelled("archive download cancelled")
            try:
                response = self._session().get(url, stream=stream, timeout=self.timeout)
            except requests.RequestException as exc:
                reason = type(exc).__name__
            else:
                if response.status_code == 200:
                    return response
                response.close()
                if response.status_code in (403, 404):
                    return None
                if response.status_code < 500:
                    raise ArchiveError(f"archive refused {url}: HTTP {response.status_code}")
                reason = f"HTTP {response.status_code}"
            if attempt == _ATTEMPTS:
                raise ArchiveError(f"archive download of {url} failed {attempt} times ({reason})")
            delay = self.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
            log.warning("archive: %s failed (%s); retry %d in %.1f s", url, reason, attempt, delay)
            if self._cancel.wait(delay):
                raise ArchiveCancelled("archive download cancelled")
        raise AssertionError("unreachable")
