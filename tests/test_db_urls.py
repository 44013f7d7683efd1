"""Multi-host URLs (a primary and its standbys) reach every driver intact; replica settings
and WAL positions are read strictly. No database needed."""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import make_url

from geoportal.db.routing import format_lsn, parse_lsn, requested_lsn
from geoportal.db.urls import (
    hosts,
    libpq_url,
    redacted,
    resolve_replica_urls,
    sqlalchemy_url,
    with_database,
)
from geoportal.settings import Settings

MULTI = ("postgresql://app:s%40cret@10.0.0.1:5432,10.0.0.2:5433/geoportal"
         "?target_session_attrs=read-write")


def test_a_multi_host_url_names_every_server_in_order() -> None:
    assert hosts(MULTI) == [("10.0.0.1", 5432), ("10.0.0.2", 5433)]
    assert hosts("postgresql://app@db/geoportal") == [("db", 5432)]


def test_a_multi_host_url_is_kept_whole_for_libpq_and_asyncpg() -> None:
    assert libpq_url(MULTI.replace("postgresql://", "postgresql+psycopg://")) == MULTI
    info = psycopg.conninfo.conninfo_to_dict(libpq_url(MULTI))
    assert info["host"] == "10.0.0.1,10.0.0.2" and info["port"] == "5432,5433"
    assert info["target_session_attrs"] == "read-write"


def test_a_multi_host_url_becomes_sqlalchemys_host_list() -> None:
    url = make_url(sqlalchemy_url(MULTI))
    assert url.drivername == "postgresql+psycopg"
    assert url.query["host"] == ("10.0.0.1:5432", "10.0.0.2:5433")
    assert url.password == "s@cret" and url.database == "geoportal"


def test_a_multi_host_url_changes_database_and_hides_its_password() -> None:
    assert with_database(MULTI, "other").startswith(
        "postgresql://app:s%40cret@10.0.0.1:5432,10.0.0.2:5433/other?")
    assert "s%40cret" not in redacted(MULTI) and "10.0.0.2:5433" in redacted(MULTI)


def test_replica_urls_split_between_urls_not_between_hosts() -> None:
    settings = Settings(database_url="postgresql://a@p/db",
                        replica_urls=f"{MULTI}, postgresql://b@r2/db,")
    assert resolve_replica_urls(settings) == [MULTI, "postgresql://b@r2/db"]
    assert resolve_replica_urls(Settings(database_url="postgresql://a@p/db")) == []


def test_wal_positions_round_trip_and_garbage_is_ignored() -> None:
    assert parse_lsn("0/3000110") == 0x3000110
    assert parse_lsn("1A/FF") == (0x1A << 32) | 0xFF
    assert format_lsn(parse_lsn("16/B374D848") or 0) == "16/B374D848"
    for garbage in ("", "x/1", "0/", "1/2/3", "123456789/0", "0/3000110; drop"):
        assert parse_lsn(garbage) is None


def test_the_commit_position_is_read_from_the_header_before_the_cookie() -> None:
    def scope(*headers: tuple[bytes, bytes]) -> dict[str, object]:
        return {"type": "http", "headers": list(headers)}

    assert requested_lsn(scope()) is None
    assert requested_lsn(scope((b"cookie", b"a=b; geoportal_lsn=0/10"))) == 0x10
    assert requested_lsn(scope((b"geoportal-lsn", b"0/20"),
                               (b"cookie", b"geoportal_lsn=0/10"))) == 0x20
    assert requested_lsn(scope((b"cookie", b"geoportal_lsn=\"bad"))) is None
