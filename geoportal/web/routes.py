"""The web geoportal: the page at ``/``, its configuration, its static files, the search."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from geoportal.core.extent import ExtentCache
from geoportal.core.services import services_of
from geoportal.deps import PoolDep, RegistryDep, SettingsDep
from geoportal.web import search
from geoportal.web.config import viewer_config

STATIC = Path(__file__).parent / "static"
router = APIRouter(tags=["web"])


class StaticAssets(StaticFiles):
    """The viewer's files: revalidated by ETag; vendored libraries kept a day."""

    def file_response(self, full_path: Any, stat_result: Any, scope: Scope,
                      status_code: int = 200) -> Any:
        """The file with a Cache-Control suited to how often it changes."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        vendored = "/vendor/" in str(full_path)
        response.headers["Cache-Control"] = "public, max-age=86400" if vendored else "no-cache"
        return response


@lru_cache(maxsize=1)
def assets_version() -> str:
    """A short hash of the static files, appended to their URLs to bust browser caches."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


@lru_cache(maxsize=1)
def index_page() -> str:
    """The page, with the assets' version in its URLs."""
    return (STATIC / "index.html").read_text(encoding="utf-8").replace(
        "{{version}}", assets_version())


@router.get("/", include_in_schema=False)
async def index() -> HTMLResponse:
    """The web map (French)."""
    return HTMLResponse(index_page(), headers={"Cache-Control": "no-cache"})


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
router.mount("/web/static", StaticAssets(directory=STATIC), name="web-static")
