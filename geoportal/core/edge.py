"""The edge of the service: what every request and response goes through, in one ASGI layer.

- Requests: NUL bytes in the path or query are refused (400) before any room sees them;
  a body is read whole, within a size limit (413, declared or streamed) and a time limit
  (408), before the application runs — a slow or oversized body never holds a handler.
- Responses: no software banners; ``nosniff`` everywhere; on HTML pages a Content Security
  Policy that allows only this service's own scripts, and frame and referrer policies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geoportal.core.i18n import preferred_language
from geoportal.errors import error_body

# Scripts only from the service itself (no inline script, no eval; WebAssembly compiled,
# for the vendored RTL text plugin that shapes Arabic labels); styles may be inline (MapLibre
# and Leaflet set element styles); images may be data:/blob: (map canvases, icons). The one
# exception: the configured external base map's origins, which the viewer fetches its style,
# tiles, sprites and glyphs from (connect-src and img-src only, never scripts).
_POLICY = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:{extra}; font-src 'self' data:; connect-src 'self'{extra}; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
    "form-action 'self'"
)
CONTENT_SECURITY_POLICY = _POLICY.format(extra="")


def content_security_policy(external_origins: Sequence[str] = ()) -> str:
    """The pages' policy, also allowing data from ``external_origins`` (``scheme://host``)."""
    return _POLICY.format(extra="".join(f" {origin}" for origin in external_origins))


def html_headers(policy: str = CONTENT_SECURITY_POLICY) -> tuple[tuple[bytes, bytes], ...]:
    """The headers of every HTML page."""
    return ((b"content-security-policy", policy.encode()),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"))


HTML_HEADERS = html_headers()
BANNERS = frozenset({b"server", b"x-powered-by"})


@dataclass(frozen=True)
class EdgeLimits:
    """The limits the edge enforces on request bodies."""

    max_body_bytes: int
    body_timeout_s: float


class BodyRefused(Exception):
    """A request body that is too large or too slow."""

    def __init__(self, status: int, code: str, french: str, english: str) -> None:
        super().__init__(english)
        self.status, self.code, self.french, self.english = status, code, french, english


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


async def _refuse(scope: Scope, send: Send, status: int, code: str, french: str,
                  english: str) -> None:
    language = preferred_language((_header(scope, b"accept-language") or b"").decode("latin-1"))
    body = orjson.dumps(error_body(status, code, english if language == "en" else french))
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"x-content-type-options", b"nosniff")]})
    await send({"type": "http.response.body", "body": body})


class Edge:
    """The outermost middleware of the app (see the module docstring)."""

    def __init__(self, app: ASGIApp, limits: EdgeLimits,
                 policy: str = CONTENT_SECURITY_POLICY) -> None:
        self.app = app
        self.limits = limits
        self.html_headers = html_headers(policy)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b"") or "\x00" in scope.get("path", "") \
                or b"%00" in scope.get("raw_path", b"") or b"\x00" in scope.get("query_string",
                                                                                b""):
            await _refuse(scope, send, 400, "InvalidParameterValue",
                          "La requête contient un octet nul (%00), refusé.",
                          "The request contains a NUL byte (%00), refused.")
            return
        try:
            receive = await self._buffered(scope, receive)
        except BodyRefused as refused:
            await _refuse(scope, send, refused.status, refused.code, refused.french,
                          refused.english)
            return
        await self.app(scope, receive, _secured(send, self.html_headers))

    async def _buffered(self, scope: Scope, receive: Receive) -> Receive:
        """A receive that replays the whole body, read here within the limits."""
        declared = _header(scope, b"content-length")
        limit = self.limits.max_body_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        if declared in (None, b"0") and _header(scope, b"transfer-encoding") is None:
            return receive  # no body: nothing to wait for
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.limits.body_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return _replay([message], receive)
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        raise _too_large(limit)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise BodyRefused(408, "RequestTimeout",
                              "Le corps de la requête n'est pas arrivé à temps.",
                              "The request body did not arrive in time.") from None
        body = b"".join(chunks)
        return _replay([{"type": "http.request", "body": body, "more_body": False}], receive)


def _too_large(limit: int) -> BodyRefused:
    return BodyRefused(413, "PayloadTooLarge",
                       f"Le corps de la requête dépasse {limit} octets.",
                       f"The request body is over {limit} bytes.")


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()  # then wait for the client to go away, as usual

    return replay


def _secured(send: Send, page_headers: tuple[tuple[bytes, bytes], ...] = HTML_HEADERS) -> Send:
    async def secured_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in BANNERS]
            content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
            if not any(k.lower() == b"x-content-type-options" for k, _ in headers):
                headers.append((b"x-content-type-options", b"nosniff"))
            if content_type.startswith(b"text/html"):
                headers.extend(page_headers)
            message = {**message, "headers": headers}
        await send(message)

    return secured_send
