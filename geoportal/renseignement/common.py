"""What every route of the room reads from the request: the room, pools, base URL, form."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import Request
from starlette.datastructures import FormData

from geoportal.core.i18n import Language, preferred_language
from geoportal.core.services import services_of
from geoportal.core.urls import public_base
from geoportal.deps import get_pool, get_settings, get_write_pool
from geoportal.errors import InvalidParameter
from geoportal.renseignement.service import Room

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
MAX_FORM_FILES = 16
MAX_FORM_FIELDS = 64
MAX_FIELD_BYTES = 64_000


def room_of(request: Request) -> Room:
    """The room's long-lived objects."""
    return services_of(request).get(Room)


def pools(request: Request) -> tuple[asyncpg.Pool, asyncpg.Pool]:
    """The read pool (public layers, rules) and the writer's pool (this room's tables)."""
    return get_pool(request), get_write_pool(request)


def base_url(request: Request) -> str:
    """The public base URL (settings, else the server's own address; never the Host)."""
    return public_base(request.scope, get_settings(request).public_url)


def language(request: Request) -> Language:
    """The language of messages to this client."""
    return preferred_language(request.headers.get("accept-language"))


def is_form(request: Request) -> bool:
    """Whether the body is a form (multipart or URL-encoded)."""
    return request.headers.get("content-type", "").startswith(FORM_TYPES)


def is_json(request: Request) -> bool:
    """Whether the body is JSON."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    return content_type == "application/json" or content_type.endswith("+json")


async def form_of(request: Request) -> FormData:
    """The request's form, parsed within bounds (files, fields, field size)."""
    return await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS,
                              max_part_size=MAX_FIELD_BYTES)


def unsupported_body() -> InvalidParameter:
    """The 400 of a body that is neither JSON nor a form."""
    return InvalidParameter(
        "Content-Type attendu : application/json ou multipart/form-data.",
        en="Expected Content-Type: application/json or multipart/form-data.")


def inline_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema with its ``$defs`` references replaced by their definitions (for an
    OpenAPI request body written by hand)."""
    definitions = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                return resolve(definitions[reference.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
