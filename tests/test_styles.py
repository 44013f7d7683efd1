"""OGC API Styles from the layer registry: MapLibre styles valid by MapLibre's own validator
and on this service's tiles only, SLD 1.1 and QML with the registry's classes and colours,
and QGIS (headless PyQGIS) applying them to layers opened from the API and the downloads."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET  # parses only what this service's code wrote

import httpx
import pytest
from fastapi.testclient import TestClient

from geoportal.core.links import Links
from geoportal.core.resources import CHECKOUT as PROJECT_ROOT
from geoportal.registry import Layer, load_registry
from geoportal.styles.mapbox import collection_style, colour_expression, map_style
from geoportal.styles.qml import collection_qml
from geoportal.styles.sld import OGC, SE, SLD, sld_document
from geoportal.styles.symbology import scale_of_zoom

REGISTRY = load_registry(PROJECT_ROOT / "layers")
MAPPED = REGISTRY.with_geometry()  # a table of attributes (zone_rules) has no style
MAPPED_IDS = [layer.id for layer in MAPPED]
LINKS = Links("https://geoportail.example")
CATEGORISED = [layer for layer in MAPPED if layer.style.by]
VALIDATOR = Path(os.environ.get(
    "GEOPORTAL_GL_STYLE_VALIDATE",
    PROJECT_ROOT / ".venv" / "node" / "node_modules" / ".bin" / "gl-style-validate"))
MEDIA = {"mapbox": "application/vnd.mapbox.style+json",
         "sld11": "application/vnd.ogc.sld+xml;version=1.1", "qml": "application/vnd.qgis.qml"}
QGIS_PYTHON = "/usr/bin/python3"
PROBE = Path(__file__).parent / "qgis_styles_probe.py"


def parse_xml(text: str | bytes) -> ET.Element:
    """A document built by the style builders (trusted, no entities)."""
    return ET.fromstring(text)  # noqa: S314


def _urls(document: Any) -> list[str]:
    text = json.dumps(document)
    return re.findall(r"https?://[^\"\s]+", text)


def _expected_classes(layer: Layer) -> list[tuple[str, str, str]]:
    return [*((c.value, c.label, c.color) for c in layer.style.classes),
            ("", "Autres valeurs", layer.style.color)]


@pytest.mark.parametrize("layer", CATEGORISED, ids=lambda layer: layer.id)
def test_a_categorised_colour_is_a_match_on_its_property_then_the_layer_colour(
    layer: Layer
) -> None:
    expression = colour_expression(layer)

    assert expression[:2] == ["match", ["to-string", ["get", layer.style.by]]]
    pairs = list(zip(expression[2:-1:2], expression[3:-1:2], strict=True))
    assert pairs == [(c.value, c.color) for c in layer.style.classes]
    assert expression[-1] == layer.style.color


def test_every_mapbox_style_reads_only_this_service_s_tiles() -> None:
    styles = [collection_style(layer, LINKS) for layer in MAPPED]
    styles.append(map_style(REGISTRY, LINKS, "Carte"))

    for style in styles:
        assert style["version"] == 8 and "glyphs" not in style and "sprite" not in style
        assert all(url.startswith("https://geoportail.example/ogc/") for url in _urls(style))
        source = style["sources"]["geoportal"]
        assert source["type"] == "vector" and source["tiles"][0].endswith("/{z}/{x}/{y}")
    parcels = collection_style(REGISTRY.get("parcels"), LINKS)  # type: ignore[arg-type]
    assert parcels["sources"]["geoportal"]["tiles"] == [
        "https://geoportail.example/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{x}/{y}"]
    assert {layer["minzoom"] for layer in parcels["layers"]} == {15}


def test_the_map_style_draws_every_layer_with_labels_from_the_label_points() -> None:
    style = map_style(REGISTRY, LINKS, "Carte")
    drawn = {layer.get("source-layer") for layer in style["layers"]}

    assert set(MAPPED_IDS) <= drawn
    zoning_label = next(layer for layer in style["layers"] if layer["id"] == "zoning-label")
    assert zoning_label["source-layer"] == "zoning_labels"
    assert zoning_label["layout"]["text-field"] == ["to-string", ["get", "code"]]
    roads_label = next(layer for layer in style["layers"] if layer["id"] == "roads-label")
    assert roads_label["layout"]["symbol-placement"] == "line"


def test_every_mapbox_style_passes_maplibre_s_style_validator(tmp_path: Path) -> None:
    if not VALIDATOR.exists():
        pytest.fail(f"{VALIDATOR} is missing: run `make test` (it installs the validator with npm)")
    files = []
    for layer in MAPPED:
        files.append(tmp_path / f"{layer.id}.json")
        files[-1].write_text(json.dumps(collection_style(layer, LINKS)))
    files.append(tmp_path / "map.json")
    files[-1].write_text(json.dumps(map_style(REGISTRY, LINKS, "Carte")))

    for path in files:
        done = subprocess.run([str(VALIDATOR), str(path)], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0 and not done.stdout.strip(), (path.name, done.stdout)


def test_the_sld_is_sld_1_1_with_a_rule_per_class_and_one_for_every_other_value() -> None:
    root = parse_xml(sld_document(MAPPED))

    assert root.tag == f"{{{SLD}}}StyledLayerDescriptor" and root.get("version") == "1.1.0"
    named = {layer.findtext(f"{{{SE}}}Name"): layer
             for layer in root.findall(f"{{{SLD}}}NamedLayer")}
    assert list(named) == MAPPED_IDS
    for layer in CATEGORISED:
        style = named[layer.id].find(f"{{{SLD}}}UserStyle/{{{SE}}}FeatureTypeStyle")
        assert style is not None and style.findtext(f"{{{SE}}}FeatureTypeName") == layer.id
        rules = [rule for rule in style.findall(f"{{{SE}}}Rule")
                 if rule.find(f"{{{SE}}}TextSymbolizer") is None]
        found = []
        for rule in rules[:-1]:
            literal = rule.findtext(
                f"{{{OGC}}}Filter/{{{OGC}}}PropertyIsEqualTo/{{{OGC}}}Literal")
            assert rule.findtext(f".//{{{OGC}}}PropertyName") == layer.style.by
            fill = rule.findtext(f".//{{{SE}}}Fill/{{{SE}}}SvgParameter[@name='fill']")
            found.append((literal, rule.findtext(f"{{{SE}}}Description/{{{SE}}}Title"), fill))
        others = rules[-1].find(f"{{{OGC}}}Filter/{{{OGC}}}Or")
        assert others is not None and others.find(f"{{{OGC}}}PropertyIsNull") is not None
        assert [e.text for e in others.iter(f"{{{OGC}}}Literal")] == \
            [c.value for c in layer.style.classes]
        found.append(("", rules[-1].findtext(f"{{{SE}}}Description/{{{SE}}}Title"),
                      rules[-1].findtext(f".//{{{SE}}}Fill/{{{SE}}}SvgParameter[@name='fill']")))
        assert found == _expected_classes(layer)
        assert {rule.findtext(f"{{{SE}}}MaxScaleDenominator") for rule in rules} == \
            {f"{scale_of_zoom(layer.min_zoom):.1f}"}


def test_the_qml_is_a_categorised_renderer_with_the_registry_s_classes() -> None:
    zoning = REGISTRY.get("zoning")
    assert zoning is not None
    text = collection_qml(zoning).decode()
    root = parse_xml(text.split("\n", 1)[1])

    assert text.startswith("<!DOCTYPE qgis")
    renderer = root.find("renderer-v2")
    assert renderer is not None and renderer.get("type") == "categorizedSymbol"
    assert renderer.get("attr") == "code"
    categories = [(c.get("value"), c.get("label")) for c in renderer.iter("category")]
    assert categories == [(v, label) for v, label, _ in _expected_classes(zoning)]
    colours = [symbol.find("layer/Option/Option[@name='color']").get("value")  # type: ignore[union-attr]
               for symbol in renderer.iter("symbol")]
    assert colours[0] == "215,48,31,140"  # #d7301f at the registry's opacity 0.55
    assert root.find("labeling/settings/text-style").get("fieldName") == "code"  # type: ignore[union-attr]
    assert root.get("minScale") == f"{scale_of_zoom(9):.0f}"


def test_outlined_areas_get_a_symbol_without_fill() -> None:
    plans = REGISTRY.get("plans")
    assert plans is not None
    root = parse_xml(collection_qml(plans).decode().split("\n", 1)[1])
    sld = parse_xml(sld_document([plans]))

    fill = root.find("renderer-v2/symbols/symbol/layer")
    assert fill is not None and fill.get("class") == "SimpleFill"
    assert fill.find("Option/Option[@name='style']").get("value") == "no"  # type: ignore[union-attr]
    assert sld.find(f".//{{{SE}}}PolygonSymbolizer/{{{SE}}}Fill") is None
    assert sld.find(f".//{{{SE}}}PolygonSymbolizer/{{{SE}}}Stroke") is not None


def test_styles_are_listed_with_a_stylesheet_per_encoding_and_metadata(
    demo_client: TestClient
) -> None:
    landing = demo_client.get("/ogc", params={"f": "json"}).json()
    conformance = demo_client.get("/ogc/conformance", params={"f": "json"}).json()["conformsTo"]
    global_styles = demo_client.get("/ogc/styles").json()
    zoning = demo_client.get("/ogc/collections/zoning/styles").json()

    assert any(link["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/styles"
               for link in landing["links"])
    assert {f"http://www.opengis.net/spec/ogcapi-styles-1/1.0/conf/{c}"
            for c in ("core", "mapbox-styles", "sld-11")} <= set(conformance)
    for document, encodings in ((global_styles, ("mapbox", "sld11")),
                                (zoning, ("mapbox", "sld11", "qml"))):
        assert document["default"] == "default"
        links = document["styles"][0]["links"]
        sheets = [link for link in links if link["rel"] == "stylesheet"]
        assert [link["type"] for link in sheets] == [MEDIA[e] for e in encodings]
        for link in links:
            response = demo_client.get(link["href"])
            assert response.status_code == 200, link
            assert response.headers["content-type"] == link["type"], link


def test_each_collection_links_to_its_styles(demo_client: TestClient) -> None:
    for layer in MAPPED:
        doc = demo_client.get(f"/ogc/collections/{layer.id}", params={"f": "json"}).json()
        rels = {(link["rel"], link.get("type")) for link in doc["links"]}
        assert ("http://www.opengis.net/def/rel/ogc/1.0/styles", "application/json") in rels
        assert {("stylesheet", media) for media in MEDIA.values()} <= rels


def test_the_metadata_names_the_encodings_layers_and_attributes(demo_client: TestClient) -> None:
    metadata = demo_client.get("/ogc/collections/servitudes/styles/default/metadata").json()

    assert metadata["id"] == "default" and metadata["scope"] == "style"
    assert [s["link"]["type"] for s in metadata["stylesheets"]] == list(MEDIA.values())
    assert metadata["layers"] == [{
        "id": "servitudes", "type": "polygon", "attributes": [{"id": "kind", "type": "string"}],
        "sampleData": metadata["layers"][0]["sampleData"]}]


@pytest.mark.parametrize(("headers", "params", "media"), [
    ({}, {}, MEDIA["mapbox"]),
    ({"Accept": "application/vnd.ogc.sld+xml"}, {}, MEDIA["sld11"]),
    ({"Accept": "application/vnd.qgis.qml, */*;q=0.1"}, {}, MEDIA["qml"]),
    ({"Accept": "application/vnd.qgis.qml"}, {"f": "mapbox"}, MEDIA["mapbox"]),
])
def test_the_encoding_is_chosen_by_f_then_accept(demo_client: TestClient,
                                                 headers: dict[str, str],
                                                 params: dict[str, str], media: str) -> None:
    response = demo_client.get("/ogc/collections/zoning/styles/default", headers=headers,
                               params=params)
    again = demo_client.get("/ogc/collections/zoning/styles/default",
                            headers={**headers, "If-None-Match": response.headers["etag"]},
                            params=params)

    assert response.status_code == 200 and response.headers["content-type"] == media
    assert again.status_code == 304


@pytest.mark.parametrize(("path", "status", "french", "english"), [
    ("/ogc/collections/nowhere/styles", 404, "n'existe pas", "does not exist"),
    ("/ogc/collections/zoning/styles/night", 404, "n'existe pas", "does not exist"),
    ("/ogc/styles/night", 404, "n'existe pas", "does not exist"),
    ("/ogc/collections/zoning/styles/default?f=png", 400, "n'est pas proposé", "not offered"),
    ("/ogc/styles/default?f=qml", 400, "n'est pas proposé", "not offered"),
])
def test_unknown_styles_collections_and_encodings_are_4xx_in_french_or_english(
    demo_client: TestClient, path: str, status: int, french: str, english: str
) -> None:
    fr = demo_client.get(path)
    en = demo_client.get(path, headers={"Accept-Language": "en"})

    assert fr.status_code == en.status_code == status
    assert french in fr.json()["description"] and english in en.json()["description"]


@pytest.fixture(scope="module")
def qgis_view(live_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What headless QGIS makes of every collection and of its QML and SLD styles."""
    if not Path(QGIS_PYTHON).exists():
        pytest.fail("python3-qgis is missing: apt-get install python3-qgis")
    folder = tmp_path_factory.mktemp("styles")
    for layer in MAPPED:
        for encoding, suffix in (("qml", "qml"), ("sld11", "sld")):
            response = httpx.get(f"{live_server}/ogc/collections/{layer.id}/styles/default",
                                 params={"f": encoding})
            (folder / f"{layer.id}.{suffix}").write_bytes(response.content)
    done = subprocess.run(
        [QGIS_PYTHON, str(PROBE), live_server, str(folder), *MAPPED_IDS],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("layer", MAPPED, ids=lambda layer: layer.id)
def test_qgis_applies_the_qml_to_layers_from_the_api_and_the_downloads(
    qgis_view: dict[str, Any], layer: Layer
) -> None:
    seen = qgis_view[layer.id]

    assert seen["valid"] == [True, True]  # through OAPIF and through the GeoJSON download
    for applied in (seen["qml"], seen["qml_on_download"]):
        assert applied["loaded"] is True
        assert applied["labels"] is (layer.style.label is not None)
        if layer.style.by:
            assert applied["type"] == "categorizedSymbol"
            assert applied["attribute"] == layer.style.by
            assert [(c["value"], c["label"], c["colour"]) for c in applied["categories"]] == \
                _expected_classes(layer)
        else:
            assert applied["type"] == "singleSymbol"
            if layer.polygonal and layer.style.kind == "line":
                assert applied["brush"] == 0 and applied["stroke"] == layer.style.color
            else:
                assert applied["colour"] == layer.style.color
    if layer.style.label:
        assert seen["qml"]["label_field"] == layer.style.label


@pytest.mark.parametrize("layer", CATEGORISED, ids=lambda layer: layer.id)
def test_qgis_reads_the_sld_classes_as_rules(qgis_view: dict[str, Any], layer: Layer) -> None:
    sld = qgis_view[layer.id]["sld"]

    assert sld["loaded"] is True and sld["type"] == "RuleRenderer"
    rules = [(r["label"], r["colour"]) for r in sld["rules"] if r["colour"]]
    assert rules[:len(layer.style.classes)] == [(c.label, c.color) for c in layer.style.classes]
    assert [r["filter"] for r in sld["rules"][:len(layer.style.classes)]] == [
        f"{layer.style.by} = '{c.value}'" for c in layer.style.classes]
    others = sld["rules"][len(layer.style.classes)]
    assert (others["label"], others["colour"]) == ("Autres valeurs", layer.style.color)
    assert others["filter"].startswith(f"{layer.style.by} IS NULL OR NOT")  # not everything


def test_a_table_without_geometry_has_no_style_and_links_to_none(
        demo_client: TestClient) -> None:
    doc = demo_client.get("/ogc/collections/zone_rules", params={"f": "json"}).json()
    assert not [link for link in doc["links"] if link["rel"] == "stylesheet"]
    refused = demo_client.get("/ogc/collections/zone_rules/styles")
    assert refused.status_code == 404 and "géométrie" in refused.json()["description"]
