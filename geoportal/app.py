"""The application factory: everything is built in ``create_app(settings)``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware

from geoportal import __version__, health
from geoportal.catalogue import mount_pygeoapi
from geoportal.db.pool import close_pool, create_pool, warm_up
from geoportal.errors import install_error_handlers
from geoportal.limits import BodySizeLimit
from geoportal.ogc import ogc_router, register_extension
from geoportal.opendata import opendata_extension
from geoportal.opendata import router as opendata_router
from geoportal.registry import load_registry
from geoportal.rules import routes as rules_routes
from geoportal.settings import Settings
from geoportal.tiles import routes as tiles_routes
from geoportal.tiles.ogc import tiles_extension
from geoportal.web import routes as web_routes

log = logging.getLogger("geoportal")


def create_app(settings: Settings | None = None) -> FastAPI:
    """A configured geoportal application; the pool opens in the lifespan."""
    settings = settings or Settings()
    registry = load_registry(settings.layers_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The pool opens connections on demand: the service starts (and says 503) while the
        # database is down, and recovers by itself when it comes back.
        app.state.pool = await create_pool(settings)
        await warm_up(app.state.pool, settings.pool_min_size)
        try:
            yield
        finally:
            await close_pool(app.state.pool)

    app = FastAPI(
        title="Géoportail de l'Agence urbaine de Casablanca",
        version=__version__,
        description="Urban-planning layers over OGC API, and the rules that apply to a plot.",
        lifespan=lifespan,
        docs_url=None,  # served by geoportal.ogc from the package, no CDN
        redoc_url=None,  # ReDoc would load its script from a CDN
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.pool = None
    install_error_handlers(app)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.include_router(health.router)
    app.include_router(ogc_router())
    app.include_router(tiles_routes.router, prefix="/ogc")
    register_extension(app, tiles_extension())
    app.include_router(web_routes.router)
    rules_routes.install(app)
    app.include_router(opendata_router)
    register_extension(app, opendata_extension())
    mount_pygeoapi(app, settings)
    return app
