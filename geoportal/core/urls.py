"""The public base URL of the service: from the settings, never from the client's Host."""

from __future__ import annotations

from starlette.types import Scope

DEFAULT_PORTS = {"http": 80, "https": 443}


def public_base(scope: Scope, public_url: str | None) -> str:
    """The base URL links start with, without a trailing slash.

    ``public_url`` (settings) wins; otherwise the address the server itself listens on
    (the ASGI ``server`` of the connection), which a client cannot choose: a forged
    ``Host`` header is never reflected into links. Mount prefixes (``root_path``) follow.
    """
    if public_url:
        return public_url.rstrip("/")
    scheme = str(scope.get("scheme", "http"))
    server = scope.get("server") or ("127.0.0.1", 80)
    host, port = str(server[0]), server[1]
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    authority = host if port in (None, DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    return f"{scheme}://{authority}{scope.get('root_path', '')}".rstrip("/")
