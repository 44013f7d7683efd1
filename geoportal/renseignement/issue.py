"""Issuing the official note: render as of the request's moment, sign, store, supersede —
in one transaction — and revoking it.

The request's row is locked for the whole issue, so two signatories cannot sign the same
request twice; the note's number is the request's. A later note for the same plot (the
same land title, or plots overlapping over half of the smaller one: a new survey of the same
land, not a neighbour) supersedes the earlier valid ones.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import multiprocessing
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import asyncpg

from geoportal.core.auth import Identity
from geoportal.core.memory import freeze_start_up_objects
from geoportal.errors import Conflict, InvalidBody, NotFound, ServiceUnavailable
from geoportal.renseignement import store
from geoportal.renseignement.document import (
    Issuance,
    NoteDocument,
    NoteRequest,
    Observation,
    Signatory,
    build_document,
    twin,
    unsigned_pdf,
)
from geoportal.renseignement.mails import note_issued
from geoportal.renseignement.service import new_link, queue_mail
from geoportal.renseignement.signing import KeySource, SignatureFacts, load_signer, sign_pdf
from geoportal.renseignement.signing_keys import KeyInfo, SigningKeyError
from geoportal.renseignement.verify import requester_links
from geoportal.renseignement.workflow import transition
from geoportal.rules.note import render
from geoportal.rules.rasters import RasterSampler

log = logging.getLogger("geoportal.renseignement")
STATUS_LABELS = {"submitted": "déposée", "under_review": "en cours d'instruction",
                 "waiting_requester": "en attente du demandeur",
                 "ready_to_sign": "prête à signer", "issued": "délivrée",
                 "refused": "refusée"}
ROLE_TITLES = {"signataire": "Signataire habilité", "admin": "Signataire habilité"}
REASON_MAX = 500

REQUEST = """
SELECT id, number, status, parcel_ref, ST_AsGeoJSON(outline, 3)::text AS outline,
       requester_name, requester_email, capacity, purpose, as_of, submitted_at
FROM nru_requests WHERE id = $1"""
LOCK_REQUEST = REQUEST + " FOR UPDATE"
OBSERVATIONS = """
SELECT detail->>'text' AS text, at FROM nru_events
WHERE request_id = $1 AND action = 'observation' AND coalesce(detail->>'text', '') <> ''
ORDER BY at, id"""
INSERT_NOTE = """
INSERT INTO nru_notes (request_id, number, issued_at, signer, data_version, pdf, sha256,
                       document)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb) RETURNING id"""
# The plot of a request: its outline, else its land title's geometry. Earlier notes are for
# the same land when their request names the same land title, or a land title or outline
# overlapping this plot over half of the smaller of the two (neighbours only touch). Found
# through the GiST indexes of parcels and outlines, then by reference.
SUPERSEDE = r"""
WITH mine AS (
  SELECT geoportal_ref_norm(coalesce(r.parcel_ref, '')) AS ref,
         coalesce(r.outline, (SELECT p.geom FROM parcels p
                              WHERE p.ref_norm = geoportal_ref_norm(r.parcel_ref)
                              LIMIT 1)) AS geom
  FROM nru_requests r WHERE r.id = $1
), same_land AS (
  SELECT mine.ref AS ref_norm FROM mine WHERE mine.ref <> ''
  UNION
  SELECT p.ref_norm FROM parcels p, mine
  WHERE p.geom && mine.geom
    AND ST_Area(ST_Intersection(p.geom, mine.geom))
        >= 0.5 * least(ST_Area(p.geom), ST_Area(mine.geom))
), candidates AS (
  SELECT r.id FROM nru_requests r
  JOIN same_land s ON geoportal_ref_norm(r.parcel_ref) = s.ref_norm
  UNION
  SELECT r.id FROM nru_requests r, mine
  WHERE r.outline && mine.geom
    AND ST_Area(ST_Intersection(r.outline, mine.geom))
        >= 0.5 * least(ST_Area(r.outline), ST_Area(mine.geom))
)
UPDATE nru_notes n SET status = 'superseded', superseded_by = $2
FROM candidates c
WHERE n.request_id = c.id AND n.status = 'valid' AND n.id <> $2
RETURNING n.number, n.request_id"""
EVENT = """
INSERT INTO nru_events (request_id, actor, action, status_before, status_after, detail)
VALUES ($1, $2, $3, $4, $5, $6::text::jsonb)"""
LOCK_NOTE = """
SELECT n.id, n.request_id, n.status, r.status AS request_status
FROM nru_notes n JOIN nru_requests r ON r.id = n.request_id
WHERE n.number = $1 FOR UPDATE OF n"""
REVOKE = "UPDATE nru_notes SET status = 'revoked', status_reason = $2 WHERE id = $1"

PdfMaker = Callable[[NoteDocument, SignatureFacts, KeySource], Awaitable[bytes]]


def render_and_sign(document: NoteDocument, facts: SignatureFacts, key: KeySource) -> bytes:
    """The signed PDF of a document (blocking: the PDF worker thread, or a batch process)."""
    return sign_pdf(unsigned_pdf(document), load_signer(key), facts)


async def in_pdf_worker(document: NoteDocument, facts: SignatureFacts, key: KeySource) -> bytes:
    """Render and sign in the service's PDF worker thread (503 when too many wait)."""
    busy = ServiceUnavailable(
        "Trop de notes sont en préparation ; réessayez la signature dans un instant.",
        en="Too many notes are being prepared; try signing again shortly.")
    return await render.in_pdf_worker(busy, render_and_sign, document, facts, key)


BATCH_GC_THRESHOLD = (50_000, 20, 100)


def _batch_process_start() -> None:
    """A batch process, before its first note: WeasyPrint and pyHanko imported, and what
    they loaded frozen out of the garbage collector's sight, which then runs a
    generation-0 pass every 50,000 allocations instead of 700. A render allocates millions
    of short-lived layout objects: the default thresholds spend a tenth of the note's
    time re-scanning the same live objects. Only these processes, never the service."""
    import weasyprint  # noqa: F401 - loaded once, before the freeze

    from geoportal.renseignement import pades  # noqa: F401 - pyHanko, likewise

    freeze_start_up_objects(BATCH_GC_THRESHOLD)


class ProcessPdfMaker:
    """Render and sign in a pool of processes (batches: one WeasyPrint per core)."""

    def __init__(self, processes: int) -> None:
        # forkserver: workers start from a clean interpreter, not a copy of a process
        # holding an event loop, threads and database connections
        self._pool = ProcessPoolExecutor(max_workers=processes,
                                         mp_context=multiprocessing.get_context("forkserver"),
                                         initializer=_batch_process_start)

    async def __call__(self, document: NoteDocument, facts: SignatureFacts,
                      key: KeySource) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, render_and_sign, document, facts, key)

    def pids(self) -> list[int]:
        """The process ids of the pool's processes (benchmarks read their CPU)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return list(processes)

    def close(self) -> None:
        """Stop the processes."""
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class Issuer:
    """What issuing needs besides the request: the key, where notes are verified, the look
    of the note, and where PDFs are made."""

    key: KeySource
    public_base: str
    style: render.NoteStyle = field(default_factory=render.NoteStyle)
    rasters: RasterSampler | None = None
    make_pdf: PdfMaker = in_pdf_worker

    def verify_url(self, number: str) -> str:
        """The public verification page of a note."""
        return f"{self.public_base.rstrip('/')}/verify/{number}"


@dataclass(frozen=True)
class SignatoryName:
    """How the signatory is named on the note (default: the account's name and role)."""

    name: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class IssuedNote:
    """A note just issued."""

    number: str
    note_id: int
    request_id: int
    sha256: str
    issued_at: dt.datetime
    size_bytes: int
    superseded: list[str]


def note_request(row: asyncpg.Record) -> NoteRequest:
    """The note's view of a request row (``REQUEST``)."""
    outline = json.loads(row["outline"]) if row["outline"] else None
    if outline is not None and outline.get("type") == "Polygon":
        outline = {"type": "MultiPolygon", "coordinates": [outline["coordinates"]]}
    return NoteRequest(id=row["id"], number=row["number"], parcel_ref=row["parcel_ref"],
                       outline=outline, requester_name=row["requester_name"],
                       capacity=row["capacity"], purpose=row["purpose"], as_of=row["as_of"],
                       submitted_at=row["submitted_at"])


def _not_ready(number: str, status: str) -> Conflict:
    label = STATUS_LABELS.get(status, status)
    return Conflict(
        f"La demande n° {number} est {label} : seule une demande prête à signer peut être "
        "signée.",
        en=f"Request {number} is {status.replace('_', ' ')}: only a request ready to sign "
           "can be signed.")


def _signatory(identity: Identity, naming: SignatoryName, certificate: KeyInfo) -> Signatory:
    return Signatory(name=(naming.name or identity.subject).strip(),
                     title=(naming.title or ROLE_TITLES.get(identity.role,
                                                            "Signataire habilité")).strip(),
                     certificate_subject=certificate.common_name,
                     certificate_sha256=certificate.sha256)


def unavailable_key(exc: SigningKeyError) -> ServiceUnavailable:
    """The 503 of a missing, expired or unreadable key; the reason goes to the logs only."""
    log.error("signing key unusable: %s", exc)  # the operator's message stays in the logs
    return ServiceUnavailable(
        "La signature est indisponible : la clé de signature de l'Agence n'est pas "
        "utilisable (l'administrateur en est informé).",
        en="Signing is unavailable: the agency's signing key cannot be used (the "
           "administrator has been told).")


def _moment() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


async def _queue_download_mail(conn: asyncpg.Connection, row: asyncpg.Record,
                               issuer: Issuer) -> None:
    """The requester's mail with the download link, on a private link of its own (only its
    hash is kept), queued in the issue's transaction: sent once the note is committed."""
    base = issuer.public_base.rstrip("/")
    token, hashed, tracking_url = new_link(base)
    await store.insert_link(conn, row["id"], hashed, "note_issued")
    links = requester_links(base, row["number"], token)
    mail = note_issued(row["requester_email"], row["requester_name"], row["number"],
                       tracking_url, links["pdf"], links["verify"])
    await queue_mail(conn, mail, row["id"], "note_issued")


async def issue_note(pool: asyncpg.Pool, request_id: int, signer: Identity, issuer: Issuer,
                     naming: SignatoryName | None = None,
                     observations: Sequence[str] = ()) -> IssuedNote:
    """Issue the note of a request ready to sign (409 otherwise; 404 when unknown): render
    it as of the request's moment, sign it, store it, supersede the plot's earlier notes,
    move the request to issued (``workflow``) recording who signed, and queue the
    requester's mail with the download link, all in one transaction.

    The note carries the observations recorded on the request (events ``observation``,
    ``detail.text``) and ``observations`` given now, which are recorded the same way.
    """
    issued_at = _moment()
    try:
        certificate = (await asyncio.to_thread(load_signer, issuer.key)).info  # opened once
    except SigningKeyError as exc:
        raise unavailable_key(exc) from exc
    if not certificate.valid_at(issued_at):
        raise unavailable_key(SigningKeyError(
            f"certificate valid {certificate.not_before} – {certificate.not_after}"))
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(LOCK_REQUEST, request_id)
        if row is None:
            raise NotFound(f"Aucune demande n'a l'identifiant {request_id}.",
                           en=f"No request has the id {request_id}.")
        try:
            after = transition("signed", row["status"])
        except Conflict:  # the same refusal, saying which status signing needs
            raise _not_ready(row["number"], row["status"]) from None
        request = note_request(row)
        for text in observations:
            await store.insert_event(conn, request_id, signer.actor, "observation",
                                     row["status"], row["status"], {"text": text})
        recorded = [Observation(text=r["text"], at=r["at"])
                    for r in await conn.fetch(OBSERVATIONS, request_id)]
        signatory = _signatory(signer, naming or SignatoryName(), certificate)
        try:
            document = await build_document(
                conn, request, Issuance(issued_at=issued_at, signatory=signatory,
                                        verify_url=issuer.verify_url(request.number),
                                        observations=recorded),
                style=issuer.style, rasters=issuer.rasters)
        except NotFound as exc:  # the plot is gone from the layers, or outside the area
            raise Conflict(f"La note de la demande n° {request.number} ne peut être établie "
                           f": {exc.message}", en=f"The note of request {request.number} "
                           f"cannot be made: {exc.en}") from exc
        facts = SignatureFacts(reason=f"Note de renseignement urbanistique n° {request.number}",
                               name=signatory.name)
        pdf = await issuer.make_pdf(document, facts, issuer.key)
        digest = hashlib.sha256(pdf).hexdigest()
        note_id = await conn.fetchval(
            INSERT_NOTE, request_id, request.number, issued_at, signer.actor,
            document.data_version, pdf, digest, json.dumps(twin(document, digest)))
        superseded = await conn.fetch(SUPERSEDE, request_id, note_id)
        await store.set_status(conn, request_id, after)
        await store.insert_event(conn, request_id, signer.actor, "signed", row["status"], after,
                                 {"note": request.number, "sha256": digest,
                                  "signatory": signatory.name,
                                  "superseded": [r["number"] for r in superseded]})
        await _queue_download_mail(conn, row, issuer)
        for old in superseded:
            await conn.execute(EVENT, old["request_id"], signer.actor, "superseded", "issued",
                               "issued", json.dumps({"note": old["number"],
                                                     "superseded_by": request.number}))
    return IssuedNote(number=request.number, note_id=note_id, request_id=request_id,
                      sha256=digest, issued_at=issued_at, size_bytes=len(pdf),
                      superseded=[r["number"] for r in superseded])


async def issue_batch(pool: asyncpg.Pool, request_ids: Sequence[int], signer: Identity,
                      issuer: Issuer, concurrency: int = 2) -> list[IssuedNote | Exception]:
    """Issue many notes, ``concurrency`` at a time (give ``issuer`` a ``ProcessPdfMaker`` of
    as many processes); each result is the note or the error of its request, in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(request_id: int) -> IssuedNote | Exception:
        async with gate:
            try:
                return await issue_note(pool, request_id, signer, issuer)
            except (Conflict, NotFound, ServiceUnavailable) as exc:
                return exc

    return list(await asyncio.gather(*(one(i) for i in request_ids)))


STORED_NOTE = "SELECT request_id, document FROM nru_notes WHERE number = $1"


async def reproduce_document(conn: asyncpg.Connection, number: str, *,
                             style: render.NoteStyle,
                             rasters: RasterSampler | None = None
                             ) -> tuple[NoteDocument, NoteDocument]:
    """The stored document of an issued note, and the same document built again now from
    its request and the data as of the request's moment (equal when nothing it read has
    changed since, or once the rules read the data as of that moment)."""
    row = await conn.fetchrow(STORED_NOTE, number)
    if row is None:
        raise NotFound(f"Aucune note n'a le numéro {number!r}.",
                       en=f"No note has the number {number!r}.")
    stored = NoteDocument.model_validate(
        json.loads(row["document"]) if isinstance(row["document"], str) else row["document"])
    request = note_request(await conn.fetchrow(REQUEST, row["request_id"]))
    again = await build_document(
        conn, request, Issuance(issued_at=stored.issued_at, signatory=stored.signatory,
                                verify_url=stored.verify_url,
                                observations=stored.observations),
        style=style, rasters=rasters)
    return stored, again


@dataclass(frozen=True)
class RevokedNote:
    """A note just revoked."""

    number: str
    request_id: int
    reason: str


def check_reason(reason: str) -> str:
    """A revocation reason, trimmed (422 when empty or too long)."""
    text = " ".join(reason.split())
    if not 3 <= len(text) <= REASON_MAX:
        raise InvalidBody(f"reason : un motif de 3 à {REASON_MAX} caractères est nécessaire.",
                          en=f"reason: a reason of 3 to {REASON_MAX} characters is required.")
    return text


async def revoke_note(conn: asyncpg.Connection, number: str, reason: str,
                      actor: str) -> RevokedNote:
    """Revoke an issued note with a reason, recorded as an event (404, 409 if already)."""
    text = check_reason(reason)
    async with conn.transaction():
        row = await conn.fetchrow(LOCK_NOTE, number)
        if row is None:
            raise NotFound(f"Aucune note n'a le numéro {number!r}.",
                           en=f"No note has the number {number!r}.")
        if row["status"] == "revoked":
            raise Conflict(f"La note n° {number} est déjà révoquée.",
                           en=f"Note {number} is already revoked.")
        await conn.execute(REVOKE, row["id"], text)
        await conn.execute(EVENT, row["request_id"], actor, "revoked", row["request_status"],
                           row["request_status"], json.dumps({"note": number, "reason": text,
                                                               "was": row["status"]}))
    return RevokedNote(number=number, request_id=row["request_id"], reason=text)

