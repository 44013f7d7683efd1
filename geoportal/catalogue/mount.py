"""pygeoapi mounted in the service under ``/pygeoapi``: Records, Processes, Coverages.

pygeoapi's own Starlette module reads its configuration from the environment when imported
and keeps it in module globals; here the API objects are built from ``pygeoapi.api`` in
``create_app`` instead, one per public base URL (links must point where the client came
from), with the OpenAPI document generated in memory at start-up.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import logging
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from geoportal.catalogue import config as pygeoapi_config
from geoportal.catalogue.runtime import RUNTIME, Runtime
from geoportal.core.i18n import preferred_language
from geoportal.errors import ServiceUnavailable, error_response, outage_log
from geoportal.rules.rasters import RasterSampler
from geoportal.settings import Settings

log = logging.getLogger("geoportal")
PREFIX = "/pygeoapi"
KEEP_APIS = 8


class Apis:
    """pygeoapi ``API`` objects by base URL (a handful: behind a proxy, only one)."""

    def __init__(self, settings: Settings) -> None:
        from pygeoapi.openapi import get_oas

        self.settings = settings
        self._by_base: OrderedDict[str, Any] = OrderedDict()
        first = pygeoapi_config.load_config(settings)
        self.openapi = get_oas(first, fail_on_invalid_collection=False)
        self.default_base = str(first["server"]["url"])

    def for_request(self, request: Request) -> Any:
        """The API whose links start at the URL the client used (or the public URL)."""
        from pygeoapi.api import API

        base = self.settings.public_url or str(request.base_url)
        base = base.rstrip("/")
        api = self._by_base.get(base)
        if api is None:
            config = pygeoapi_config.load_config(self.settings, base)
            openapi = copy.deepcopy(self.openapi)
            openapi["servers"] = [{"url": config["server"]["url"],
                                   "description": "pygeoapi in the geoportal"}]
            api = _contained(API, config, openapi)
            self._by_base[base] = api
            while len(self._by_base) > KEEP_APIS:
                self._by_base.popitem(last=False)
        self._by_base.move_to_end(base)
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
    return response


def _in_thread(loop: asyncio.AbstractEventLoop, call: Callable[..., Any], *args: Any) -> Any:
    asyncio.set_event_loop(loop)  # some pygeoapi code asks for the loop, as in its own adapter
    return call(*args)


class Adapter:
    """Runs a pygeoapi API function for a Starlette request, with the service's runtime."""

    def __init__(self, apis: Apis, make_runtime: Callable[[], Runtime]) -> None:
        self.apis = apis
        self.make_runtime = make_runtime

    async def __call__(self, request: Request, function: Callable[..., Any], *args: Any,
                       check_format: bool = True) -> Response:
        """The function's answer as a response; it runs in a worker thread."""
        from pygeoapi.api import APIRequest, apply_gzip

        api = self.apis.for_request(request)
        api_request = await APIRequest.from_starlette(request, api.locales)
        if check_format and not api_request.is_valid():
            return _response(*api.get_format_exception(api_request))
        runtime = self.make_runtime()
        RUNTIME.set(runtime)
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        headers, status, content = await loop.run_in_executor(
            None, partial(context.run, _in_thread, loop, function, api, api_request, *args))
        if runtime.outages:  # pygeoapi would answer 500 or 400: a 503 with Retry-After
            return _outage(request, runtime.outages[0])
        return _response(headers, status, apply_gzip(headers, content))


def _outage(request: Request, exc: BaseException) -> Response:
    outage = ServiceUnavailable(
        "La base de données n'a pas pu répondre ; réessayez dans un instant.",
        en="The database could not answer; try again shortly.")
    outage_log.warning("database", "database unreachable on %s %s: %s", request.method,
                       request.url.path, type(exc).__name__)
    language = preferred_language(request.headers.get("accept-language"))
    return error_response(outage.status_code, outage.code, outage.text(language),
                          outage.retry_after)


def _routes(adapter: Adapter) -> list[Route]:
    import pygeoapi.api as core
    import pygeoapi.api.coverages as coverages
    import pygeoapi.api.itemtypes as itemtypes
    import pygeoapi.api.processes as processes

    def route(path: str, function: Callable[..., Any], *names: str, methods: list[str] | None
              = None, check_format: bool = True) -> Route:
        async def endpoint(request: Request) -> Response:
            args = [request.path_params[n] for n in names]
            return await adapter(request, function, *args, check_format=check_format)
        return Route(path, endpoint, methods=methods or ["GET"])

    return [
        route("/", core.landing_page),
        route("/openapi", core.openapi_),
        route("/conformance", core.conformance),
        route("/collections", core.describe_collections),
        route("/collections/{cid}", core.describe_collections, "cid"),
        route("/collections/{cid}/queryables", itemtypes.get_collection_queryables, "cid"),
        route("/collections/{cid}/items", itemtypes.get_collection_items, "cid",
              check_format=False),
        route("/collections/{cid}/items/{iid}", itemtypes.get_collection_item, "cid", "iid"),
        route("/collections/{cid}/coverage", coverages.get_collection_coverage, "cid",
              check_format=False),
        route("/processes", processes.describe_processes),
        route("/processes/{pid}", processes.describe_processes, "pid"),
        route("/processes/{pid}/execution", processes.execute_process, "pid",
              methods=["POST"]),
        route("/jobs", processes.get_jobs),
        route("/jobs/{jid}", processes.get_jobs, "jid"),
        route("/jobs/{jid}/results", processes.get_job_result, "jid"),
    ]


def pygeoapi_app(settings: Settings, state: Any, registry: Any) -> Starlette:
    """pygeoapi's Records, Processes and Coverages as a Starlette app of its own."""
    apis = Apis(settings)
    rasters = RasterSampler(settings.raster_dir)

    def make_runtime() -> Runtime:
        return Runtime(asyncio.get_running_loop(), state, registry, rasters)

    static = StaticFiles(directory=pygeoapi_config.STATIC, packages=[("pygeoapi", "static")])
    app = Starlette(routes=[Mount("/static", static),
                            *_routes(Adapter(apis, make_runtime))])
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
