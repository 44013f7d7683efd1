"""pygeoapi mounted in the service under ``/pygeoapi``: Records, Processes, Coverages.

pygeoapi's own Starlette module reads its configuration from the environment when imported
and keeps it in module globals; here the API objects are built from ``pygeoapi.api`` in
``create_app`` instead, one per public base URL (the settings' public URL, else the address
the server listens on; never the ``Host`` header), with the OpenAPI document generated in
memory at start-up.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from http import HTTPStatus
from typing import Any, TypeVar

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from geoportal.catalogue import config as pygeoapi_config
from geoportal.catalogue import guards
from geoportal.catalogue.coverage_grid import Grids
from geoportal.catalogue.coverage_routes import Coverages, wants_html
from geoportal.catalogue.jobs import Callbacks, parse_hosts
from geoportal.catalogue.runtime import LANGUAGE, RUNTIME, Runtime
from geoportal.core.i18n import Language, preferred_language
from geoportal.core.urls import public_base
from geoportal.errors import (
    RETRY_AFTER_S,
    GeoportalError,
    NotFound,
    ServiceUnavailable,
    error_response,
    outage_log,
)
from geoportal.registry import LayerRegistry
from geoportal.rules.rasters import RasterSampler
from geoportal.settings import Settings

log = logging.getLogger("geoportal")
T = TypeVar("T")
PREFIX = "/pygeoapi"
BUSY = ("pygeoapi a déjà autant de requêtes en cours qu'il peut en traiter ; réessayez.",
        "pygeoapi already has as many requests under way as it can take; try again.")
FAILED = ("Erreur interne ; elle a été consignée.", "Internal error; it has been logged.")


class Apis:
    """pygeoapi ``API`` objects by public base URL: one each, built once, off the event loop.

    The base comes from the settings' public URL, else from the address the server listens
    on (:func:`geoportal.core.urls.public_base`), never from the ``Host`` header, so there are
    as many as the server has listening addresses (one behind a proxy).
    """

    def __init__(self, settings: Settings, registry: LayerRegistry) -> None:
        from pygeoapi.l10n import get_locales
        from pygeoapi.openapi import get_oas

        self.settings = settings
        self.registry = registry
        self._by_base: dict[str, Any] = {}
        self._building = threading.Lock()
        self.built = 0  # how many API objects were made: one per base, ever
        first = pygeoapi_config.load_config(settings, registry)
        self.openapi = get_oas(first, fail_on_invalid_collection=False)
        self.locales = get_locales(first)

    def base(self, request: Request) -> str:
        """The public URL of the service (without ``/pygeoapi``) for this connection."""
        base = public_base(request.scope, self.settings.public_url)
        return base.removesuffix(PREFIX)

    def get(self, base: str) -> Any:
        """The API whose links start at ``base``; built the first time (call in a thread)."""
        api = self._by_base.get(base)
        if api is not None:
            return api
        from pygeoapi.api import API

        with self._building:
            api = self._by_base.get(base)
            if api is None:
                config = pygeoapi_config.load_config(self.settings, self.registry, base)
                openapi = copy.deepcopy(self.openapi)
                openapi["servers"] = [{"url": config["server"]["url"],
                                       "description": "pygeoapi in the geoportal"}]
                api = _contained(API, config, openapi)
                self._by_base[base] = api
                self.built += 1
        return api


def _contained(make: Callable[..., Any], config: dict[str, Any], openapi: Any) -> Any:
    """pygeoapi's API, without its ``logging.basicConfig`` taking over the root logger."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        return make(config, openapi)
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers
        logging.getLogger("pygeoapi").setLevel(config["logging"].get("level", "ERROR"))


def _response(headers: dict[str, str], status: int, content: Any) -> Response:
    if headers.get("Content-Type") == "text/html":
        response: Response = HTMLResponse(content, status_code=status)
    elif isinstance(content, dict):
        response = JSONResponse(content, status_code=status)
    else:
        response = Response(content, status_code=status)
    response.headers.update(headers)
    if status == HTTPStatus.SERVICE_UNAVAILABLE:
        response.headers.setdefault("Retry-After", str(RETRY_AFTER_S))
    return response


def _refused(exc: GeoportalError, language: Language) -> Response:
    return error_response(exc.status_code, exc.code, exc.text(language), exc.retry_after)


def _in_thread(loop: asyncio.AbstractEventLoop, call: Callable[..., Any], *args: Any) -> Any:
    asyncio.set_event_loop(loop)  # some pygeoapi code asks for the loop, as in its own adapter
    return call(*args)


Guard = Callable[[Any, Any], None]


class Adapter:
    """Runs a pygeoapi API function for a Starlette request, with the service's runtime.

    pygeoapi runs on threads of its own (a bounded number, with a bounded queue: 503 past
    it), so a slow process never takes the threads /rules or the PDF note need. Guards check
    the request before pygeoapi sees it (400 with a French message and its English twin);
    an exception pygeoapi lets out is logged and answered without its text.
    """

    def __init__(self, apis: Apis, make_runtime: Callable[[], Runtime], workers: int,
                 max_waiting: int) -> None:
        self.apis = apis
        self.make_runtime = make_runtime
        self.executor = ThreadPoolExecutor(max_workers=workers,
                                           thread_name_prefix="pygeoapi")
        self.capacity = workers + max_waiting
        self.in_flight = 0

    async def __call__(self, request: Request, function: Callable[..., Any], *args: Any,
                       check_format: bool = True, guard: Guard | None = None) -> Response:
        """The function's answer as a response; it runs in one of pygeoapi's threads."""
        from pygeoapi.api import APIRequest

        language = preferred_language(request.headers.get("accept-language"))
        if self.in_flight >= self.capacity:
            return _refused(ServiceUnavailable(BUSY[0], en=BUSY[1]), language)
        base = self.apis.base(request)
        api_request = await APIRequest.from_starlette(request, self.apis.locales)
        runtime = self.make_runtime()
        RUNTIME.set(runtime)
        LANGUAGE.set(language)
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        work = partial(self._answer, base, function, api_request, args, check_format, guard)
        self.in_flight += 1
        try:
            answer: Response = await loop.run_in_executor(
                self.executor, partial(context.run, _in_thread, loop, work))
        except GeoportalError as exc:
            return _refused(exc, language)
        except Exception as exc:  # pygeoapi's own failure: logged, not told
            log.error("pygeoapi failed on %s %s", request.method, request.url.path,
                      exc_info=exc)
            if runtime.outages:
                return _outage(request, runtime.outages[0], language)
            return _refused(GeoportalError(FAILED[0], en=FAILED[1]), language)
        finally:
            self.in_flight -= 1
        if runtime.outages:  # pygeoapi would answer 500 or 400: a 503 with Retry-After
            return _outage(request, runtime.outages[0], language)
        return answer

    async def offload(self, call: Callable[[], T]) -> T:
        """Run a blocking call on pygeoapi's threads; 503 when they are all taken."""
        if self.in_flight >= self.capacity:
            raise ServiceUnavailable(BUSY[0], en=BUSY[1])
        self.in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, call)
        finally:
            self.in_flight -= 1

    def _answer(self, base: str, function: Callable[..., Any], api_request: Any,
                args: tuple[Any, ...], check_format: bool, guard: Guard | None) -> Response:
        from pygeoapi.api import apply_gzip

        api = self.apis.get(base)
        if check_format and not api_request.is_valid():
            return _response(*api.get_format_exception(api_request))
        if guard is not None:
            guard(api, api_request, *args)
        headers, status, content = function(api, api_request, *args)
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            log.error("pygeoapi answered %d on %s", status, api_request.path_info)
        return _response(headers, status, apply_gzip(headers, content))


def _outage(request: Request, exc: BaseException, language: Language) -> Response:
    outage_log.warning("database", "database unreachable on %s %s: %s", request.method,
                       request.url.path, type(exc).__name__)
    return _refused(ServiceUnavailable(
        "La base de données n'a pas pu répondre ; réessayez dans un instant.",
        en="The database could not answer; try again shortly."), language)


Handler = Callable[[Request, str], Awaitable[Response]]


def _ours(adapter: Adapter, coverages: Coverages, handler: Handler,
          theirs: Callable[[Request], Awaitable[Response]],
          html_to_pygeoapi: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint answered by ``handler`` for a raster coverage, else by pygeoapi."""

    async def endpoint(request: Request) -> Response:
        cid = request.path_params["cid"]
        if not coverages.serves(cid) or (html_to_pygeoapi and wants_html(request)):
            return await theirs(request)
        try:
            return await handler(request, adapter.apis.base(request))
        except GeoportalError as exc:
            return _refused(exc, preferred_language(request.headers.get("accept-language")))

    return endpoint


def _not_found(request: Request) -> Awaitable[Response]:
    async def answer() -> Response:
        language = preferred_language(request.headers.get("accept-language"))
        return _refused(NotFound("Ressource introuvable.", en="Not found."), language)
    return answer()


def _routes(adapter: Adapter, callbacks: Callbacks, ours: Coverages) -> list[Route]:
    import pygeoapi.api as core
    import pygeoapi.api.coverages as coverages
    import pygeoapi.api.itemtypes as itemtypes
    import pygeoapi.api.processes as processes

    def endpoint(function: Callable[..., Any], *names: str, check_format: bool = True,
                 guard: Any = None) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            args = [request.path_params[n] for n in names]
            return await adapter(request, function, *args, check_format=check_format,
                                 guard=guard)
        return answer

    def route(path: str, function: Callable[..., Any], *names: str, methods: list[str] | None
              = None, check_format: bool = True, guard: Any = None) -> Route:
        return Route(path, endpoint(function, *names, check_format=check_format, guard=guard),
                     methods=methods or ["GET"])

    def own(handler: Handler, theirs: Callable[[Request], Awaitable[Response]],
            html_to_pygeoapi: bool = False) -> Callable[[Request], Awaitable[Response]]:
        return _ours(adapter, ours, handler, theirs, html_to_pygeoapi)

    return [
        route("/", core.landing_page),
        route("/openapi", core.openapi_),
        route("/conformance", core.conformance),
        route("/collections", core.describe_collections),
        Route("/collections/{cid}", own(ours.collection, endpoint(
            core.describe_collections, "cid"), html_to_pygeoapi=True)),
        Route("/collections/{cid}/schema", own(ours.schema, endpoint(
            core.get_collection_schema, "cid"))),
        route("/collections/{cid}/queryables", itemtypes.get_collection_queryables, "cid"),
        route("/collections/{cid}/items", itemtypes.get_collection_items, "cid",
              check_format=False, guard=guards.items),
        route("/collections/{cid}/items/{iid}", itemtypes.get_collection_item, "cid", "iid",
              guard=guards.item),
        Route("/collections/{cid}/coverage", own(ours.coverage, endpoint(
            coverages.get_collection_coverage, "cid", check_format=False))),
        Route("/collections/{cid}/coverage/domainset", own(ours.domainset, _not_found)),
        Route("/collections/{cid}/coverage/rangetype", own(ours.rangetype, _not_found)),
        route("/processes", processes.describe_processes),
        route("/processes/{pid}", processes.describe_processes, "pid"),
        route("/processes/{pid}/execution", processes.execute_process, "pid",
              methods=["POST"], guard=guards.execution(callbacks)),
        route("/jobs", processes.get_jobs, guard=guards.jobs),
        route("/jobs/{jid}", processes.get_jobs, "jid", guard=guards.jobs),
        route("/jobs/{jid}/results", processes.get_job_result, "jid"),
    ]


def pygeoapi_app(settings: Settings, state: Any, registry: LayerRegistry) -> Starlette:
    """pygeoapi's Records, Processes and Coverages as a Starlette app of its own."""
    apis = Apis(settings, registry)
    rasters: RasterSampler = state.services.get(RasterSampler)  # the app's one sampler
    callbacks = Callbacks(parse_hosts(settings.process_callback_hosts),
                          settings.process_callback_timeout_s)

    def make_runtime() -> Runtime:
        return Runtime(asyncio.get_running_loop(), state, registry, rasters, callbacks)

    static = StaticFiles(directory=pygeoapi_config.STATIC, packages=[("pygeoapi", "static")])
    adapter = Adapter(apis, make_runtime, settings.pygeoapi_workers,
                      settings.pygeoapi_max_waiting)
    ours = Coverages(Grids(settings.raster_dir), adapter.offload, registry)
    app = Starlette(routes=[Mount("/static", static), *_routes(adapter, callbacks, ours)])
    app.state.pygeoapi_apis = apis
    app.state.pygeoapi_callbacks = callbacks
    app.router.redirect_slashes = False
    return app


def mount_pygeoapi(app: FastAPI, settings: Settings) -> None:
    """Mount pygeoapi under ``/pygeoapi``; the service still starts if its config is broken."""
    try:
        child = pygeoapi_app(settings, app.state, app.state.registry)
    except Exception as exc:  # a missing file, a bad variable, no database URL yet
        log.error("pygeoapi not mounted: %s: %s", type(exc).__name__, exc)
        return

    async def landing_redirect(request: Request) -> RedirectResponse:
        return RedirectResponse(f"{request.url.path}/", status_code=308)

    app.add_route(PREFIX, landing_redirect, include_in_schema=False)
    app.mount(PREFIX, child, name="pygeoapi")
