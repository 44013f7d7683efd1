"""JWT bearer tokens from an agency's identity provider, checked against its public keys.

The keys (JWKS) come from a file or inline JSON given by the operator, read once at start-up;
only when the operator configures ``GEOPORTAL_JWT_JWKS_URL`` are they fetched (and cached)
over the network. Tokens must carry ``exp``, ``iss``, ``aud`` and ``sub``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from geoportal.core.auth_keys import ROLES, Role

MAX_TOKEN_LENGTH = 16_384


class JwtRefused(Exception):
    """A token that is not acceptable; ``reason`` is for the log and never holds the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class JwtConfig:
    """The identity provider whose tokens are accepted (from the ``GEOPORTAL_JWT_*`` settings)."""

    issuer: str
    audience: str
    jwks: str | None = None  # a file path or inline JSON
    jwks_url: str | None = None  # only when the operator gives one
    role_claim: str = "role"
    layers_claim: str = "layers"
    algorithms: tuple[str, ...] = ("RS256", "PS256", "ES256", "EdDSA")
    leeway_s: float = 30.0


@dataclass(frozen=True, slots=True)
class JwtGrant:
    """What a verified token says: who, which role (None if no known one), which layers."""

    subject: str
    role: Role | None
    layers: tuple[str, ...] | None


def looks_like_jwt(token: str) -> bool:
    """Whether a bearer token has the compact JWS shape (three dot-separated parts)."""
    return token.count(".") == 2 and len(token) <= MAX_TOKEN_LENGTH


def _load_jwks(value: str) -> jwt.PyJWKSet:
    """The key set from inline JSON or a file; errors name the setting."""
    text = value
    if not value.lstrip().startswith("{"):
        path = Path(value)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"GEOPORTAL_JWT_JWKS: cannot read {path}: {exc.strerror}") from None
    try:
        return jwt.PyJWKSet.from_dict(json.loads(text))
    except (ValueError, jwt.PyJWKSetError, jwt.InvalidKeyError) as exc:
        raise ValueError(f"GEOPORTAL_JWT_JWKS: not a usable JWKS ({exc})") from None


def _claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by dotted path (``realm_access.roles``), None when absent."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _role(value: Any) -> Role | None:
    """The role a claim names: a string, or the first known role of a list."""
    candidates: Sequence[Any] = [value] if isinstance(value, str) else (
        value if isinstance(value, list) else [])
    for candidate in candidates:
        if candidate in ROLES:
            return candidate
    return None


def _layers(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return ()  # a malformed claim grants no layer rather than every layer


class JwtVerifier:
    """Verifies tokens of one issuer and audience with its JWKS."""

    def __init__(self, config: JwtConfig) -> None:
        self.issuer = config.issuer
        self.audience = config.audience
        self.algorithms = list(config.algorithms)
        self.leeway = config.leeway_s
        self.role_claim = config.role_claim
        self.layers_claim = config.layers_claim
        self._keys = _load_jwks(config.jwks) if config.jwks else None
        self._client = (jwt.PyJWKClient(config.jwks_url, cache_keys=True, timeout=5)
                        if config.jwks_url and self._keys is None else None)

    async def _signing_key(self, token: str) -> Any:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise JwtRefused("malformed token header") from None
        kid = header.get("kid")
        if self._client is not None:  # the operator's URL: urllib blocks, so off the loop
            try:
                return (await asyncio.to_thread(self._client.get_signing_key_from_jwt,
                                                token)).key
            except jwt.PyJWKClientError as exc:
                raise JwtRefused(f"signing key not found: {exc}") from None
        assert self._keys is not None
        if kid is None:
            if len(self._keys.keys) == 1:
                return self._keys.keys[0].key
            raise JwtRefused("token without kid and several keys configured")
        try:
            return self._keys[str(kid)].key
        except KeyError:
            raise JwtRefused("unknown kid") from None

    async def verify(self, token: str) -> JwtGrant:
        """The grant of a valid token; ``JwtRefused`` otherwise."""
        key = await self._signing_key(token)
        try:
            claims = jwt.decode(
                token, key, algorithms=self.algorithms, audience=self.audience,
                issuer=self.issuer, leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise JwtRefused("expired") from None
        except jwt.InvalidIssuerError:
            raise JwtRefused("wrong issuer") from None
        except jwt.InvalidAudienceError:
            raise JwtRefused("wrong audience") from None
        except jwt.InvalidTokenError as exc:
            raise JwtRefused(type(exc).__name__) from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise JwtRefused("empty subject")
        return JwtGrant(subject=subject, role=_role(_claim(claims, self.role_claim)),
                        layers=_layers(_claim(claims, self.layers_claim)))
