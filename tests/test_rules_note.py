"""The note de renseignement urbanistique renders, prints to PDF, and names the right things."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import tinyhtml5
from fastapi.testclient import TestClient
from rules_fixture import RulesWorld, shared_world

from geoportal.app import create_app
from geoportal.rules.note import htmltree, render
from geoportal.rules.note.extract import choose_frame
from geoportal.rules.note.render import note_reference
from geoportal.rules.note.svgmap import nice_length, true_north_deg
from geoportal.settings import Settings

NOTE_DATE = "2026-06-15"


@pytest.fixture(scope="session")
def rules_world(fresh_database: Callable[[str], str],
                tmp_path_factory: pytest.TempPathFactory) -> RulesWorld:
    return shared_world(fresh_database, tmp_path_factory.getbasetemp() / "rules-rasters")


@pytest.fixture(scope="session")
def client(rules_world: RulesWorld) -> Iterator[TestClient]:
    settings = Settings(database_url=rules_world.url, data_dir=rules_world.raster_dir)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def split_plot_pdf(client: TestClient) -> bytes:
    response = client.get("/rules/note", params={"parcel": "TF 1001/C", "f": "pdf",
                                                 "date": NOTE_DATE})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    return response.content


def plain(text: str) -> str:
    """Text with non-breaking spaces as plain spaces."""
    return re.sub(r"[\u00a0\u202f]", " ", text)


def test_the_html_note_names_the_plot_zones_shares_figures_and_arabic_names(
        client: TestClient) -> None:
    response = client.get("/rules/note", params={"parcel": "tf 1001/c", "date": NOTE_DATE})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = plain(response.text)
    for expected in ("Note de renseignement urbanistique", "TF 1001/C", "Zone C", "Zone D",
                     "1 400,00 m²", "70,00 %", "600,00 m²", "30,00 %", "2 000,00 m²",
                     "1 260,00 m²", "5 460,00 m²", "PA Test Anfa", "17 mai 2018",
                     "عمالة الدار البيضاء", "15 juin 2026", "Échelle 1/1 000"):
        assert expected in html, expected
    data_version = client.get("/version").json()["data_version"]
    assert note_reference("TF 1001/C", data_version) in html
    assert data_version in html
    assert html.count("<svg") >= 2 and 'stroke="#d7191c"' in html


def test_the_pdf_opens_and_its_first_page_renders_as_an_image(
        split_plot_pdf: bytes, artifacts: Path, tmp_path: Path) -> None:
    pdf = artifacts / "rules-note-TF1001C.pdf"
    pdf.write_bytes(split_plot_pdf)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    pages = int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))  # type: ignore[union-attr]
    assert 1 <= pages <= 2
    assert re.search(r"Page size:\s+595.276 x 841.89 pts \(A4\)", info.stdout)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile",
                    str(pdf), str(artifacts / "rules-note-TF1001C-page1")], check=True)
    png = artifacts / "rules-note-TF1001C-page1.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_the_pdf_text_names_the_right_zones_and_figures(
        split_plot_pdf: bytes, tmp_path: Path) -> None:
    pdf = tmp_path / "note.pdf"
    pdf.write_bytes(split_plot_pdf)
    text = plain(subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                                text=True, check=True).stdout)
    for expected in ("Zone C", "Immeubles R+4", "1 400,00 m²", "70,00 %", "Habitat R+2",
                     "30,00 %", "840,00 m²", "4 200,00 m²", "5 460,00 m²",
                     "plusieurs zones", "15 juin 2026"):
        assert expected in text, expected


def test_the_same_data_gives_the_same_document_byte_for_byte(
        client: TestClient, split_plot_pdf: bytes) -> None:
    again = client.get("/rules/note", params={"parcel": "TF 1001/C", "f": "pdf",
                                              "date": NOTE_DATE})
    assert again.content == split_plot_pdf
    params = {"parcel": "TF 1001/C", "date": NOTE_DATE}
    assert client.get("/rules/note", params=params).text == client.get(
        "/rules/note", params=params).text


def test_a_servitude_is_hatched_on_the_map_and_listed_with_its_share(
        client: TestClient) -> None:
    html = plain(client.get("/rules/note", params={"parcel": "TF 1004/C",
                                                   "date": NOTE_DATE}).text)
    assert 'fill="url(#hatch-littoral)"' in html
    assert "Bande littorale (loi 81-12)" in html  # the label of the servitudes layer
    assert "600,00 m²" in html and "66,67 %" in html


def test_a_planned_road_and_a_reservation_appear_in_the_note(client: TestClient) -> None:
    road = plain(client.get("/rules/note", params={"parcel": "TF 1003/C",
                                                   "date": NOTE_DATE}).text)
    assert "Voie projetée n° 12" in road and "url(#hatch-road)" in road
    school = plain(client.get("/rules/note", params={"parcel": "TF 1002/C",
                                                     "date": NOTE_DATE}).text)
    assert "École primaire" in school and "Réservation" in school


@pytest.mark.parametrize("parcel", ["TF 1001/C", "TF 1002/C", "TF 1003/C", "TF 1004/C"])
def test_the_notes_html_parsed_by_libxml2_is_the_tree_of_weasyprints_parser(
        client: TestClient, parcel: str) -> None:
    html = client.get("/rules/note", params={"parcel": parcel, "date": NOTE_DATE}).text
    ours = [(e.tag, sorted(e.attrib.items()), e.text, e.tail)
            for e in htmltree.parse(html).iter()]
    theirs = [(e.tag, sorted(e.attrib.items()), e.text, e.tail)
              for e in tinyhtml5.parse(html, namespace_html_elements=False).iter()]
    assert len(ours) > 100 and ours == theirs


@pytest.mark.parametrize("parcel", ["TF 1001/C", "TF 1002/C", "TF 1003/C", "TF 1004/C"])
def test_the_notes_lean_user_agent_stylesheet_gives_the_pdf_of_weasyprints(
        client: TestClient, parcel: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from weasyprint import HTML

    html = client.get("/rules/note", params={"parcel": parcel, "date": NOTE_DATE}).text
    lean = render.pdf_bytes(html, b"0" * 32)
    monkeypatch.setattr(htmltree._document_class(), "_ua_stylesheets", HTML._ua_stylesheets)
    assert render.pdf_bytes(html, b"0" * 32) == lean


@pytest.mark.parametrize(("params", "status"), [
    ({"parcel": "TF 404/X"}, 404),
    ({"parcel": "TF 1001/C", "f": "docx"}, 400),
    ({}, 400),
    ({"parcel": "TF 1001/C", "date": "yesterday"}, 400),
])
def test_note_errors_are_clear_4xx(client: TestClient, params: dict[str, str],
                                   status: int) -> None:
    response = client.get("/rules/note", params=params)
    assert response.status_code == status
    assert response.json()["description"]


def test_a_browser_following_a_bad_note_link_gets_a_french_page(client: TestClient) -> None:
    page = client.get("/rules/note", params={"parcel": "TF 404/X"},
                      headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "La note ne peut pas être délivrée" in page.text and "TF 404/X" in page.text
    english = client.get("/rules/note", params={"parcel": "TF 404/X"},
                         headers={"Accept": "text/html", "Accept-Language": "en"})
    assert "The note cannot be given" in english.text


def test_the_reference_number_depends_only_on_the_plot_and_the_data_version() -> None:
    assert note_reference("TF 1001/C", "v1") == note_reference(" tf 1001/c", "v1")
    assert note_reference("TF 1001/C", "v1") != note_reference("TF 1001/C", "v2")
    assert re.fullmatch(r"NRU-[0-9A-F]{10}", note_reference("TF 1001/C", "v1"))


def test_the_map_uses_the_largest_standard_scale_that_fits_the_plot() -> None:
    small = choose_frame((0, 0, 30, 20), 174, 96)
    large = choose_frame((0, 0, 400, 250), 174, 96)
    assert (small.scale, large.scale) == (500, 5_000)
    assert small.x1 - small.x0 == pytest.approx(174 * 500 / 1000)
    assert nice_length(87 * 0.25) == 20 and nice_length(4.9) == 2


def test_true_north_leans_towards_the_central_meridian_by_the_convergence() -> None:
    # EPSG:26191's central meridian is 5.4° W; Casablanca (7.6° W) lies west of it, so true
    # north leans east of grid north by about (7.6 - 5.4) × sin(33.3°) ≈ 1.2°.
    assert true_north_deg(296_630, 332_700) == pytest.approx(1.2, abs=0.05)
