"""The jobs of e-renseignement: a mail about a request, and the daily overdue digest."""

from __future__ import annotations

import logging
from typing import Any

import procrastinate

from geoportal.core.logs import RateLimitedLog
from geoportal.jobs.mail import Mail, RetryLater, RetryWhenAsked, SmtpConfig, deliver
from geoportal.jobs.queue import JobSpec, enqueue, resources_of
from geoportal.renseignement import store
from geoportal.renseignement.digest import digest_mail

log = logging.getLogger("geoportal.renseignement")
mail_log = RateLimitedLog(log, interval_s=300.0)


async def send_request_mail(context: procrastinate.JobContext, mail: dict[str, Any],
                            request_id: int | None = None, kind: str = "") -> None:
    """Send one mail; record it in the request's history once sent."""
    resources = resources_of(context)
    settings = resources.settings
    attempts = context.job.attempts
    try:
        await deliver(SmtpConfig.from_settings(settings), Mail.from_args(mail), attempts,
                      settings.mail_retry_min_s, settings.mail_retry_max_s)
    except RetryLater as later:
        mail_log.warning("retry", "mail %s (%s) not sent (%s): tried again in %.0f s",
                         kind or "message", f"job {context.job.id}", later.reason,
                         later.wait_s)
        raise
    if request_id is None:
        return
    try:  # the mail is gone: a failure to note it must not send it twice
        async with resources.pool.acquire() as conn:
            await store.insert_event(conn, request_id, "system", "mail_sent", None, None,
                                     {"kind": kind})
    except Exception as exc:
        log.warning("mail of request %s sent, not recorded: %s", request_id,
                    type(exc).__name__)


NRU_MAIL = JobSpec(name="nru.mail", func=send_request_mail, queue="mail",
                   retry=RetryWhenAsked())


async def daily_digest(context: procrastinate.JobContext, timestamp: int) -> None:
    """Queue the digest of overdue requests for the staff address (if one is set)."""
    resources = resources_of(context)
    async with resources.pool.acquire() as conn, conn.transaction():
        digest = await digest_mail(conn, resources.settings)
        if digest is None:
            mail_log.warning("digest", "no GEOPORTAL_NRU_STAFF_EMAIL: no overdue digest sent")
            return
        await enqueue(conn, NRU_MAIL, mail=digest[0].as_args(), request_id=None,
                      kind="digest")


NRU_DIGEST = JobSpec(name="nru.digest", func=daily_digest, queue="renseignement",
                     cron="0 7 * * *")  # 07:00 UTC: 08:00 in Casablanca
JOBS = (NRU_MAIL, NRU_DIGEST)
