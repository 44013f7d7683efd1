"""The daily digest of overdue requests, for the staff address of the settings."""

from __future__ import annotations

import datetime as dt

import asyncpg

from geoportal.jobs.mail import Mail
from geoportal.renseignement import store
from geoportal.renseignement.labels import OPEN_STATUSES
from geoportal.renseignement.mails import AGENCY_TZ, overdue_digest
from geoportal.settings import Settings

DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def base_url(settings: Settings) -> str:
    """Links in mail sent without a request: the public URL, else the local service."""
    return (settings.public_url or DEFAULT_BASE_URL).rstrip("/")


async def digest_mail(conn: asyncpg.Connection | asyncpg.Pool,
                      settings: Settings) -> Mail | None:
    """Today's digest (even when nothing is overdue), or None without a staff address."""
    if not settings.nru_staff_email:
        return None
    rows = await store.overdue(conn, OPEN_STATUSES)
    return overdue_digest(settings.nru_staff_email, rows, base_url(settings),
                          dt.datetime.now(AGENCY_TZ).date())
