"""Issued notes: the time to render and sign one note, and issuing queued notes in a batch.

* one note at a time, as the sign route does it: facts read as of the request's moment,
  HTML, PDF (WeasyPrint, in the service's single PDF worker thread), PAdES signature,
  stored with its twin, the request marked issued — end to end, p50/p95 over ``--notes``;
  the same notes' phases timed apart;
* a batch of ``--batch`` requests ready to sign, issued by ``issue_batch`` with a pool of
  ``--processes`` render-and-sign processes (one WeasyPrint per core), in notes per second.

Requests are inserted as the owner into the bench database (the demo data) and removed
afterwards; the signing key is a throw-away RSA-3072 certificate.

``python -m bench notes [--notes 50] [--batch 1000] [--processes 2] [--parcels N]`` (the
bench database of the other suites by default; a smaller ``--parcels`` gets its own;
``--notes 0``: the batch only). The batch's CPU per note is read from /proc for the bench
process, its render processes and its database connections (the server runs here). The
batch keeps every core busy, so its rate moves with the machine's speed (a shared VM's can
vary by a quarter within an hour): right after it, ten of its notes are rendered and signed
again in this process, and that CPU time per note is printed as the run's yardstick.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import psycopg
from pydantic import SecretStr

from bench.common import (
    BENCH_PARCELS,
    RESULTS,
    bench_database_name,
    bench_database_url,
    ensure_bench_data,
    print_table,
)
from bench.rules import sample_refs
from geoportal.core.auth import Identity
from geoportal.db.pool import close_pool, create_pool
from geoportal.registry import load_registry
from geoportal.renseignement.document import (
    Issuance,
    NoteDocument,
    NoteRequest,
    Signatory,
    build_document,
    unsigned_pdf,
)
from geoportal.renseignement.issue import (
    REQUEST,
    IssuedNote,
    Issuer,
    ProcessPdfMaker,
    issue_batch,
    issue_note,
    note_request,
)
from geoportal.renseignement.signing import (
    AgencySigner,
    KeySource,
    SignatureFacts,
    load_signer,
    sign_pdf,
)
from geoportal.renseignement.signing_keys import create_signing_key
from geoportal.rules.note.render import NoteStyle
from geoportal.rules.rasters import RasterSampler
from geoportal.settings import Settings

NOTES = 50
BATCH = 1_000
PROCESSES = 2
WARM_UP = 2
PREFIX = "BENCH-"
BENCH_MAIL = "bench@example.ma"
SIGNER = Identity("bench-signataire", "signataire", None, "api_key")
INSERT = """
INSERT INTO nru_requests (number, token_hash, status, parcel_ref, requester_name,
                          requester_id_number, requester_email, capacity, purpose, due_at)
SELECT %s || lpad(nextval('nru_number_seq')::text, 8, '0'), md5(random()::text) ||
       md5(random()::text), 'ready_to_sign', ref, 'Demandeur Banc d''essai', 'X000000',
       %s, 'owner', 'Banc d''essai des notes', now() + interval '15 days'
FROM unnest(%s::text[]) AS ref
RETURNING id"""


def insert_requests(url: str, refs: list[str]) -> list[int]:
    """Requests ready to sign for these plots, in order."""
    with psycopg.connect(url) as conn:
        return [int(r[0]) for r in conn.execute(INSERT, (PREFIX, BENCH_MAIL,
                                                         refs)).fetchall()]


def remove_bench_requests(url: str) -> None:
    """Everything this benchmark inserted (its notes, their events, the requests, the
    requesters' mails queued)."""
    with psycopg.connect(url) as conn:
        ids = "(SELECT id FROM nru_requests WHERE number LIKE %s)"
        conn.execute(f"UPDATE nru_notes SET superseded_by = NULL WHERE request_id IN {ids}",
                     (PREFIX + "%",))
        for table in ("nru_notes", "nru_events"):
            conn.execute(f"DELETE FROM {table} WHERE request_id IN {ids}", (PREFIX + "%",))
        conn.execute("DELETE FROM nru_requests WHERE number LIKE %s", (PREFIX + "%",))
        # issuing queues the requester's mail (never sent: no worker runs here)
        conn.execute("DELETE FROM procrastinate_jobs WHERE args->'mail'->>'to' = %s "
                     "AND status = 'todo'", (BENCH_MAIL,))


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | str) -> float:
    """User and system CPU a process (all its threads) has used, from /proc (0 once gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def backend_pids(pool: asyncpg.Pool) -> list[int]:
    """The server processes of the pool's open connections (for their CPU in /proc)."""
    holders = getattr(pool, "_holders", [])
    return [h._con.get_server_pid() for h in holders if getattr(h, "_con", None) is not None]


@dataclass
class CpuMeter:
    """CPU used by the bench process, its render processes and its database connections
    between ``start`` and ``stop`` (/proc: the database runs on this machine)."""

    pool: asyncpg.Pool
    maker: ProcessPdfMaker
    before: dict[str, float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)

    def _now(self) -> dict[str, float]:
        return {"main": cpu_seconds("self"),
                **{f"render {pid}": cpu_seconds(pid) for pid in self.maker.pids()},
                **{f"db {pid}": cpu_seconds(pid) for pid in backend_pids(self.pool)}}

    def start(self) -> None:
        self.before = self._now()

    def stop(self) -> None:
        self.used = {k: v - self.before.get(k, 0.0) for k, v in self._now().items()}

    def per_note(self, notes: int) -> dict[str, float]:
        """Milliseconds per note: main process, render processes, database, total."""
        split = {"main process": self.used.get("main", 0.0),
                 "render processes": sum(v for k, v in self.used.items()
                                         if k.startswith("render")),
                 "database connections": sum(v for k, v in self.used.items()
                                             if k.startswith("db"))}
        split["total"] = sum(split.values())
        return {k: v * 1000 / max(notes, 1) for k, v in split.items()}


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def row(label: str, seconds: list[float]) -> list[str]:
    """A table row of latencies in milliseconds."""
    return [label, str(len(seconds)), f"{statistics.median(seconds) * 1000:,.0f}",
            f"{percentile(seconds, 0.95) * 1000:,.0f}", f"{max(seconds) * 1000:,.0f}"]


async def one_by_one(pool: asyncpg.Pool, issuer: Issuer, ids: list[int]) -> list[float]:
    """End-to-end issue time of each note, one after the other."""
    latencies = []
    for request_id in ids:
        started = time.perf_counter()
        await issue_note(pool, request_id, SIGNER, issuer)
        latencies.append(time.perf_counter() - started)
    return latencies


def bench_signatory(signer: AgencySigner) -> Signatory:
    """The bench's signatory, named on its notes."""
    return Signatory(name="Banc d'essai", title="Signataire habilité",
                     certificate_subject=signer.info.common_name,
                     certificate_sha256=signer.info.sha256)


async def bench_document(conn: asyncpg.Connection, issuer: Issuer, request: NoteRequest,
                         signatory: Signatory) -> NoteDocument:
    """A request's note document as of its moment, as issuing builds it."""
    return await build_document(
        conn, request, Issuance(issued_at=request.as_of, signatory=signatory,
                                verify_url=issuer.verify_url(request.number)),
        style=issuer.style, rasters=issuer.rasters)


async def phases(pool: asyncpg.Pool, issuer: Issuer, ids: list[int]
                 ) -> dict[str, list[float]]:
    """The same work timed apart: facts and map, HTML to PDF, signature."""
    signer = load_signer(issuer.key)
    signatory = bench_signatory(signer)
    timings: dict[str, list[float]] = {"facts and map (database, SVG)": [],
                                       "HTML and PDF (WeasyPrint)": [],
                                       "PAdES signature (pyHanko)": []}
    for request_id in ids:
        async with pool.acquire() as conn:
            request = note_request(await conn.fetchrow(REQUEST, request_id))
            started = time.perf_counter()
            document = await bench_document(conn, issuer, request, signatory)
        built = time.perf_counter()  # blocking work off the loop (pyHanko runs its own loop)
        pdf = await asyncio.to_thread(unsigned_pdf, document)
        rendered = time.perf_counter()
        await asyncio.to_thread(sign_pdf, pdf, signer,
                                SignatureFacts(reason="bench", name=signatory.name))
        signed = time.perf_counter()
        timings["facts and map (database, SVG)"].append(built - started)
        timings["HTML and PDF (WeasyPrint)"].append(rendered - built)
        timings["PAdES signature (pyHanko)"].append(signed - rendered)
    return timings


REFERENCE_NOTES = 10  # the machine-speed reference: these notes, rendered and signed here


async def reference_cpu_ms(pool: asyncpg.Pool, issuer: Issuer, ids: list[int]) -> float:
    """CPU milliseconds to render and sign one note in this process (best of 3 rounds over
    the same notes, after one round of warm-up): a yardstick of the machine's speed at the
    time of the run. The batch keeps every core busy, so its notes per second move with it;
    read the two together."""
    signer = load_signer(issuer.key)
    signatory = bench_signatory(signer)
    async with pool.acquire() as conn:
        documents = [await bench_document(conn, issuer, note_request(
            await conn.fetchrow(REQUEST, request_id)), signatory)
            for request_id in ids[:REFERENCE_NOTES]]
    facts = SignatureFacts(reason="bench", name=signatory.name)

    def rounds() -> float:
        best = math.inf
        for round_number in range(4):
            started = time.process_time()
            for document in documents:
                sign_pdf(unsigned_pdf(document), signer, facts)
            if round_number:  # the first round warms up
                best = min(best, time.process_time() - started)
        return best * 1000 / max(1, len(documents))

    return await asyncio.to_thread(rounds)


async def batch(pool: asyncpg.Pool, issuer: Issuer, ids: list[int], processes: int
                ) -> tuple[float, int, int, dict[str, float]]:
    """Seconds to issue the batch, notes issued, errors, CPU milliseconds per note."""
    maker = ProcessPdfMaker(processes)
    in_processes = Issuer(key=issuer.key, public_base=issuer.public_base, style=issuer.style,
                          rasters=issuer.rasters, make_pdf=maker)
    # two notes in flight per process: while a process renders one, the next one's facts
    # and map are read, so no process waits for the database (one extra kept them ~15% idle)
    concurrency = processes * 2
    try:
        await issue_batch(pool, ids[:processes * 2], SIGNER, in_processes,
                          concurrency=concurrency)  # start the processes and their fonts
        meter = CpuMeter(pool, maker)
        meter.start()
        started = time.perf_counter()
        results = await issue_batch(pool, ids[processes * 2:], SIGNER, in_processes,
                                    concurrency=concurrency)
        seconds = time.perf_counter() - started
        meter.stop()
    finally:
        maker.close()
    issued = sum(isinstance(r, IssuedNote) for r in results)
    return seconds, issued, len(results) - issued, meter.per_note(len(results))


async def run(settings: Settings, url: str, notes: int, batch_size: int,
              processes: int) -> None:
    """Both measurements, then the tables."""
    issuer = Issuer(key=KeySource.from_settings(settings), public_base="http://127.0.0.1:8000",
                    style=NoteStyle.from_registry(load_registry(settings.layers_dir)),
                    rasters=RasterSampler(RESULTS / "rasters",
                                          load_registry(settings.layers_dir).rasters))
    refs = sample_refs(url, WARM_UP + notes + batch_size + processes * 2)
    single_ids = insert_requests(url, refs[:WARM_UP + notes])
    pool = await create_pool(settings, write=True)
    latencies: list[float] = []
    split: dict[str, list[float]] = {}
    try:
        await one_by_one(pool, issuer, single_ids[:WARM_UP])  # fonts, key, caches
        if notes:
            latencies = await one_by_one(pool, issuer, single_ids[WARM_UP:])
            remove_bench_requests(url)  # the phases rebuild the same notes from fresh requests
            phase_ids = insert_requests(url, refs[WARM_UP:WARM_UP + min(notes, 20)])
            split = await phases(pool, issuer, phase_ids)
        batch_ids = insert_requests(url, refs[WARM_UP + notes:])
        seconds, issued, errors, cpu = await batch(pool, issuer, batch_ids, processes)
        reference = await reference_cpu_ms(pool, issuer, batch_ids)
    finally:
        await close_pool(pool)
        remove_bench_requests(url)
    if notes:
        print_table(f"One signed note, end to end (issue_note, {notes} notes, one at a time)",
                    ["what", "notes", "p50 ms", "p95 ms", "max ms"],
                    [row("render as of the request, sign, store", latencies),
                     *(row(f"  of which: {name}", values) for name, values in split.items())])
    print_table(f"CPU per note in the batch ({issued + errors:,} notes, {processes} "
                "processes; /proc)", ["where", "CPU ms per note"],
                [[name, f"{ms:,.1f}"] for name, ms in cpu.items()] +
                [[f"reference: one note rendered and signed in one process, right after "
                  f"(best of 3 over the same {REFERENCE_NOTES}; the machine's speed)",
                  f"{reference:,.1f}"]])
    rate = issued / seconds if seconds else 0.0
    rows = []
    if notes:
        p95 = percentile(latencies, 0.95)
        rows.append(["signed note, p95", f"{p95:.2f} s", "≤ 1 s",
                     "yes" if p95 <= 1 else "**no**"])
    rows.append([f"batch of {issued + errors:,} queued notes, {processes} processes",
                 f"{rate:.1f} notes/s ({seconds:.1f} s, {errors} errors)", "≥ 10 notes/s",
                 "yes" if rate >= 10 and not errors else "**no**"])
    print_table("Issued notes: targets", ["check", "measured", "target", "met"], rows)


def main(argv: list[str] | None = None) -> None:
    """Run the notes benchmark and print its tables."""
    parser = argparse.ArgumentParser(prog="python -m bench notes")
    parser.add_argument("--notes", type=int, default=NOTES)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--processes", type=int, default=PROCESSES)
    parser.add_argument("--parcels", type=int, default=BENCH_PARCELS)
    options = parser.parse_args(argv or [])
    url = bench_database_url(bench_database_name(options.parcels))
    ensure_bench_data(url, options.parcels)
    remove_bench_requests(url)  # a run that was interrupted
    with tempfile.TemporaryDirectory(prefix="geoportal-bench-notes-") as home:
        settings = Settings(database_url=url, home=Path(home),
                            signing_passphrase=SecretStr("bench"),
                            data_dir=RESULTS / "rasters")
        create_signing_key(settings, "Agence urbaine de Casablanca (banc d'essai)")
        asyncio.run(run(settings, url, options.notes, options.batch, options.processes))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
