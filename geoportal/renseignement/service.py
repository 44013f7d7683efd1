"""e-renseignement without the web framework: submit a request, follow it, review it.

Personal data and the workflow live in tables only the writer's role reads, so every
statement here runs on the write pool; the rules of the plot come from the rules service on
the read pool. A request acknowledged is committed, with its attachments on disk and its
acknowledgement queued, before the answer leaves.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import math
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import shapely
from shapely.geometry import MultiPolygon, mapping, shape

from geoportal.errors import GeoportalError, InvalidBody, NotFound, TooManyRequests
from geoportal.jobs.mail import Mail
from geoportal.jobs.queue import enqueue
from geoportal.renseignement import store
from geoportal.renseignement.eligibility import check_capacity, plans_approved
from geoportal.renseignement.files import OUTLINE_TYPES, BlobStore, Piece, display_name
from geoportal.renseignement.intake import Submission
from geoportal.renseignement.mails import acknowledgement, piece_requested, refusal
from geoportal.renseignement.outline import read_outline, sniff
from geoportal.renseignement.tasks import NRU_MAIL
from geoportal.renseignement.workflow import transition
from geoportal.rules import RulesAnswer, RulesQuery, lookup
from geoportal.settings import Settings

log = logging.getLogger("geoportal.renseignement")
AGENCY_TZ = ZoneInfo("Africa/Casablanca")
QUOTA_WINDOW_S = 3600.0
MAX_PIECES_PER_REQUEST = 24
TRACKING_PATH = "/renseignement/suivi/"


@dataclass
class Room:
    """The room's long-lived objects (one per app): settings and the file store."""

    settings: Settings
    blobs: BlobStore

    @classmethod
    def from_settings(cls, settings: Settings) -> Room:
        """The room of an app."""
        return cls(settings, BlobStore(Path(settings.nru_storage_dir) / "attachments"))


@dataclass(frozen=True)
class Receipt:
    """What the requester is told once the request is committed."""

    request_id: int
    number: str
    status: str
    token: str
    tracking_url: str
    submitted_at: dt.datetime
    due_at: dt.datetime
    plan_approved: bool


def token_hash(token: str) -> str:
    """What is kept of a tracking token: its SHA-256 (hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_link(base_url: str) -> tuple[str, str, str]:
    """A fresh tracking token: the token, its hash, the private URL."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token), f"{base_url}{TRACKING_PATH}{token}"


def _too_many(limit: int, oldest: dt.datetime | None) -> TooManyRequests:
    wait = QUOTA_WINDOW_S
    if oldest is not None:
        wait = QUOTA_WINDOW_S - (dt.datetime.now(dt.UTC) - oldest).total_seconds()
    seconds = max(1, math.ceil(wait))
    return TooManyRequests(
        f"Au plus {limit} demandes par heure depuis une même adresse : réessayez dans "
        f"{math.ceil(seconds / 60)} min.",
        en=f"At most {limit} requests an hour from one address: try again in "
           f"{math.ceil(seconds / 60)} min.", retry_after=seconds)


async def check_quota(pool: asyncpg.Pool | asyncpg.Connection, client: str,
                      limit: int) -> None:
    """429 (with Retry-After) when ``client`` has used its requests of the hour."""
    count, oldest = await store.recent_requests(pool, client, QUOTA_WINDOW_S)
    if count >= limit:
        raise _too_many(limit, oldest)


def _as_request_error(exc: NotFound) -> InvalidBody:
    return InvalidBody(exc.message, en=exc.en)


async def situate(read_pool: asyncpg.Pool, parcel: str | None, outline: MultiPolygon | None,
                  at: dt.date, data_at: dt.datetime | None = None) -> RulesAnswer:
    """The rules answer for the plot or the outline, from the data as it stood at ``data_at``
    when given (422 for an unknown plot or a place outside the agency's area)."""
    if parcel is not None:
        query = RulesQuery.for_parcel(parcel, at=at, data_at=data_at)
    else:
        assert outline is not None
        query = RulesQuery.for_geometry(mapping(outline), crs="EPSG:26191", at=at,
                                        data_at=data_at)
    try:
        return await lookup(read_pool, query)
    except NotFound as exc:
        raise _as_request_error(exc) from None


def _outline_piece(submission: Submission) -> Piece | None:
    if submission.outline_file is None:
        return None
    kind = sniff(submission.outline_file)
    default = {"zip": "contour.zip", "geojson": "contour.geojson", "dxf": "contour.dxf"}[kind]
    return Piece("outline", display_name(submission.outline_filename, default),
                 OUTLINE_TYPES[kind], submission.outline_file)


async def _forget(write_pool: asyncpg.Pool, blobs: BlobStore, created: list[str]) -> None:
    """Remove files a failed transaction wrote, unless a committed request holds them."""
    for sha in created:
        try:
            if not await store.sha_in_use(write_pool, sha):
                blobs.remove(sha)
        except Exception as exc:  # the files stay: harmless, and logged
            log.warning("attachment %s… not cleaned up: %s", sha[:12], type(exc).__name__)


async def _put_all(blobs: BlobStore, pieces: list[Piece], created: list[str]) -> list[str]:
    shas: list[str] = []
    for piece in pieces:
        sha, new = await asyncio.to_thread(blobs.put, piece.data)
        if new:
            created.append(sha)
        shas.append(sha)
    return shas


def _new_request(submission: Submission, answer: RulesAnswer, outline: MultiPolygon | None,
                 hashed: str, target_days: int, client: str) -> store.NewRequest:
    fields, person = submission.fields, submission.fields.requester
    return store.NewRequest(
        token_hash=hashed,
        parcel_ref=answer.plot.ref if answer.plot is not None and fields.parcel else None,
        outline_wkb=shapely.to_wkb(outline) if outline is not None else None,
        commune_code=answer.admin.commune.code if answer.admin.commune else None,
        plan_refs=[p.ref for p in answer.plans], plan_approved=plans_approved(answer.plans),
        requester_name=person.name, requester_id_number=person.id_number,
        requester_email=person.email, requester_phone=person.phone, capacity=fields.capacity,
        purpose=fields.purpose, language=fields.language, target_days=target_days,
        client=client)


async def submit(read_pool: asyncpg.Pool, write_pool: asyncpg.Pool, room: Room,
                 submission: Submission, client: str, base_url: str) -> Receipt:
    """Check, store and acknowledge a request; committed before this returns."""
    settings = room.settings
    limit = settings.nru_requests_per_hour
    await check_quota(write_pool, client, limit)
    fields = submission.fields
    outline = None
    if submission.outline_file is not None:
        outline = await asyncio.to_thread(read_outline, submission.outline_file,
                                          fields.outline_crs)
    today = dt.datetime.now(AGENCY_TZ).date()
    answer = await situate(read_pool, fields.parcel, outline, today)
    approved = plans_approved(answer.plans)
    check_capacity(approved, fields.capacity, {p.kind for p in submission.pieces})
    outline_piece = _outline_piece(submission)
    pieces = [*submission.pieces, *([outline_piece] if outline_piece else [])]
    token, hashed, url = new_link(base_url)
    person = fields.requester
    created: list[str] = []
    try:
        shas = await _put_all(room.blobs, pieces, created)
        async with write_pool.acquire() as conn, conn.transaction():
            await store.lock_client(conn, client)
            count, oldest = await store.recent_requests(conn, client, QUOTA_WINDOW_S)
            if count >= limit:
                raise _too_many(limit, oldest)
            row = await store.insert_request(conn, _new_request(
                submission, answer, outline, hashed, settings.nru_target_days, client))
            for piece, sha in zip(pieces, shas, strict=True):
                await store.insert_attachment(conn, row["id"], piece, sha, "requester")
            await store.insert_event(conn, row["id"], "requester", "submitted", None,
                                     "submitted", {"pieces": [p.kind for p in pieces]})
            mail = acknowledgement(person.email, person.name, row["number"], url,
                                   row["due_at"])
            await queue_mail(conn, mail, row["id"], "acknowledgement")
    except BaseException:
        await asyncio.shield(_forget(write_pool, room.blobs, created))
        raise
    log.info("request %s submitted", row["number"])
    return Receipt(row["id"], row["number"], row["status"], token, url, row["submitted_at"],
                   row["due_at"], approved)


async def queue_mail(conn: asyncpg.Connection, mail: Mail, request_id: int, kind: str) -> None:
    """Queue a mail about a request in the caller's transaction (sent once it commits)."""
    await enqueue(conn, NRU_MAIL, mail=mail.as_args(), request_id=request_id, kind=kind)


async def by_token(write_pool: asyncpg.Pool, token: str) -> asyncpg.Record:
    """The request a tracking link leads to; 404 (the same for every wrong token)."""
    if not 16 <= len(token) <= 128:
        raise _unknown_link()
    row = await store.request_by_token(write_pool, token_hash(token))
    if row is None:
        raise _unknown_link()
    return row


def _unknown_link() -> NotFound:
    return NotFound("Lien de suivi inconnu : vérifiez l'adresse reçue par courriel.",
                    en="Unknown tracking link: check the address you received by e-mail.")


async def receive_pieces(write_pool: asyncpg.Pool, room: Room, token: str,
                         pieces: list[Piece]) -> asyncpg.Record:
    """The requester uploads the piece asked for: back to review (409 if none was asked)."""
    request = await by_token(write_pool, token)
    if not pieces:
        raise InvalidBody("Joignez au moins un fichier (PDF, JPEG ou PNG).",
                          en="Attach at least one file (PDF, JPEG or PNG).")
    created: list[str] = []
    try:
        shas = await _put_all(room.blobs, pieces, created)
        async with write_pool.acquire() as conn, conn.transaction():
            locked = await store.lock_status(conn, request["id"])
            assert locked is not None
            after = transition("piece_received", locked["status"])
            held = len(await store.attachments(conn, request["id"]))
            if held + len(pieces) > MAX_PIECES_PER_REQUEST:
                raise InvalidBody(
                    f"Une demande porte au plus {MAX_PIECES_PER_REQUEST} pièces jointes.",
                    en=f"A request holds at most {MAX_PIECES_PER_REQUEST} attachments.")
            for piece, sha in zip(pieces, shas, strict=True):
                await store.insert_attachment(conn, request["id"], piece, sha, "requester")
            await store.set_status(conn, request["id"], after)
            await store.insert_event(conn, request["id"], "requester", "piece_received",
                                     locked["status"], after,
                                     {"pieces": [{"kind": p.kind, "filename": p.filename}
                                                 for p in pieces]})
    except BaseException:
        await asyncio.shield(_forget(write_pool, room.blobs, created))
        raise
    return request


@dataclass(frozen=True)
class Action:
    """A staff action on a request: which, by whom, and its text (message, reason...)."""

    name: str
    actor: str
    text: str | None = None


TEXT_LIMITS = {"piece_requested": ("message", 1000), "refused": ("reason", 2000),
               "observation": ("text", 2000)}


def checked_text(action: str, text: str | None) -> str | None:
    """The action's text, required for some actions (422 otherwise)."""
    if action not in TEXT_LIMITS:
        return None
    name, limit = TEXT_LIMITS[action]
    value = (text or "").strip()
    if not value or len(value) > limit:
        raise InvalidBody(f"{name} : texte requis (1 à {limit} caractères).",
                          en=f"{name}: text required (1 to {limit} characters).")
    return value


async def act(write_pool: asyncpg.Pool, request_id: int, action: Action,
              base_url: str) -> str:
    """Do a staff action under the row's lock; the status after. 404/409/422 otherwise."""
    text = checked_text(action.name, action.text)
    async with write_pool.acquire() as conn, conn.transaction():
        row = await store.lock_status(conn, request_id)
        if row is None:
            raise NotFound(f"Aucune demande n'a le numéro interne {request_id}.",
                           en=f"No request has the internal id {request_id}.")
        before = row["status"]
        after = transition(action.name, before)
        detail: dict[str, Any] = {TEXT_LIMITS[action.name][0]: text} if text else {}
        await store.set_status(conn, request_id, after,
                               assigned_to=action.actor if action.name == "taken" else None)
        await store.insert_event(conn, request_id, action.actor, action.name, before, after,
                                 detail)
        if action.name in ("piece_requested", "refused"):
            _token, hashed, url = new_link(base_url)
            await store.insert_link(conn, request_id, hashed, action.name)
            compose = piece_requested if action.name == "piece_requested" else refusal
            mail = compose(row["requester_email"], row["requester_name"], row["number"], url,
                           text or "")
            await queue_mail(conn, mail, request_id, action.name)
    return after


async def draft(read_pool: asyncpg.Pool, request: asyncpg.Record
                ) -> RulesAnswer | GeoportalError:
    """The rules answer for the request's plot or outline from the data as it stood at the
    request's moment, as the note will be issued (or why there is none, e.g. the plot was
    not in the layers then)."""
    as_of = request["as_of"]
    outline = None
    if request["outline_json"] is not None:
        outline = shape(request["outline_json"])
    try:
        return await situate(read_pool, request["parcel_ref"], outline,
                             as_of.astimezone(AGENCY_TZ).date(), data_at=as_of)
    except GeoportalError as exc:
        return exc
