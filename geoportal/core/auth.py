"""Who is calling: API keys (argon2 hashes in ``api_keys``) or JWTs, roles, FastAPI guards.

Reading stays public; a handler that writes declares what it needs::

    @router.post("/collections/{collection_id}/items")
    async def create(identity: Annotated[Identity, Depends(
            require_role("editor", layer=layer_from_path("collection_id")))]) -> ...

No or bad credentials are a 401 with a Bearer challenge, the wrong role or layer a 403, and
a client that keeps failing is refused (429 + Retry-After) until its window passes. A key
verified once is trusted for ``auth_cache_s`` (keyed by a keyed BLAKE2 digest of the key,
never the key), so argon2 runs once per key per period and worker, not once per request;
a revoked key is refused within that time. Logs name a key by its prefix at most.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Literal

import asyncpg
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from geoportal.core.admission import client_of
from geoportal.core.auth_jwt import JwtConfig, JwtRefused, JwtVerifier, looks_like_jwt
from geoportal.core.auth_keys import (
    ROLES,
    Role,
    StoredKey,
    active_keys,
    key_matches,
    key_prefix,
    looks_like_key,
    mark_used,
)
from geoportal.core.logs import RateLimitedLog
from geoportal.core.services import services_of
from geoportal.errors import (
    Forbidden,
    GeoportalError,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)

__all__ = ["CSRF_FIELD", "ROLES", "SESSION_COOKIE", "AuthConfig", "Authenticator", "Identity",
           "IdentityDep", "JwtConfig", "Role", "csrf_token", "current_identity",
           "layer_from_path", "optional_identity", "require_role"]

log = logging.getLogger("geoportal.auth")
LAST_USED_RESOLUTION_S = 3600.0  # last_used_at is written at most once an hour per key
MAX_CACHED_KEYS = 10_000
MAX_TRACKED_CLIENTS = 50_000


@dataclass(frozen=True, slots=True)
class Identity:
    """A caller whose credentials were verified: who, with which role, on which layers."""

    subject: str  # the key's name, or the token's ``sub``
    role: Role
    layers: tuple[str, ...] | None  # None: every layer (editors); other roles have none
    method: Literal["api_key", "jwt"]
    key_prefix: str | None = None

    @property
    def actor(self) -> str:
        """How to record this caller in an audit trail (``key:NAME`` or ``jwt:SUB``)."""
        return f"{'key' if self.method == 'api_key' else 'jwt'}:{self.subject}"

    def may_edit(self, layer: str) -> bool:
        """Whether this identity may change ``layer`` (admins may change every layer)."""
        if self.role == "admin":
            return True
        return self.role == "editor" and (self.layers is None or layer in self.layers)


class FailureLimiter:
    """Counts failed authentications per client in a sliding window (per worker)."""

    def __init__(self, max_failures: int, window_s: float) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None when it may now."""
        failures = self._failures.get(client)
        if failures is None or len(failures) < self.max_failures:
            return None
        wait = self.window_s - (time.monotonic() - failures[0])
        return math.ceil(wait) if wait > 0 else None

    def record(self, client: str) -> None:
        """One more failure for ``client``."""
        failures = self._failures.get(client)
        if failures is None:
            if len(self._failures) >= MAX_TRACKED_CLIENTS:
                self._forget_quiet_clients()
            failures = self._failures[client] = deque(maxlen=self.max_failures)
        failures.append(time.monotonic())

    def _forget_quiet_clients(self) -> None:
        horizon = time.monotonic() - self.window_s
        for client in [c for c, f in self._failures.items() if f[-1] < horizon]:
            del self._failures[client]
        while len(self._failures) >= MAX_TRACKED_CLIENTS:  # all recent: drop the oldest
            del self._failures[next(iter(self._failures))]


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """How credentials are checked (from the ``GEOPORTAL_AUTH_*`` and ``JWT_*`` settings)."""

    cache_s: float = 30.0
    hash_threads: int = 2
    max_failures: int = 10
    failure_window_s: float = 60.0
    jwt: JwtConfig | None = None


class Authenticator:
    """Verifies bearer credentials for one app (one per worker, built in ``create_app``)."""

    def __init__(self, config: AuthConfig) -> None:
        self.cache_s = config.cache_s
        self.limiter = FailureLimiter(config.max_failures, config.failure_window_s)
        self.jwt = JwtVerifier(config.jwt) if config.jwt is not None else None
        # argon2 is CPU-bound and holds 19 MiB while it runs: a few threads, off the loop.
        self._hashing = ThreadPoolExecutor(config.hash_threads,
                                           thread_name_prefix="geoportal-argon2")
        self.refusals = RateLimitedLog(log, interval_s=10.0)  # a flood of guesses: few lines
        self._digest_secret = secrets.token_bytes(32)
        self._verified: dict[bytes, tuple[float, Identity]] = {}
        self._pending: dict[bytes, asyncio.Future[Identity | None]] = {}

    async def authenticate(self, request: Request, token: str | None) -> Identity:
        """The identity behind the request's bearer ``token`` (None: none was sent)."""
        if not token:
            raise Unauthorized(
                "Authentification requise : envoyez « Authorization: Bearer <clé> ».",
                en="Authentication required: send 'Authorization: Bearer <key>'.")
        client = client_of(request)
        wait = self.limiter.retry_after(client)
        if wait is not None:
            self.refusals.warning("auth-blocked", "authentication refused (429) for %s", client)
            raise TooManyRequests(
                f"Trop d'échecs d'authentification : réessayez dans {wait} s.",
                en=f"Too many failed authentications: try again in {wait} s.", retry_after=wait)
        token = token.strip()
        if looks_like_key(token):
            identity = await self._verified_key(token, request)
            reason = f"API key {key_prefix(token)} unknown, revoked or wrong"
        elif self.jwt is not None and looks_like_jwt(token):
            identity, reason = await self._verified_jwt(token)
        else:
            identity, reason = None, "not an API key" + (" nor a JWT" if self.jwt else "")
        if identity is None:
            self.limiter.record(client)
            self.refusals.warning("auth-failure", "authentication refused for %s: %s",
                                client, reason)
            raise Unauthorized(
                "Identifiants refusés : clé ou jeton inconnu, révoqué ou expiré.",
                en="Credentials refused: unknown, revoked or expired key or token.",
                invalid_token=True)
        return identity

    async def _verified_jwt(self, token: str) -> tuple[Identity | None, str]:
        assert self.jwt is not None
        try:
            grant = await self.jwt.verify(token)
        except JwtRefused as exc:
            return None, f"JWT refused: {exc.reason}"
        if grant.role is None:
            raise Forbidden(
                f"Jeton valide, mais sans rôle reconnu (revendication « {self.jwt.role_claim} » "
                f": {', '.join(ROLES)}).",
                en=f"Valid token without a known role (claim '{self.jwt.role_claim}': "
                   f"{', '.join(ROLES)}).")
        layers = grant.layers if grant.role == "editor" else None
        return Identity(grant.subject, grant.role, layers, "jwt"), ""

    def _digest(self, key: str) -> bytes:
        return hashlib.blake2b(key.encode(), key=self._digest_secret, digest_size=32).digest()

    async def _verified_key(self, key: str, request: Request) -> Identity | None:
        """The key's identity, from the short-lived cache or the table and argon2.

        Concurrent requests with the same uncached key share one verification.
        """
        digest = self._digest(key)
        while True:
            cached = self._verified.get(digest)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
            pending = self._pending.get(digest)
            if pending is None:
                break
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not pending.cancelled() or (task is not None and task.cancelling()):
                    raise  # this request was cancelled, not the one it waited for
        future: asyncio.Future[Identity | None] = asyncio.get_running_loop().create_future()
        self._pending[digest] = future
        try:
            identity = await self._check_key(key, _pool(request), _bookkeeping_pool(request))
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        else:
            future.set_result(identity)
            if identity is not None and self.cache_s > 0:
                self._remember(digest, identity)
            return identity
        finally:
            if not future.done():  # this request was cancelled: its waiters start over
                future.cancel()
            del self._pending[digest]

    async def _check_key(self, key: str, pool: asyncpg.Pool,
                         bookkeeping: asyncpg.Pool) -> Identity | None:
        loop = asyncio.get_running_loop()
        for stored in await active_keys(pool, key_prefix(key)):
            if await loop.run_in_executor(self._hashing, key_matches, stored.key_hash, key):
                await self._note_use(bookkeeping, stored)
                return Identity(stored.name, stored.role, stored.layers, "api_key",
                                stored.prefix)
        return None

    def _remember(self, digest: bytes, identity: Identity) -> None:
        now = time.monotonic()
        if len(self._verified) >= MAX_CACHED_KEYS:
            for stale in [d for d, (until, _) in self._verified.items() if until <= now]:
                del self._verified[stale]
            while len(self._verified) >= MAX_CACHED_KEYS:
                del self._verified[next(iter(self._verified))]
        self._verified[digest] = (now + self.cache_s, identity)

    async def _note_use(self, pool: asyncpg.Pool, stored: StoredKey) -> None:
        """Update last_used_at when it is older than its resolution (rarely a write)."""
        last = stored.last_used_at
        if last is not None and (dt.datetime.now(dt.UTC) - last).total_seconds() \
                < LAST_USED_RESOLUTION_S:
            return
        try:
            await mark_used(pool, stored.id, LAST_USED_RESOLUTION_S)
        except (asyncpg.PostgresError, OSError) as exc:  # bookkeeping never refuses a caller
            self.refusals.warning("auth-last-used", "could not record use of key %s: %s",
                                  stored.prefix, type(exc).__name__)


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool | None = getattr(request.app.state, "pool", None)
    if pool is None:
        raise ServiceUnavailable(
            "La base de données n'est pas joignable : les clés ne peuvent être vérifiées.",
            en="The database is not reachable: keys cannot be verified.")
    return pool


def _bookkeeping_pool(request: Request) -> asyncpg.Pool:
    """Where a key's last use is written: the writer's pool (the reader may not write)."""
    pool: asyncpg.Pool | None = getattr(request.app.state, "write_pool", None)
    return pool if pool is not None else _pool(request)


# Declares the scheme in the OpenAPI document (Swagger's "Authorize"); errors are ours.
bearer_scheme = HTTPBearer(auto_error=False, description="An API key (gp_…) or a JWT.")


# Browser back-offices: the credential pasted at sign-in, in an HttpOnly SameSite=Strict
# cookie; every state-changing request carried by it must also carry the session's anti-CSRF
# token (a hidden form field or a header), checked here for every route at once.
SESSION_COOKIE = "geoportal_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(credential: str) -> str:
    """The anti-CSRF token of a browser session: derived from its credential, which it does
    not reveal; the same in every worker."""
    return hmac.new(credential.encode(), b"geoportal-csrf", hashlib.sha256).hexdigest()


async def _check_csrf(request: Request, credential: str) -> None:
    sent: object = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if sent is None and content_type.startswith(("multipart/form-data",
                                                 "application/x-www-form-urlencoded")):
        sent = (await request.form()).get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_token(credential)):
        raise Forbidden(
            "Jeton anti-falsification (CSRF) absent ou invalide : rechargez la page et "
            "recommencez.",
            en="Anti-forgery (CSRF) token missing or wrong: reload the page and try again.")


async def current_identity(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Identity:
    """The verified caller (401 without valid credentials); also on ``request.state``.

    The bearer credential, or else the browser session's cookie (with its CSRF check).
    """
    token = credentials.credentials if credentials is not None else None
    from_cookie = token is None and bool(request.cookies.get(SESSION_COOKIE))
    if from_cookie:
        token = request.cookies[SESSION_COOKIE]
    identity = await services_of(request).get(Authenticator).authenticate(request, token)
    if from_cookie and token is not None and request.method not in SAFE_METHODS:
        await _check_csrf(request, token)
    request.state.identity = identity
    return identity


IdentityDep = Annotated[Identity, Depends(current_identity)]


async def optional_identity(request: Request) -> Identity | None:
    """The verified caller when bearer credentials were sent and hold, else None; never 401.

    For answers that only differ by what the caller may do (``OPTIONS``'s ``Allow``): bad
    credentials still count as a failure of the client, and an unreachable database as none.
    """
    known: Identity | None = getattr(request.state, "identity", None)
    if known is not None:
        return known
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        identity = await services_of(request).get(Authenticator).authenticate(request, token)
    except (GeoportalError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        return None
    request.state.identity = identity
    return identity


LayerOf = Callable[[Request], str | None]


def layer_from_path(parameter: str) -> LayerOf:
    """The layer a route acts on, read from one of its path parameters."""

    def layer(request: Request) -> str | None:
        value = request.path_params.get(parameter)
        return str(value) if value is not None else None

    return layer


def require_role(*roles: Role, layer: str | LayerOf | None = None
                 ) -> Callable[..., Awaitable[Identity]]:
    """A dependency: a caller with one of ``roles`` (admins always), and for editors the
    ``layer`` (a name, or read from the request) among theirs; 401 or 403 otherwise."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"require_role: roles among {ROLES}, not {sorted(unknown)}")

    async def guard(request: Request, identity: IdentityDep) -> Identity:
        if identity.role != "admin" and identity.role not in roles:
            needed = ", ".join(roles)
            raise Forbidden(
                f"Le rôle « {identity.role} » ne permet pas cette action (rôle requis : "
                f"{needed}).", en=f"Role '{identity.role}' may not do this (required: {needed}).")
        target = layer(request) if callable(layer) else layer
        if target is not None and identity.role == "editor" and not identity.may_edit(target):
            raise Forbidden(f"Cette clé ne permet pas de modifier la couche « {target} ».",
                            en=f"These credentials may not change layer '{target}'.")
        return identity

    return guard
