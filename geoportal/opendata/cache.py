"""Built downloads kept on disk: one file per layer, format, CRS and data version.

A download is built once per version of its layer (the first request builds it; requests that
come meanwhile, in this worker or another, wait for it), written under a temporary name and
renamed into place, so a file that has its final name is complete. GeoJSON, CSV and GeoPackage
files get a gzip twin, sent to clients that accept it. Building a new version removes the
older ones of the same download; past the size bound, the least recently served files go.

A file is opened before it is served: if a newer version replaces it meanwhile, the request
that opened it still reads it whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gzip
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import anyio.to_thread

from geoportal.ogc.sql import ENCODING

log = logging.getLogger("geoportal")
GZIP_SUFFIX = ".gz"
LOCK_POLL_S = 0.05
BUILDING_PREFIX = ".build-"
LOCKS = ".locks"


@dataclass(frozen=True)
class Family:
    """One download whatever its version: a layer, a format, a CRS."""

    layer: str
    ext: str
    srid: int
    compressible: bool = False

    @property
    def prefix(self) -> str:
        """The start of the file names of its versions."""
        return f"{self.layer}~{self.srid}~"

    def file_name(self, stamp_key: str) -> str:
        """The name of the file holding the version ``stamp_key``."""
        # the encoding's revision too: a file built by an older encoding is not served
        digest = hashlib.sha256(
            f"{ENCODING}|{self.layer}|{self.ext}|{self.srid}|{stamp_key}".encode())
        return f"{self.prefix}{digest.hexdigest()[:20]}.{self.ext}"


@dataclass
class Opened:
    """A built download, open for reading (the plain file or its gzip twin)."""

    path: Path
    handle: IO[bytes]
    size: int
    mtime_ns: int
    gzipped: bool

    def close(self) -> None:
        """Close the file."""
        self.handle.close()


Builder = Callable[[Path], Awaitable[tuple[str, Path]]]
"""Writes a download into the given folder; returns the stamp key of the data and the file."""


def _open(path: Path, gzipped: bool) -> Opened | None:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None
    status = os.fstat(handle.fileno())
    with contextlib.suppress(OSError):  # last served, for eviction; the mtime stays the build's
        os.utime(handle.fileno(), ns=(time.time_ns(), status.st_mtime_ns))
    return Opened(path, handle, status.st_size, status.st_mtime_ns, gzipped)


def _gzip(source: Path, target: Path) -> None:
    with source.open("rb") as plain, gzip.open(target, "wb", compresslevel=6) as packed:
        shutil.copyfileobj(plain, packed, 1 << 20)


class DownloadCache:
    """The folder of built downloads (a service of the app)."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._locks: dict[Family, asyncio.Lock] = {}

    @property
    def enabled(self) -> bool:
        """Whether downloads are built into files (else they are streamed)."""
        return self.max_bytes > 0

    def open(self, family: Family, stamp_key: str, gzipped: bool = False) -> Opened | None:
        """The version ``stamp_key`` of a download, opened, if it is built (its gzip twin when
        asked and there is one)."""
        path = self.folder / family.file_name(stamp_key)
        if gzipped and family.compressible:
            found = _open(path.with_name(path.name + GZIP_SUFFIX), True)
            if found is not None:
                return found
        return _open(path, False)

    async def get(self, family: Family, stamp_key: str, build: Builder,
                  gzipped: bool = False) -> Opened:
        """The download, opened: built now unless it is already (or another request builds
        it, which this one waits for)."""
        while True:
            found = self.open(family, stamp_key, gzipped)
            if found is not None:
                return found
            stamp_key = await self._build(family, stamp_key, build)

    async def _build(self, family: Family, stamp_key: str, build: Builder) -> str:
        """Build the download unless it appeared while waiting; returns the stamp key built
        (newer than asked when the data changed meanwhile)."""
        lock = self._locks.setdefault(family, asyncio.Lock())
        async with lock, self._folder_lock(family):
            if (self.folder / family.file_name(stamp_key)).is_file():
                return stamp_key
            scratch = Path(tempfile.mkdtemp(prefix=BUILDING_PREFIX, dir=self.folder))
            try:
                built_key, path = await build(scratch)
                final = self.folder / family.file_name(built_key)
                if family.compressible:
                    packed = scratch / (final.name + GZIP_SUFFIX)
                    await anyio.to_thread.run_sync(_gzip, path, packed)
                    os.replace(packed, final.with_name(final.name + GZIP_SUFFIX))
                os.replace(path, final)  # last: a file under its final name is complete
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            await anyio.to_thread.run_sync(self._evict, family, final)
            return built_key

    @contextlib.asynccontextmanager
    async def _folder_lock(self, family: Family) -> AsyncIterator[None]:
        """The download's lock across the workers sharing the folder (polled: cancellable)."""
        locks = self.folder / LOCKS
        locks.mkdir(parents=True, exist_ok=True)
        fd = os.open(locks / f"{family.prefix}{family.ext}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(LOCK_POLL_S)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _evict(self, family: Family, keep: Path) -> None:
        """Older versions of this download, then the least recently served files past the
        size bound (never ``keep``, just built)."""
        kept = {keep.name, keep.name + GZIP_SUFFIX}
        files: list[tuple[int, int, Path]] = []
        for path in self.folder.iterdir():
            if path.name in kept or path.name.startswith((".", BUILDING_PREFIX)):
                continue
            stem = path.name.removesuffix(GZIP_SUFFIX)
            if stem.startswith(family.prefix) and stem.endswith(f".{family.ext}"):
                path.unlink(missing_ok=True)
                continue
            with contextlib.suppress(FileNotFoundError):
                status = path.stat()
                files.append((status.st_atime_ns, status.st_size, path))
        total = sum(size for _, size, _ in files)
        total += sum((self.folder / name).stat().st_size for name in kept
                     if (self.folder / name).exists())
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
            log.info("download cache: %s removed (%.0f MB kept)", path.name, total / 1e6)
