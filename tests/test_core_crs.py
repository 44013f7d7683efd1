"""One CRS-name parser for the OGC API and the rules: the same text means the same CRS."""

from __future__ import annotations

import pytest

from geoportal.core.crs import (
    STORAGE,
    WGS84_LAT_LON,
    WGS84_LON_LAT,
    CrsName,
    crs_name,
    input_crs,
    parse_crs,
    read_crs_name,
)
from geoportal.errors import InvalidParameter

SPELLINGS = {
    "EPSG:26191": CrsName(26191, "EPSG:26191"),
    "[epsg:26191]": CrsName(26191, "EPSG:26191"),
    "urn:ogc:def:crs:EPSG::26191": CrsName(26191, "EPSG:26191"),
    "urn:ogc:def:crs:EPSG:6.3:4326": CrsName(4326, "EPSG:4326"),
    "http://www.opengis.net/def/crs/EPSG/0/4326": CrsName(4326, "EPSG:4326"),
    "https://www.opengis.net/def/crs/EPSG/0/3857": CrsName(3857, "EPSG:3857"),
    " OGC:CRS84 ": CrsName(4326, "CRS84"),
    "http://www.opengis.net/def/crs/OGC/1.3/CRS84": CrsName(4326, "CRS84"),
}


@pytest.mark.parametrize(("text", "expected"), SPELLINGS.items())
def test_every_accepted_spelling_names_the_same_crs_for_ogc_and_rules(
        text: str, expected: CrsName) -> None:
    assert read_crs_name(text) == expected
    assert crs_name(text) == expected
    offered = parse_crs(text, "crs")
    assert offered.srid == expected.code
    if expected.label == "CRS84":
        assert offered is WGS84_LON_LAT


def test_the_epsg_4326_uri_is_latitude_first_and_the_storage_uri_is_the_storage_crs() -> None:
    assert parse_crs("http://www.opengis.net/def/crs/EPSG/0/4326", "crs") is WGS84_LAT_LON
    assert parse_crs("EPSG:26191", "bbox-crs") is STORAGE


@pytest.mark.parametrize("text", ["", "EPSG:", "EPSG:1234567", "+proj=longlat", "x" * 300,
                                  "urn:ogc:def:crs:EPSG::26191:extra", "<gml/>"])
def test_text_that_is_no_crs_name_is_a_french_400_in_both_rooms(text: str) -> None:
    assert read_crs_name(text) is None
    with pytest.raises(InvalidParameter, match="n'est pas compris"):
        crs_name(text)
    with pytest.raises(InvalidParameter, match="crs"):
        parse_crs(text, "crs")


def test_a_named_but_unknown_epsg_code_is_refused_when_built_not_when_read() -> None:
    name = crs_name("EPSG:999999")
    with pytest.raises(InvalidParameter, match="n'est pas un système de coordonnées connu"):
        input_crs(name)


def test_the_storage_crs_needs_no_transformer_and_wgs84_has_one_cached() -> None:
    assert input_crs(crs_name("EPSG:26191")).transformer is None
    first = input_crs(crs_name("EPSG:4326")).transformer
    assert first is not None and input_crs(crs_name("CRS84")).transformer is first
