"""The web geoportal: the page at ``/``, its configuration, its static files, the search."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from geoportal.core.extent import ExtentCache
from geoportal.core.services import services_of
from geoportal.deps import PoolDep, RegistryDep, SettingsDep
from geoportal.web import outline, search
from geoportal.web.config import viewer_config

STATIC = Path(__file__).parent / "static"
router = APIRouter(tags=["web"])


IMMUTABLE = "public, max-age=31536000, immutable"


class StaticAssets(StaticFiles):
    """The viewer's files: revalidated by ETag; vendored libraries, whose URLs carry the
    assets' version (``?v=``), kept for good."""

    def file_response(self, full_path: Any, stat_result: Any, scope: Scope,
                      status_code: int = 200) -> Any:
        """The file with a Cache-Control suited to how often it changes."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        versioned = "/vendor/" in str(full_path) and b"v=" in scope.get("query_string", b"")
        response.headers["Cache-Control"] = IMMUTABLE if versioned else "no-cache"
        return response


@lru_cache(maxsize=1)
def assets_version() -> str:
    """A short hash of the static files, appended to their URLs to bust browser caches."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


@lru_cache(maxsize=4)
def page(name: str) -> str:
    """A page of the viewer, with the assets' version in its URLs."""
    return (STATIC / name).read_text(encoding="utf-8").replace("{{version}}", assets_version())


@router.get("/", include_in_schema=False)
async def index() -> HTMLResponse:
    """The web map (French, or Arabic by the switch)."""
    return HTMLResponse(page("index.html"), headers={"Cache-Control": "no-cache"})


@router.get("/aide", include_in_schema=False)
async def help_page() -> HTMLResponse:
    """A short help page: what the map shows and how to use it."""
    return HTMLResponse(page("aide.html"), headers={"Cache-Control": "no-cache"})


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    """The site icon (an SVG: browsers take it for the ``/favicon.ico`` they ask for)."""
    return Response((STATIC / "img" / "favicon.svg").read_bytes(), media_type="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("/web/config.json", summary="Configuration of the web map")
async def config(request: Request, registry: RegistryDep, settings: SettingsDep,
                 pool: PoolDep) -> JSONResponse:
    """Layers, styles, legends and endpoints of the viewer, from the layer registry."""
    land = [layer for layer in registry if layer.id == "prefectures"] or \
        registry.with_geometry()
    bounds = await services_of(request).get(ExtentCache).lonlat_bounds(pool, land)
    return JSONResponse(viewer_config(registry, settings, bounds),
                        headers={"Cache-Control": "no-cache"})


router.include_router(search.router)
router.include_router(outline.router)
router.mount("/web/static", StaticAssets(directory=STATIC), name="web-static")
