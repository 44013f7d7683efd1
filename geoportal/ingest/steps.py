"""The steps of an import, as the progress callback names them."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]
READING = "reading"
CHECKING = "checking geometries"
APPLYING = "applying changes"


def silent(step: str, done: int, total: int) -> None:
    """A progress callback that says nothing."""
