"""One land-title reference normalisation: the SQL function and its Python twin agree."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geoportal.core.refs import WHITESPACE, ref_norm
from geoportal.db.migrate import downgrade, upgrade

SQUARE = ("SRID=26191;MULTIPOLYGON((({x} 332000,{x2} 332000,{x2} 332030,{x} 332030,"
          "{x} 332000)))")
# Everything PostgreSQL text may hold (no NUL, no lone surrogate), spaces made frequent.
TEXT = st.text(
    alphabet=st.one_of(st.sampled_from(WHITESPACE + "tfTF/-_0123456789 éßıﬁДд٣ـ"),
                       st.characters(blacklist_categories=("Cs",),
                                     blacklist_characters="\x00")),
    max_size=30)


@pytest.fixture(scope="module")
def conn(fresh_database: Callable[..., str]) -> psycopg.Connection:
    with psycopg.connect(fresh_database("refs")) as connection:
        yield connection


def _sql_norm(conn: psycopg.Connection, refs: list[str]) -> list[str]:
    rows = conn.execute("SELECT geoportal_ref_norm(r) FROM unnest(%s::text[]) WITH ORDINALITY "
                        "AS u(r, n) ORDER BY n", (refs,)).fetchall()
    return [row[0] for row in rows]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(refs=st.lists(TEXT, min_size=1, max_size=40))
def test_the_python_twin_normalises_every_text_as_the_sql_function(
        conn: psycopg.Connection, refs: list[str]) -> None:
    assert [ref_norm(ref) for ref in refs] == _sql_norm(conn, refs)


@pytest.mark.parametrize(("ref", "expected"), [
    ("tf 12 345/c", "TF12345/C"),
    ("\tTF\u00a012345 / C\u3000", "TF12345/C"),
    ("Tf-7\n8", "TF-78"),
    ("réf ß", "RéFß"),  # only ASCII letters change: the same whatever the locale
    ("", ""),
])
def test_references_lose_their_spaces_and_take_ascii_capitals(
        conn: psycopg.Connection, ref: str, expected: str) -> None:
    assert ref_norm(ref) == expected
    assert _sql_norm(conn, [ref]) == [expected]


def test_the_generated_column_uses_the_function(conn: psycopg.Connection) -> None:
    expression = conn.execute(
        "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a "
        "ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
        "WHERE d.adrelid = 'parcels'::regclass AND a.attname = 'ref_norm'").fetchone()
    assert expression == ("geoportal_ref_norm(ref)",)


def test_the_migration_rewrites_the_column_without_history_or_new_versions(
        fresh_database: Callable[..., str]) -> None:
    url = fresh_database("refs_migration", migrate=False)
    upgrade(url, "0005_renseignement")
    with psycopg.connect(url) as db:
        for i in range(3):
            db.execute("INSERT INTO parcels (ref, geom) VALUES (%s, %s)",
                       (f"tf {i} /c", SQUARE.format(x=296000 + 100 * i, x2=296020 + 100 * i)))
        db.execute("UPDATE parcels SET ref = ref || ' ' WHERE ref = 'tf 0 /c'")
        db.commit()
        before = db.execute("SELECT id, ref_norm, version FROM parcels ORDER BY id").fetchall()
        history_before = db.execute("SELECT count(*) FROM parcels_history").fetchone()
    upgrade(url)
    with psycopg.connect(url) as db:
        assert db.execute("SELECT id, ref_norm, version FROM parcels ORDER BY id"
                          ).fetchall() == before
        assert db.execute("SELECT count(*) FROM parcels_history").fetchone() == history_before
        indexes = {row[0] for row in db.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'parcels'")}
        assert {"parcels_ref_norm_key", "parcels_ref_norm_prefix"} <= indexes
        # The history trigger and the as-of function work with the new column order.
        db.execute("UPDATE parcels SET ref = 'tf 9 /c' WHERE ref_norm = 'TF1/C'")
        db.commit()
        assert db.execute("SELECT ref_norm, version FROM parcels WHERE ref = 'tf 9 /c'"
                          ).fetchone() == ("TF9/C", 2)
        assert db.execute("SELECT ref_norm FROM parcels_history WHERE ref = 'tf 1 /c'"
                          ).fetchone() == ("TF1/C",)
        past = db.execute("SELECT ref_norm FROM parcels_as_of(now() - interval '1 hour') "
                          "ORDER BY id").fetchall()
        assert past == []  # all three were made after that moment
        now = db.execute("SELECT ref_norm FROM parcels_as_of(now()) ORDER BY id").fetchall()
        assert now == [("TF0/C",), ("TF9/C",), ("TF2/C",)]
        with pytest.raises(psycopg.errors.UniqueViolation):
            db.execute("INSERT INTO parcels (ref, geom) VALUES ('TF 2/C', %s)",
                       (SQUARE.format(x=297000, x2=297020),))
    downgrade(url, "0005_renseignement")
    with psycopg.connect(url) as db:
        assert db.execute("SELECT ref_norm FROM parcels ORDER BY id").fetchall() == [
            ("TF0/C",), ("TF9/C",), ("TF2/C",)]
