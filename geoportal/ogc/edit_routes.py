"""OGC API Features Part 4: staff edit the layers the registry marks ``editable``.

``POST /ogc/collections/{id}/items`` answers 201 with ``Location`` and ``ETag`` (and the new
feature); ``PUT`` and ``PATCH`` on ``/items/{fid}`` answer 200 with the new feature and its
``ETag`` (the spec allows 200 or 204: the body saves the client a GET); ``DELETE`` 204.
Every write needs an editor of the layer (or an admin): 401 without credentials, 403 with
others; a layer that is not editable answers 405 with ``Allow``. PUT, PATCH and DELETE need
``If-Match`` (428 without, 412 when stale; see ``ogc.caching``), unless the setting
``edit_require_if_match`` is off. ``OPTIONS`` lists the write methods only to the callers
who may use them.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Request, Response

from geoportal.core import formats
from geoportal.core.auth import Identity, layer_from_path, optional_identity, require_role
from geoportal.core.crs import CRS84
from geoportal.core.links import Links
from geoportal.core.methods import offered_to
from geoportal.core.services import services_of
from geoportal.db.catalog import TableCatalog
from geoportal.deps import get_write_pool
from geoportal.errors import MethodNotAllowed, NotFound, PreconditionRequired
from geoportal.ogc import edits
from geoportal.ogc.caching import if_match_versions
from geoportal.ogc.edit_body import (
    GEOJSON_TYPES,
    JSONFG_TYPES,
    MERGE_PATCH,
    Mode,
    header_crs,
    read_document,
    read_edit,
)
from geoportal.ogc.features import item_links
from geoportal.ogc.params import reject_unknown
from geoportal.registry import Layer, LayerRegistry
from geoportal.settings import Settings

READ_ONLY = ("GET", "HEAD", "OPTIONS")
ITEMS = "/ogc/collections/{collection_id}/items"
ITEM = "/ogc/collections/{collection_id}/items/{feature_id}"


def _state(request: Request) -> tuple[Settings, LayerRegistry]:
    return request.app.state.settings, request.app.state.registry


async def editable_layer(collection_id: str, request: Request) -> Layer:
    """The collection, when it may be edited: 404 when unknown, 405 when read-only."""
    layer = _state(request)[1].get(collection_id)
    if layer is None:
        raise NotFound(f"aucune collection « {collection_id} » ; voir /ogc/collections",
                       en=f"no collection {collection_id!r}; see /ogc/collections")
    if not layer.editable:
        raise MethodNotAllowed(f"La collection « {layer.id} » est en lecture seule.",
                               en=f"Collection '{layer.id}' is read-only.", allow=READ_ONLY)
    return layer


async def may_edit(request: Request) -> bool:
    """Whether the caller may edit the collection of the path (for ``OPTIONS``)."""
    layer = _state(request)[1].get(str(request.path_params.get("collection_id")))
    if layer is None or not layer.editable:
        return False
    identity = await optional_identity(request)
    return identity is not None and identity.may_edit(layer.id)


# Declared in this order, the layer is checked (404, 405) before the credentials (401, 403).
EditableLayer = Annotated[Layer, Depends(editable_layer)]
Editor = Annotated[Identity, Depends(require_role("editor",
                                                   layer=layer_from_path("collection_id")))]
IfMatch = Annotated[str | None, Header(description="The ETag of the version being changed "
                                       "(`*`: any); 428 without, 412 when stale.")]
ContentCrs = Annotated[str | None, Header(description="CRS of the body's geometry, e.g. "
                                          "`<http://www.opengis.net/def/crs/EPSG/0/26191>`; "
                                          "default CRS84.")]


def _body(*media: str) -> dict[str, Any]:
    feature = {"type": "object", "description": "A GeoJSON or JSON-FG Feature (a merge patch "
               "of one for PATCH)."}
    return {"requestBody": {"required": True, "content": {
        m: {"schema": feature} for m in media}}}


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        200: "The feature as written (GeoJSON, CRS84), its new ETag.",
        201: "Created: Location and ETag of the new feature, and the feature.",
        204: "Deleted.",
        400: "Malformed JSON or geometry.",
        401: "No valid credentials.",
        403: "These credentials may not edit this layer.",
        404: "No such collection or feature.",
        405: "The collection is read-only.",
        409: "A unique value taken, or the feature still referenced.",
        412: "If-Match names an older version: the current ETag is in the answer.",
        415: "Body in another media type.",
        422: "A property or the geometry is refused (the `field` says which).",
        428: "If-Match is required.",
    }
    return {status: {"description": described[status]} for status in statuses}


FEATURE_TYPES = (*sorted(GEOJSON_TYPES), *sorted(JSONFG_TYPES))
ERRORS = (400, 401, 403, 404, 405, 415, 422)


def _feature_id(layer: Layer, feature_id: str) -> int:
    try:
        number = int(feature_id)
    except ValueError:
        number = None
    if number is None or not -(2**63) <= number < 2**63:
        raise NotFound(f"aucune entité {feature_id!r} dans la collection « {layer.id} »",
                       en=f"no feature {feature_id!r} in collection '{layer.id}'")
    return number


def _versions(settings: Settings, if_match: str | None) -> edits.Versions:
    if if_match is None or not if_match.strip():
        if not settings.edit_require_if_match:
            return None
        raise PreconditionRequired(
            "If-Match est requis : lisez l'entité (GET) et renvoyez son ETag dans If-Match, "
            "pour ne pas écraser la modification d'un autre.",
            en="If-Match is required: read the feature (GET) and send its ETag in If-Match, "
               "so as not to overwrite someone else's change.")
    return if_match_versions(if_match)


async def _context(request: Request, layer: Layer, identity: Identity) -> edits.EditContext:
    registry = _state(request)[1]
    names = {other.table: other.id for other in registry}
    info = await services_of(request).get(TableCatalog).get(get_write_pool(request), layer.table)
    return edits.EditContext(layer, info, identity.actor, lambda table: names.get(table, table))


async def _edit(request: Request, context: edits.EditContext, mode: Mode,
                fid: int | None = None) -> edits.Edit:
    reject_unknown(request.query_params, set())
    document, jsonfg = read_document(await request.body(), request.headers.get("content-type"),
                                     mode)
    return read_edit(document, context.layer, context.info, mode, jsonfg,
                     header_crs(request.headers.get("content-crs")), fid)


async def _change(request: Request, layer: Layer, identity: Identity, feature_id: str,
                  if_match: str | None, mode: Mode) -> Response:
    """PUT (``replace``) or PATCH (``patch``) of one feature, under its If-Match."""
    fid = _feature_id(layer, feature_id)
    versions = _versions(_state(request)[0], if_match)
    context = await _context(request, layer, identity)
    edit = await _edit(request, context, mode, fid)
    written = await edits.change(get_write_pool(request), context, fid, edit, versions,
                                 replace=mode == "replace")
    return _written(request, layer, written, 200)


def _written(request: Request, layer: Layer, written: edits.Written, status: int) -> Response:
    """The written feature with its links, ETag and (201) Location."""
    links = Links.for_request(request, _state(request)[0])
    body = written.feature[:-1] + b',"links":' + orjson.dumps(
        item_links(links, layer, written.fid, formats.GEOJSON, [])) + b"}"
    headers = {"ETag": written.etag, "Content-Crs": f"<{CRS84}>", "Cache-Control": "no-store"}
    if status == 201:
        headers["Location"] = links.url(f"/ogc/collections/{layer.id}/items/{written.fid}")
    return Response(body, status_code=status, media_type=formats.GEOJSON.media_type,
                    headers=headers)


def add_edit_routes(router: APIRouter) -> None:
    """The write operations of the items of every editable collection."""

    @router.post(ITEMS, summary="Create a feature (editors)", status_code=201,
                 responses=_responses(201, *ERRORS, 409), openapi_extra=_body(*FEATURE_TYPES))
    @offered_to(may_edit)
    async def create_item(collection_id: str, request: Request, layer: EditableLayer,
                          identity: Editor, content_crs: ContentCrs = None) -> Response:
        """Add a feature; its id is given by the server (``Location``)."""
        context = await _context(request, layer, identity)
        edit = await _edit(request, context, "create")
        written = await edits.create(get_write_pool(request), context, edit)
        return _written(request, layer, written, 201)

    @router.put(ITEM, summary="Replace a feature (editors, If-Match)",
                responses=_responses(200, *ERRORS, 409, 412, 428),
                openapi_extra=_body(*FEATURE_TYPES))
    @offered_to(may_edit)
    async def replace_item(collection_id: str, feature_id: str, request: Request,
                           layer: EditableLayer, identity: Editor, if_match: IfMatch = None,
                           content_crs: ContentCrs = None) -> Response:
        """Replace the feature whole: properties not given get their default (often null)."""
        return await _change(request, layer, identity, feature_id, if_match, "replace")

    @router.patch(ITEM, summary="Update a feature (editors, If-Match; JSON merge patch)",
                  responses=_responses(200, *ERRORS, 409, 412, 428),
                  openapi_extra=_body(MERGE_PATCH, *FEATURE_TYPES))
    @offered_to(may_edit)
    async def update_item(collection_id: str, feature_id: str, request: Request,
                          layer: EditableLayer, identity: Editor, if_match: IfMatch = None,
                          content_crs: ContentCrs = None) -> Response:
        """Change the properties given (null: remove) and/or the geometry (replaced whole)."""
        return await _change(request, layer, identity, feature_id, if_match, "patch")

    @router.delete(ITEM, summary="Delete a feature (editors, If-Match)", status_code=204,
                   responses=_responses(204, 401, 403, 404, 405, 409, 412, 428))
    @offered_to(may_edit)
    async def delete_item(collection_id: str, feature_id: str, request: Request,
                          layer: EditableLayer, identity: Editor, if_match: IfMatch = None
                          ) -> Response:
        """Delete the feature (it stays in the history); 409 while other rows refer to it."""
        fid = _feature_id(layer, feature_id)
        versions = _versions(_state(request)[0], if_match)
        reject_unknown(request.query_params, set())
        context = await _context(request, layer, identity)
        await edits.delete(get_write_pool(request), context, fid, versions)
        return Response(status_code=204)
