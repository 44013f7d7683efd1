"""The versions of one feature: ``/ogc/collections/{id}/items/{fid}/history``.

Every change to a feature is kept by the history triggers (migration 0004_history): the
current row in ``T`` and each superseded one in ``T_history``. This lists them newest first,
each with who made it, when, in which change-set, and the feature as it was then (GeoJSON,
in ``crs``); a deletion is listed as its own entry. One statement reads both halves by the
feature id (indexed in both) and PostgreSQL assembles the JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from fastapi import APIRouter, Request, Response

from geoportal.core import formats
from geoportal.core.crs import WGS84_LON_LAT, Crs, parse_crs
from geoportal.core.formats import Format
from geoportal.core.history import HISTORY_TABLES
from geoportal.core.links import Link, Links, replace_params
from geoportal.core.versions import layer_version
from geoportal.deps import get_pool
from geoportal.errors import NotFound
from geoportal.ogc import html, sql
from geoportal.ogc.caching import cache_headers, make_etag, not_modified
from geoportal.ogc.params import parse_int, reject_unknown
from geoportal.ogc.query import Statement, feature_sql
from geoportal.ogc.sql import Params
from geoportal.registry import Layer

HISTORY_PARAMETERS = frozenset({"f", "crs", "limit", "offset"})
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
ORDER = "newest first"
# The history columns of every versioned table, and those only its twin has.
META_COLUMNS = ("version", "valid_from", "changed_by", "changeset_id")
END_COLUMNS = ("valid_to", "ended_by", "ended_changeset_id", "ended_op")
END_TYPES = ("timestamptz", "text", "bigint", "text")


@dataclass(frozen=True)
class HistoryQuery:
    """What a request for a feature's history asks."""

    crs: Crs = WGS84_LON_LAT
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def parse_history_params(params: Mapping[str, str]) -> HistoryQuery:
    """``crs``, ``limit`` (1..1000, default 100) and ``offset``; 400 on anything else."""
    reject_unknown(params, HISTORY_PARAMETERS)
    return HistoryQuery(
        crs=parse_crs(params["crs"], "crs") if "crs" in params else WGS84_LON_LAT,
        limit=parse_int(params["limit"], "limit", 1, MAX_LIMIT) if "limit" in params
        else DEFAULT_LIMIT,
        offset=parse_int(params["offset"], "offset", 0, 10_000_000) if "offset" in params
        else 0,
    )


def _utc(expression: str) -> str:
    """A timestamptz as RFC 3339 text in UTC (what ``at=`` reads back); null for the
    ``-infinity`` of rows older than history."""
    return (f"CASE WHEN isfinite({expression}) THEN to_char({expression} AT TIME ZONE 'UTC', "
            """'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END""")


def history_statement(layer: Layer, fid: int, query: HistoryQuery) -> Statement:
    """(matched, returned, changes as JSON text) for one feature, newest change first."""
    params = Params()
    key = params.add(fid, "int8")
    geometry = [sql.geometry_column(layer)] if layer.has_geometry else []
    columns = ", ".join(dict.fromkeys([
        sql.id_column(layer), *geometry,
        *(sql.column(layer, p) for p in layer.properties),
        *(f"t.{sql.ident(c)}" for c in META_COLUMNS)]))
    ended_now = ", ".join(f"NULL::{kind} AS {c}" for c, kind in zip(END_COLUMNS, END_TYPES,
                                                                    strict=True))
    ended = ", ".join(f"t.{c}" for c in END_COLUMNS)
    table, twin = sql.ident(layer.table), sql.ident(layer.table + "_history")
    feature = feature_sql(layer, formats.GEOJSON, query.crs, list(layer.properties))
    change = ("json_build_object('operation', t.operation, 'version', t.version, "
              f"'valid_from', {_utc('t.valid_from')}, 'valid_to', {_utc('t.valid_to')}, "
              "'changed_by', t.actor, 'changeset_id', t.changeset_id, "
              "'feature', t.feature::json)::text")
    order = "t.valid_from DESC, (t.operation = 'delete') DESC, t.version DESC"
    limit = sql.limit_offset(query.limit, query.offset, params)
    text = f"""
WITH versions AS (
  SELECT {columns}, {ended_now} FROM {table} t WHERE {sql.id_column(layer)} = {key}
  UNION ALL
  SELECT {columns}, {ended} FROM {twin} t WHERE {sql.id_column(layer)} = {key}
), changes AS (
  SELECT CASE WHEN t.version = 1 THEN 'create' ELSE 'update' END AS operation, t.version,
         t.valid_from, t.valid_to, t.changed_by AS actor, t.changeset_id,
         {feature} AS feature
  FROM versions t
  UNION ALL
  SELECT 'delete', t.version, t.valid_to, NULL, t.ended_by, t.ended_changeset_id, NULL
  FROM versions t WHERE t.ended_op = 'delete'
), page AS (SELECT * FROM changes t ORDER BY {order} {limit})
SELECT (SELECT count(*) FROM changes) AS matched, count(*) AS returned,
       NOT EXISTS (SELECT 1 FROM versions v WHERE v.valid_to IS NULL) AS deleted,
       convert_to(coalesce(string_agg({change}, ',' ORDER BY {order}), ''), 'UTF8') AS changes
FROM page t"""  # noqa: S608 - identifiers from the registry, values bound
    return Statement(text, params.values)


def _links(request: Request, links: Links, layer: Layer, fid: int, fmt: Format,
           query: HistoryQuery, returned: int, matched: int, deleted: bool) -> list[Link]:
    path = f"/ogc/collections/{layer.id}/items/{fid}/history"
    own = list(request.query_params.multi_items())
    result = links.alternates(path, fmt, (formats.JSON, formats.HTML), own)
    if not deleted:  # a deleted feature has no current version: its item is a 404
        item_params = [(k, v) for k, v in own if k == "crs"]
        result.append(links.link(f"/ogc/collections/{layer.id}/items/{fid}", "latest-version",
                                 formats.GEOJSON, "The feature now", item_params))
    result.append(links.link(f"/ogc/collections/{layer.id}", "collection", formats.JSON,
                             layer.title))
    if query.offset + returned < matched:
        after = replace_params(own, ("offset",), {"offset": str(query.offset + query.limit)})
        result.append(links.link(path, "next", fmt, "Older changes", after))
    if query.offset > 0:
        before = replace_params(own, ("offset",),
                                {"offset": str(max(query.offset - query.limit, 0))})
        result.append(links.link(path, "prev", fmt, "Newer changes", before))
    return result


def _feature_id(layer: Layer, fid: str) -> int:
    """The feature id as stored (an integer); 404 for anything else."""
    try:
        number = int(fid)
    except ValueError:
        number = None
    if number is None or not -(2**63) <= number < 2**63:
        raise NotFound(f"l'objet {fid!r} n'a jamais existé dans la collection {layer.id!r}",
                       en=f"feature {fid!r} never existed in collection {layer.id!r}")
    return number


async def history_response(request: Request, pool: asyncpg.Pool, links: Links, layer: Layer,
                           fid: str, fmt: Format, query: HistoryQuery) -> Response:
    """The changes of one feature, newest first; 404 when the id never existed."""
    number = _feature_id(layer, fid)
    if layer.table not in HISTORY_TABLES:
        raise NotFound(f"la collection {layer.id!r} n'a pas d'historique",
                       en=f"collection {layer.id!r} has no history")
    etag = make_etag(request, links.base, await layer_version(pool, layer.table), fmt)
    if not_modified(request, etag):
        return Response(status_code=304, headers=cache_headers(etag))
    statement = history_statement(layer, number, query)
    row = await pool.fetchrow(statement.text, *statement.values)
    if row is None or row["matched"] == 0:
        raise NotFound(f"l'objet {fid!r} n'a jamais existé dans la collection {layer.id!r}",
                       en=f"feature {fid!r} never existed in collection {layer.id!r}")
    head = orjson.dumps({"collection": layer.id, "id": number, "deleted": bool(row["deleted"]),
                         "order": ORDER, "numberMatched": row["matched"],
                         "numberReturned": row["returned"]})
    doc_links = _links(request, links, layer, number, fmt, query, row["returned"],
                       row["matched"], bool(row["deleted"]))
    body = (head[:-1] + b',"versions":[' + row["changes"] + b'],"links":'
            + orjson.dumps(doc_links) + b"}")
    if fmt is formats.HTML:
        return _history_html(links, layer, number, query, orjson.loads(body), etag)
    return Response(body, media_type=formats.JSON.media_type,
                    headers={"Content-Crs": f"<{query.crs.uri}>", **cache_headers(etag)})


def _changed(versions: list[dict[str, Any]]) -> list[set[str]]:
    """For each entry, the properties (and ``geometry``) that differ from the entry below it
    (the version before): what the change changed."""
    result: list[set[str]] = []
    for index, entry in enumerate(versions):
        feature = entry.get("feature")
        older = next((v.get("feature") for v in versions[index + 1:] if v.get("feature")),
                     None)
        if feature is None or older is None:
            result.append(set())
            continue
        names = {name for name in feature["properties"]
                 if feature["properties"].get(name) != older["properties"].get(name)}
        if feature.get("geometry") != older.get("geometry"):
            names.add("geometry")
        result.append(names)
    return result


def _history_html(links: Links, layer: Layer, fid: int, query: HistoryQuery,
                  doc: dict[str, Any], etag: str) -> Response:
    versions = doc["versions"]
    geographic = query.crs.srid == 4326 and not query.crs.lat_lon
    previews = [html.svg_preview([v["feature"]["geometry"]], 160)
                if geographic and v.get("feature") and v["feature"].get("geometry") else None
                for v in versions]
    return html.render(
        "history.html", links.base, f"{layer.title} {fid} : historique", html.crumbs(
            links.base, ("Collections", f"{links.base}/ogc/collections?f=html"),
            (layer.title, f"{links.base}/ogc/collections/{layer.id}/items?f=html"),
            (str(fid), f"{links.base}/ogc/collections/{layer.id}/items/{fid}?f=html"),
            ("Historique", None)),
        doc, headers=cache_headers(etag), layer=layer, props=layer.properties,
        rows=list(zip(versions, previews, _changed(versions), strict=True)))


def history_router(openapi_extra: dict[str, Any]) -> APIRouter:
    """The route of a feature's history (included by the OGC API router, which gives its
    parameters' OpenAPI description)."""
    router = APIRouter(tags=["OGC API Features"])

    @router.get("/ogc/collections/{collection_id}/items/{feature_id}/history",
                summary="Versions of one feature", openapi_extra=openapi_extra)
    async def feature_history(collection_id: str, feature_id: str,
                              request: Request) -> Response:
        """Every change to the feature, newest first: who, when, in which change-set, and the
        feature as it was (GeoJSON in ``crs``); a deleted feature's history stays readable."""
        settings, registry = request.app.state.settings, request.app.state.registry
        layer = registry.get(collection_id)
        if layer is None:
            raise NotFound(f"no collection {collection_id!r}; see /ogc/collections")
        fmt = formats.negotiate(request, (formats.JSON, formats.HTML))
        query = parse_history_params(request.query_params)
        return await history_response(request, get_pool(request),
                                      Links.for_request(request, settings), layer,
                                      feature_id, fmt, query)

    return router
