"""Least privilege in the private cluster: the schema belongs to an owner role that is not a
superuser; the service connects as a role that owns nothing and may only read. Each test
module gets a throwaway cluster (roles are cluster-wide: never the shared one)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import errors, sql
from throwaway_cluster import free_port, throwaway_cluster

from geoportal.db.cluster import (
    APP_ROLE,
    DB_NAME,
    DB_USER,
    OWNER_ROLE,
    WRITER_ROLE,
    Cluster,
    ClusterError,
    find_postgres_with_postgis,
)
from geoportal.db.migrate import downgrade, head_revision, upgrade
from geoportal.db.urls import resolve_admin_database_url, resolve_database_url, with_database
from geoportal.registry import load_registry
from geoportal.settings import Settings

pytestmark = pytest.mark.slow

WRITES = [
    "INSERT INTO layer_versions (table_name) VALUES ('intruder')",
    "UPDATE parcels SET ref = ref",
    "DELETE FROM zoning",
    "TRUNCATE plans CASCADE",
]
DDL = [
    "CREATE TABLE intruder (id int)",
    "CREATE TEMPORARY TABLE intruder (id int)",
    "DROP TABLE parcels CASCADE",
    "ALTER TABLE parcels ADD COLUMN intruder int",
    "CREATE INDEX intruder ON parcels (ref)",
    "CREATE DATABASE intruder",
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A fresh private cluster, migrated by the owner role as `geoportal migrate` does."""
    with throwaway_cluster() as started:
        upgrade(started.admin_url())
        yield started


def _refused(url: str, statement: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute(statement)  # type: ignore[arg-type]
        except errors.InsufficientPrivilege:
            return True
    return False


@pytest.mark.parametrize(("role", "url_of"), [(APP_ROLE, Cluster.url),
                                               (WRITER_ROLE, Cluster.writer_url)])
def test_the_services_roles_are_durable_and_neither_superusers_nor_owners(
        cluster: Cluster, role: str, url_of: Callable[[Cluster], str]) -> None:
    with psycopg.connect(url_of(cluster)) as conn:
        user, superuser, createdb, createrole = conn.execute(
            "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles"
            " WHERE rolname = current_user").fetchone() or (None, None, None, None)
        owned = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles"
            " WHERE rolname = current_user)").fetchone()
        durable = conn.execute("SHOW synchronous_commit").fetchone()
    assert user == role
    assert (superuser, createdb, createrole) == (False, False, False)
    assert owned == (0,)
    assert durable == ("on",)


@pytest.mark.parametrize("statement", DDL)
def test_the_service_cannot_change_the_schema(cluster: Cluster, statement: str) -> None:
    assert _refused(cluster.url(), statement)


@pytest.mark.parametrize("statement", WRITES)
def test_the_service_cannot_write_the_published_tables(cluster: Cluster, statement: str) -> None:
    assert _refused(cluster.url(), statement)


def test_the_service_reads_every_published_table(cluster: Cluster) -> None:
    tables = {layer.table for layer in load_registry(Settings().layers_dir)}
    with psycopg.connect(cluster.url()) as conn:
        for table in sorted(tables | {"layer_versions", "alembic_version", "zone_rules"}):
            conn.execute(sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(table)))
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == (head_revision(),)


WRITER_REFUSED = [
    *DDL,
    "INSERT INTO layer_versions (table_name) VALUES ('intruder')",
    "INSERT INTO changesets (actor) VALUES ('forger')",
    "DELETE FROM parcels_history",
    "UPDATE zoning_history SET ended_by = 'forger'",
    "DELETE FROM prefectures",
    "UPDATE communes SET name_fr = name_fr",
    "DELETE FROM api_keys",
    "UPDATE api_keys SET role = 'admin'",
    "TRUNCATE parcels",
]


def test_the_writer_records_a_keys_last_use_and_the_reader_sees_no_personal_data(
        cluster: Cluster) -> None:
    with psycopg.connect(cluster.writer_url()) as conn:
        conn.execute("UPDATE api_keys SET last_used_at = now() WHERE false")
        conn.execute("SELECT count(*) FROM nru_notes")
    for table in ("nru_requests", "nru_attachments", "nru_events", "nru_notes"):
        assert _refused(cluster.url(), f"SELECT * FROM {table}")


@pytest.mark.parametrize("statement", WRITER_REFUSED)
def test_the_writer_cannot_forge_history_or_touch_what_is_not_editable(
        cluster: Cluster, statement: str) -> None:
    assert _refused(cluster.writer_url(), statement)


def test_the_writers_edits_are_recorded_with_who_and_when(cluster: Cluster) -> None:
    square = "SRID=26191;MULTIPOLYGON(((296000 332000,296010 332000,296010 332010,296000 332010,296000 332000)))"  # noqa: E501
    with psycopg.connect(cluster.writer_url()) as conn:
        conn.execute("SELECT set_config('geoportal.actor', 'key:alice', true)")
        fid = conn.execute("INSERT INTO parcels (ref, geom) VALUES ('TF 77/C', %s) RETURNING id",
                           (square,)).fetchone()
        conn.commit()
        conn.execute("SELECT set_config('geoportal.actor', 'key:bob', true)")
        conn.execute("UPDATE parcels SET ref = 'TF 78/C' WHERE id = %s", fid)
        conn.commit()
        current = conn.execute("SELECT version, changed_by FROM parcels WHERE id = %s",
                               fid).fetchone()
        history = conn.execute("SELECT ref, version, changed_by, ended_by, ended_op FROM "
                               "parcels_history WHERE id = %s", fid).fetchall()
        actors = conn.execute("SELECT actor FROM changesets ORDER BY id").fetchall()
    assert current == (2, "key:bob")
    assert history == [("TF 77/C", 1, "key:alice", "key:bob", "update")]
    assert actors[-2:] == [("key:alice",), ("key:bob",)]


def test_the_owner_is_not_a_superuser_and_owns_the_schema(cluster: Cluster) -> None:
    with psycopg.connect(cluster.admin_url()) as conn:
        superuser = conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'"
            " AND c.relname <> 'spatial_ref_sys'").fetchall()
    assert superuser == (False,)
    assert owners == [(OWNER_ROLE,)]


def test_tables_the_owner_creates_later_are_readable_by_the_service(cluster: Cluster) -> None:
    with psycopg.connect(cluster.admin_url(), autocommit=True) as conn:
        conn.execute("CREATE TABLE later_layer (id int)")
        conn.execute("INSERT INTO later_layer VALUES (1)")
    try:
        with psycopg.connect(cluster.url()) as conn:
            rows = conn.execute("SELECT id FROM later_layer").fetchall()
        assert rows == [(1,)]
        assert _refused(cluster.url(), "INSERT INTO later_layer VALUES (2)")
    finally:
        with psycopg.connect(cluster.admin_url(), autocommit=True) as conn:
            conn.execute("DROP TABLE later_layer")


def test_the_owner_creates_and_migrates_databases_as_the_test_suite_does(
    cluster: Cluster,
) -> None:
    maintenance = with_database(cluster.admin_url(), "postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute("CREATE DATABASE scratch")
    try:
        scratch = with_database(cluster.admin_url(), "scratch")
        upgrade(scratch)
        downgrade(scratch, "0001")
        upgrade(scratch)
        with psycopg.connect(scratch) as conn:
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        assert revision == (head_revision(),)
    finally:
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute("DROP DATABASE scratch WITH (FORCE)")


def test_db_start_upgrades_a_cluster_of_an_earlier_version_in_place() -> None:
    pg = find_postgres_with_postgis()
    assert pg is not None
    with throwaway_cluster(start=False) as cluster:
        # What `db start` did before roles: one superuser owning the database and its schema.
        cluster._init(pg)
        cluster._start(pg)
        assert cluster.url() == cluster.superuser_url() == cluster.admin_url()
        with psycopg.connect(with_database(cluster.superuser_url(), "postgres"),
                             autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DB_NAME}")
        upgrade(cluster.superuser_url())
        with psycopg.connect(cluster.superuser_url(), autocommit=True) as conn:
            conn.execute("INSERT INTO layer_versions (table_name) VALUES ('legacy')")

        cluster.start(install=False)

        state = json.loads(cluster.state_file.read_text())
        assert {"password", "owner_password", "app_password"} <= set(state)
        assert cluster.url().startswith(f"postgresql://{APP_ROLE}:")
        assert cluster.admin_url().startswith(f"postgresql://{OWNER_ROLE}:")
        with psycopg.connect(cluster.url()) as conn:
            kept = conn.execute(
                "SELECT table_name FROM layer_versions WHERE table_name = 'legacy'").fetchall()
        assert kept == [("legacy",)]
        assert _refused(cluster.url(), "DELETE FROM layer_versions")
        with psycopg.connect(cluster.admin_url()) as conn:
            owners_before_downgrade = conn.execute(
                "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n"
                " ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN"
                " ('r', 'S', 'i') AND c.relname <> 'spatial_ref_sys'"
                " AND c.relname NOT LIKE 'spatial_ref_sys%'").fetchall()
        assert owners_before_downgrade == [(OWNER_ROLE,)]
        downgrade(cluster.admin_url(), "base")  # the owner may now drop every table
        upgrade(cluster.admin_url())
        with psycopg.connect(cluster.admin_url()) as conn:
            owners = conn.execute(
                "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n"
                " ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN"
                " ('r', 'S') AND c.relname <> 'spatial_ref_sys'").fetchall()
            functions = conn.execute(
                "SELECT pg_get_userbyid(proowner) FROM pg_proc"
                " WHERE proname = 'geoportal_bump_layer_version'").fetchall()
        assert owners == [(OWNER_ROLE,)]
        assert functions == [(OWNER_ROLE,)]
        cluster.start(install=False)  # and again: every step is idempotent
        with psycopg.connect(cluster.superuser_url()) as conn:
            superusers = conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolsuper AND rolname LIKE 'geoportal%'"
            ).fetchall()
        assert superusers == [(DB_USER,)]


def test_only_the_service_url_given_serves_migrations_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GEOPORTAL_ADMIN_DATABASE_URL", raising=False)
    url = "postgresql://someone:secret@db.example:5432/geoportal"
    assert resolve_admin_database_url(Settings(database_url=url)) == url
    admin = "postgresql://owner:secret@db.example:5432/geoportal"
    settings = Settings(database_url=url, admin_database_url=admin)
    assert resolve_admin_database_url(settings) == admin
    assert resolve_database_url(settings) == url


def test_a_second_checkout_whose_port_is_taken_moves_to_a_free_one_and_says_so() -> None:
    with throwaway_cluster() as first:
        home = first.home
        first.stop()
        with socket.socket() as squatter:  # another checkout's cluster took the port
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # just freed
            squatter.bind(("127.0.0.1", first.port))
            squatter.listen()
            again = Cluster(Settings(home=home))  # GEOPORTAL_DB_PORT not given
            again.start(install=False)
            try:
                assert again.port != first.port
                assert json.loads(again.state_file.read_text())["port"] == again.port
                with psycopg.connect(again.admin_url()) as conn:
                    assert conn.execute("SELECT 1").fetchone() == (1,)
            finally:
                again.stop()


def test_a_port_chosen_after_the_first_start_is_applied_and_a_taken_one_refused() -> None:
    with throwaway_cluster() as first:
        home = first.home
        first.stop()
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", 0))
            squatter.listen()
            taken = squatter.getsockname()[1]
            with pytest.raises(ClusterError, match=f"port {taken} .* GEOPORTAL_DB_PORT"):
                Cluster(Settings(home=home, db_port=taken)).start(install=False)
        chosen = free_port()
        moved = Cluster(Settings(home=home, db_port=chosen))
        moved.start(install=False)
        try:
            assert f":{chosen}/" in moved.admin_url()
            with psycopg.connect(moved.admin_url()) as conn:
                assert conn.execute("SHOW port").fetchone() == (str(chosen),)
        finally:
            moved.stop()
