"""Hostile input to the OGC API Features routes: nothing may crash, hang or mislead the service.

The CQL2 text parser (the ``cql2`` package) aborts the whole process when its stack runs out;
the inputs below did that to the service, so each is first shown to kill a bare interpreter,
then shown to be a 400 here, and finally sent to a real uvicorn process that must survive.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from geoportal.errors import InvalidParameter
from geoportal.ogc.filters import MAX_NESTING, MAX_TOKENS, parse_filter, text_shape

ENGLISH = {"Accept-Language": "en"}
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
        parse_filter(text, "cql2-text")


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
        parse_filter(tree, "cql2-json")


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
