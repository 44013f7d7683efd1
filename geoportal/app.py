"""The application factory: everything is built in ``create_app(settings)``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES

from geoportal import __version__, health
from geoportal.accounts import authenticator
from geoportal.accounts import router as accounts_router
from geoportal.catalogue import mount_pygeoapi
from geoportal.core.admission import Admission, AdmissionLimits
from geoportal.core.edge import Edge, EdgeLimits, content_security_policy
from geoportal.core.extent import ExtentCache
from geoportal.core.jsonlog import configure_logging
from geoportal.core.lanes import BulkLane, LaneLimits
from geoportal.core.machine_slots import MachineSlots, default_machine_slots
from geoportal.core.memory import freeze_start_up_objects
from geoportal.core.methods import HttpMethods
from geoportal.core.observe import Observe
from geoportal.core.routing import include_tried_first
from geoportal.core.services import Services
from geoportal.db.catalog import TableCatalog
from geoportal.db.changes import ChangeFeed
from geoportal.db.pool import close_pool, create_pool, warm_up
from geoportal.db.routing import ReadRouting, close_router, open_router
from geoportal.db.urls import resolve_database_url, resolve_replica_urls
from geoportal.errors import install_error_handlers
from geoportal.jobs.queue import job_worker
from geoportal.ogc import ITEM_PATHS, ogc_router, register_extension
from geoportal.ogc.counts import MatchCounts
from geoportal.ogc.extensions import OgcExtensions
from geoportal.ogc.samples import LayerWitnesses
from geoportal.opendata import opendata_extension
from geoportal.opendata import router as opendata_router
from geoportal.opendata.cache import DownloadCache
from geoportal.opendata.datasets import StatsCache
from geoportal.opendata.slots import DownloadSlots
from geoportal.ops import routes as ops_routes
from geoportal.ops.metrics import Metrics, Sources
from geoportal.registry import LayerRegistry, load_registry
from geoportal.renseignement import notes_api
from geoportal.renseignement import routes as renseignement_routes
from geoportal.renseignement.tasks import JOBS
from geoportal.rules import routes as rules_routes
from geoportal.rules.rasters import RasterSampler
from geoportal.settings import Settings
from geoportal.styles import router as styles_router
from geoportal.styles import styles_extension
from geoportal.styles.routes import PREFIX as STYLES_PREFIX
from geoportal.tiles import routes as tiles_routes
from geoportal.tiles.ogc import tiles_extension
from geoportal.tiles.service import TileService
from geoportal.web import routes as web_routes

log = logging.getLogger("geoportal")


def _services(settings: Settings, registry: LayerRegistry) -> Services:
    """Every long-lived object the rooms use, built once here."""
    machine = settings.heavy_slots_machine
    if machine is None:
        machine = default_machine_slots()
    services = Services(Admission(AdmissionLimits(
        heavy_slots=settings.heavy_slots, heavy_queue=settings.heavy_queue,
        heavy_wait_s=settings.heavy_wait_s, heavy_per_client=settings.heavy_per_client,
        heavy_cost=settings.heavy_cost, max_cost=settings.max_query_cost),
        MachineSlots(settings.home / "run" / "heavy", machine) if machine else None))
    services.provide(OgcExtensions())
    extents = services.provide(ExtentCache())
    services.provide(MatchCounts())
    services.provide(LayerWitnesses())
    tiles = services.provide(TileService(settings, registry, extents))
    changes = services.provide(ChangeFeed(partial(resolve_database_url, settings),
                                           settings.db_retry_max_s))
    changes.subscribe(tiles.versions.invalidate)
    services.provide(DownloadSlots(settings.opendata_max_downloads))
    services.provide(StatsCache())
    services.provide(DownloadCache(settings.download_cache_dir,
                                   settings.opendata_cache_mb * 1_000_000))
    services.provide(authenticator(settings))
    services.provide(TableCatalog())  # the editable tables' columns and constraints
    services.provide(RasterSampler(settings.raster_dir, registry.rasters))  # rules, pygeoapi
    services.provide(health.HealthProbe())
    return services


def _start_metrics(app: FastAPI, services: Services, settings: Settings
                   ) -> asyncio.Task[None] | None:
    """Point the metrics at the live objects; in multiprocess mode, sample them regularly."""
    metrics: Metrics | None = app.state.metrics
    if metrics is None:
        return None
    pools = {"read": app.state.pool, "write": app.state.write_pool}
    router = app.state.read_router
    if router is not None:  # each replica's pool too ("replica-1", ...)
        pools.update({node.name: node.pool for node in router.replicas})
    metrics.sources = Sources(services.admission, services.get(TileService).cache, pools)
    if not metrics.multiprocess:
        return None
    return asyncio.create_task(metrics.sample_forever(settings.metrics_sample_s))


def create_app(settings: Settings | None = None) -> FastAPI:
    """A configured geoportal application; the pool opens in the lifespan."""
    settings = settings or Settings()
    registry = load_registry(settings.layers_dir)
    replicas = resolve_replica_urls(settings)  # none: no routing step at all

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The pool opens connections on demand: the service starts (and says 503) while the
        # database is down, and recovers by itself when it comes back.
        app.state.pool = await create_pool(settings)
        app.state.write_pool = await create_pool(settings, write=True)
        if replicas:
            app.state.read_router = await open_router(settings, app.state.pool, replicas)
        changes = services.get(ChangeFeed)
        changes.start()
        worker = job_worker(settings, JOBS, app.state.write_pool) \
            if settings.worker_in_service else None
        if worker is not None:  # mail and periodic jobs; `geoportal worker` runs them apart
            worker.start()
        await warm_up(app.state.pool, settings.pool_min_size)
        sampler = _start_metrics(app, services, settings)
        # ~220,000 start-up objects (modules, routes, schemas, pygeoapi) out of the full
        # collections that stopped the loop 380-1,080 ms every few seconds under load
        freeze_start_up_objects()
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()
            if sampler is not None:
                sampler.cancel()
            if metrics is not None:
                metrics.close()
            await changes.stop()
            if replicas:
                await close_router(app.state.read_router)
            await close_pool(app.state.write_pool)
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
    app.state.write_pool = None
    app.state.read_router = None
    services = app.state.services = _services(settings, registry)
    metrics = app.state.metrics = Metrics(settings) if settings.metrics_enabled else None
    configure_logging(settings.log_format)
    install_error_handlers(app)
    app.add_middleware(BulkLane, limits=LaneLimits(settings.bulk_slots, settings.bulk_queue,
                                                   settings.bulk_wait_s))
    # Tiles compress themselves; GeoTIFFs are compressed inside: sent as they are, with length.
    # Level 1 (nginx's default), not Starlette's 9: on a 2,000-feature chunk of a stream
    # (650 KB) 2.3 ms and 6.1× against 28.7 ms and 7.4× — a whole-layer stream (307 MB)
    # cost 13 s of CPU at 9, taken from every other request on the machine's two cores.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=1, exclude_content_types=(
        *DEFAULT_EXCLUDED_CONTENT_TYPES, "image/tiff", "application/vnd.mapbox-vector-tile"))
    app.add_middleware(HttpMethods, router=app.router)  # outside gzip: HEAD = GET's headers
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH",
                                          "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "If-Match",
                                          "If-None-Match", "Accept-Language", "Content-Crs",
                                          "Geoportal-LSN"],
                           expose_headers=["ETag", "Location", "Link", "Content-Crs",
                                           "Retry-After", "OGC-NumberMatched", "Geoportal-LSN"],
                           max_age=3600)
    if replicas:  # inside Edge: a refused request never waits for a replica
        app.add_middleware(ReadRouting)
    app.add_middleware(Edge, limits=EdgeLimits(settings.max_request_bytes,
                                               settings.body_timeout_s),
                       policy=content_security_policy(settings.external_origins()))
    # Outermost: the request id and the access line cover what the edge refuses too.
    app.add_middleware(Observe, recorder=metrics, access=settings.access_log)
    app.include_router(health.router)
    if metrics is not None:
        app.include_router(ops_routes.router)
    app.include_router(accounts_router)
    # One feature by id, the most frequent read after tiles and lookups, is matched first.
    include_tried_first(app, ogc_router(settings), "", ITEM_PATHS)
    # A tile, the most frequent request, is matched before every other route (see TriedFirst).
    include_tried_first(app, tiles_routes.router, tiles_routes.PREFIX, tiles_routes.TILE_PATHS)
    register_extension(services, tiles_extension())
    app.include_router(styles_router, prefix=STYLES_PREFIX)
    register_extension(services, styles_extension())
    app.include_router(web_routes.router)
    rules_routes.install(app)
    app.include_router(opendata_router)
    app.include_router(notes_api.router)
    renseignement_routes.install(app)
    register_extension(services, opendata_extension())
    mount_pygeoapi(app, settings)
    return app
