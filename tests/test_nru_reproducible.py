"""An issued note is reproducible: the same request, data and moment give the same document;
after the layers are edited, the stored note still renders the bytes that were signed, and
(once the rules read the data as of a moment) building it again gives the same content."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
import tinyhtml5
from fastapi.testclient import TestClient
from nru_fixture import NruRequest, NruWorld, bearer, build_nru_world, insert_request, rebuilt

from geoportal.app import create_app
from geoportal.renseignement.document import to_html, unsigned_pdf
from geoportal.rules.note import htmltree


@pytest.fixture(scope="module")
def world(fresh_database: Callable[[str], str],
          tmp_path_factory: pytest.TempPathFactory) -> NruWorld:
    return build_nru_world(fresh_database("nru_repro"), tmp_path_factory.mktemp("nru-repro"),
                           "repro")


@pytest.fixture(scope="module")
def client(world: NruWorld) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings())) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def issued(client: TestClient, world: NruWorld) -> tuple[NruRequest, bytes]:
    with psycopg.connect(world.roles.owner) as conn:  # the request's moment: the data now
        now = conn.execute("SELECT now()::text").fetchone()
    assert now is not None
    request = insert_request(world.roles.owner, parcel_ref="TF 1001/C", as_of=now[0])
    response = client.post(f"/renseignement/admin/requests/{request.id}/sign",
                           headers=bearer(world.keys["signataire"]))
    assert response.status_code == 201, response.text
    with psycopg.connect(world.roles.owner) as conn:
        row = conn.execute("SELECT pdf FROM nru_notes WHERE number = %s",
                           (request.number,)).fetchone()
    assert row is not None
    return request, bytes(row[0])


def edit_the_layers(world: NruWorld) -> None:
    """An editor's change after the request: zone C's rules and the plot's boundary."""
    with psycopg.connect(world.roles.owner) as conn, conn.transaction():
        conn.execute("SELECT set_config('geoportal.actor', 'test:urbaniste', true), "
                     "set_config('geoportal.source', 'api', true)")
        conn.execute("UPDATE zone_rules SET cos = 0.45, max_height_m = 12.5 WHERE code = 'C'")
        conn.execute("UPDATE parcels SET geom = ST_Multi(ST_Buffer(geom, 3, 'join=mitre')) "
                     "WHERE ref = 'TF 1001/C'")


@pytest.fixture(scope="module")
def edited(world: NruWorld, issued: tuple[NruRequest, bytes]) -> tuple[NruRequest, bytes]:
    edit_the_layers(world)
    return issued


async def test_the_same_request_data_and_moment_give_the_same_document(
        world: NruWorld, issued: tuple[NruRequest, bytes]) -> None:
    stored, again = await rebuilt(world, issued[0].number)
    assert again == stored
    assert unsigned_pdf(again) == unsigned_pdf(stored)
    assert issued[1].startswith(unsigned_pdf(again))


async def test_the_official_note_parsed_by_libxml2_is_the_tree_of_weasyprints_parser(
        world: NruWorld, issued: tuple[NruRequest, bytes]) -> None:
    stored, _ = await rebuilt(world, issued[0].number)
    html = to_html(stored)
    ours = [(e.tag, sorted(e.attrib.items()), e.text, e.tail)
            for e in htmltree.parse(html).iter()]
    theirs = [(e.tag, sorted(e.attrib.items()), e.text, e.tail)
              for e in tinyhtml5.parse(html, namespace_html_elements=False).iter()]
    assert len(ours) > 100 and ours == theirs


async def test_the_official_notes_lean_user_agent_stylesheet_gives_the_pdf_of_weasyprints(
        world: NruWorld, issued: tuple[NruRequest, bytes],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from weasyprint import HTML

    stored, _ = await rebuilt(world, issued[0].number)
    lean = unsigned_pdf(stored)
    monkeypatch.setattr(htmltree._document_class(), "_ua_stylesheets", HTML._ua_stylesheets)
    assert unsigned_pdf(stored) == lean and issued[1].startswith(lean)


async def test_after_the_layers_are_edited_the_stored_note_still_renders_the_signed_bytes(
        client: TestClient, world: NruWorld, edited: tuple[NruRequest, bytes]) -> None:
    request, pdf = edited
    with psycopg.connect(world.roles.owner) as conn:
        assert conn.execute("SELECT cos FROM zone_rules WHERE code = 'C'").fetchone() == (0.45,)
    stored, _ = await rebuilt(world, request.number)
    assert pdf.startswith(unsigned_pdf(stored))
    assert [z.rules.cos for z in stored.answer.zones] == [0.6, 0.7]  # as issued
    assert stored.answer.plot is not None and stored.answer.plot.area_m2 == 2000.0
    download = client.get(f"/renseignement/notes/{request.number}.pdf",
                          params={"token": request.token})
    assert download.content == pdf
    check = client.post(f"/verify/{request.number}", params={"f": "json"},
                        files={"file": ("note.pdf", pdf, "application/pdf")})
    assert check.json()["identical"] is True and check.json()["status"] == "valid"


async def test_building_the_note_again_after_edits_gives_the_content_of_the_request_date(
        world: NruWorld, edited: tuple[NruRequest, bytes]) -> None:
    stored, again = await rebuilt(world, edited[0].number)
    assert again.answer == stored.answer
    assert again.map == stored.map
    assert again == stored
