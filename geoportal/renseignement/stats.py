"""The dashboard's figures: requests per week and per commune, outcomes, processing times,
overdue count — each one statement over the requests and their events."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg

from geoportal.renseignement.labels import OPEN_STATUSES

WEEKS = 12
PER_WEEK = """
SELECT to_char(week, 'IYYY-"S"IW') AS label, week::date AS week, count(r.id) AS n
FROM generate_series(date_trunc('week', now() AT TIME ZONE 'Africa/Casablanca')
                       - make_interval(weeks => $1 - 1),
                     date_trunc('week', now() AT TIME ZONE 'Africa/Casablanca'),
                     interval '1 week') AS week
LEFT JOIN nru_requests r
  ON date_trunc('week', r.submitted_at AT TIME ZONE 'Africa/Casablanca') = week
GROUP BY week ORDER BY week"""
PER_COMMUNE = """
SELECT coalesce(c.name_fr, 'Contour hors commune connue') AS label, count(*) AS n
FROM nru_requests r LEFT JOIN communes c ON c.code = r.commune_code
GROUP BY 1 ORDER BY n DESC, label"""
TOTALS = """
SELECT count(*) AS total,
       count(*) FILTER (WHERE status = 'issued') AS issued,
       count(*) FILTER (WHERE status = 'refused') AS refused,
       count(*) FILTER (WHERE status = ANY($1::text[])) AS open,
       count(*) FILTER (WHERE status = ANY($1::text[]) AND due_at < now()) AS overdue
FROM nru_requests"""
# Processing time: from submission to the event that closed the request (issued or refused).
DURATIONS = """
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY days) AS median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY days) AS p90, count(*) AS closed
FROM (SELECT (extract(epoch FROM max(e.at) - r.submitted_at) / 86400)::float8 AS days
      FROM nru_requests r JOIN nru_events e ON e.request_id = r.id
       AND e.status_after IN ('issued', 'refused') AND e.status_after = r.status
      WHERE r.status IN ('issued', 'refused')
      GROUP BY r.id, r.submitted_at) AS closed"""


@dataclass(frozen=True)
class Stats:
    """What the dashboard shows."""

    total: int
    issued: int
    refused: int
    open: int
    overdue: int
    closed: int
    median_days: float | None
    p90_days: float | None
    per_week: list[tuple[str, int]]
    per_commune: list[tuple[str, int]]
    computed_at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        """The figures as JSON."""
        document = asdict(self)
        document["per_week"] = [{"week": w, "requests": n} for w, n in self.per_week]
        document["per_commune"] = [{"commune": c, "requests": n} for c, n in self.per_commune]
        document["computed_at"] = self.computed_at.isoformat()
        return document


def _days(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


async def compute(conn: asyncpg.Connection | asyncpg.Pool) -> Stats:
    """The dashboard's figures now."""
    totals = await conn.fetchrow(TOTALS, list(OPEN_STATUSES))
    durations = await conn.fetchrow(DURATIONS)
    weeks = await conn.fetch(PER_WEEK, WEEKS)
    communes = await conn.fetch(PER_COMMUNE)
    assert totals is not None and durations is not None
    return Stats(total=totals["total"], issued=totals["issued"], refused=totals["refused"],
                 open=totals["open"], overdue=totals["overdue"], closed=durations["closed"],
                 median_days=_days(durations["median"]), p90_days=_days(durations["p90"]),
                 per_week=[(row["label"], row["n"]) for row in weeks],
                 per_commune=[(row["label"], row["n"]) for row in communes],
                 computed_at=dt.datetime.now(dt.UTC))
