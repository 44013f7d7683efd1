"""FastAPI dependencies: the settings, the layer registry and the pool, from app state."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from geoportal.errors import ServiceUnavailable
from geoportal.registry import LayerRegistry
from geoportal.settings import Settings


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_registry(request: Request) -> LayerRegistry:
    """The validated layer registry."""
    registry: LayerRegistry = request.app.state.registry
    return registry


def get_pool(request: Request) -> asyncpg.Pool:
    """The pool this request reads with: the replica (or primary) chosen for it by
    :class:`~geoportal.db.routing.ReadRouting` when replicas are configured, else the one
    pool (it exists while the database is down: its connections fail fast with a connection
    error, which is a 503); 503 before the lifespan has opened it."""
    pool: asyncpg.Pool | None = request.scope.get("state", {}).get("read_pool")
    if pool is not None:
        return pool
    pool = getattr(request.app.state, "pool", None)
    if pool is None:
        raise ServiceUnavailable("La base de données n'est pas encore ouverte.",
                                 en="The database is not open yet.")
    return pool


def get_write_pool(request: Request) -> asyncpg.Pool:
    """The pool of edits (the writer's role, durable commits); 503 before the lifespan."""
    pool: asyncpg.Pool | None = getattr(request.app.state, "write_pool", None)
    if pool is None:
        raise ServiceUnavailable("La base de données n'est pas encore ouverte.",
                                 en="The database is not open yet.")
    return pool


# FastAPI runs plain-function dependencies in its thread pool; these async twins do not hop.
async def _settings(request: Request) -> Settings:
    return get_settings(request)


async def _registry(request: Request) -> LayerRegistry:
    return get_registry(request)


async def _pool(request: Request) -> asyncpg.Pool:
    return get_pool(request)


SettingsDep = Annotated[Settings, Depends(_settings)]
RegistryDep = Annotated[LayerRegistry, Depends(_registry)]
PoolDep = Annotated[asyncpg.Pool, Depends(_pool)]
