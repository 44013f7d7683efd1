"""The SQL of e-renseignement: one small function per statement, bound parameters only."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from geoportal.renseignement.files import Piece

NUMBER_SQL = ("'NRU-' || to_char(now() AT TIME ZONE 'Africa/Casablanca', 'YYYY') || '-' || "
              "lpad(nextval('nru_number_seq')::text, 6, '0')")
REQUEST_COLUMNS = """
  r.id, r.number, r.status, r.parcel_ref, r.commune_code, r.plan_refs, r.plan_approved,
  r.requester_name, r.requester_id_number, r.requester_email, r.requester_phone, r.capacity,
  r.purpose, r.language, r.as_of, r.submitted_at, r.due_at, r.updated_at, r.assigned_to,
  ST_AsGeoJSON(r.outline)::json AS outline_json,
  ST_AsGeoJSON(ST_Transform(r.outline, 4326), 7)::json AS outline_lonlat,
  c.name_fr AS commune_fr, c.name_ar AS commune_ar"""
FROM_REQUEST = "nru_requests r LEFT JOIN communes c ON c.code = r.commune_code"


@dataclass(frozen=True)
class NewRequest:
    """What a request is stored with (checked before)."""

    token_hash: str
    parcel_ref: str | None
    outline_wkb: bytes | None
    commune_code: str | None
    plan_refs: list[str]
    plan_approved: bool
    requester_name: str
    requester_id_number: str
    requester_email: str
    requester_phone: str | None
    capacity: str
    purpose: str
    language: str
    target_days: int
    client: str


async def recent_requests(conn: asyncpg.Connection | asyncpg.Pool, client: str,
                          window_s: float) -> tuple[int, dt.datetime | None]:
    """How many requests ``client`` submitted in the last ``window_s``, and the oldest."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, min(submitted_at) AS oldest FROM nru_requests "
        "WHERE client = $1 AND submitted_at > now() - make_interval(secs => $2)",
        client, window_s)
    assert row is not None
    return int(row["n"]), row["oldest"]


async def lock_client(conn: asyncpg.Connection, client: str) -> None:
    """Serialise one client's submissions for the rest of the transaction (exact quota)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('nru:' || $1, 0))",
                       client)


async def insert_request(conn: asyncpg.Connection, new: NewRequest) -> asyncpg.Record:
    """Store a request; its id, number, dates."""
    row = await conn.fetchrow(
        f"""INSERT INTO nru_requests (number, token_hash, parcel_ref, outline, commune_code,
              plan_refs, plan_approved, requester_name, requester_id_number, requester_email,
              requester_phone, capacity, purpose, language, due_at, client)
            VALUES ({NUMBER_SQL}, $1, $2, ST_Multi(ST_SetSRID(ST_GeomFromWKB($3), 26191)),
                    $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                    now() + make_interval(days => $14), $15)
            RETURNING id, number, status, as_of, submitted_at, due_at""",  # noqa: S608
        new.token_hash, new.parcel_ref, new.outline_wkb, new.commune_code, new.plan_refs,
        new.plan_approved, new.requester_name, new.requester_id_number, new.requester_email,
        new.requester_phone, new.capacity, new.purpose, new.language, new.target_days,
        new.client)
    assert row is not None
    return row


async def insert_attachment(conn: asyncpg.Connection, request_id: int, piece: Piece,
                            sha256: str, uploaded_by: str) -> int:
    """Record an attachment already on disk."""
    return int(await conn.fetchval(
        "INSERT INTO nru_attachments (request_id, kind, filename, media_type, size_bytes, "
        "sha256, uploaded_by) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        request_id, piece.kind, piece.filename, piece.media_type, len(piece.data), sha256,
        uploaded_by))


async def insert_event(conn: asyncpg.Connection, request_id: int, actor: str, action: str,
                       before: str | None, after: str | None,
                       detail: dict[str, Any] | None = None) -> None:
    """Record an action on a request."""
    await conn.execute(
        "INSERT INTO nru_events (request_id, actor, action, status_before, status_after, "
        "detail) VALUES ($1, $2, $3, $4, $5, $6::text::jsonb)",
        request_id, actor, action, before, after, json.dumps(detail or {}, ensure_ascii=False))


async def insert_link(conn: asyncpg.Connection, request_id: int, token_hash: str,
                      reason: str) -> None:
    """One more private link to the request (sent in a later mail)."""
    await conn.execute("INSERT INTO nru_links (token_hash, request_id, reason) "
                       "VALUES ($1, $2, $3)", token_hash, request_id, reason)


async def request_by_token(conn: asyncpg.Connection | asyncpg.Pool,
                           token_hash: str) -> asyncpg.Record | None:
    """The request a tracking link leads to."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {REQUEST_COLUMNS} FROM {FROM_REQUEST} WHERE r.token_hash = $1 OR r.id = "  # noqa: S608
        "(SELECT request_id FROM nru_links WHERE token_hash = $1)", token_hash)
    return row


async def request_by_id(conn: asyncpg.Connection | asyncpg.Pool,
                        request_id: int) -> asyncpg.Record | None:
    """One request, for staff."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {REQUEST_COLUMNS} FROM {FROM_REQUEST} WHERE r.id = $1",  # noqa: S608
        request_id)
    return row


async def lock_status(conn: asyncpg.Connection, request_id: int) -> asyncpg.Record | None:
    """Lock the request's row for a change; its status and contact."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT id, number, status, requester_email, requester_name, language "
        "FROM nru_requests WHERE id = $1 FOR UPDATE", request_id)
    return row


async def set_status(conn: asyncpg.Connection, request_id: int, status: str,
                     assigned_to: str | None = None) -> None:
    """Move a request to ``status`` (and to a reviewer)."""
    await conn.execute(
        "UPDATE nru_requests SET status = $2, updated_at = now(), "
        "assigned_to = coalesce($3, assigned_to) WHERE id = $1",
        request_id, status, assigned_to)


async def attachments(conn: asyncpg.Connection | asyncpg.Pool,
                      request_id: int) -> list[asyncpg.Record]:
    """The request's pieces, in upload order."""
    return list(await conn.fetch(
        "SELECT id, kind, filename, media_type, size_bytes, sha256, uploaded_at, uploaded_by "
        "FROM nru_attachments WHERE request_id = $1 ORDER BY id", request_id))


async def attachment(conn: asyncpg.Connection | asyncpg.Pool, request_id: int,
                     attachment_id: int) -> asyncpg.Record | None:
    """One piece of one request."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT id, kind, filename, media_type, sha256 FROM nru_attachments "
        "WHERE request_id = $1 AND id = $2", request_id, attachment_id)
    return row


async def sha_in_use(conn: asyncpg.Pool, sha256: str) -> bool:
    """Whether any attachment holds that content."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM nru_attachments WHERE sha256 = $1)", sha256))


async def events(conn: asyncpg.Connection | asyncpg.Pool,
                 request_id: int) -> list[asyncpg.Record]:
    """The request's history, oldest first."""
    return list(await conn.fetch(
        "SELECT at, actor, action, status_before, status_after, detail FROM nru_events "
        "WHERE request_id = $1 ORDER BY at, id", request_id))


@dataclass(frozen=True)
class QueueFilter:
    """Which requests the queue shows."""

    statuses: Sequence[str]
    commune: str | None = None
    min_age_days: int | None = None
    limit: int = 200


async def queue(conn: asyncpg.Connection | asyncpg.Pool,
                wanted: QueueFilter) -> list[asyncpg.Record]:
    """Requests to review, oldest first."""
    return list(await conn.fetch(
        """SELECT r.id, r.number, r.status, r.parcel_ref, r.outline IS NOT NULL AS by_outline,
                  r.commune_code, c.name_fr AS commune_fr, r.capacity, r.plan_approved,
                  r.submitted_at, r.due_at, r.assigned_to, now() > r.due_at AS overdue,
                  (extract(epoch FROM now() - r.submitted_at) / 86400)::float8 AS age_days
           FROM nru_requests r LEFT JOIN communes c ON c.code = r.commune_code
           WHERE r.status = ANY($1::text[]) AND ($2::text IS NULL OR r.commune_code = $2)
             AND ($3::int IS NULL OR r.submitted_at <= now() - make_interval(days => $3))
           ORDER BY r.submitted_at, r.id LIMIT $4""",
        list(wanted.statuses), wanted.commune, wanted.min_age_days, wanted.limit))


async def communes(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    """The communes requests name, for the queue's filter."""
    return list(await conn.fetch(
        "SELECT DISTINCT r.commune_code AS code, c.name_fr FROM nru_requests r "
        "JOIN communes c ON c.code = r.commune_code ORDER BY c.name_fr"))


async def overdue(conn: asyncpg.Connection | asyncpg.Pool,
                  statuses: Sequence[str]) -> list[asyncpg.Record]:
    """Open requests past their due date, most overdue first."""
    return list(await conn.fetch(
        """SELECT r.id, r.number, r.status, r.parcel_ref, c.name_fr AS commune_fr,
                  r.submitted_at, r.due_at, r.assigned_to,
                  (extract(epoch FROM now() - r.due_at) / 86400)::float8 AS late_days
           FROM nru_requests r LEFT JOIN communes c ON c.code = r.commune_code
           WHERE r.status = ANY($1::text[]) AND r.due_at < now()
           ORDER BY r.due_at, r.id""", list(statuses)))


async def issued_note(conn: asyncpg.Connection | asyncpg.Pool,
                      request_id: int) -> asyncpg.Record | None:
    """The note issued for a request (the latest), or None."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT number, issued_at, status, sha256, document->'signatory'->>'name' AS signatory "
        "FROM nru_notes WHERE request_id = $1 ORDER BY id DESC LIMIT 1", request_id)
    return row


async def observations(conn: asyncpg.Connection | asyncpg.Pool, request_id: int) -> list[str]:
    """The staff's observations on a request, oldest first: the text the note carries."""
    return [str(text) for text in await conn.fetchval(
        "SELECT coalesce(array_agg(detail->>'text' ORDER BY at, id), '{}') FROM nru_events "
        "WHERE request_id = $1 AND action = 'observation'", request_id)]
