"""What every request leaves behind: its request id, one access-log line, its metrics.

A pure ASGI layer (no ``BaseHTTPMiddleware``: no extra task, no body copy), outermost in
the app so that it also sees what the edge refuses. Per request it costs a header scan, a
clock read, a dictionary look-up for the route's metrics and one log record.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geoportal.core.requestid import accept_request_id, current_request_id

access_log = logging.getLogger("geoportal.access")
UNMATCHED = "unmatched"  # one label for every path no route knows: bounded cardinality


class RequestRecorder(Protocol):
    """Where a finished request is counted (the metrics, when they are on)."""

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request that ended with ``status`` after ``seconds``."""


def route_template(scope: Scope, root_path: str) -> str:
    """The matched route's path template (``/ogc/collections/{collection_id}/items``).

    FastAPI (0.16x) keeps the selected route with its include prefix in its own scope entry;
    Starlette's routers write the matched route into the scope, and a mounted application's
    router writes its own, relative to the mount, whose prefix is then in ``root_path``.
    """
    fastapi_scope = scope.get("fastapi")
    if isinstance(fastapi_scope, dict):
        selected = getattr(fastapi_scope.get("effective_route_context"), "path_format", None)
        if isinstance(selected, str) and selected:
            return selected
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    mounted = str(scope.get("root_path", ""))[len(root_path):]
    if isinstance(route, Mount):
        return f"{mounted}{path}/{{path}}"
    return f"{mounted}{path}"


class Observe:
    """Request id in and out, an access-log line and the request metrics (see module)."""

    def __init__(self, app: ASGIApp, recorder: RequestRecorder | None = None,
                 access: bool = True) -> None:
        self.app = app
        self.recorder = recorder
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        header = None
        for key, value in scope.get("headers", ()):
            if key == b"x-request-id":
                header = value
                break
        request_id = accept_request_id(header)
        token = current_request_id.set(request_id)
        root_path = str(scope.get("root_path", ""))
        status = 500  # what the client gets if the app fails before answering
        sent = 0
        request_id_header = (b"x-request-id", request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), request_id_header]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            try:
                self._finished(scope, root_path, status, sent, time.perf_counter() - started)
            finally:
                current_request_id.reset(token)

    def _finished(self, scope: Scope, root_path: str, status: int, sent: int,
                  elapsed: float) -> None:
        route = route_template(scope, root_path)
        method = scope["method"]
        if self.recorder is not None:
            self.recorder.record(method, route, status, elapsed)
        if self.access:
            client = scope.get("client")
            access_log.info(
                "%s %s %d %.1f ms", method, route, status, elapsed * 1000,
                extra={"http": {"method": method, "route": route, "path": scope.get("path", ""),
                                "status": status, "duration_ms": round(elapsed * 1000, 3),
                                "bytes": sent, "client": client[0] if client else None}})
