"""The in-process tile cache (LRU by bytes) and the data versions its keys are built from."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import asyncpg

from geoportal.core.versions import LAYER_VERSIONS_SQL

GZIP_MIN_BYTES = 1024


@dataclass
class CachedTile:
    """A rendered tile (possibly empty) with its compressed form, made on first demand."""

    etag: str
    body: bytes
    _gzipped: bytes | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        """Bytes held in memory for this tile."""
        return len(self.body) + len(self._gzipped or b"") + 200

    def gzipped(self) -> bytes:
        """The body compressed with gzip (computed once, then kept)."""
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped


class TileCache:
    """A least-recently-used cache of tiles bounded in bytes; keys carry the data versions."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._tiles: OrderedDict[str, CachedTile] = OrderedDict()
        self._bytes = 0
        self.hits = 0  # look-ups answered and not, for the metrics (plain ints: no lock)
        self.misses = 0

    def __len__(self) -> int:
        return len(self._tiles)

    def get(self, key: str) -> CachedTile | None:
        """The tile under that key, marked as recently used, or None."""
        tile = self._tiles.get(key)
        if tile is not None:
            self._tiles.move_to_end(key)
            self.hits += 1
        else:
            self.misses += 1
        return tile

    @property
    def bytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def put(self, key: str, tile: CachedTile) -> None:
        """Keep a tile, evicting the least recently used ones beyond the size bound."""
        if tile.size > self.max_bytes:
            return
        old = self._tiles.pop(key, None)
        if old is not None:
            self._bytes -= old.size
        self._tiles[key] = tile
        self._bytes += tile.size
        while self._bytes > self.max_bytes:
            _, evicted = self._tiles.popitem(last=False)
            self._bytes -= evicted.size

    def resize(self, key: str, before: int) -> None:
        """Account for a tile whose compressed form was just added."""
        tile = self._tiles.get(key)
        if tile is not None:
            self._bytes += tile.size - before


class DataVersions:
    """The change counter of every table, re-read at most once per ``max_age_s`` seconds.

    Kept per pool: with read replicas (db.routing) each node may be a little behind the
    others, and a tile drawn on one node must be keyed by that node's versions, or a lagging
    replica's tile would be cached under a newer version. One pool: as a single cache.
    """

    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self._by_pool: dict[int, tuple[float, dict[str, int]]] = {}
        self._lock = asyncio.Lock()

    def invalidate(self, _table: str = "*") -> None:
        """Read the versions again on next use (a change committed: see db.changes)."""
        self._by_pool = {}

    async def current(self, pool: asyncpg.Pool) -> dict[str, int]:
        """Table name → version; one small query when the last read is too old."""
        known = self._by_pool.get(id(pool))
        if known is not None and time.monotonic() - known[0] < self.max_age_s:
            return known[1]
        async with self._lock:
            known = self._by_pool.get(id(pool))
            if known is None or time.monotonic() - known[0] >= self.max_age_s:
                rows = await pool.fetch(LAYER_VERSIONS_SQL)
                known = (time.monotonic(),
                         {row["table_name"]: int(row["version"]) for row in rows})
                self._by_pool[id(pool)] = known
        return known[1]
