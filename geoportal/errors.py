"""The service's exceptions and their one mapping to HTTP status and OGC exception code.

What the client is told is the exception's message, in French by default or in English when
``Accept-Language`` prefers it; what is logged may be more. Database error text and Python
exception text are never sent to clients. Client mistakes are never logged with a traceback;
database outages are logged once in a while, not once per request.
"""

from __future__ import annotations

import logging
from typing import TypeVar

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from geoportal.core.i18n import Language, preferred_language
from geoportal.core.logs import RateLimitedLog

log = logging.getLogger("geoportal")
outage_log = RateLimitedLog(log, interval_s=10.0)
RETRY_AFTER_S = 5


T = TypeVar("T")


class DatabaseUnavailable(ConnectionError):
    """The database cannot be reached: a connection failed, or the pool is backing off after
    failures (db/pool.py). Only this and asyncpg's own errors mean "the database"."""


class BrokenInvariant(RuntimeError):
    """A state the code rules out happened (a bug): logged with its traceback, answered 500.
    Unlike ``assert``, the check is not removed by ``python -O``."""


def expected(value: T | None, what: str) -> T:
    """``value``, which the code guarantees is present; ``BrokenInvariant`` naming ``what``
    otherwise."""
    if value is None:
        raise BrokenInvariant(f"{what} is missing")
    return value


class GeoportalError(Exception):
    """Base of the service's errors: an HTTP status, an OGC exception code, a message.

    ``message`` is French (the default language); ``en`` its English twin, when written.
    """

    status_code = 500
    code = "ServerError"
    retry_after: int | None = None

    def __init__(self, message: str, en: str | None = None, *,
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.en = en or message
        if retry_after is not None:
            self.retry_after = retry_after

    def text(self, language: Language) -> str:
        """The message in the language asked for."""
        return self.en if language == "en" else self.message

    def headers(self) -> dict[str, str]:
        """Headers the response must carry besides Retry-After (e.g. WWW-Authenticate)."""
        return {}

    def details(self) -> dict[str, str]:
        """Members the error body carries besides code, description and status."""
        return {}


class InvalidParameter(GeoportalError):
    """A query parameter or body is malformed or out of range.

    ``field`` names what is wrong in a request body (``properties.code``, ``geometry``), so
    that a client can point at it; it is sent as the error body's ``field``.
    """

    status_code = 400
    code = "InvalidParameterValue"

    def __init__(self, message: str, en: str | None = None, *, field: str | None = None
                 ) -> None:
        super().__init__(message, en)
        self.field = field

    def details(self) -> dict[str, str]:
        """The field the error is about, when there is one."""
        return {"field": self.field} if self.field else {}


class InvalidBody(InvalidParameter):
    """A request body is well-formed JSON but says something impossible (e.g. bad geometry)."""

    status_code = 422


class UnsupportedMediaType(GeoportalError):
    """A request body in a media type the operation does not read."""

    status_code = 415
    code = "UnsupportedMediaType"


class MethodNotAllowed(GeoportalError):
    """The method exists on the path but not for this resource (e.g. a read-only layer)."""

    status_code = 405
    code = "MethodNotAllowed"

    def __init__(self, message: str, en: str | None = None, *,
                 allow: tuple[str, ...] = ("GET", "HEAD", "OPTIONS")) -> None:
        super().__init__(message, en)
        self.allow = allow

    def headers(self) -> dict[str, str]:
        """What the resource does accept (RFC 9110: a 405 carries ``Allow``)."""
        return {"Allow": ", ".join(self.allow)}


class Unauthorized(GeoportalError):
    """No credentials, or credentials that are not valid (RFC 6750 ``WWW-Authenticate``)."""

    status_code = 401
    code = "Unauthorized"

    def __init__(self, message: str, en: str | None = None, *,
                 invalid_token: bool = False) -> None:
        super().__init__(message, en)
        self.invalid_token = invalid_token

    def headers(self) -> dict[str, str]:
        """The Bearer challenge; ``error="invalid_token"`` when credentials were sent."""
        challenge = 'Bearer realm="geoportal"'
        return {"WWW-Authenticate": challenge + (', error="invalid_token"'
                                                 if self.invalid_token else "")}


class Forbidden(GeoportalError):
    """Valid credentials whose role or layers do not allow this."""

    status_code = 403
    code = "Forbidden"


class NotFound(GeoportalError):
    """The collection, feature or place does not exist."""

    status_code = 404
    code = "NotFound"


class OutsideArea(NotFound):
    """The location is outside the area the agency covers."""

    code = "OutsideArea"


class Conflict(GeoportalError):
    """The change cannot be made in the resource's current state (e.g. still referenced)."""

    status_code = 409
    code = "Conflict"


class PreconditionFailed(GeoportalError):
    """``If-Match`` names a version that is no longer the current one (optimistic lock)."""

    status_code = 412
    code = "PreconditionFailed"

    def __init__(self, message: str, en: str | None = None, *, etag: str | None = None) -> None:
        super().__init__(message, en)
        self.etag = etag

    def headers(self) -> dict[str, str]:
        """The current version, so the client can fetch it and merge."""
        return {"ETag": self.etag} if self.etag else {}


class PreconditionRequired(GeoportalError):
    """A change without ``If-Match``: it could overwrite someone else's (RFC 6585)."""

    status_code = 428
    code = "PreconditionRequired"


class RangeNotSatisfiable(GeoportalError):
    """No byte range asked for lies within the representation (RFC 9110 §15.5.17)."""

    status_code = 416
    code = "RangeNotSatisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(f"Aucune des plages d'octets demandées ne se trouve dans les {size} "
                         "octets de la ressource.",
                         en=f"None of the byte ranges asked for lies within the resource's "
                            f"{size} bytes.")
        self.size = size

    def headers(self) -> dict[str, str]:
        """The current length (``Content-Range: bytes */size``)."""
        return {"Content-Range": f"bytes */{self.size}"}


class NotAcceptable(GeoportalError):
    """No representation matches the requested format."""

    status_code = 406
    code = "NotAcceptable"


class PayloadTooLarge(GeoportalError):
    """The request body is over the configured limit."""

    status_code = 413
    code = "PayloadTooLarge"


class TooManyRequests(GeoportalError):
    """This client already has as many requests of this kind running as it may."""

    status_code = 429
    code = "TooManyRequests"
    retry_after = RETRY_AFTER_S


class ServiceUnavailable(GeoportalError):
    """The database does not answer, is not migrated, or the service is at capacity."""

    status_code = 503
    code = "ServiceUnavailable"
    retry_after = RETRY_AFTER_S


def error_body(status: int, code: str, message: str,
               details: dict[str, str] | None = None) -> dict[str, object]:
    """An OGC-style exception document (``details``: e.g. the ``field`` of a body error)."""
    return {"code": code, "description": message, "status": status, **(details or {})}


def error_response(status: int, code: str, message: str,
                   retry_after: int | None = None,
                   details: dict[str, str] | None = None) -> JSONResponse:
    """The one JSON error response of the service (also used by middleware)."""
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return JSONResponse(error_body(status, code, message, details), status_code=status,
                        headers=headers)


def _language(request: Request) -> Language:
    return preferred_language(request.headers.get("accept-language"))


async def _geoportal_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, GeoportalError):  # pragma: no cover - registered for this class
        return await _unexpected_error(request, exc)
    if exc.status_code >= 500:
        outage_log.warning(exc.code, "%s %s: %s", request.method, request.url.path, exc.en)
    response = error_response(exc.status_code, exc.code, exc.text(_language(request)),
                              exc.retry_after, exc.details())
    response.headers.update(exc.headers())
    return response


HTTP_MESSAGES: dict[int, tuple[str, str, str]] = {
    404: ("NotFound", "Ressource introuvable.", "Not found."),
    405: ("MethodNotAllowed", "Méthode non autorisée pour cette adresse.",
          "Method not allowed for this resource."),
    413: ("PayloadTooLarge", "Le corps de la requête est trop volumineux.",
          "The request body is too large."),
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover
        return await _unexpected_error(request, exc)
    code, french, english = HTTP_MESSAGES.get(
        exc.status_code, ("InvalidRequest", "Requête invalide.", "Invalid request."))
    response = error_response(exc.status_code, code,
                              english if _language(request) == "en" else french)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc if part not in ("query", "body", "path"))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover
        return await _unexpected_error(request, exc)
    english = _language(request) == "en"
    problems = "; ".join(
        f"{_location(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in exc.errors()
    )
    lead = "invalid request" if english else "requête invalide"
    status = 422 if request.method in ("POST", "PUT", "PATCH") else 400
    return error_response(status, "InvalidParameterValue", f"{lead}: {problems}" if problems
                          else lead)


def is_connection_failure(exc: BaseException) -> bool:
    """Whether the exception means the database went away (not a bad query).

    Any other ``OSError`` (a client gone, a file unreadable, a remote key server down) is
    not the database's: it is logged as an unexpected error. ``TimeoutError`` stays here:
    on the request path it comes from asyncpg (command timeout, pool acquire).
    """
    return isinstance(exc, asyncpg.InterfaceError | asyncpg.InternalClientError
                      | asyncpg.PostgresConnectionError | asyncpg.CannotConnectNowError
                      | asyncpg.AdminShutdownError | DatabaseUnavailable | TimeoutError)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    english = _language(request) == "en"
    if isinstance(exc, asyncpg.QueryCanceledError):
        outage_log.warning("timeout", "statement timeout on %s %s", request.method,
                           request.url.path)
        return error_response(
            503, "Timeout", "The query took too long; narrow the request." if english
            else "La requête a pris trop de temps ; restreignez-la.", RETRY_AFTER_S)
    if isinstance(exc, asyncpg.DataError):  # SQLSTATE 22: a value the request carried
        outage_log.warning("data", "data error on %s %s: %s", request.method,
                           request.url.path, type(exc).__name__)
        return error_response(
            400, "InvalidParameterValue", "A value of the request is not acceptable."
            if english else "Une valeur de la requête n'est pas acceptable.")
    if is_connection_failure(exc):
        outage_log.warning("database", "database unreachable on %s %s: %s: %s",
                           request.method, request.url.path, type(exc).__name__, exc)
    else:
        outage_log.exception("database", "database error on %s %s", request.method,
                             request.url.path, exc=exc)
    return error_response(
        503, "ServiceUnavailable", "The database could not answer; try again shortly."
        if english else "La base de données n'a pas pu répondre ; réessayez dans un instant.",
        RETRY_AFTER_S)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    if is_connection_failure(exc):
        return await _database_error(request, exc)
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    english = _language(request) == "en"
    return error_response(500, "ServerError", "Internal error; it has been logged."
                          if english else "Erreur interne ; elle a été consignée.")


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception class to its HTTP response, in one place."""
    app.add_exception_handler(GeoportalError, _geoportal_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(asyncpg.PostgresError, _database_error)
    app.add_exception_handler(asyncpg.InterfaceError, _database_error)
    app.add_exception_handler(asyncpg.InternalClientError, _database_error)
    app.add_exception_handler(DatabaseUnavailable, _database_error)
    app.add_exception_handler(TimeoutError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
