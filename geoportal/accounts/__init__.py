"""Accounts: who may write (``geoportal.core.auth``) configured from settings, and ``/auth``."""

from __future__ import annotations

from geoportal.accounts.routes import router
from geoportal.core.auth import AuthConfig, Authenticator, JwtConfig
from geoportal.settings import Settings

__all__ = ["authenticator", "router"]


def authenticator(settings: Settings) -> Authenticator:
    """The app's authenticator, from the ``GEOPORTAL_AUTH_*`` and ``GEOPORTAL_JWT_*`` settings."""
    jwt = None
    if settings.jwt_issuer is not None and settings.jwt_audience is not None:
        jwt = JwtConfig(issuer=settings.jwt_issuer, audience=settings.jwt_audience,
                        jwks=settings.jwt_jwks, jwks_url=settings.jwt_jwks_url,
                        role_claim=settings.jwt_role_claim,
                        layers_claim=settings.jwt_layers_claim,
                        algorithms=tuple(settings.jwt_algorithms), leeway_s=settings.jwt_leeway_s)
    return Authenticator(AuthConfig(cache_s=settings.auth_cache_s,
                                    hash_threads=settings.auth_hash_threads,
                                    max_failures=settings.auth_max_failures,
                                    failure_window_s=settings.auth_failure_window_s, jwt=jwt))
