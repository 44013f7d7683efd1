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
                      settings: Settings) -> tuple[Mail, int] | None:
    """Today's digest (even when nothing is overdue) and how many requests it lists, or None
    without a staff address."""
    if not settings.nru_staff_email:
        return None
    rows = await store.overdue(conn, OPEN_STATUSES)
    return overdue_digest(settings.nru_staff_email, rows, base_url(settings),
                          dt.datetime.now(AGENCY_TZ).date()), len(rows)


async def send_digest_now(settings: Settings) -> int:
    """Compose and send the digest at once (``geoportal renseignement digest``); how many
    requests it lists. Connection errors of the SMTP server are raised."""
    import asyncio

    from geoportal.db.urls import libpq_url, resolve_write_database_url
    from geoportal.jobs.mail import SmtpConfig, send_now

    config = SmtpConfig.from_settings(settings)
    conn = await asyncpg.connect(libpq_url(resolve_write_database_url(settings)))
    try:
        digest = await digest_mail(conn, settings)
    finally:
        await conn.close()
    if digest is None or config is None:
        return 0
    await asyncio.to_thread(send_now, config, digest[0])
    return digest[1]
