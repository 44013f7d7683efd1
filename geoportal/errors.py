"""The service's exceptions and their one mapping to HTTP status and OGC exception code.

What the client is told is the exception's message; what is logged may be more. Database
error text is never sent to clients.
"""

from __future__ import annotations

import logging

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("geoportal")


class GeoportalError(Exception):
    """Base of the service's errors: an HTTP status and an OGC exception code."""

    status_code = 500
    code = "ServerError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameter(GeoportalError):
    """A query parameter or body is malformed or out of range."""

    status_code = 400
    code = "InvalidParameterValue"


class InvalidBody(InvalidParameter):
    """A request body is well-formed JSON but says something impossible (e.g. bad geometry)."""

    status_code = 422


class NotFound(GeoportalError):
    """The collection, feature or place does not exist."""

    status_code = 404
    code = "NotFound"


class OutsideArea(NotFound):
    """The location is outside the area the agency covers."""

    code = "OutsideArea"


class NotAcceptable(GeoportalError):
    """No representation matches the requested format."""

    status_code = 406
    code = "NotAcceptable"


class PayloadTooLarge(GeoportalError):
    """The request body is over the configured limit."""

    status_code = 413
    code = "PayloadTooLarge"


class ServiceUnavailable(GeoportalError):
    """The database does not answer or is not migrated."""

    status_code = 503
    code = "ServiceUnavailable"


def error_body(status: int, code: str, message: str) -> dict[str, object]:
    """An OGC-style exception document."""
    return {"code": code, "description": message, "status": status}


def _error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(status, code, message), status_code=status)


async def _geoportal_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GeoportalError)
    if exc.status_code >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc.message)
    return _error_response(exc.status_code, exc.code, exc.message)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}.get(
        exc.status_code, "InvalidRequest"
    )
    return _error_response(exc.status_code, code, str(exc.detail))


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc if part not in ("query", "body", "path"))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{_location(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in exc.errors()
    )
    status = 422 if request.method == "POST" else 400
    return _error_response(status, "InvalidParameterValue", problems or "invalid request")


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("database error on %s %s", request.method, request.url.path, exc_info=exc)
    if isinstance(exc, asyncpg.QueryCanceledError):
        return _error_response(503, "Timeout", "The query took too long; narrow the request.")
    return _error_response(503, "ServiceUnavailable", "The database could not answer.")


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_response(500, "ServerError", "Internal error; it has been logged.")


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception class to its HTTP response, in one place."""
    app.add_exception_handler(GeoportalError, _geoportal_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(asyncpg.PostgresError, _database_error)
    app.add_exception_handler(OSError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
