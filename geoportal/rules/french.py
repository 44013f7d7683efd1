"""Numbers, areas and dates written the French way, for warnings and the note."""

from __future__ import annotations

import datetime as dt

_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre")
NBSP = "\u00a0"


def number(value: float, decimals: int = 2) -> str:
    """``1234.5`` → ``1 234,50`` (non-breaking thousands separator, decimal comma)."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", NBSP).replace(".", ",")


def area(value: float) -> str:
    """An area in m², e.g. ``1 234,50 m²``."""
    return f"{number(value)}{NBSP}m²"


def percent(value: float) -> str:
    """A share, e.g. ``70,00 %``."""
    return f"{number(value)}{NBSP}%"


def coefficient(value: float | None) -> str:
    """A COS or CUS, e.g. ``0,6`` (as few decimals as needed), or a dash."""
    if value is None:
        return "–"
    return f"{value:g}".replace(".", ",")


def date(day: dt.date) -> str:
    """``17 mai 2018``."""
    return f"{day.day}{'er' if day.day == 1 else ''} {_MONTHS[day.month - 1]} {day.year}"
