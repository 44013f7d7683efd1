"""Time travel, once: ``at=`` read from a request, and a table as it stood at that moment.

Every versioned table ``T`` has a twin ``T_history`` and an inlinable SQL function
``T_as_of(timestamptz)`` (migration 0004_history), so a statement reads the past by naming
``T_as_of($n)`` where it names ``T`` — filters still reach the GiST indexes of both halves.

``at`` is the moment the data is read at (transaction time: what the database held then);
``datetime`` filters on the features' own valid time. A date alone means the end of that
day in Casablanca (what was in force "on" that date).
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from geoportal.core.sql import ident
from geoportal.errors import InvalidParameter

AGENCY_TZ = ZoneInfo("Africa/Casablanca")
HISTORY_TABLES = frozenset({
    "prefectures", "communes", "plans", "zone_rules", "zoning", "servitudes", "reservations",
    "roads", "parcels",
})
"""The tables with a ``_history`` twin and an ``_as_of`` function (migration 0004_history)."""
SETTLED_AFTER = dt.timedelta(minutes=15)
"""How long before the data at a moment can no longer change. Rows are stamped with their
transaction's start, so a transaction running across ``at`` may still commit rows valid
from before it; edits and imports commit well within this."""
IMMUTABLE = "public, max-age=31536000, immutable"
"""Cache-Control of an answer about a settled moment: it will never change."""
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:?\d{2})?")
MAX_AT_LENGTH = 40


def as_of(table: str, at: str | None) -> str:
    """``table`` (quoted), or the call that gives it as it stood at the SQL expression ``at``
    (a bound parameter such as ``$3``); ``table`` comes from the schema or the registry."""
    if at is None:
        return ident(table)
    return f"{ident(table + '_as_of')}({at}::timestamptz)"


def settled(at: dt.datetime, now: dt.datetime | None = None) -> bool:
    """Whether the data as it stood at ``at`` is final (see ``SETTLED_AFTER``)."""
    return at <= (now or dt.datetime.now(dt.UTC)) - SETTLED_AFTER


def at_text(at: dt.datetime) -> str:
    """A moment as RFC 3339 in UTC (``…Z``), as ``parse_at`` reads it back: for links."""
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_at(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """An ``at=`` value: RFC 3339 date-time (UTC unless an offset is given) or a date (its
    end, Casablanca time); a moment in the future is refused (the past is all we know)."""
    value = text.strip()
    if len(value) > MAX_AT_LENGTH:
        raise _bad(text)
    if _DATE.fullmatch(value):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise _bad(text) from None
        moment = dt.datetime.combine(day, dt.time.max, AGENCY_TZ)
    elif _DATETIME.fullmatch(value):
        try:
            moment = dt.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            raise _bad(text) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
    else:
        raise _bad(text)
    try:  # before year 1 or after 9999 in UTC or Casablanca time (e.g. 0001-01-01T00:00Z)
        moment.astimezone(dt.UTC).astimezone(AGENCY_TZ)
    except OverflowError:
        raise _bad(text) from None
    current = now or dt.datetime.now(dt.UTC)
    if moment > current + dt.timedelta(seconds=1):
        if _DATE.fullmatch(value) and moment.date() == current.astimezone(AGENCY_TZ).date():
            return current  # today: what the data is now
        raise InvalidParameter(
            f"at={value} est dans le futur : l'historique ne connaît que le passé.",
            en=f"at={value} is in the future: history only knows the past.")
    return moment


def _bad(text: str) -> InvalidParameter:
    shown = text[:MAX_AT_LENGTH]
    return InvalidParameter(
        f"at={shown!r} n'est pas une date (AAAA-MM-JJ) ni une date-heure RFC 3339 "
        "(AAAA-MM-JJTHH:MM:SSZ).",
        en=f"at={shown!r} is neither a date (YYYY-MM-DD) nor an RFC 3339 date-time "
           "(YYYY-MM-DDTHH:MM:SSZ).")
