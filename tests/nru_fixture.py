"""Issued-note tests' world: the rules fixture's plots, requests inserted as the owner (the
request form is another room's), API keys, a signing key made by the CLI, and an app that
reads with the read-only role and writes with the writer role, as in production."""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psycopg
from psycopg.types.json import Jsonb

from geoportal.core.auth_keys import create_key
from geoportal.db.cluster import Cluster
from geoportal.db.pool import _init_connection
from geoportal.db.urls import libpq_url, with_database
from geoportal.registry import load_registry
from geoportal.renseignement.document import NoteDocument
from geoportal.renseignement.issue import reproduce_document
from geoportal.rules.note.render import NoteStyle
from geoportal.rules.rasters import RasterSampler
from geoportal.settings import Settings

PASSPHRASE = "passphrase-of-the-test-key"
AGENCY = "Agence urbaine de Casablanca (test)"


@dataclass(frozen=True)
class Roles:
    """The URLs of one test database: the owner's, the service's, the writer's."""

    owner: str
    app: str
    writer: str

    @classmethod
    def of(cls, owner_url: str) -> Roles:
        """The private cluster's roles on the database of ``owner_url`` (the owner for all
        three on an external database, whose roles the tests do not know)."""
        settings = Settings()
        if settings.database_url:
            return cls(owner_url, owner_url, owner_url)
        database = owner_url.rsplit("/", 1)[-1].split("?")[0]
        cluster = Cluster(settings)
        return cls(owner_url, with_database(libpq_url(cluster.url()), database),
                   with_database(libpq_url(cluster.writer_url()), database))


@dataclass(frozen=True)
class NruRequest:
    """A request inserted for a test."""

    id: int
    number: str
    token: str


def insert_request(url: str, *, parcel_ref: str | None = "TF 1001/C",
                   outline_wkt: str | None = None, status: str = "ready_to_sign",
                   requester: str = "Mohamed Alaoui", capacity: str = "owner",
                   purpose: str = "Construction d'un immeuble", as_of: str | None = None,
                   observations: tuple[str, ...] = ()) -> NruRequest:
    """A request as the request form would leave it, with its tracking token."""
    token = secrets.token_urlsafe(32)
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO nru_requests (number, token_hash, status, parcel_ref, outline, "
            "requester_name, requester_id_number, requester_email, requester_phone, capacity, "
            "purpose, as_of, submitted_at, due_at) VALUES ("
            "'NRU-T-' || lpad(nextval('nru_number_seq')::text, 6, '0'), %s, %s, %s, "
            "ST_Multi(ST_GeomFromText(%s, 26191)), %s, 'BK987654', 'requester@example.ma', "
            "'+212600000000', %s, %s, coalesce(%s::timestamptz, now() - interval '1 hour'), "
            "coalesce(%s::timestamptz, now() - interval '1 hour'), now() + interval '15 days') "
            "RETURNING id, number",
            (hashlib.sha256(token.encode()).hexdigest(), status, parcel_ref, outline_wkt,
             requester, capacity, purpose, as_of, as_of)).fetchone()
        assert row is not None
        for text in observations:
            conn.execute("INSERT INTO nru_events (request_id, actor, action, detail) "
                         "VALUES (%s, 'key:instructeur-test', 'observation', %s)",
                         (row[0], Jsonb({"text": text})))
    return NruRequest(row[0], row[1], token)


def mint_keys(url: str, suffix: str) -> dict[str, str]:
    """One API key per role (made as ``geoportal keys create`` makes them)."""
    keys = {}
    for role in ("signataire", "instructeur", "admin", "editor"):
        key, _ = create_key(url, f"{role}-{suffix}", role, [])
        keys[role] = key
    return keys


def bearer(key: str, **headers: str) -> dict[str, str]:
    """The Authorization header of a key, with other headers."""
    return {"Authorization": f"Bearer {key}", **headers}


def geoportal_cli(home: Path, *args: str, env: dict[str, str] | None = None
                  ) -> subprocess.CompletedProcess[str]:
    """The real ``geoportal`` command with its home in ``home``."""
    environment = {**os.environ, "GEOPORTAL_HOME": str(home), "COLUMNS": "200",
                   "GEOPORTAL_SIGNING_PASSPHRASE": PASSPHRASE, **(env or {})}
    environment = {k: v for k, v in environment.items() if v != ""}
    return subprocess.run([sys.executable, "-m", "geoportal.cli", *args], env=environment,
                          capture_output=True, text=True, timeout=120, check=False)


def make_signing_key(home: Path, *extra: str) -> None:
    """The agency's test key, made by ``geoportal signing-key create``."""
    result = geoportal_cli(home, "signing-key", "create", "--name", AGENCY, *extra)
    assert result.returncode == 0, result.stderr


def app_settings(roles: Roles, home: Path, raster_dir: Path, **options: object) -> Settings:
    """The service's settings on a test database, with its own home (the signing key)."""
    return Settings(database_url=roles.app, write_database_url=roles.writer,  # type: ignore[arg-type]
                    admin_database_url=roles.owner, home=home, data_dir=raster_dir,
                    signing_passphrase=PASSPHRASE, **options)


@dataclass(frozen=True)
class NruWorld:
    """A database with the rules fixture's plots, keys, and a home holding a signing key."""

    roles: Roles
    raster_dir: Path
    home: Path
    keys: dict[str, str]

    def settings(self, **options: object) -> Settings:
        """The service's settings on this world."""
        return app_settings(self.roles, self.home, self.raster_dir, **options)


def build_nru_world(owner_url: str, folder: Path, name: str) -> NruWorld:
    """The rules fixture's world in ``owner_url``, with keys and a signing key in ``folder``."""
    from rules_fixture import build_rules_world

    raster_dir = folder / "rasters"
    build_rules_world(owner_url, raster_dir)
    home = folder / "home"
    make_signing_key(home)
    return NruWorld(Roles.of(owner_url), raster_dir, home, mint_keys(owner_url, name))


async def rebuilt(world: NruWorld, number: str) -> tuple[NoteDocument, NoteDocument]:
    """An issued note's stored document, and the same document built again from the data as
    of its request (the writer's role, as the service issues)."""
    conn = await asyncpg.connect(world.roles.writer)
    await _init_connection(conn)
    try:
        registry = load_registry(Settings().layers_dir)
        return await reproduce_document(conn, number, style=NoteStyle.from_registry(registry),
                                        rasters=RasterSampler(world.raster_dir, registry.rasters))
    finally:
        await conn.close()
