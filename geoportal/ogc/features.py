"""Feature responses: run the statement, wrap the bytes PostgreSQL made, add links and headers."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from geoportal.core import formats
from geoportal.core.admission import HeavySlot, admission_of, vertices_per_literal
from geoportal.core.crs import STORAGE, Crs
from geoportal.core.formats import Format
from geoportal.core.history import at_text
from geoportal.core.links import Link, Links, replace_params
from geoportal.core.services import services_of
from geoportal.core.versions import data_version, layer_version
from geoportal.errors import InvalidParameter, NotFound
from geoportal.ogc import html
from geoportal.ogc.caching import (
    cache_headers,
    make_etag,
    not_modified,
    past_etag,
    representation_etag,
)
from geoportal.ogc.counts import MatchCounts, Matches, question_key
from geoportal.ogc.params import ItemsQuery
from geoportal.ogc.query import (
    Statement,
    csv_header,
    feature_statement,
    feature_version_statement,
    filtered,
    geometry_crs,
    items_statement,
    stream_statement,
)
from geoportal.ogc.samples import LayerWitnesses, Witnesses, typed
from geoportal.registry import Layer, LayerProperty

STREAM_BATCH = 2000
DEEP_OFFSET = 10_000  # beyond it an offset page is planned before it runs
JSONFG_CONFORMS = ["http://www.opengis.net/spec/json-fg-1/0.2/conf/core"]


def _headers(crs: Crs, etag: str, at: dt.datetime | None = None) -> dict[str, str]:
    return {"Content-Crs": f"<{crs.uri}>", **cache_headers(etag, at)}


def _etag(request: Request, links: Links, version: Any, fmt: Format,
          at: dt.datetime | None) -> str:
    """Weak by the layer's counter now; strong by the data version for a read of the past."""
    if at is not None:
        return past_etag(request, links.base, str(version), fmt)
    return make_etag(request, links.base, int(version or 0), fmt)


async def _run(pool: asyncpg.Pool, statement: Statement) -> asyncpg.Record | None:
    try:
        return await pool.fetchrow(statement.text, *statement.values)
    except asyncpg.DataError as exc:  # e.g. an out-of-range value in a filter
        raise InvalidParameter("the request cannot be evaluated: a value is out of range "
                               "or of the wrong type") from exc


async def _early_etag(request: Request, pool: asyncpg.Pool, links: Links, layer: Layer,
                      fmt: Format, at: dt.datetime | None = None) -> str | None:
    """The ETag before running the query, only when the client may already have it."""
    if "if-none-match" not in request.headers:
        return None
    if at is not None:
        return _etag(request, links, await data_version(pool, at), fmt, at)
    return make_etag(request, links.base, await layer_version(pool, layer.table), fmt)


def _place_crs_uri(layer: Layer, place_crs: Crs) -> str | None:
    """JSON-FG's ``coordRefSys``: the CRS of ``place``, when it is not WGS 84 and there is
    a place at all (a layer without geometry has none)."""
    return place_crs.uri if place_crs.srid != 4326 and layer.has_geometry else None


def _has_next(query: ItemsQuery, returned: int, last_id: int | None,
              matches: Matches | None, lead: Witnesses | None = None) -> bool:
    """Whether a page follows: a full page has one unless the count (or, in an order that
    opens with witnesses, the id that ends it) says it was the last."""
    limit = query.limit or 0
    if returned < limit or limit <= 0:
        return False
    if lead is not None:
        return last_id != lead.last_id
    if matches is None or matches.count is None:
        return True
    if query.keyset and last_id is not None:  # ordered by id: the last id says it
        return matches.max_id is not None and last_id < matches.max_id
    return query.offset + returned < matches.count


def _page_links(request: Request, links: Links, layer: Layer, query: ItemsQuery, fmt: Format,
                returned: int, last_id: int | None, matches: Matches | None = None,
                lead: Witnesses | None = None) -> list[Link]:
    path = f"/ogc/collections/{layer.id}/items"
    own = list(request.query_params.multi_items())
    result = links.alternates(path, fmt, formats.FEATURES, own)
    result.append(links.link(f"/ogc/collections/{layer.id}", "collection", formats.JSON,
                             layer.title))
    limit = query.limit or 0
    if query.at is not None:  # every page reads the same moment, "today" included
        own = replace_params(own, (), {"at": at_text(query.at)})
    if _has_next(query, returned, last_id, matches, lead):
        if query.keyset and last_id is not None:
            after = replace_params(own, ("offset", "cursor"), {"cursor": str(last_id)})
        else:
            after = replace_params(own, ("offset",), {"offset": str(query.offset + limit)})
        result.append(links.link(path, "next", fmt, "Next page", after))
    if query.offset > 0 and query.after is None:
        before = replace_params(own, ("offset",), {"offset": str(max(query.offset - limit, 0))})
        result.append(links.link(path, "prev", fmt, "Previous page", before))
    return result


def _envelope(fmt: Format, layer: Layer, query: ItemsQuery, row: asyncpg.Record,
              links: list[Link], matches: Matches | None = None) -> tuple[bytes, bytes]:
    """The bytes around the features array (the features themselves are never decoded)."""
    head: dict[str, Any] = {"type": "FeatureCollection"}
    if fmt is formats.JSONFG:
        place_crs = query.crs if query.crs_given else STORAGE
        head.update(conformsTo=JSONFG_CONFORMS, featureType=layer.id,
                    coordRefSys=_place_crs_uri(layer, place_crs))
    tail: dict[str, Any] = {"numberReturned": row["returned"]}
    if matches is not None and matches.count is not None:
        tail["numberMatched"] = matches.count
    elif query.after is None and row["returned"] < (query.limit or 0) \
            and (row["returned"] > 0 or query.offset == 0):
        # The last page of a question over the cap: the count is known for free (an empty
        # page past the end says only "at most offset": no count then).
        tail["numberMatched"] = query.offset + row["returned"]
    if query.at is None:  # a read of the past is the same bytes whenever it is made
        tail["timeStamp"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    tail["links"] = links
    return orjson.dumps(head)[:-1] + b',"features":[', b"]," + orjson.dumps(tail)[1:]


async def items_response(request: Request, pool: asyncpg.Pool, links: Links, layer: Layer,
                         query: ItemsQuery, fmt: Format, layer_area: float) -> Response:
    """A page of features in GeoJSON, JSON-FG or HTML."""
    early = await _early_etag(request, pool, links, layer, fmt, query.at)
    if early and not_modified(request, early):
        return Response(status_code=304, headers=_headers(query.crs, early, query.at))
    body_fmt = formats.GEOJSON if fmt is formats.HTML else fmt
    counts = services_of(request).get(MatchCounts)
    key = question_key(layer.id, request.query_params.multi_items())
    known = counts.get(key)
    cap = request.app.state.settings.items_count_cap if filtered(query) else None
    # Admission judges the page alone; the count joins it only when that stays affordable
    # (a costly filter's page is served, its numberMatched omitted, never refused for it).
    found = await _witnesses(request, pool, layer, query)
    lead_ids = found.ids if found is not None else ()
    statement = items_statement(layer, query, body_fmt, layer_area, lead=lead_ids)
    slot = await _admit(request, pool, query, statement)
    counting = False
    if known is None:
        counted = items_statement(layer, query, body_fmt, layer_area, True, cap, lead_ids)
        if query.filter is None or await _affordable(request, pool, query, counted):
            statement, counting = counted, True
    try:
        row = await _run(pool, statement)
    finally:
        if slot is not None:
            slot.release()
    if row is None:  # an aggregate always answers one row
        raise RuntimeError("the items statement returned no row")
    if found is not None and found.version != int(row["version"] or 0):
        # The layer moved since its witnesses were found: find them again, and read the page
        # again if they changed (rare: an edit of the layer in between).
        renewed = await services_of(request).get(LayerWitnesses).renew(pool, layer)
        if renewed.ids != found.ids:
            row = await _run(pool, items_statement(layer, query, body_fmt, layer_area,
                                                   counting, cap, renewed.ids))
            if row is None:
                raise RuntimeError("the items statement returned no row")
        found = renewed
    lead = found if found is not None and found.ids else None
    etag = _etag(request, links, row["version"], fmt, query.at)
    matches = _matches(counts, key, known, row, cap)
    page_links = _page_links(request, links, layer, query, fmt, row["returned"], row["last_id"],
                             matches, lead)
    head, tail = _envelope(body_fmt, layer, query, row, page_links, matches)
    body = head + row["features"] + tail
    if fmt is formats.HTML:
        return _items_html(links, layer, query, body, etag)
    content_crs = geometry_crs(query, fmt)
    return Response(body, media_type=fmt.media_type,
                    headers=_headers(content_crs, etag, query.at))


async def _witnesses(request: Request, pool: asyncpg.Pool, layer: Layer,
                     query: ItemsQuery) -> Witnesses | None:
    """The witnesses of the layer when this page is in the default order of the whole layer
    (samples.py); None when the page is not, or the layer has no typed property."""
    if query.sortby or filtered(query) or not typed(layer):
        return None
    return await services_of(request).get(LayerWitnesses).of(pool, layer)


def _matches(counts: MatchCounts, key: tuple[str, bytes], known: Matches | None,
             row: asyncpg.Record, cap: int | None) -> Matches | None:
    """The count of this page's question: made by its statement, or known from an earlier
    page of the same data version (a count of another version is dropped, not used)."""
    version = str(row["version"])
    if known is None:
        over = cap is not None and row["matched"] > cap
        made = Matches(version, None if over else int(row["matched"]), row["max_id"])
        counts.remember(key, made)
        return made
    if known.version == version:
        return known
    counts.forget(key)
    return None


def _items_html(links: Links, layer: Layer, query: ItemsQuery, body: bytes,
                etag: str) -> Response:
    doc = orjson.loads(body)
    geographic = query.crs.srid == 4326 and not query.crs.lat_lon
    svg = html.svg_preview([f["geometry"] for f in doc["features"]]) if geographic else None
    return html.render(
        "items.html", links.base, layer.title,
        html.crumbs(links.base, ("Collections", f"{links.base}/ogc/collections?f=html"),
                    (layer.title, f"{links.base}/ogc/collections/{layer.id}?f=html"),
                    ("Items", None)),
        doc, headers=cache_headers(etag, query.at), layer=layer, props=query.properties,
        svg=svg, at=query.at)


def item_links(links: Links, layer: Layer, number: int, fmt: Format,
               own: list[tuple[str, str]]) -> list[Link]:
    """The links of one feature: itself in each format, its collection, its versions."""
    path = f"/ogc/collections/{layer.id}/items/{number}"
    return [*links.alternates(path, fmt, formats.FEATURE, own),
            links.link(f"/ogc/collections/{layer.id}", "collection", formats.JSON, layer.title),
            links.link(f"{path}/history", "version-history", formats.JSON,
                       "Versions of this feature")]


async def feature_response(request: Request, pool: asyncpg.Pool, links: Links, layer: Layer,
                           fid: str, fmt: Format, crs: Crs, props: list[LayerProperty],
                           crs_given: bool, at: dt.datetime | None = None) -> Response:
    """One feature in GeoJSON, JSON-FG or HTML (as it stood at ``at``); 404 when the id
    does not exist (then)."""
    try:
        number = int(fid)
    except ValueError:
        raise NotFound(f"no feature {fid!r} in collection {layer.id!r}") from None
    if not -(2**63) <= number < 2**63:
        raise NotFound(f"no feature {fid!r} in collection {layer.id!r}")
    if at is not None:
        early = await _early_etag(request, pool, links, layer, fmt, at)
        if early and not_modified(request, early):
            return Response(status_code=304, headers=_headers(crs, early, at))
    elif "if-none-match" in request.headers:  # the feature's version answers, no encoding
        known = await _run(pool, feature_version_statement(layer, number))
        early = representation_etag(request, known["version"], fmt) if known else None
        if early and not_modified(request, early):
            return Response(status_code=304, headers=_headers(crs, early))
    body_fmt = formats.GEOJSON if fmt is formats.HTML else fmt
    place_crs = crs if (crs_given or fmt is not formats.JSONFG) else STORAGE
    row = await _run(pool, feature_statement(layer, number, body_fmt, place_crs, props, at))
    if row is None:
        if at is not None:
            raise NotFound(
                f"l'objet {fid!r} n'existait pas dans la collection {layer.id!r} à ce moment "
                f"(voir …/items/{fid}/history)",
                en=f"feature {fid!r} did not exist in collection {layer.id!r} at that moment "
                   f"(see …/items/{fid}/history)")
        raise NotFound(f"no feature {fid!r} in collection {layer.id!r}")
    etag = past_etag(request, links.base, str(row["data_version"]), fmt) if at is not None \
        else representation_etag(request, int(row["version"]), fmt)
    own = list(request.query_params.multi_items())
    extra = b',"links":' + orjson.dumps(item_links(links, layer, number, fmt, own))
    if fmt is formats.JSONFG:
        extra += b',"conformsTo":' + orjson.dumps(JSONFG_CONFORMS)
        if _place_crs_uri(layer, place_crs) is not None:
            extra += b',"coordRefSys":' + orjson.dumps(place_crs.uri)
    body = row["feature"][:-1] + extra + b"}"
    if fmt is formats.HTML:
        doc = orjson.loads(body)
        svg = html.svg_preview([doc["geometry"]], 480) if not crs.lat_lon and crs.srid == 4326 \
            else None
        return html.render("item.html", links.base, f"{layer.title} {number}", html.crumbs(
            links.base, ("Collections", f"{links.base}/ogc/collections?f=html"),
            (layer.title, f"{links.base}/ogc/collections/{layer.id}/items?f=html"),
            (str(number), None)), doc, headers=cache_headers(etag, at), layer=layer,
            props=props, svg=svg, at=at)
    return Response(body, media_type=fmt.media_type, headers=_headers(crs, etag, at))


async def _affordable(request: Request, pool: asyncpg.Pool, query: ItemsQuery,
                      statement: Statement) -> bool:
    """Whether a filtered page with its count stays under the cost ceiling (judged as
    admission judges the page alone)."""
    admission = admission_of(request)
    vertices = vertices_per_literal(query.filter.tree) if query.filter else 0.0
    cost = await admission.estimate(pool, statement.text, statement.values, vertices)
    return cost <= admission.limits.max_cost


async def _admit(request: Request, pool: asyncpg.Pool, query: ItemsQuery,
                 statement: Statement) -> HeavySlot | None:
    """A heavy slot when the planner says the page is costly (filters, sorts, deep offsets)."""
    if query.filter is None and not query.sortby and query.offset <= DEEP_OFFSET:
        return None  # index paths by construction: light
    vertices = vertices_per_literal(query.filter.tree) if query.filter else 0.0
    return await admission_of(request).admit_statement(
        pool, request, statement.text, statement.values, vertices)


async def _rows(pool: asyncpg.Pool, statement: Statement, header: bytes,
                slot: HeavySlot) -> AsyncIterator[bytes]:
    """Batches of encoded features from a server-side cursor: memory stays flat."""
    try:
        async with pool.acquire() as conn, conn.transaction(readonly=True):
            cursor = await conn.cursor(statement.text, *statement.values)
            if header:
                yield header
            while rows := await cursor.fetch(STREAM_BATCH):
                yield b"".join(r[0] for r in rows)
    finally:
        slot.release()


async def stream_response(request: Request, pool: asyncpg.Pool, links: Links, layer: Layer,
                          query: ItemsQuery, fmt: Format) -> Response:
    """A whole (filtered) layer as GeoJSON text sequences or CSV, streamed."""
    if query.at is not None:
        etag = _etag(request, links, await data_version(pool, query.at), fmt, query.at)
    else:
        etag = make_etag(request, links.base, await layer_version(pool, layer.table), fmt)
    if not_modified(request, etag):
        return Response(status_code=304, headers=_headers(query.crs, etag, query.at))
    header = csv_header(query.properties, layer.has_geometry) if fmt is formats.CSV else b""
    statement = stream_statement(layer, query, fmt)
    admission = admission_of(request)
    if query.filter is not None:  # refused before it runs when the plan is over the ceiling
        await admission.check_cost(pool, statement.text, statement.values,
                                   vertices_per_literal(query.filter.tree))
    slot = await admission.acquire_for(request)  # a whole layer is heavy whatever
    headers = _headers(query.crs, etag, query.at)
    if fmt is formats.CSV:
        headers["Content-Disposition"] = f'inline; filename="{layer.id}.csv"'
    media = f"{fmt.media_type}; charset=utf-8" if fmt is formats.CSV else fmt.media_type
    return StreamingResponse(_rows(pool, statement, header, slot), media_type=media,
                             headers=headers, background=BackgroundTask(slot.release))


