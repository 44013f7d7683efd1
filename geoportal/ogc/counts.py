"""``numberMatched`` on every page, counted once per question and data version.

A page's statement counts its matches only when this worker has no count of the same
question (the layer and its filters: bbox, datetime, filter, name=value, at) yet. The
count is kept with the version the statement read, and used on the next pages while the
layer's version has not moved: paging a layer costs one count, not one per page.

An unfiltered layer is counted exactly; a filtered one up to a cap of matches (bounded
work), beyond which ``numberMatched`` is omitted. The largest matching id is kept too, so
that a keyset page knows it is the last one even when it is full (no empty last page).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

# Parameters that do not change which features match: they are not part of the question.
NOT_COUNTED = frozenset({"f", "limit", "offset", "cursor", "sortby", "properties", "crs"})


@dataclass(frozen=True)
class Matches:
    """How many features a question matches (None: more than the cap), the largest id among
    them, and the version of the data they were counted in."""

    version: str
    count: int | None
    max_id: int | None


def question_key(layer_id: str, params: Iterable[tuple[str, str]]) -> tuple[str, bytes]:
    """The question a page answers, whatever the page: a short digest of its filters."""
    asked = sorted((k, v) for k, v in params if k not in NOT_COUNTED)
    digest = hashlib.blake2b(repr(asked).encode(), digest_size=16).digest()
    return layer_id, digest


class MatchCounts:
    """The counts this worker made, least recently used first out (a service of the app)."""

    def __init__(self, size: int = 2048) -> None:
        self._size = size
        self._known: OrderedDict[tuple[str, bytes], Matches] = OrderedDict()

    def get(self, key: tuple[str, bytes]) -> Matches | None:
        """The count of that question, if one was made (its version is checked by the caller)."""
        found = self._known.get(key)
        if found is not None:
            self._known.move_to_end(key)
        return found

    def remember(self, key: tuple[str, bytes], matches: Matches) -> None:
        """Keep a count just made."""
        self._known[key] = matches
        self._known.move_to_end(key)
        while len(self._known) > self._size:
            self._known.popitem(last=False)

    def forget(self, key: tuple[str, bytes]) -> None:
        """Drop a count whose data has moved on: the next page counts again."""
        self._known.pop(key, None)
