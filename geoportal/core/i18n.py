"""The language of messages to a client: French by default, English when preferred."""

from __future__ import annotations

from typing import Literal

Language = Literal["fr", "en"]
OFFERED: tuple[Language, ...] = ("fr", "en")


def preferred_language(accept_language: str | None) -> Language:
    """The offered language the ``Accept-Language`` header ranks highest (ties: French)."""
    best: Language = "fr"
    best_q = -1.0
    for part in (accept_language or "")[:512].split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        if primary == "*":
            primary = "fr"
        if primary in OFFERED and q > 0 and q > best_q:
            best, best_q = primary, q
    return best
