"""What an edit says: a request body read into checked values, or the 400/415/422 saying why not.

Bodies are GeoJSON Features (``application/geo+json`` or ``application/json``) with their
geometry in CRS84 unless the ``Content-Crs`` header names another CRS the collection offers;
JSON-FG Features (``application/fg+json``), whose ``place`` is in its ``coordRefSys`` (else
``Content-Crs``) and whose ``geometry`` is in CRS84; and for PATCH a JSON merge patch
(RFC 7396, ``application/merge-patch+json`` or plain JSON) of ``properties`` and/or the
geometry, which is replaced whole (a geometry is one value).

Properties are checked against the layer registry and the table: unknown names and values of
the wrong type are refused (422, naming the field); read-only ones (computed or stamped by
the database, e.g. ``area_m2``, ``updated_at``) are ignored, so that a client may send back
the whole feature it read. Geometries are checked for shape here (400), for their type
(Polygon becomes MultiPolygon where the layer holds those), size (``MAX_VERTICES``) and
closed rings (422); validity and place are checked by PostGIS in the edit's transaction.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from geoportal.core.crs import WGS84_LON_LAT, Crs, parse_crs
from geoportal.db.catalog import ColumnInfo, TableInfo
from geoportal.errors import InvalidBody, InvalidParameter, UnsupportedMediaType
from geoportal.registry import Layer, LayerProperty

Mode = Literal["create", "replace", "patch"]
GEOJSON_TYPES = frozenset({"application/geo+json", "application/json"})
JSONFG_TYPES = frozenset({"application/fg+json", "application/vnd.ogc.fg+json"})
MERGE_PATCH = "application/merge-patch+json"
MAX_VERTICES = 50_000
SINGLE_OF = {"MultiPoint": "Point", "MultiLineString": "LineString", "MultiPolygon": "Polygon"}
# Nesting of ``coordinates`` below the position, per geometry type.
DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2,
         "MultiPolygon": 3}
INTEGER_RANGES = {"int2": 2**15, "int4": 2**31, "int8": 2**63}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?")
SHOWN = 40


@dataclass(frozen=True)
class GeometryInput:
    """A checked GeoJSON geometry (text for ``ST_GeomFromGeoJSON``) and the CRS it is in."""

    geojson: str
    crs: Crs


@dataclass(frozen=True)
class Edit:
    """A feature's new content as the body states it, checked against the layer.

    ``properties`` holds the properties the body gives (None: null); for a patch only those
    change. ``geometry`` is None for a null geometry; ``geometry_given`` says whether the
    body spoke of the geometry at all (a patch that does not keeps it).
    """

    properties: dict[str, Any]
    geometry: GeometryInput | None
    geometry_given: bool


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


def _malformed(field: str, french: str, english: str) -> InvalidParameter:
    return InvalidParameter(f"{field} : {french}", en=f"{field}: {english}", field=field)


def _refused(field: str, french: str, english: str) -> InvalidBody:
    return InvalidBody(f"{field} : {french}", en=f"{field}: {english}", field=field)


def media_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` header, without parameters, lower case."""
    return (content_type or "").split(";")[0].strip().lower()


def read_document(body: bytes, content_type: str | None, mode: Mode) -> tuple[Any, bool]:
    """The body's JSON and whether it is JSON-FG; 415 for another media type, 400 when it is
    not JSON."""
    kind = media_type(content_type)
    accepted = GEOJSON_TYPES | JSONFG_TYPES | ({MERGE_PATCH} if mode == "patch" else set())
    if kind not in accepted:
        names = ", ".join(sorted(accepted))
        shown = _shown(kind) if kind else "aucun"
        raise UnsupportedMediaType(
            f"Content-Type {shown} non pris en charge ; envoyez l'un de : {names}",
            en=f"Content-Type {shown if kind else 'missing'} is not supported; send one of: "
               f"{names}")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidParameter("le corps de la requête n'est pas du JSON valide",
                               en="the request body is not valid JSON") from None
    return document, kind in JSONFG_TYPES


def header_crs(header: str | None) -> Crs | None:
    """The CRS named by a ``Content-Crs`` header (``<uri>`` or a bare URI), None when absent."""
    if header is None or not header.strip():
        return None
    return parse_crs(header.strip().removeprefix("<").removesuffix(">").strip(), "Content-Crs")


def _crs_member(value: Any, field: str) -> Crs:
    if isinstance(value, dict) and isinstance(value.get("href"), str):
        value = value["href"]
    if not isinstance(value, str):
        raise _malformed(field, "une URI de CRS est attendue", "a CRS URI is expected")
    return parse_crs(value, field)


def read_edit(document: Any, layer: Layer, info: TableInfo, mode: Mode, jsonfg: bool,
              header_crs: Crs | None, fid: int | None = None) -> Edit:
    """The checked content of a POST (``create``), PUT (``replace``) or PATCH (``patch``)."""
    if not isinstance(document, dict):
        raise InvalidParameter("un objet JSON (une entité GeoJSON) est attendu",
                               en="a JSON object (a GeoJSON Feature) is expected")
    if mode != "patch":
        _check_feature_members(document, fid)
    jsonfg = jsonfg or "place" in document
    properties = _read_properties(document, layer, info, mode)
    geometry, given = _read_geometry(document, layer, jsonfg, header_crs)
    if geometry is None and layer.geometry_type is not None and (mode != "patch" or given):
        raise _refused("geometry", f"obligatoire : la couche « {layer.id} » a une géométrie "
                       f"({layer.geometry_type})",
                       f"required: layer '{layer.id}' has a geometry ({layer.geometry_type})")
    return Edit(properties, geometry, given or mode != "patch")


def _check_feature_members(document: dict[str, Any], fid: int | None) -> None:
    kind = document.get("type")
    if kind == "FeatureCollection":
        raise _malformed("type", "une seule entité par requête (pas de FeatureCollection)",
                         "one feature per request (not a FeatureCollection)")
    if kind != "Feature":
        raise _malformed("type", f"« Feature » est attendu, pas {_shown(kind)}",
                         f"'Feature' is expected, not {_shown(kind)}")
    given = document.get("id")
    if fid is not None and given is not None and str(given) != str(fid):
        raise _refused("id", f"{_shown(given)} ne correspond pas à l'entité {fid} de l'adresse",
                       f"{_shown(given)} does not match feature {fid} of the URL")


# Properties


def _read_properties(document: dict[str, Any], layer: Layer, info: TableInfo, mode: Mode
                     ) -> dict[str, Any]:
    given = document.get("properties")
    if given is None and "properties" in document and mode == "patch":
        raise _refused("properties", "ne peut être supprimé ; donnez les propriétés à changer",
                       "cannot be removed; give the properties to change")
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise _malformed("properties", "un objet est attendu", "an object is expected")
    values: dict[str, Any] = {}
    for name, value in given.items():
        prop = layer.find_property(name)
        if prop is None:
            known = ", ".join(p.name for p in layer.properties if not p.read_only)
            raise _refused(f"properties.{_shown(name)}",
                           f"propriété inconnue de la couche « {layer.id} » ; propriétés : {known}",
                           f"unknown property of layer '{layer.id}'; properties: {known}")
        if prop.read_only:
            continue  # kept by the database: a client may send back what it read
        values[name] = _value(prop, info.columns.get(prop.column_name), value)
    for prop in layer.properties:
        if not prop.required:
            continue
        absent = prop.name not in values if mode != "patch" else False
        if absent or (prop.name in values and values[prop.name] is None):
            raise _refused(f"properties.{prop.name}", f"obligatoire ({prop.title})",
                           f"required ({prop.title})")
    return values


def _value(prop: LayerProperty, column: ColumnInfo | None, value: Any) -> Any:
    """A property's value checked against its declared type and its column."""
    field = f"properties.{prop.name}"
    if value is None:
        return None
    if prop.type == "string":
        return _string(prop, column, value, field)
    if prop.type == "integer":
        return _integer(column, value, field)
    if prop.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            raise _refused(field, f"un nombre est attendu, pas {_shown(value)}",
                           f"a number is expected, not {_shown(value)}")
        return float(value)
    if prop.type == "boolean":
        if not isinstance(value, bool):
            raise _refused(field, f"true ou false est attendu, pas {_shown(value)}",
                           f"true or false is expected, not {_shown(value)}")
        return value
    if prop.type == "date":
        return _date(value, field)
    if prop.type == "datetime":
        return _datetime(value, field)
    return _array(column, value, field)


def _string(prop: LayerProperty, column: ColumnInfo | None, value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _refused(field, f"une chaîne est attendue, pas {_shown(value)}",
                       f"a string is expected, not {_shown(value)}")
    if "\x00" in value:
        raise _refused(field, "le caractère NUL n'est pas admis", "the NUL character is refused")
    if column is not None and column.max_length is not None and len(value) > column.max_length:
        raise _refused(field, f"au plus {column.max_length} caractères ({len(value)} donnés)",
                       f"at most {column.max_length} characters ({len(value)} given)")
    if prop.values is not None and value not in prop.values:
        allowed = ", ".join(prop.values)
        raise _refused(field, f"« {_shown(value)} » n'est pas une valeur admise ; valeurs "
                       f"admises : {allowed}",
                       f"'{_shown(value)}' is not an allowed value; allowed: {allowed}")
    return value


def _integer(column: ColumnInfo | None, value: Any, field: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refused(field, f"un entier est attendu, pas {_shown(value)}",
                       f"an integer is expected, not {_shown(value)}")
    bound = INTEGER_RANGES.get(column.type_name if column else "int8", 2**63)
    if not -bound <= value < bound:
        raise _refused(field, f"{value} est hors limites (de {-bound} à {bound - 1})",
                       f"{value} is out of range ({-bound} to {bound - 1})")
    return value


def _date(value: Any, field: str) -> dt.date:
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _refused(field, f"une date AAAA-MM-JJ est attendue, pas {_shown(value)}",
                   f"a YYYY-MM-DD date is expected, not {_shown(value)}")


def _datetime(value: Any, field: str) -> dt.datetime:
    if isinstance(value, str) and _DATETIME.fullmatch(value):
        text = value.replace("z", "Z").replace("Z", "+00:00")
        if "." in text:  # Python reads at most microseconds
            head, _, tail = text.partition(".")
            digits = tail[:len(tail) - len(tail.lstrip("0123456789"))]
            text = f"{head}.{digits[:6].ljust(6, '0')}{tail[len(digits):]}"
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    raise _refused(field, f"une date-heure RFC 3339 est attendue, pas {_shown(value)}",
                   f"an RFC 3339 date-time is expected, not {_shown(value)}")


def _array(column: ColumnInfo | None, value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise _refused(field, f"une liste est attendue, pas {_shown(value)}",
                       f"a list is expected, not {_shown(value)}")
    element = (column.type_name if column else "_text").removeprefix("_")
    for item in value:
        if element in INTEGER_RANGES:
            ok = isinstance(item, int) and not isinstance(item, bool)
        elif element in ("float4", "float8", "numeric"):
            ok = isinstance(item, int | float) and not isinstance(item, bool)
        else:
            ok = isinstance(item, str) and "\x00" not in item
        if not ok:
            raise _refused(field, f"élément {_shown(item)} refusé ({element} attendu)",
                           f"element {_shown(item)} refused ({element} expected)")
    return value


# Geometry


def _read_geometry(document: dict[str, Any], layer: Layer, jsonfg: bool,
                   header_crs: Crs | None) -> tuple[GeometryInput | None, bool]:
    """The body's geometry (None: null) and whether it gave one at all."""
    if jsonfg and document.get("place") is not None:
        place = document["place"]
        crs_value = place.get("coordRefSys") if isinstance(place, dict) else None
        crs_value = crs_value if crs_value is not None else document.get("coordRefSys")
        crs = _crs_member(crs_value, "coordRefSys") if crs_value is not None \
            else header_crs or WGS84_LON_LAT
        return _geometry(place, layer, crs, "place"), True
    if jsonfg:  # JSON-FG's geometry is always CRS84
        given = "geometry" in document or "place" in document
        return _geometry(document.get("geometry"), layer, WGS84_LON_LAT, "geometry"), given
    return (_geometry(document.get("geometry"), layer, header_crs or WGS84_LON_LAT, "geometry"),
            "geometry" in document)


def _geometry(value: Any, layer: Layer, crs: Crs, field: str) -> GeometryInput | None:
    if value is None:
        return None
    if layer.geometry_type is None:
        raise _refused(field, f"la couche « {layer.id} » n'a pas de géométrie : envoyez null",
                       f"layer '{layer.id}' has no geometry: send null")
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise _malformed(field, "une géométrie GeoJSON est attendue ({\"type\": …, "
                         "\"coordinates\": …})",
                         "a GeoJSON geometry is expected ({\"type\": …, \"coordinates\": …})")
    kind = value["type"]
    if kind not in DEPTH:
        raise _refused(field, f"le type {_shown(kind)} n'est pas pris en charge",
                       f"type {_shown(kind)} is not supported")
    fits = {layer.geometry_type, SINGLE_OF.get(layer.geometry_type)}
    if kind not in fits:
        wanted = " ou ".join(t for t in (SINGLE_OF.get(layer.geometry_type),
                                         layer.geometry_type) if t)
        raise _refused(field, f"un {kind} ne convient pas à la couche « {layer.id} » "
                       f"(attendu : {wanted})",
                       f"a {kind} does not fit layer '{layer.id}' (expected: "
                       f"{wanted.replace(' ou ', ' or ')})")
    coordinates = value.get("coordinates")
    count = _positions(coordinates, DEPTH[kind], kind, crs, field)
    if count > MAX_VERTICES:
        raise _refused(field, f"{count} sommets : au plus {MAX_VERTICES} ; simplifiez-la",
                       f"{count} vertices: at most {MAX_VERTICES}; simplify it")
    if count == 0:
        raise _refused(field, "la géométrie est vide", "the geometry is empty")
    return GeometryInput(orjson.dumps({"type": kind, "coordinates": coordinates}).decode(), crs)


def _positions(node: Any, depth: int, kind: str, crs: Crs, field: str) -> int:
    """The number of positions under ``node``; 400 for a wrong shape, 422 for a ring that is
    not closed or a line of one position, or coordinates outside the CRS's domain."""
    if depth == 0:
        _position(node, crs, field)
        return 1
    if not isinstance(node, list):
        raise _malformed(field, f"coordonnées mal formées pour un {kind} (des listes "
                         "imbriquées de positions [x, y] sont attendues)",
                         f"malformed coordinates for a {kind} (nested lists of [x, y] "
                         "positions are expected)")
    count = sum(_positions(child, depth - 1, kind, crs, field) for child in node)
    if depth == 1 and kind != "MultiPoint":
        is_ring = kind in ("Polygon", "MultiPolygon")
        if is_ring and (len(node) < 4 or node[0][:2] != node[-1][:2]):
            raise _refused(field, "chaque anneau doit être fermé (dernière position = première) "
                           "et compter au moins 4 positions",
                           "every ring must be closed (last position = first) and hold at "
                           "least 4 positions")
        if not is_ring and len(node) < 2:
            raise _refused(field, "une ligne compte au moins 2 positions",
                           "a line holds at least 2 positions")
    return count


def _position(node: Any, crs: Crs, field: str) -> None:
    if not isinstance(node, list) or not 2 <= len(node) <= 3 or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in node):
        raise _malformed(field, f"position {_shown(node)} mal formée : [x, y] numériques "
                         "attendus", f"malformed position {_shown(node)}: numeric [x, y] "
                         "expected")
    x, y = float(node[0]), float(node[1])
    x1, y1, x2, y2 = crs.domain
    if not (math.isfinite(x) and math.isfinite(y) and x1 <= x <= x2 and y1 <= y <= y2):
        raise _refused(field, f"position {_shown(node)} hors du domaine de {crs.label} ; "
                       "précisez le CRS (en-tête Content-Crs)",
                       f"position {_shown(node)} is outside the domain of {crs.label}; "
                       "name the CRS (Content-Crs header)")
