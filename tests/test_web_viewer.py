"""The web map in a real browser: Debian's Chromium, headless, driven by Playwright.

Every page is watched for console errors, uncaught exceptions and requests to any host but
the service. Screenshots go to the artifacts folder, to be looked at.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
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
