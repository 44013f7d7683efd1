"""CQL2 filters (OGC API Features Part 3): parse, bound, type-check and translate to SQL.

The ``cql2`` package parses CQL2 text and JSON into the standard's JSON form; the check
against the layer (queryables, types, literals) is one walk when the request is parsed,
giving a typed tree; writing its SQL later binds values (each geometry literal once) and
cannot fail. Identifiers come from the registry only.

The ``cql2`` parser recurses on the native stack: about 5.5 KiB per parenthesis, 2.5 KiB per
prefix ``NOT``/``-``, 1 KiB per infix operator (measured on cql2 0.6.0), and it aborts the
whole process when the stack runs out (some 1,500 parentheses on an 8 MiB stack). So the
text is lexed first, the way the parser reads it, and refused when its bracket nesting plus
prefix chains, or its number of names and operators, could take the parser deep: what is
accepted needs at most about 1 MiB of stack. CQL2 JSON is decoded and measured here before
``cql2`` sees it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import cql2
import orjson
import shapely
from shapely.geometry import shape

from geoportal.core.crs import WGS84_LON_LAT, Crs, to_storage_sql
from geoportal.errors import InvalidParameter
from geoportal.ogc.sql import Params, column, geometry_column
from geoportal.registry import Layer, LayerProperty

MAX_FILTER_CHARS = 20_000
MAX_NODES = 200
MAX_DEPTH = 20
MAX_NESTING = 4 * MAX_DEPTH  # brackets: a CQL2 JSON level takes up to three, geometries four
# Lexemes of a text filter (a WKT geometry counts as one): a node of the tree rarely takes
# more than ten (``INTERVAL(DATE('…'), DATE('…'))``); it bounds the parser's infix recursion
# and the time the lexer takes.
MAX_TOKENS = 10 * MAX_NODES
GEOMETRY_NAMES = ("geometry", "geom")

Json = Any  # a node of a CQL2 JSON tree


@dataclass(frozen=True)
class ParsedFilter:
    """A CQL2 filter checked against a layer: its JSON form (sizes, admission), the CRS of
    its geometries, and the checked condition, written in SQL by ``condition.render``."""

    tree: Json
    crs: Crs
    condition: Checked

    @property
    def spatial(self) -> tuple[Checked, ...]:
        """Geometry literals every match must meet (top-level AND of spatial predicates)."""
        return self.condition.spatial


def parse_filter(text: str, lang: str, layer: Layer, crs: Crs = WGS84_LON_LAT) -> ParsedFilter:
    """Parse CQL2 text or JSON and check it against the layer's queryables and types, in
    one phase; 400 when malformed, over the size limits, or not meaningful for the layer."""
    if len(text) > MAX_FILTER_CHARS:
        raise InvalidParameter(f"filter : plus de {MAX_FILTER_CHARS} caractères",
                               en=f"filter: longer than {MAX_FILTER_CHARS} characters")
    if "\x00" in text:
        raise InvalidParameter("filter : caractère NUL interdit",
                               en="filter: NUL characters are not allowed")
    if lang == "cql2-text":
        check_text_shape(text)  # before parsing: deep input crashes the parser
        parse: Callable[[str], Any] = cql2.parse_text
    else:
        check_json_shape(text)
        parse = cql2.parse_json
    try:
        tree = parse(text).to_json()
    except Exception as exc:  # the parser's errors carry a position, not data
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
        raise InvalidParameter(f"filter : {lang} invalide : {first[:200]}",
                               en=f"filter: not valid {lang}: {first[:200]}") from exc
    nodes, depth = measure(tree)
    _check_size(nodes, depth)
    return ParsedFilter(tree, crs, FilterChecker(layer, crs).condition(tree))


def _too_many_nodes() -> InvalidParameter:
    return InvalidParameter(f"filter : plus de {MAX_NODES} nœuds",
                            en=f"filter: more than {MAX_NODES} nodes")


def _too_deep() -> InvalidParameter:
    return InvalidParameter(f"filter : imbriqué sur plus de {MAX_DEPTH} niveaux",
                            en=f"filter: nested deeper than {MAX_DEPTH} levels")


def _check_size(nodes: int, depth: int) -> None:
    if nodes > MAX_NODES:
        raise _too_many_nodes()
    if depth > MAX_DEPTH:
        raise _too_deep()


# The tokens of CQL2 text as cql2 lexes them: '...' strings (a doubled '' reads as two
# adjacent strings, which changes nothing here); "..." identifiers, with no backslash escape
# (``"a\"`` is the whole identifier ``a\``); an unterminated quote runs to the end.
_TOKENS = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>'[^']*'?)
  | (?P<ident>"[^"]*"?)
  | (?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
  | (?P<word>[^\W\d][\w.:]*)
  | (?P<open>[(\[{])
  | (?P<close>[)\]}])
  | (?P<comma>,)
  | (?P<op><>|!=|>=|<=|\|\||[-+*/%^=<>])
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)


def _wkt_pattern() -> re.Pattern[str]:
    """A WKT literal exactly as the cql2 grammar reads one (a regular language: its depth is
    fixed), possessive so that it never accepts a split the parser would not make."""
    ws = r"[^\S\r\x0b\x0c\x1c-\x1f\x85]*+"  # the grammar's whitespace: Unicode Z, \t, \n
    pad = ws + r"[+-]?+\d++(?:\.\d*+)?+" + ws
    coord = f"(?:{pad}){{2,4}}+"
    comma = f"{ws},{ws}"
    coords = f"{ws}{coord}(?:{comma}{coord})*+{ws}"
    p1 = rf"{ws}\({coords}\){ws}"
    p2 = rf"{ws}\({p1}(?:{comma}{p1})*+\){ws}"
    p3 = rf"{ws}\({p2}(?:{comma}{p2})*+\){ws}"
    zm = f"{ws}(?:ZM|Z|M)?+{ws}"
    single = (f"{ws}(?:POINT{zm}{ws}\\({coord}\\){ws}|LINESTRING{zm}{p1}|POLYGON{zm}{p2}"
              f"|MULTIPOINT{zm}(?:{p1}|{p2})|MULTILINESTRING{zm}{p2}|MULTIPOLYGON{zm}{p3}){ws}")
    return re.compile(f"(?:{single}|GEOMETRYCOLLECTION{ws}\\({single}(?:{comma}{single})*+\\))",
                      re.IGNORECASE)


_WKT = _wkt_pattern()
_WKT_STARTS = ("POINT", "LINESTRING", "POLYGON", "MULTI", "GEOMETRYCOLLECTION")
_PREFIX_SIGNS = ("-", "+")
_INFIX_WORDS = frozenset({"AND", "OR", "NOT", "LIKE", "IN", "BETWEEN", "IS", "DIV"})


@dataclass
class TextShape:
    """What bounds the parser's recursion: nesting (brackets + prefix chains), lexemes."""

    nesting: int = 0
    tokens: int = 0


def text_shape(text: str, stop_nesting: int = MAX_NESTING,
               stop_tokens: int = MAX_TOKENS) -> TextShape:
    """Lex CQL2 text as the parser does; stops early once a bound is passed.

    A prefix operator (``NOT``, unary ``-``/``+``) nests its operand one level deeper, so
    ``NOT NOT (a)`` is three levels. A sign glued to a number is part of the number.
    """
    found = TextShape()
    outer: list[int] = []  # the nesting level outside each open bracket
    level = chain = 0  # open-bracket level, prefix operators waiting for their operand
    operand_next = True
    position = 0
    while found.nesting <= stop_nesting and found.tokens <= stop_tokens:
        match = _TOKENS.match(text, position)
        if match is None:
            break
        kind, value, position = match.lastgroup, match.group(), match.end()
        if kind == "space":
            continue
        found.tokens += 1
        if kind == "word" and value.upper().startswith(_WKT_STARTS):
            geometry = _WKT.match(text, match.start())
            if geometry is not None:  # one literal, however many coordinates
                position = geometry.end()
                kind = "literal"
        if kind == "open":
            outer.append(level)
            level += chain + 1
            chain, operand_next = 0, True
            found.nesting = max(found.nesting, level)
        elif kind == "close":
            level = outer.pop() if outer else 0
            chain, operand_next = 0, False
        elif kind == "comma":
            chain, operand_next = 0, True
        elif kind in ("op", "word"):
            prefix = operand_next and (value.upper() == "NOT" or value in _PREFIX_SIGNS)
            if prefix and value in _PREFIX_SIGNS and text[position:position + 1].isdigit():
                continue  # the sign of a number
            if prefix:
                chain += 1
                found.nesting = max(found.nesting, level + chain)
            elif kind == "word" and value.upper() not in _INFIX_WORDS:
                chain, operand_next = 0, False  # a name: property, function, literal
            else:
                chain, operand_next = 0, True  # an infix operator
        else:  # a literal, or a character the parser will refuse
            chain, operand_next = 0, False
    return found


# The parser also backtracks: on text that fails to parse, its time grows about 2.2 times per
# nesting level, times the length (measured: 16 unclosed "(" take 0.13 s, 8 levels around a
# 15 KB polygon 0.5 s). So deep nesting is only allowed in short text: at most ~10 ms.
MAX_PARSE_WORK = MAX_FILTER_CHARS * 2.2**3


def check_text_shape(text: str) -> None:
    """400 when CQL2 text nests or chains deeper than the parser may safely (and quickly) go."""
    found = text_shape(text)
    if found.nesting > MAX_NESTING:
        raise _too_deep()
    if len(text) * 2.2**found.nesting > MAX_PARSE_WORK:
        raise InvalidParameter(
            f"filter : {found.nesting} niveaux d'imbrication, trop pour un filtre de "
            f"{len(text)} caractères ; simplifiez-le",
            en=f"filter: nested deeper ({found.nesting} levels) than a filter of {len(text)} "
            "characters may be; simplify it")
    if found.tokens > MAX_TOKENS:
        raise InvalidParameter(
            f"filter : plus de {MAX_TOKENS} éléments (au plus {MAX_NODES} nœuds)",
            en=f"filter: more than {MAX_TOKENS} tokens (at most {MAX_NODES} nodes)")


def json_depth(value: Json, stop: int = MAX_NESTING) -> int:
    """The deepest nesting of JSON arrays and objects (iterative; stops past ``stop``)."""
    deepest = 0
    stack: list[tuple[Json, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children = list(node.values())
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        if deepest > stop:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def check_json_shape(text: str) -> None:
    """Decode CQL2 JSON here (orjson: bounded depth) and bound it before cql2 reads it."""
    try:
        tree = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidParameter(f"filter : JSON invalide ({str(exc)[:120]})",
                               en=f"filter: not valid JSON ({str(exc)[:120]})") from exc
    if json_depth(tree) > MAX_NESTING:
        raise _too_deep()
    _check_size(*measure(tree))


def measure(tree: Json) -> tuple[int, int]:
    """(number of nodes, depth) of a CQL2 JSON tree; a geometry literal counts as one."""
    nodes, depth = 0, 0
    stack: list[tuple[Json, int]] = [(tree, 1)]
    while stack:  # iterative: a hostile tree must not exhaust Python's recursion limit
        node, level = stack.pop()
        nodes += 1
        depth = max(depth, level)
        children = node["args"] if isinstance(node, dict) and isinstance(node.get("args"), list) \
            else node if isinstance(node, list) else []
        if nodes > MAX_NODES or depth > MAX_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return nodes, depth


Render = Callable[[Params], str]
"""How a checked node is written in SQL; its values are bound to the statement's params."""


def _sql(text: str) -> Render:
    return lambda _params: text


def _bind(value: Any, cast: str) -> Render:
    return lambda params: params.add(value, cast)


@dataclass(frozen=True)
class Checked:
    """A node of a filter checked against the layer: its type (string, number, boolean,
    time, geometry, array) and its SQL, written with bound values when ``render`` is called.

    ``spatial`` holds the geometry literals of spatial predicates every match must satisfy
    (through top-level ANDs), for the planner's index-first path; ``literal`` marks a
    geometry literal (bound once per statement, however often it is written).
    """

    kind: str
    render: Render
    spatial: tuple[Checked, ...] = ()
    literal: bool = False


@dataclass(frozen=True)
class TimeSpan:
    """A temporal operand: its start and end (one node for an instant, bound once)."""

    start: Render
    end: Render | None = None  # None: an instant, its end is its start

    def texts(self, params: Params) -> tuple[str, str]:
        """The start and end as SQL, each value bound once."""
        start = self.start(params)
        return start, (self.end(params) if self.end is not None else start)


COMPARISONS = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
SPATIAL = {
    "s_intersects": "ST_Intersects", "s_within": "ST_Within", "s_contains": "ST_Contains",
    "s_disjoint": "ST_Disjoint", "s_equals": "ST_Equals", "s_touches": "ST_Touches",
    "s_crosses": "ST_Crosses", "s_overlaps": "ST_Overlaps",
}
# Predicates true only where the feature's box meets the literal's: the index may go first.
SPATIAL_MEETS = frozenset({"s_intersects", "s_within", "s_equals", "s_overlaps", "s_crosses",
                           "s_touches"})
ARITHMETIC = {"+": "+", "-": "-", "*": "*", "/": "/", "%": "%", "div": "/"}


def _allen(a: tuple[str, str], b: tuple[str, str]) -> dict[str, str]:
    """Allen's interval relations of CQL2's temporal operators, for a and b (start, end)."""
    (a_start, a_end), (b_start, b_end) = a, b
    return {
        "t_after": f"{a_start} > {b_end}",
        "t_before": f"{a_end} < {b_start}",
        "t_contains": f"{a_start} < {b_start} AND {a_end} > {b_end}",
        "t_disjoint": f"({a_start} > {b_end} OR {a_end} < {b_start})",
        "t_during": f"{a_start} > {b_start} AND {a_end} < {b_end}",
        "t_equals": f"{a_start} = {b_start} AND {a_end} = {b_end}",
        "t_finishedby": f"{a_start} < {b_start} AND {a_end} = {b_end}",
        "t_finishes": f"{a_start} > {b_start} AND {a_end} = {b_end}",
        "t_intersects": f"{a_start} <= {b_end} AND {a_end} >= {b_start}",
        "t_meets": f"{a_end} = {b_start}",
        "t_metby": f"{a_start} = {b_end}",
        "t_overlappedby": f"{a_start} > {b_start} AND {a_start} < {b_end} AND {a_end} > {b_end}",
        "t_overlaps": f"{a_start} < {b_start} AND {a_end} > {b_start} AND {a_end} < {b_end}",
        "t_startedby": f"{a_start} = {b_start} AND {a_end} > {b_end}",
        "t_starts": f"{a_start} = {b_start} AND {a_end} < {b_end}",
    }


TEMPORAL = frozenset(_allen(("", ""), ("", "")))


def _kind(prop: LayerProperty) -> str:
    # An array compares with nothing here (only IS NULL applies): never a database error.
    return {"integer": "number", "number": "number", "boolean": "boolean", "date": "time",
            "datetime": "time", "array": "array"}.get(prop.type, "string")


class FilterChecker:
    """Checks a CQL2 JSON tree against one layer's queryables and types, in one walk,
    into a :class:`Checked` tree; every client mistake is a 400 here, none when writing SQL."""

    def __init__(self, layer: Layer, crs: Crs) -> None:
        self.layer = layer
        self.crs = crs
        self._queryables = {p.name: p for p in layer.queryables}

    def condition(self, node: Json) -> Checked:
        """A boolean expression."""
        checked = self.expression(node)
        if checked.kind != "boolean":
            raise InvalidParameter("filter : l'expression n'est pas une condition",
                                   en="filter: the expression is not a condition")
        return checked

    def expression(self, node: Json) -> Checked:
        """Any CQL2 expression, with its type."""
        if isinstance(node, bool):
            return Checked("boolean", _sql("TRUE" if node else "FALSE"))
        if isinstance(node, int | float):
            number = float(node)
            if not math.isfinite(number):
                raise InvalidParameter("filter : nombre hors limites",
                                       en="filter: number out of range")
            return Checked("number", _bind(number, "float8"))
        if isinstance(node, str):
            if "\x00" in node:
                raise InvalidParameter("filter : caractère NUL interdit",
                                       en="filter: NUL characters are not allowed")
            return Checked("string", _bind(node, "text"))
        if isinstance(node, dict):
            if "property" in node:
                return self._property(str(node["property"]))
            if "op" in node:
                args = node.get("args", [])
                if not isinstance(args, list):
                    raise InvalidParameter("filter : args doit être une liste",
                                           en="filter: args must be a list")
                return self._operation(str(node["op"]).lower(), args)
            if "timestamp" in node or "date" in node:
                return Checked("time", self._instant(node))
            if "interval" in node:
                raise InvalidParameter(
                    "filter : un INTERVAL ne s'emploie que dans les opérateurs T_",
                    en="filter: an INTERVAL can only be used in T_ operators")
            return self._geometry(node)
        raise InvalidParameter(f"filter : valeur non prise en charge {_shown(node)}",
                               en=f"filter: unsupported value {_shown(node)}")

    def _property(self, name: str) -> Checked:
        if name in GEOMETRY_NAMES or name == self.layer.geometry_column:
            if not self.layer.has_geometry:
                raise InvalidParameter(
                    f"filter : la collection {self.layer.id!r} n'a pas de géométrie",
                    en=f"filter: collection {self.layer.id!r} has no geometry")
            return Checked("geometry", _sql(geometry_column(self.layer)))
        prop = self._queryables.get(name)
        if prop is None:
            allowed = ", ".join([*(["geometry"] if self.layer.has_geometry else []),
                                 *self._queryables])
            raise InvalidParameter(
                f"filter : propriété inconnue {_shown(name)} ; interrogeables : {allowed}",
                en=f"filter: unknown property {_shown(name)}; queryables: {allowed}")
        return Checked(_kind(prop), _sql(column(self.layer, prop)))

    def _operation(self, op: str, args: list[Json]) -> Checked:
        handler = self._handlers().get(op)
        if handler is None:
            if op in SPATIAL:
                return self._spatial(op, args)
            if op.startswith("t_"):
                return self._temporal(op, args)
            raise InvalidParameter(
                f"filter : l'opérateur ou la fonction {_shown(op)} n'est pas pris en charge",
                en=f"filter: operator or function {_shown(op)} is not supported")
        return handler(args)

    def _handlers(self) -> dict[str, Callable[[list[Json]], Checked]]:
        return {
            "and": lambda a: self._logical("AND", a), "or": lambda a: self._logical("OR", a),
            "not": self._not, "like": self._like, "between": self._between, "in": self._in,
            "isnull": self._is_null, "casei": self._casei,
            **{op: partial(self._compare, op) for op in COMPARISONS},
            **{op: partial(self._arithmetic, op) for op in ARITHMETIC},
        }

    def _arity(self, op: str, args: list[Json], count: int) -> list[Checked]:
        if len(args) != count:
            raise InvalidParameter(f"filter : {op} prend {count} argument(s)",
                                   en=f"filter: {op} takes {count} arguments")
        return [self.expression(a) for a in args]

    def _logical(self, op: str, args: list[Json]) -> Checked:
        if len(args) < 2:
            raise InvalidParameter(f"filter : {op} prend au moins deux conditions",
                                   en=f"filter: {op} takes at least two conditions")
        parts = [self.condition(a) for a in args]
        spatial = tuple(g for part in parts for g in part.spatial) if op == "AND" else ()
        return Checked("boolean", lambda p: "(" + f" {op} ".join(c.render(p) for c in parts)
                       + ")", spatial)

    def _not(self, args: list[Json]) -> Checked:
        if len(args) != 1:
            raise InvalidParameter("filter : NOT prend une condition",
                                   en="filter: NOT takes one condition")
        inner = self.condition(args[0])
        return Checked("boolean", lambda p: f"(NOT {inner.render(p)})")

    def _compare(self, op: str, args: list[Json]) -> Checked:
        lhs, rhs = self._arity(op, args, 2)
        _same_kind(op, lhs, rhs, ("string", "number", "boolean", "time"))
        return Checked("boolean",
                       lambda p: f"({lhs.render(p)} {COMPARISONS[op]} {rhs.render(p)})")

    def _arithmetic(self, op: str, args: list[Json]) -> Checked:
        lhs, rhs = self._arity(op, args, 2)
        _same_kind(op, lhs, rhs, ("number",))
        return Checked("number", partial(_arithmetic_sql, op, lhs, rhs))

    def _like(self, args: list[Json]) -> Checked:
        lhs, rhs = self._arity("LIKE", args, 2)
        _same_kind("LIKE", lhs, rhs, ("string",))
        return Checked("boolean", lambda p: f"({lhs.render(p)} LIKE {rhs.render(p)})")

    def _casei(self, args: list[Json]) -> Checked:
        (value,) = self._arity("CASEI", args, 1)
        if value.kind != "string":
            raise InvalidParameter("filter : CASEI prend une chaîne",
                                   en="filter: CASEI takes a string")
        return Checked("string", lambda p: f"lower({value.render(p)})")

    def _between(self, args: list[Json]) -> Checked:
        value, low, high = self._arity("BETWEEN", args, 3)
        for bound in (low, high):
            _same_kind("BETWEEN", value, bound, ("number", "time"))
        return Checked("boolean", lambda p: f"({value.render(p)} BETWEEN {low.render(p)} AND "
                                            f"{high.render(p)})")

    def _in(self, args: list[Json]) -> Checked:
        if len(args) != 2 or not isinstance(args[1], list) or not args[1]:
            raise InvalidParameter("filter : IN prend une valeur et une liste non vide",
                                   en="filter: IN takes a value and a non-empty list")
        value = self.expression(args[0])
        items = [self.expression(item) for item in args[1]]
        for item in items:
            _same_kind("IN", value, item, ("string", "number", "boolean", "time"))
        return Checked("boolean", lambda p: f"({value.render(p)} IN "
                                            f"({', '.join(i.render(p) for i in items)}))")

    def _is_null(self, args: list[Json]) -> Checked:
        (value,) = self._arity("IS NULL", args, 1)
        return Checked("boolean", lambda p: f"({value.render(p)} IS NULL)")

    def _spatial(self, op: str, args: list[Json]) -> Checked:
        lhs, rhs = self._arity(op.upper(), args, 2)
        if lhs.kind != "geometry" or rhs.kind != "geometry":
            raise InvalidParameter(f"filter : {op.upper()} compare deux géométries",
                                   en=f"filter: {op.upper()} compares two geometries")
        spatial = tuple(g for g in (lhs, rhs) if g.literal) if op in SPATIAL_MEETS else ()
        return Checked("boolean", lambda p: f"{SPATIAL[op]}({lhs.render(p)}, {rhs.render(p)})",
                       spatial)

    def _temporal(self, op: str, args: list[Json]) -> Checked:
        if len(args) != 2:
            raise InvalidParameter(f"filter : {op.upper()} prend 2 arguments",
                                   en=f"filter: {op.upper()} takes 2 arguments")
        first, second = self._span(args[0]), self._span(args[1])
        if op not in TEMPORAL:
            raise InvalidParameter(
                f"filter : l'opérateur temporel {_shown(op)} n'est pas pris en charge",
                en=f"filter: temporal operator {_shown(op)} is not supported")

        def render(params: Params) -> str:
            a = first.texts(params)
            return f"({_allen(a, second.texts(params))[op]})"

        return Checked("boolean", render)

    def _span(self, node: Json) -> TimeSpan:
        if isinstance(node, dict) and "interval" in node:
            bounds = node["interval"]
            if not isinstance(bounds, list) or len(bounds) != 2:
                raise InvalidParameter("filter : un INTERVAL a un début et une fin",
                                       en="filter: an INTERVAL has a start and an end")
            return TimeSpan(self._bound(bounds[0], "-infinity"),
                            self._bound(bounds[1], "infinity"))
        value = self.expression(node)
        if value.kind != "time":
            raise _not_temporal()
        return TimeSpan(value.render)

    def _bound(self, node: Json, open_end: str) -> Render:
        if node == "..":
            return _sql("'-infinity'" if open_end == "-infinity" else "'infinity'")
        if isinstance(node, str):
            node = {"date": node} if len(node) == 10 else {"timestamp": node}
        if isinstance(node, dict) and "property" in node:
            bound = self._property(str(node["property"]))
            if bound.kind != "time":  # e.g. INTERVAL(ref, ref): text is not a time
                raise _not_temporal()
            return bound.render
        return self._instant(node)

    def _instant(self, node: Json) -> Render:
        if not isinstance(node, dict) or not isinstance(node.get("date", node.get("timestamp")),
                                                         str):
            raise InvalidParameter(f"filter : ni une date ni un horodatage : {_shown(node)}",
                                   en=f"filter: not a date or timestamp: {_shown(node)}")
        try:
            if "date" in node:
                return _bind(dt.date.fromisoformat(node["date"]), "date")
            value = dt.datetime.fromisoformat(node["timestamp"])
        except (ValueError, KeyError) as exc:
            raise InvalidParameter(f"filter : date ou horodatage invalide : {_shown(node)}",
                                   en=f"filter: not a valid date or timestamp: {_shown(node)}"
                                   ) from exc
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return _bind(value, "timestamptz")

    def _geometry(self, node: Json) -> Checked:
        if "bbox" in node:
            box = node["bbox"]
            if not isinstance(box, list) or len(box) not in (4, 6) \
                    or not all(isinstance(v, int | float) for v in box):
                raise InvalidParameter("filter : BBOX prend 4 (ou 6) nombres",
                                       en="filter: BBOX takes 4 (or 6) numbers")
            x1, y1, x2, y2 = (box[0], box[1], box[3], box[4]) if len(box) == 6 else box
            if x1 > x2 or y1 > y2:
                raise InvalidParameter(
                    "filter : BBOX : le coin inférieur doit précéder le coin supérieur",
                    en="filter: BBOX: the lower corner must come before the upper corner")
            node = {"type": "Polygon",
                    "coordinates": [[[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]]}
        try:
            geom = shape(node)
        except Exception as exc:  # shapely's errors describe the shape, not data
            raise InvalidParameter("filter : géométrie littérale invalide",
                                   en="filter: not a valid geometry literal") from exc
        if geom.is_empty or not shapely.is_valid(geom):
            reason = shapely.is_valid_reason(geom)
            raise InvalidParameter(f"filter : géométrie invalide ({reason})",
                                   en=f"filter: invalid geometry ({reason})")
        x1, y1, x2, y2 = (float(v) for v in geom.bounds)
        if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) \
                or not self.crs.contains((x1, y1, x2, y2)):
            domain = ",".join(f"{v:g}" for v in self.crs.domain)
            raise InvalidParameter(
                f"filter : géométrie hors du domaine de {self.crs.label} ({domain})",
                en=f"filter: geometry outside the domain of {self.crs.label} ({domain})")
        wkb, crs, key = shapely.to_wkb(geom), self.crs, object()

        def write(params: Params) -> str:
            storage = to_storage_sql(str(crs.srid), crs.lat_lon,
                                     f"ST_GeomFromWKB({params.add(wkb, 'bytea')})")
            return f"(SELECT {storage})"  # computed once per statement

        return Checked("geometry", lambda p: p.once(key, partial(write, p)), literal=True)


def _arithmetic_sql(op: str, lhs: Checked, rhs: Checked, params: Params) -> str:
    left, right = lhs.render(params), rhs.render(params)
    if op in ("/", "%", "div"):  # a zero divisor gives NULL, not an error
        if op == "%":
            return f"(({left})::numeric % NULLIF(({right})::numeric, 0))::float8"
        text = f"({left} {ARITHMETIC[op]} NULLIF({right}, 0))"
        return f"trunc{text}" if op == "div" else text
    return f"({left} {ARITHMETIC[op]} {right})"


def _same_kind(op: str, lhs: Checked, rhs: Checked, kinds: tuple[str, ...]) -> None:
    if lhs.kind not in kinds or rhs.kind != lhs.kind:
        raise InvalidParameter(
            f"filter : {op.upper()} ne peut comparer un {KIND_FR[lhs.kind]} "
            f"et un {KIND_FR[rhs.kind]}",
            en=f"filter: {op.upper()} cannot compare a {lhs.kind} with a {rhs.kind}")


KIND_FR = {"string": "texte", "number": "nombre", "boolean": "booléen", "time": "temps",
           "geometry": "géométrie", "array": "tableau"}


def _not_temporal() -> InvalidParameter:
    return InvalidParameter(
        "filter : les opérateurs temporels comparent des dates et des horodatages",
        en="filter: temporal operators compare dates and timestamps")


def _shown(node: Json) -> str:
    """A piece of the client's filter quoted in a message, cut short."""
    text = repr(node) if isinstance(node, str) else json.dumps(node, ensure_ascii=False,
                                                              default=str)
    return text if len(text) <= 80 else text[:80] + "…"
