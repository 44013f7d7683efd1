"""Hostile input to the OGC API Features routes: nothing may crash, hang or mislead the service.

The CQL2 text parser (the ``cql2`` package) aborts the whole process when its stack runs out;
the inputs below did that to the service, so each is first shown to kill a bare interpreter,
then shown to be a 400 here, and finally sent to a real uvicorn process that must survive.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geoportal.core.resources import CHECKOUT
from geoportal.errors import InvalidParameter, expected
from geoportal.ogc.filters import (
    MAX_DEPTH,
    MAX_NESTING,
    MAX_NODES,
    MAX_TOKENS,
    measure,
    parse_filter,
    text_shape,
)
from geoportal.ogc.sql import Params
from geoportal.registry import load_registry

ENGLISH = {"Accept-Language": "en"}
PARCELS = expected(load_registry(CHECKOUT / "layers").get("parcels"), "parcels")
ITEMS = "/ogc/collections/parcels/items"

# Each of these aborted `make run` with one GET (stack overflow in the Rust parser).
CRASHERS = {
    "4,000 unary minus": "area_m2 > " + "-" * 4000 + "1",
    "4,000 NOT": "NOT " * 4000 + "area_m2 = 1",  # under the 20,000-character limit
    # The old guard read \" as an escape and counted no parenthesis; the parser does not.
    "parentheses after a quoted backslash": '"a\\" = 1 AND ' + "(" * 2000 + "area_m2 = 1"
    + ")" * 2000 + ' AND "b" = 1',
}

PARSE_IN_THREAD = """
import sys, threading
threading.stack_size(int(sys.argv[1]))
import cql2
text = sys.stdin.read()
def parse():
    try:
        cql2.parse_text(text).to_json()
    except Exception:
        pass
worker = threading.Thread(target=parse)
worker.start()
worker.join()
"""


def parse_in_subprocess(text: str, stack_bytes: int) -> int:
    """The exit status of a fresh interpreter that hands the text to cql2 on a given stack."""
    return subprocess.run([sys.executable, "-c", PARSE_IN_THREAD, str(stack_bytes)],
                          input=text, text=True, capture_output=True, timeout=60).returncode


@pytest.mark.parametrize("name", list(CRASHERS))
def test_input_that_kills_the_cql2_parser_is_refused_before_it(name):
    text = CRASHERS[name]
    assert parse_in_subprocess(text, 8 << 20) != 0  # it really kills an interpreter
    with pytest.raises(InvalidParameter):
        parse_filter(text, "cql2-text", PARCELS)


@pytest.mark.parametrize("worst", [
    "(" * MAX_NESTING + "a = " + "+".join(["1"] * 900) + ")" * MAX_NESTING,
    "NOT " * (MAX_NESTING - 1) + "a = " + "^".join(["2"] * 950),
    "a = " + "-" * (MAX_NESTING - 1) + "(" + "+".join(["1"] * 950) + ")",
    "CASEI(" * MAX_NESTING + "a" + ")" * MAX_NESTING + " = " + "+".join(["1"] * 850),
])
def test_the_deepest_text_the_guard_accepts_parses_on_a_small_stack(worst):
    shape = text_shape(worst)
    assert shape.nesting <= MAX_NESTING and shape.tokens <= MAX_TOKENS
    # 2 MiB, a quarter of the 8 MiB a uvicorn worker runs on: the margin is wide.
    assert parse_in_subprocess(worst, 2 << 20) == 0


@pytest.mark.parametrize(("text", "nesting"), [
    ('"a\\" = 1 AND ((b = 1))', 2),  # no escape in "..." identifiers
    ('"a(((" = 1', 0),  # brackets inside an identifier do not count
    ("'((((' = a", 0),
    ("'it''s (' = a AND (b = 1)", 1),  # '' doubling
    ("NOT NOT (a = 1)", 3),  # prefix operators nest their operand
    ("a > - - -1", 2),  # the last sign belongs to the number
    ("S_INTERSECTS(geom, POLYGON((-7.6 33.5, -7.5 33.5, -7.5 33.6, -7.6 33.5)))", 1),
])
def test_the_guard_lexes_cql2_text_as_the_parser_does(text, nesting):
    assert text_shape(text).nesting == nesting


def test_a_large_polygon_in_lat_lon_order_is_one_literal_for_the_guard():
    ring = ", ".join(f"33.{i:04d} -7.{i:04d}" for i in range(1500))
    text = f"S_INTERSECTS(geometry, POLYGON(({ring}, 33.0000 -7.0000)))"
    assert text_shape(text).tokens < 10
    # Not valid WKT (a coordinate of five numbers): the parser reads a function call, so the
    # guard counts every sign and number.
    assert text_shape("S_INTERSECTS(geometry, POLYGON((1 -1 -1 -1 -1, 2 2)))").tokens > 15


@pytest.mark.parametrize("tree", [
    '{"op":"not","args":[' * 2000 + "true" + "]}" * 2000,
    "[" * 5000 + "]" * 5000,
    '{"op":"s_intersects","args":[{"property":"geometry"},{"type":"Point","coordinates":'
    + "[" * 500 + "]" * 500 + "}]}",
    '{"op":"=","args":[{"property":"ref"},"' + "\\u0000" + '"]}' + "\x00",
])
def test_hostile_cql2_json_is_refused_before_cql2_reads_it(tree):
    with pytest.raises(InvalidParameter):
        parse_filter(tree, "cql2-json", PARCELS)


def server_pid(base_url: str) -> int:
    """The process of the uvicorn started for this base URL (its port is on its command line)."""
    port = base_url.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"uvicorn" in argv and b"--port" in argv and argv[argv.index(b"--port") + 1] \
                == port.encode():
            return int(entry.name)
    raise AssertionError(f"no uvicorn process listens on port {port}")


def test_nesting_that_makes_the_parser_backtrack_for_seconds_is_refused():
    # 20 unclosed parentheses took 3 s in cql2; 8 levels around a 15 KB polygon 0.5 s.
    ring = ", ".join(f"-7.{i:04d} 33.{i:04d}" for i in range(900)) + ", -7.0000 33.0000"
    for text in ("(" * 20, "(" * 8 + f"S_INTERSECTS(geom, POLYGON(({ring}))) = " + ")" * 8):
        with pytest.raises(InvalidParameter):
            parse_filter(text, "cql2-text", PARCELS)


def test_the_live_server_survives_every_crasher(live_server):
    pid = server_pid(live_server)
    with httpx.Client(base_url=live_server, timeout=30) as client:
        for text in CRASHERS.values():
            response = client.get(ITEMS, params={"filter": text}, headers=ENGLISH)
            assert response.status_code == 400, response.text
            assert "nested deeper" in response.json()["description"]
        assert client.get("/health").status_code == 200
        assert client.get(ITEMS, params={"filter": "area_m2 > 0", "limit": 1}).status_code == 200
    assert server_pid(live_server) == pid
    os.kill(pid, 0)  # still alive, not replaced


# --- Fuzzing: parse_filter returns or says 400, whatever it is given --------------------------

FRAGMENTS = ["(", ")", "[", "]", "NOT ", "-", "+", "'", "''", '"', '\\"', "\\", ",", " AND ",
             " OR ", "=", "<>", "^", "||", "a", "area_m2", "1", "1e5", "CASEI(", "POINT(",
             "POLYGON((", "INTERVAL(", "T_DURING(", "\x00", " ", "é", "\n", "..", "BBOX("]


def hostile_text() -> st.SearchStrategy[str]:
    repeated = st.tuples(st.sampled_from(FRAGMENTS), st.integers(0, 3000)).map(
        lambda pair: pair[0] * pair[1])  # deep: refused by the guard, or must be fast
    return st.one_of(
        st.text(max_size=300),
        st.lists(st.sampled_from(FRAGMENTS), max_size=200).map("".join),
        st.lists(repeated, min_size=1, max_size=4).map("".join),
        st.binary(max_size=200).map(lambda raw: raw.decode("latin-1")),
    )


def hostile_json() -> st.SearchStrategy[str]:
    leaf = st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=5),
                     st.just({"property": "area_m2"}))
    tree = st.recursive(leaf, lambda kids: st.one_of(
        st.lists(kids, max_size=3),
        st.fixed_dictionaries({"op": st.sampled_from(["and", "not", "=", "t_during", "in",
                                                      "s_intersects", "+", "x"]),
                               "args": st.lists(kids, max_size=3)}),
        st.dictionaries(st.sampled_from(["interval", "bbox", "date", "type"]), kids,
                        max_size=2)), max_leaves=60)
    deep = st.integers(0, 3000).map(lambda n: '{"op":"not","args":[' * n + "true" + "]}" * n)
    return st.one_of(tree.map(lambda t: json.dumps(t)), deep, hostile_text())


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck),
                database=None)


@FUZZ
@given(text=hostile_text())
def test_any_cql2_text_parses_or_is_a_400(text):
    try:
        parsed = parse_filter(text, "cql2-text", PARCELS)
    except InvalidParameter:
        return
    nodes, depth = measure(parsed.tree)  # what is accepted is within the bounds
    assert nodes <= MAX_NODES and depth <= MAX_DEPTH
    parsed.condition.render(Params())  # checked when parsed: writing its SQL cannot fail


@FUZZ
@given(text=hostile_json())
def test_any_cql2_json_parses_or_is_a_400(text):
    try:
        parsed = parse_filter(text, "cql2-json", PARCELS)
    except InvalidParameter:
        return
    nodes, depth = measure(parsed.tree)  # what is accepted is within the bounds
    assert nodes <= MAX_NODES and depth <= MAX_DEPTH
    parsed.condition.render(Params())  # checked when parsed: writing its SQL cannot fail


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck),
          database=None)
@given(text=hostile_text(), lang=st.sampled_from(["cql2-text", "cql2-json"]))
def test_any_filter_sent_to_the_service_is_answered_without_a_5xx(demo_client, text, lang):
    response = demo_client.get(ITEMS, params={"filter": text, "filter-lang": lang, "limit": 2})
    assert response.status_code in (200, 400), response.text


# --- Client mistakes that were 503s or 500s ----------------------------------------------------

WRONG = [
    {"filter": "T_DURING(INTERVAL(ref, ref), INTERVAL('2020-01-01', '2021-01-01'))"},
    {"filter": "T_DURING(updated_at, INTERVAL(area_m2, '2021-01-01'))"},
    {"filter": '{"op":"t_during","args":[{"interval":[{"property":"ref"},".."]},'
               '{"interval":["2020-01-01","2021-01-01"]}]}', "filter-lang": "cql2-json"},
    {"bbox": "-1e308,-1e308,1e308,1e308"},
    {"bbox": "-1e308,-1e308,1e308,1e308", "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"},
    {"bbox": "0,0,1e300,1e300", "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/3857"},
    {"bbox": "-1e308,-1e308,1e308,1e308",
     "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/26191"},
    {"bbox": "-200,-100,200,100"}, {"bbox": "nan,0,1,1"}, {"bbox": "0,0,inf,1"},
    {"bbox": "1,1,0,0"},
    {"filter": "S_INTERSECTS(geometry, POINT(200 100))"},
    {"filter": "S_INTERSECTS(geometry, BBOX(-1e308,-1e308,1e308,1e308))"},
    {"filter": "ref = 'a\x00'"}, {"ref": "a\x00"}, {"properties": "ref\x00"},
    {"sortby": "ref\x00"}, {"datetime": "2024-01-01\x00"},
    {"filter": '{"op":"=","args":[{"property":"ref"},"a\\u0000"]}', "filter-lang": "cql2-json"},
    {"crs": "EPSG:" + "9" * 5000}, {"filter-crs": "EPSG:" + "9" * 5000, "filter": "TRUE"},
    {"crs": "urn:ogc:def:crs:EPSG:" + "1." * 3000 + ":4326"},
    {"limit": "9" * 5000}, {"offset": "9" * 5000}, {"cursor": "9" * 5000},
]


@pytest.mark.parametrize("params", WRONG, ids=range(len(WRONG)))
def test_client_mistakes_are_a_400_with_a_french_message_and_an_english_twin(demo_client,
                                                                           params):
    french = demo_client.get(ITEMS, params=params)
    english = demo_client.get(ITEMS, params=params, headers=ENGLISH)
    assert french.status_code == english.status_code == 400, english.text
    assert french.json()["description"] != english.json()["description"]
    assert len(english.json()["description"]) < 400  # the client's value is not echoed whole


def test_a_feature_by_id_with_an_absurd_crs_is_a_400(demo_client):
    response = demo_client.get("/ogc/collections/parcels/items/1", params={
        "crs": "EPSG:" + "9" * 5000})
    assert response.status_code == 400


def test_number_matched_past_the_end_is_the_total_not_the_offset(demo_client):
    total = demo_client.get(ITEMS, params={"offset": 0, "limit": 1}).json()["numberMatched"]
    body = demo_client.get(ITEMS, params={"offset": 10_000_000, "limit": 10}).json()
    assert body["numberReturned"] == 0 and body["numberMatched"] == total
    last = demo_client.get(ITEMS, params={"offset": total - 1, "limit": 10}).json()
    assert last["numberReturned"] == 1 and last["numberMatched"] == total
