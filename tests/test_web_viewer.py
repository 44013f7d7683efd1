"""The web map in a real browser: Debian's Chromium, headless, driven by Playwright.

Every page is watched for console errors, uncaught exceptions and requests to any host but
the service. Screenshots go to the artifacts folder, to be looked at.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import psycopg
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page
from pyproj import Transformer

pytestmark = pytest.mark.browser

IDLE = "() => document.body.dataset.mapIdle === 'true'"


@dataclass
class Watched:
    """A page with what it logged and where it connected."""

    page: Page
    errors: list[str] = field(default_factory=list)
    hosts: set[str] = field(default_factory=set)

    def assert_clean(self, service: str) -> None:
        """No console error, no uncaught exception, no request to another host."""
        assert self.errors == []
        assert self.hosts == {urlsplit(service).netloc}


@pytest.fixture
def open_page(browser: Browser, live_server: str) -> Iterator[Callable[..., Watched]]:
    """Open a path of the live service in a fresh context, watching what the page does."""
    contexts = []

    def open_(path: str, width: int = 1400, height: int = 900) -> Watched:
        context = browser.new_context(viewport={"width": width, "height": height},
                                      locale="fr-FR")
        contexts.append(context)
        page = context.new_page()
        watched = Watched(page)
        page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: watched.errors.append(f"uncaught: {e}"))
        page.on("request", lambda r: watched.hosts.add(urlsplit(r.url).netloc)
                if r.url.startswith("http") else None)
        page.goto(live_server + path)
        page.wait_for_function(IDLE, timeout=60_000)
        return watched

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def plot(demo_database_url: str, live_server: str) -> dict[str, object]:
    """A demo plot in a zone with rules, and what /rules says of it."""
    with psycopg.connect(demo_database_url) as conn:
        row = conn.execute(
            "SELECT p.ref FROM parcels p JOIN zoning z ON ST_Contains(z.geom, p.geom)"
            " ORDER BY p.id LIMIT 1").fetchone()
    assert row is not None
    answer = httpx.get(f"{live_server}/rules", params={"parcel": row[0]}, timeout=30).json()
    return {"ref": row[0], "answer": answer}


def painted_colours(png: bytes) -> int:
    """How many distinct colours a screenshot holds (a blank canvas has one or two)."""
    image = Image.open(io.BytesIO(png)).convert("RGB").resize((200, 130))
    return len(set(image.getdata()))


def rendered(page: Page, layer: str) -> int:
    """How many features of a style layer the map has drawn from its tiles."""
    count: int = page.evaluate(
        f"window.geoportal.map.queryRenderedFeatures({{layers: ['{layer}']}}).length")
    return count


def test_the_map_loads_from_the_service_alone_and_draws_its_tiles(
    open_page: Callable[..., Watched], live_server: str, artifacts: Path
) -> None:
    watched = open_page("/")
    page = watched.page
    assert page.title().startswith("Géoportail")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert rendered(page, "base-land") > 0 and rendered(page, "zoning-fill") > 0
    shot = page.locator("#map").screenshot()
    assert painted_colours(shot) > 50
    page.screenshot(path=artifacts / "web-map.png")
    legend = page.locator("#layer-list")
    assert "B – immeubles R+6" in legend.inner_text()
    assert page.locator(".maplibregl-ctrl-scale").inner_text().strip()
    watched.assert_clean(live_server)


def test_a_permalink_opens_the_plot_with_the_zone_and_cos_of_the_rules(
    open_page: Callable[..., Watched], live_server: str, plot: dict[str, object],
    artifacts: Path
) -> None:
    ref = str(plot["ref"])
    answer = plot["answer"]
    assert isinstance(answer, dict)
    watched = open_page(f"/?parcel={quote(ref)}")
    page = watched.page
    page.wait_for_selector(f".plot-ref[data-parcel='{ref}']")
    page.wait_for_function(IDLE)
    zones = page.locator("#info-panel .zone")
    shown = {zones.nth(i).get_attribute("data-zone-code"): zones.nth(i).get_attribute("data-cos")
             for i in range(zones.count())}
    expected = {z["code"]: str(z["rules"]["cos"]) for z in answer["zones"]}
    assert shown == expected
    first = answer["zones"][0]
    cos_text = f"{first['rules']['cos']}".replace(".", ",")
    assert page.locator("#info-panel .zone .cos").first.inner_text() == cos_text
    assert rendered(page, "selection-line") > 0  # the plot is outlined
    page.screenshot(path=artifacts / "web-panel.png")
    watched.assert_clean(live_server)


def test_a_click_on_the_map_opens_the_rules_of_that_point(
    open_page: Callable[..., Watched], live_server: str, plot: dict[str, object]
) -> None:
    answer = plot["answer"]
    assert isinstance(answer, dict)
    lon, lat = answer["location"]["lon"], answer["location"]["lat"]
    watched = open_page(f"/#17/{lat}/{lon}")
    page = watched.page
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector(f".plot-ref[data-parcel='{plot['ref']}']")
    assert page.locator("#info-panel .zone").count() == len(answer["zones"])
    assert parse_qs(urlsplit(page.url).query)["parcel"] == [plot["ref"]]  # a permalink
    watched.assert_clean(live_server)


def test_search_suggests_a_plot_by_reference_and_opens_it(
    open_page: Callable[..., Watched], live_server: str, plot: dict[str, object],
    artifacts: Path
) -> None:
    ref = str(plot["ref"])
    watched = open_page("/")
    page = watched.page
    search = page.locator("#search-input")
    search.click()
    search.press_sequentially(ref[:-3].lower(), delay=30)  # 'tf 1234…' without '/C'
    option = page.locator("#search-results [role=option]", has_text=ref)
    option.wait_for()
    page.screenshot(path=artifacts / "web-search.png")
    while page.locator("#search-results [aria-selected=true]").inner_text().find(ref) < 0:
        search.press("ArrowDown")
    search.press("Enter")
    page.wait_for_selector(f".plot-ref[data-parcel='{ref}']")
    watched.assert_clean(live_server)


def test_search_finds_a_commune_by_name_without_accents(
    open_page: Callable[..., Watched], live_server: str
) -> None:
    watched = open_page("/")
    page = watched.page
    page.locator("#search-input").fill("ain seb")
    option = page.locator("#search-results [role=option]").first
    option.wait_for()
    assert "Aïn Sebaâ" in option.inner_text()
    option.click()
    page.wait_for_function("() => window.geoportal.map.getZoom() > 11")
    watched.assert_clean(live_server)


def test_the_note_buttons_open_the_printable_note_and_its_pdf(
    open_page: Callable[..., Watched], live_server: str, plot: dict[str, object]
) -> None:
    ref = str(plot["ref"])
    watched = open_page(f"/?parcel={quote(ref)}")
    page = watched.page
    page.wait_for_selector("#note-html")
    with page.context.expect_page() as popup:
        page.click("#note-html")
    note = popup.value
    note.wait_for_load_state()
    assert "/rules/note" in note.url and "f=html" in note.url
    assert ref in note.content()
    pdf_href = page.locator("#note-pdf").get_attribute("href")
    assert pdf_href is not None and "f=pdf" in pdf_href
    pdf = httpx.get(pdf_href, timeout=60)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    watched.assert_clean(live_server)


def test_the_pointer_coordinates_are_shown_in_wgs84_and_nord_maroc(
    open_page: Callable[..., Watched], live_server: str
) -> None:
    watched = open_page("/#14/33.5731/-7.5898")
    page = watched.page
    page.mouse.move(700, 450)
    page.mouse.move(705, 455)
    wgs84, local = page.locator("#coords-wgs84"), page.locator("#coords-local")
    lon, lat = (float(wgs84.get_attribute(f"data-{k}") or "nan") for k in ("lon", "lat"))
    x, y = (float(local.get_attribute(f"data-{k}") or "nan") for k in ("x", "y"))
    expected = Transformer.from_crs("EPSG:4326", "EPSG:26191", always_xy=True).transform(lon, lat)
    assert x == pytest.approx(expected[0], abs=1.0) and y == pytest.approx(expected[1], abs=1.0)
    assert "Nord Maroc" in local.inner_text() and "WGS 84" in wgs84.inner_text()
    watched.assert_clean(live_server)


def test_a_layer_can_be_hidden_from_the_layer_list_by_keyboard(
    open_page: Callable[..., Watched], live_server: str
) -> None:
    watched = open_page("/")
    page = watched.page
    toggle = page.locator("input[data-layer='zoning']")
    toggle.focus()
    page.keyboard.press("Space")
    assert page.evaluate(
        "window.geoportal.map.getLayoutProperty('zoning-fill', 'visibility')") == "none"
    page.keyboard.press("Space")
    assert page.evaluate(
        "window.geoportal.map.getLayoutProperty('zoning-fill', 'visibility')") == "visible"
    watched.assert_clean(live_server)


def test_on_a_phone_the_answer_is_a_bottom_sheet_over_the_map(
    open_page: Callable[..., Watched], live_server: str, plot: dict[str, object],
    artifacts: Path
) -> None:
    watched = open_page(f"/?parcel={quote(str(plot['ref']))}", width=390, height=844)
    page = watched.page
    page.wait_for_selector(".plot-ref")
    assert page.locator("#layers-panel").is_hidden()
    panel = page.locator("#info-panel").bounding_box()
    assert panel is not None and panel["width"] == 390 and panel["y"] > 300
    page.screenshot(path=artifacts / "web-phone.png")
    watched.assert_clean(live_server)


def test_a_click_at_sea_says_it_is_outside_the_territory(
    open_page: Callable[..., Watched], live_server: str
) -> None:
    watched = open_page("/#11/33.72/-7.75")  # the Atlantic, north-west of Casablanca
    page = watched.page
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    notice = page.locator("#info-panel .notice-error")
    notice.wait_for()
    assert "en dehors du territoire" in notice.inner_text()
    watched.assert_clean(live_server)


# --- The viewer people prefer (issue 15): 3D, draw, measure, date, print, Arabic, phone,
# keyboard, accessibility, layout stability.

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
TO_LOCAL = Transformer.from_crs("EPSG:4326", "EPSG:26191", always_xy=True)


@pytest.fixture(scope="module")
def expired_plot(demo_database_url: str) -> str:
    """A plot whose only plan expired in 2021 (in force in 2020)."""
    with psycopg.connect(demo_database_url) as conn:
        row = conn.execute(
            "SELECT p.ref FROM parcels p JOIN zoning z ON ST_Contains(z.geom, p.geom)"
            " JOIN plans pl ON pl.id = z.plan_id WHERE pl.ref = 'PA-NOU-BSK-2011'"
            " ORDER BY p.id LIMIT 1").fetchone()
    assert row is not None
    return str(row[0])


def local_area(points: list[tuple[float, float]]) -> float:
    """The shoelace area of a lon/lat ring in EPSG:26191."""
    xy = [TO_LOCAL.transform(lon, lat) for lon, lat in points]
    twice = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(xy, xy[1:] + xy[:1], strict=True))
    return abs(twice) / 2


def map_centre(page: Page) -> tuple[float, float]:
    """The centre of the map element on the page, in CSS pixels."""
    box = page.locator("#map").bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def draw(page: Page, offsets: list[tuple[int, int]]) -> list[tuple[float, float]]:
    """Click points around the map centre; their lon/lat as the map reads them."""
    cx, cy = map_centre(page)
    box = page.locator("#map").bounding_box()
    assert box is not None
    points = []
    for dx, dy in offsets:
        page.mouse.click(cx + dx, cy + dy)
        lng_lat = page.evaluate(
            f"(() => {{ const p = window.geoportal.map.unproject([{cx + dx - box['x']},"
            f" {cy + dy - box['y']}]); return [p.lng, p.lat]; }})()")
        points.append((lng_lat[0], lng_lat[1]))
        page.wait_for_timeout(350)  # not a double click
    return points


@pytest.fixture(scope="module")
def plot_3d(demo_database_url: str, live_server: str) -> dict[str, Any]:
    """A demo plot with a buildable envelope and buildable neighbours, and what the API
    (``/rules?...&envelope=true`` and ``/rules/neighbours``) says of them."""
    with psycopg.connect(demo_database_url) as conn:
        refs = [r[0] for r in conn.execute(
            "SELECT p.ref FROM parcels p JOIN zoning z ON ST_Contains(z.geom, p.geom)"
            " ORDER BY p.id LIMIT 20")]
    for ref in refs:
        answer = httpx.get(f"{live_server}/rules", timeout=30,
                           params={"parcel": ref, "envelope": "true", "geometry": "true"}).json()
        around = httpx.get(f"{live_server}/rules/neighbours", params={"parcel": ref},
                           timeout=30).json()
        extruded = [f for f in around["features"]
                    if f["properties"]["buildable"] and f["properties"]["max_height_m"]]
        if answer["envelope"]["buildable"] and answer["envelope"]["max_height_m"] and extruded:
            return {"ref": ref, "answer": answer, "neighbours": extruded}
    raise AssertionError("no demo plot with a buildable envelope and buildable neighbours")


SOURCE_DATA = "async (id) => (await window.geoportal.map.getSource(id).getData()).features"


def test_the_3d_view_extrudes_the_envelope_and_the_neighbours_the_api_gives(
    open_page: Callable[..., Watched], live_server: str, plot_3d: dict[str, Any],
    artifacts: Path
) -> None:
    answer, envelope = plot_3d["answer"], plot_3d["answer"]["envelope"]
    lon, lat = answer["location"]["lon"], answer["location"]["lat"]
    watched = open_page(f"/#18/{lat}/{lon}")
    page = watched.page
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/rules" in r.url else None)
    page.mouse.click(*map_centre(page))  # choose the plot on the map
    page.wait_for_selector(f".plot-ref[data-parcel='{plot_3d['ref']}']")
    page.click("#view-3d")
    page.wait_for_function("() => window.geoportal.map.getPitch() > 30")
    page.wait_for_function(IDLE)
    assert any("envelope=true" in url for url in asked)
    assert any("/rules/neighbours?" in url and "parcel=" in url for url in asked)
    # the plot's envelope, extruded at the height the API answers
    own = page.evaluate(SOURCE_DATA, "envelope")
    extruded = [f for f in own if f["properties"]["part"] == "envelope"]
    assert len(extruded) == 1 and extruded[0]["geometry"] == envelope["geometry"]
    drawn = page.evaluate("window.geoportal.map.queryRenderedFeatures({layers: ['envelope-3d']})"
                          ".map((f) => f.properties.height)")
    assert drawn and set(drawn) == {envelope["max_height_m"]}
    # the neighbours' envelopes, each at its own height, fainter than the plot's
    neighbours = page.evaluate(SOURCE_DATA, "envelope-neighbours")
    expected = {f["properties"]["ref"]: f["properties"]["max_height_m"]
                for f in plot_3d["neighbours"]}
    assert {f["properties"]["ref"]: f["properties"]["height"] for f in neighbours} == expected
    on_screen = page.evaluate(
        "window.geoportal.map.queryRenderedFeatures({layers: ['envelope-neighbours']})"
        ".map((f) => [f.properties.ref, f.properties.height])")
    assert on_screen and all(expected[ref] == height for ref, height in on_screen)
    opacity = page.evaluate(
        "['envelope-3d', 'envelope-neighbours'].map((id) => window.geoportal.map"
        ".getPaintProperty(id, 'fill-extrusion-opacity'))")
    assert 0 < opacity[1] < opacity[0] / 2
    text = page.locator("#envelope-note").inner_text()
    assert "Enveloppe constructible" in text and f"{len(expected)} enveloppes voisines" in text
    assert page.locator("#view-3d").get_attribute("aria-pressed") == "true"
    page.screenshot(path=artifacts / "web-3d.png")
    page.click("#view-3d")  # back to 2D: the 3D layers are emptied
    page.wait_for_function("() => window.geoportal.map.getPitch() < 1")
    assert page.evaluate(SOURCE_DATA, "envelope-neighbours") == []
    watched.assert_clean(live_server)


def test_a_drawn_outline_in_3d_gets_its_own_envelope_from_the_api(
    open_page: Callable[..., Watched], live_server: str, plot: dict[str, object]
) -> None:
    answer = plot["answer"]
    assert isinstance(answer, dict)
    lon, lat = answer["location"]["lon"], answer["location"]["lat"]
    watched = open_page(f"/#17/{lat}/{lon}")
    page = watched.page
    page.click(".tool-polygon")
    draw(page, [(-60, -40), (60, -40), (60, 40), (-60, 40)])
    page.click("#tool-finish")
    page.wait_for_selector("#view-3d")
    submitted = page.evaluate("window.geoportal.subject.geometry")
    expected = httpx.post(f"{live_server}/rules", json=submitted, timeout=30,
                          params={"envelope": "true"}).json()["envelope"]
    page.click("#view-3d")
    page.wait_for_function("() => window.geoportal.map.getPitch() > 30")
    page.wait_for_function(IDLE)
    drawn = page.evaluate("window.geoportal.map.queryRenderedFeatures({layers: ['envelope-3d']})"
                          ".map((f) => f.properties.height)")
    assert drawn and set(drawn) == {expected["max_height_m"]}
    assert page.evaluate(SOURCE_DATA, "envelope-neighbours") == []
    assert "Enveloppe constructible" in page.locator("#envelope-note").inner_text()
    watched.assert_clean(live_server)


def test_the_3d_view_of_a_plot_where_nothing_can_be_built_says_why(
    open_page: Callable[..., Watched], live_server: str, plot_3d: dict[str, Any]
) -> None:
    """The view's own reading of an answer (the demo has no such plot): the plot flat, no
    extrusion, the envelope's summary; without an envelope, the zone's height, said."""
    watched = open_page("/")
    page = watched.page
    states = page.evaluate("""async (answer) => {
      const {envelopeFeatures} = await import('./web/static/js/envelope.js');
      const none = envelopeFeatures({...answer, envelope: {...answer.envelope,
        buildable: false, geometry: null}});
      const missing = envelopeFeatures({...answer, envelope: null});
      return [none.state, none.features.map((f) => f.properties.part),
              missing.state, missing.features.map((f) => [f.properties.part,
                                                          f.properties.height ?? null])];
    }""", plot_3d["answer"])
    heights = {z["rules"]["max_height_m"] for z in plot_3d["answer"]["zones"]} - {None}
    assert states == ["none", ["plot"], "approximate",
                      [["plot", None], ["envelope", min(heights)]]]
    watched.assert_clean(live_server)


def test_a_drawn_polygon_is_measured_in_nord_maroc_metres_and_gets_its_rules(
    open_page: Callable[..., Watched], live_server: str, plot: dict[str, object],
    artifacts: Path
) -> None:
    answer = plot["answer"]
    assert isinstance(answer, dict)
    lon, lat = answer["location"]["lon"], answer["location"]["lat"]
    watched = open_page(f"/#17/{lat}/{lon}")
    page = watched.page
    page.click(".tool-polygon")
    assert page.locator("#tool-card").is_visible()
    points = draw(page, [(-60, -40), (60, -40), (60, 40), (-60, 40)])
    shown = float(page.locator("#tool-measure [data-area]").get_attribute("data-area") or 0)
    assert shown == pytest.approx(local_area(points), rel=1e-6)
    page.screenshot(path=artifacts / "web-draw.png")
    page.click("#tool-finish")
    page.wait_for_selector("#info-panel .zone")
    assert "Géométrie soumise" in page.locator(".plot-ref").inner_text()
    assert page.locator("#tool-card").is_hidden()
    assert "parcel=" not in page.url
    watched.assert_clean(live_server)


def test_a_drawn_line_gets_the_rules_of_its_corridor(
    open_page: Callable[..., Watched], live_server: str, plot: dict[str, object]
) -> None:
    answer = plot["answer"]
    assert isinstance(answer, dict)
    lon, lat = answer["location"]["lon"], answer["location"]["lat"]
    watched = open_page(f"/#17/{lat}/{lon}")
    page = watched.page
    page.click(".tool-line")
    draw(page, [(-80, 0), (80, 10)])
    with page.expect_response("**/web/corridor*") as corridor:
        page.click("#tool-finish")
    assert corridor.value.ok
    page.wait_for_selector("#info-panel .zone")
    watched.assert_clean(live_server)


def test_the_measure_tool_gives_lengths_in_nord_maroc_metres(
    open_page: Callable[..., Watched], live_server: str
) -> None:
    watched = open_page("/#16/33.5731/-7.5898")
    page = watched.page
    page.click(".tool-measure")
    points = draw(page, [(-100, 0), (100, 0)])
    (x1, y1), (x2, y2) = (TO_LOCAL.transform(*p) for p in points)
    shown = float(page.locator("#tool-measure [data-length]").get_attribute("data-length") or 0)
    assert shown == pytest.approx(((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5, abs=0.01)
    assert page.locator("#info-panel").is_hidden()  # measuring does not ask rules
    page.keyboard.press("Escape")
    assert page.locator("#tool-card").is_hidden()
    watched.assert_clean(live_server)


def test_an_uploaded_geojson_gets_its_rules(
    open_page: Callable[..., Watched], live_server: str, plot: dict[str, object],
    tmp_path: Path
) -> None:
    answer = plot["answer"]
    assert isinstance(answer, dict)
    lon, lat = answer["location"]["lon"], answer["location"]["lat"]
    d = 0.0002
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d],
            [lon - d, lat - d]]
    path = tmp_path / "outline.geojson"
    path.write_text(json.dumps({"type": "Feature", "properties": {},
                                "geometry": {"type": "Polygon", "coordinates": [ring]}}))
    watched = open_page("/")
    page = watched.page
    page.locator("#upload-input").set_input_files(str(path))
    page.wait_for_selector("#info-panel .zone")
    assert "Géométrie soumise" in page.locator(".plot-ref").inner_text()
    watched.assert_clean(live_server)


def test_a_date_shows_the_map_panel_and_note_as_they_stood_with_the_plans_then(
    open_page: Callable[..., Watched], live_server: str, expired_plot: str
) -> None:
    watched = open_page(f"/?parcel={quote(expired_plot)}")
    page = watched.page
    plan = page.locator("[data-plan='PA-NOU-BSK-2011']")
    plan.wait_for()
    assert plan.get_attribute("data-situation") == "expiré"
    assert plan.locator(".status").get_attribute("class") == "status status-off"  # red
    note = httpx.get(page.locator("#note-html").get_attribute("href") or "", timeout=60).text
    assert '<span class="badge expire">expiré</span>' in note  # red in the note too
    tiles: list[str] = []
    page.on("request", lambda r: tiles.append(r.url) if "/ogc/tiles/" in r.url else None)
    page.fill("#at-input", "2020-01-01")
    page.locator("#at-input").dispatch_event("change")
    page.wait_for_selector("[data-plan='PA-NOU-BSK-2011'][data-situation='en vigueur']")
    assert page.locator("[data-plan='PA-NOU-BSK-2011'] .status").get_attribute(
        "class") == "status status-on"
    assert parse_qs(urlsplit(page.url).query)["at"] == ["2020-01-01"]
    note = page.locator("#note-html").get_attribute("href") or ""
    assert parse_qs(urlsplit(note).query)["at"] == ["2020-01-01"]
    page.evaluate("window.geoportal.map.zoomTo(window.geoportal.map.getZoom() - 1)")
    page.wait_for_function(IDLE)
    assert tiles and all("at=2020-01-01" in url for url in tiles)
    page.click("#at-reset")
    page.wait_for_selector("[data-plan='PA-NOU-BSK-2011'][data-situation='expiré']")
    watched.assert_clean(live_server)


def test_what_changed_since_a_date_is_listed_in_the_panel(
    open_page: Callable[..., Watched], live_server: str, plot: dict[str, object]
) -> None:
    watched = open_page(f"/?parcel={quote(str(plot['ref']))}")
    page = watched.page
    page.fill("#changes-from", "2020-01-01")
    with page.expect_response("**/rules/changes?*") as changes:
        page.click("#changes-form button")
    assert changes.value.ok
    summary = changes.value.json()["summary_fr"]
    page.wait_for_selector("#changes-list p")
    assert summary in page.locator("#changes-list").inner_text()
    watched.assert_clean(live_server)


def test_the_print_dialog_gives_a_pdf_of_the_view_at_the_chosen_scale(
    open_page: Callable[..., Watched], live_server: str, plot: dict[str, object],
    tmp_path: Path
) -> None:
    answer = plot["answer"]
    assert isinstance(answer, dict)
    watched = open_page(f"/#16/{answer['location']['lat']}/{answer['location']['lon']}")
    page = watched.page
    page.click(".tool-print")
    page.select_option("#print-scale", "2000")
    page.select_option("#print-size", "A4")
    href = page.locator("#print-go").get_attribute("href") or ""
    query = parse_qs(urlsplit(href).query)
    assert query["scale"] == ["2000"] and query["size"] == ["A4"]
    assert "zoning" in query["layers"][0] and "plans" not in query["layers"][0]
    pdf = httpx.get(href, timeout=120)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    (tmp_path / "print.pdf").write_bytes(pdf.content)
    text = subprocess.run(["pdftotext", str(tmp_path / "print.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "Légende" in text and "Version des données" in text
    assert re.search(r"Échelle 1/2\s000", text)
    watched.assert_clean(live_server)


def test_the_arabic_switch_turns_the_interface_right_to_left_with_arabic_labels(
    open_page: Callable[..., Watched], live_server: str, plot: dict[str, object],
    artifacts: Path
) -> None:
    watched = open_page(f"/?parcel={quote(str(plot['ref']))}")
    page = watched.page
    page.wait_for_selector(".plot-ref")
    page.click("#lang-toggle")
    html = page.locator("html")
    assert html.get_attribute("dir") == "rtl" and html.get_attribute("lang") == "ar"
    assert page.locator("#layers-title").inner_text() == "الطبقات ومفتاح الخريطة"
    assert page.locator("#note-html").inner_text() == "مذكرة المعلومات"
    field = page.evaluate("window.geoportal.map.getLayoutProperty('communes-label', 'text-field')")
    assert "name_ar" in json.dumps(field)
    assert page.evaluate("maplibregl.getRTLTextPluginStatus()") in ("loaded", "deferred",
                                                                     "loading")
    page.screenshot(path=artifacts / "web-arabic.png")
    page.reload()
    page.wait_for_function(IDLE)
    assert page.locator("html").get_attribute("dir") == "rtl"  # the choice is kept
    page.click("#lang-toggle")
    assert page.locator("html").get_attribute("dir") == "ltr"
    watched.assert_clean(live_server)


def test_arabic_names_are_drawn_with_the_rtl_plugin(
    open_page: Callable[..., Watched], live_server: str, artifacts: Path
) -> None:
    watched = open_page("/?lang=ar#11/33.57/-7.55", width=390, height=844)
    page = watched.page
    page.wait_for_function("() => maplibregl.getRTLTextPluginStatus() === 'loaded'")
    labels = page.evaluate("window.geoportal.map.queryRenderedFeatures({layers: "
                           "['communes-label']}).map((f) => f.properties.name_ar)")
    assert labels and all(labels)
    page.screenshot(path=artifacts / "web-arabic-phone.png")
    watched.assert_clean(live_server)


def overlaps(a: dict[str, float] | None, b: dict[str, float] | None) -> bool:
    """Whether two bounding boxes overlap."""
    assert a is not None and b is not None
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def test_on_a_phone_the_first_view_shows_zoning_and_a_tapped_plot_stays_above_the_sheet(
    open_page: Callable[..., Watched], live_server: str, plot: dict[str, object],
    artifacts: Path
) -> None:
    watched = open_page("/", width=390, height=844)
    page = watched.page
    assert page.evaluate("window.geoportal.map.getZoom()") >= 9
    assert rendered(page, "zoning-fill") > 0
    page.click(".maplibregl-ctrl-attrib-button")
    assert not overlaps(page.locator("#coords").bounding_box(),
                        page.locator(".maplibregl-ctrl-attrib").bounding_box())
    page.screenshot(path=artifacts / "web-phone-first.png")
    answer = plot["answer"]
    assert isinstance(answer, dict)
    page.goto(f"{live_server}/#17/{answer['location']['lat']}/{answer['location']['lon']}")
    page.wait_for_function(IDLE)
    page.mouse.click(*map_centre(page))
    page.wait_for_selector(".plot-ref")
    page.wait_for_function(IDLE)
    marker = page.locator(".maplibregl-marker").bounding_box()
    sheet = page.locator("#info-panel").bounding_box()
    assert marker is not None and sheet is not None
    assert marker["y"] + marker["height"] < sheet["y"]  # the marker is above the sheet
    page.screenshot(path=artifacts / "web-phone-tap.png")
    watched.assert_clean(live_server)


def test_keyboard_search_focuses_the_note_escape_returns_to_the_map_enter_shows_a_crosshair(
    open_page: Callable[..., Watched], live_server: str, plot: dict[str, object]
) -> None:
    ref = str(plot["ref"])
    watched = open_page("/")
    page = watched.page
    search = page.locator("#search-input")
    search.focus()
    search.press_sequentially(ref, delay=20)
    page.locator("#search-results [role=option]", has_text=ref).wait_for()
    search.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'note-html'")
    page.keyboard.press("Escape")
    assert page.locator("#info-panel").is_hidden()
    assert page.evaluate("document.activeElement.classList.contains('maplibregl-canvas')")
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")  # a keyboard focus: the ring and the crosshair show
    assert page.locator(".crosshair").is_visible()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineOffset")
    assert outline == "-3px"  # drawn inside the map, never clipped
    page.keyboard.press("Enter")
    page.wait_for_selector("#info-panel .plot-ref")
    watched.assert_clean(live_server)


def test_api_errors_are_shown_in_french_even_to_an_english_browser(
    browser: Browser, live_server: str
) -> None:
    context = browser.new_context(locale="en-US")  # Chromium asks for English pages
    page = context.new_page()
    page.goto(f"{live_server}/?parcel={quote('TF 999/X')}")
    notice = page.locator("#info-panel .notice-error")
    notice.wait_for()
    assert "parcelle" in notice.inner_text().lower()
    note = page.goto(f"{live_server}/rules/note?parcel={quote('TF 999/X')}&f=html")
    assert note is not None and note.status == 404
    assert note.headers["content-type"].startswith("text/html")
    assert page.locator("h1").inner_text() == "The note cannot be given"
    french = browser.new_context(locale="fr-FR").new_page()
    french.goto(f"{live_server}/rules/note?parcel={quote('TF 999/X')}&f=html")
    assert "La note ne peut pas être délivrée" in french.locator("h1").inner_text()
    assert french.locator("a[href='../']").count() == 1
    context.close()
    french.context.close()


def test_the_panel_opening_on_a_permalink_does_not_shift_the_layout(
    browser: Browser, live_server: str, plot: dict[str, object]
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="fr-FR")
    page = context.new_page()
    page.add_init_script("""
      window.__cls = 0;
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          if (!entry.hadRecentInput) window.__cls += entry.value;
        }
      }).observe({type: 'layout-shift', buffered: true});
    """)
    page.goto(f"{live_server}/?parcel={quote(str(plot['ref']))}")
    page.wait_for_selector(".plot-ref")
    page.wait_for_function(IDLE)
    page.wait_for_timeout(500)
    assert page.evaluate("window.__cls") < 0.1
    context.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical accessibility violations of the page (axe-core, WCAG 2.1 AA)."""
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result: list[dict[str, Any]] = page.evaluate("""async () => {
      const r = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']});
      return r.violations.filter((v) => ['serious', 'critical'].includes(v.impact))
        .map((v) => ({id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' '))}));
    }""")
    return result


@pytest.mark.parametrize("path", ["/", "PANEL", "/aide", "/opendata", "/ogc",
                                  "/ogc/collections", "/ogc/collections/zoning"])
def test_axe_finds_no_serious_or_critical_violation(
    browser: Browser, live_server: str, plot: dict[str, object], path: str
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="fr-FR",
                                  bypass_csp=True)  # to inject axe, the test's own script
    page = context.new_page()
    if path == "PANEL":
        page.goto(f"{live_server}/?parcel={quote(str(plot['ref']))}")
        page.wait_for_selector(".plot-ref")
        page.wait_for_function(IDLE)
    elif path == "/":
        page.goto(live_server + path)
        page.wait_for_function(IDLE)
    else:
        page.goto(live_server + path)
    assert axe_violations(page) == []
    context.close()


def test_axe_finds_no_serious_or_critical_violation_in_the_note(
    browser: Browser, live_server: str, plot: dict[str, object]
) -> None:
    context = browser.new_context(locale="fr-FR", bypass_csp=True)
    page = context.new_page()
    page.goto(f"{live_server}/rules/note?parcel={quote(str(plot['ref']))}&f=html")
    assert axe_violations(page) == []
    context.close()


def test_search_by_coordinates_opens_the_rules_there(
    open_page: Callable[..., Watched], live_server: str, plot: dict[str, object]
) -> None:
    answer = plot["answer"]
    assert isinstance(answer, dict)
    x, y = answer["location"]["x"], answer["location"]["y"]
    watched = open_page("/")
    page = watched.page
    page.locator("#search-input").fill(f"{x:.1f} {y:.1f}")
    option = page.locator("#search-results [role=option]").first
    option.wait_for()
    assert "Nord Maroc" in option.inner_text()
    page.locator("#search-input").press("Enter")
    page.wait_for_selector(f".plot-ref[data-parcel='{plot['ref']}']")
    watched.assert_clean(live_server)


def test_a_layer_can_be_made_transparent(
    open_page: Callable[..., Watched], live_server: str
) -> None:
    watched = open_page("/")
    page = watched.page
    slider = page.locator("input[data-opacity='zoning']")
    slider.fill("40")
    opacity = page.evaluate("window.geoportal.map.getPaintProperty('zoning-fill', 'fill-opacity')")
    before = page.evaluate("window.geoportal.layers.original['zoning-fill']")
    assert opacity[0] == "interpolate" and opacity[4] == pytest.approx(before[4] * 0.4)
    watched.assert_clean(live_server)


LIGHTHOUSE_VERSION = "13.5.0"


@pytest.fixture(scope="module")
def lighthouse() -> Path:
    """Lighthouse from npm, in the private folder (it brings no browser: Debian's Chromium)."""
    from geoportal.core.resources import default_home

    folder = Path(os.environ.get("GEOPORTAL_LIGHTHOUSE_DIR") or default_home() / "lighthouse")
    binary = folder / "node_modules" / ".bin" / "lighthouse"
    if not binary.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is missing: Lighthouse cannot be installed")
        folder.mkdir(parents=True, exist_ok=True)
        installed = subprocess.run(
            ["npm", "install", "--prefix", str(folder), "--no-audit", "--no-fund",
             f"lighthouse@{LIGHTHOUSE_VERSION}"], capture_output=True, text=True, timeout=600,
            check=False, env={**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"})
        if installed.returncode != 0 or not binary.exists():
            pytest.skip(f"Lighthouse could not be installed: {installed.stderr[-300:]}")
    return binary


@pytest.mark.parametrize("path", ["/", "/?parcel=PLOT", "/rules/note?parcel=PLOT&f=html"])
def test_lighthouse_scores_accessibility_and_best_practices_100_with_no_layout_shift(
    lighthouse: Path, live_server: str, plot: dict[str, object], tmp_path: Path, path: str
) -> None:
    url = live_server + path.replace("PLOT", quote(str(plot["ref"])))
    report = tmp_path / "report.json"
    subprocess.run(
        [str(lighthouse), url, "--only-categories=accessibility,best-practices,performance",
         "--chrome-flags=--headless --no-sandbox", "--output=json",
         f"--output-path={report}", "--quiet"],
        env={**os.environ, "CHROME_PATH": "/usr/bin/chromium"}, check=True, timeout=300)
    result = json.loads(report.read_text())
    scores = {key: category["score"] for key, category in result["categories"].items()}
    assert scores["accessibility"] == 1 and scores["best-practices"] == 1, scores
    assert result["audits"]["cumulative-layout-shift"]["numericValue"] < 0.1


def test_geolocation_flies_to_where_i_stand_and_gives_the_rules_there(
    browser: Browser, live_server: str, plot: dict[str, object], artifacts: Path
) -> None:
    answer = plot["answer"]
    assert isinstance(answer, dict)
    lon, lat = answer["location"]["lon"], answer["location"]["lat"]
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="fr-FR",
                                  geolocation={"latitude": lat, "longitude": lon},
                                  permissions=["geolocation"])
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(live_server + "/")
    page.wait_for_function(IDLE, timeout=60_000)
    page.click(".maplibregl-ctrl-geolocate")
    page.wait_for_selector(f".plot-ref[data-parcel='{plot['ref']}']", timeout=30_000)
    centre = page.evaluate("(() => { const c = window.geoportal.map.getCenter();"
                           " return [c.lng, c.lat]; })()")
    assert centre[0] == pytest.approx(lon, abs=0.01) and centre[1] == pytest.approx(lat, abs=0.01)
    assert page.evaluate("window.geoportal.map.getZoom()") > 14
    page.screenshot(path=artifacts / "web-phone-geolocated.png")
    assert errors == []
    context.close()


EXTERNAL_STYLE = {
    "version": 8, "name": "Fond externe de test",
    "sources": {}, "layers": [{"id": "external-background", "type": "background",
                               "paint": {"background-color": "#cfe3d2"}}],
}


@pytest.fixture(scope="module")
def external_basemap() -> Iterator[str]:
    """A base-map style served by another loopback server (the configured external base)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Style(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(EXTERNAL_STYLE).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Style)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/style.json"
    server.shutdown()
    server.server_close()


def style_layers(page: Page) -> list[str]:
    """The ids of the map's style layers."""
    ids: list[str] = page.evaluate("window.geoportal.map.getStyle().layers.map((l) => l.id)")
    return ids


def test_the_base_map_switches_between_ours_and_the_configured_external_one(
    browser: Browser, demo_settings: Any, external_basemap: str, plot: dict[str, object],
    artifacts: Path
) -> None:
    from conftest import uvicorn_server

    with uvicorn_server(str(demo_settings.database_url), demo_settings.raster_dir,
                        GEOPORTAL_BASEMAP_URL=external_basemap) as server:
        context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="fr-FR")
        page = context.new_page()
        errors: list[str] = []
        hosts: set[str] = set()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: hosts.add(urlsplit(r.url).netloc)
                if r.url.startswith("http") else None)
        page.goto(f"{server.base}/?parcel={quote(str(plot['ref']))}")
        page.wait_for_selector(".plot-ref")
        page.wait_for_function(IDLE, timeout=60_000)
        # the configured external base first, our planning layers and the selection over it
        assert page.locator("input[name=basemap][value=external]").is_checked()
        layers = style_layers(page)
        assert "external-background" in layers and "base-land" not in layers
        assert layers.index("external-background") < layers.index("zoning-fill")
        assert rendered(page, "zoning-fill") > 0 and rendered(page, "selection-line") > 0
        page.screenshot(path=artifacts / "web-basemap-external.png")
        # our own map
        page.check("input[name=basemap][value=ours]")
        page.wait_for_function("() => window.geoportal.map.getLayer('base-land') !== undefined")
        page.wait_for_function(IDLE)
        layers = style_layers(page)
        assert "external-background" not in layers
        assert rendered(page, "base-land") > 0 and rendered(page, "selection-line") > 0
        # and back, the layer list's choices kept
        page.locator("input[data-layer='zoning']").uncheck()
        page.check("input[name=basemap][value=external]")
        page.wait_for_function(
            "() => window.geoportal.map.getLayer('external-background') !== undefined")
        page.wait_for_function(IDLE)
        assert page.evaluate(
            "window.geoportal.map.getLayoutProperty('zoning-fill', 'visibility')") == "none"
        assert errors == []
        assert hosts == {urlsplit(server.base).netloc, urlsplit(external_basemap).netloc}
        context.close()


SWATCH_CONTRAST = """() => {
  const rgb = (text) => (text.match(/rgba?\\(([^)]+)\\)/) || [null, '0,0,0,0'])[1]
    .split(',').map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((c) => c / 255)
    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4))
    .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  const ratio = (a, b) => (Math.max(lum(a), lum(b)) + 0.05) / (Math.min(lum(a), lum(b)) + 0.05);
  const panel = rgb(getComputedStyle(document.getElementById('layers-panel')).backgroundColor);
  return [...document.querySelectorAll('#layer-list .swatch-line')].map((s) => {
    const style = getComputedStyle(s);
    const own = rgb(style.backgroundColor);
    const casing = style.boxShadow === 'none' ? own : rgb(style.boxShadow);
    return [s.closest('[data-layer-row]').dataset.layerRow,
            Math.max(ratio(own, panel), ratio(casing, panel))];
  });
}"""


def test_every_line_swatch_of_the_legend_stands_out_from_the_panel(
    open_page: Callable[..., Watched], live_server: str
) -> None:
    """Non-text contrast (WCAG 1.4.11, 3:1): « Voirie existante » was white on white."""
    watched = open_page("/")
    contrasts = dict(watched.page.evaluate(SWATCH_CONTRAST))
    assert "roads" in contrasts
    assert {layer: c for layer, c in contrasts.items() if c < 3} == {}
    watched.assert_clean(live_server)
