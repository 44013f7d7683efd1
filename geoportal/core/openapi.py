"""OpenAPI 3.0 paths generated from a room's own FastAPI routes, for the OGC API document.

A capability (tiles, styles) declares its routes once, with their parameters and summaries;
the same declarations describe them in ``/ogc/api`` (OpenAPI 3.0.3, which OGC clients and
validators read), through FastAPI's generator and a downgrade of its JSON Schema dialect
(``anyOf [X, null]`` → ``nullable``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi.openapi.utils import get_openapi
from starlette.routing import BaseRoute

OPENAPI_30 = "3.0.3"
NULL = {"type": "null"}


@dataclass(frozen=True)
class OpenApiPart:
    """Paths (relative to the OGC API's root), component schemas and tags of a capability."""

    paths: dict[str, Any] = field(default_factory=dict)
    schemas: dict[str, Any] = field(default_factory=dict)
    tags: tuple[dict[str, str], ...] = ()


def downgraded(node: Any) -> Any:
    """A JSON Schema of FastAPI's (2020-12 flavour) as an OpenAPI 3.0 schema object."""
    if isinstance(node, list):
        return [downgraded(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: downgraded(value) for key, value in node.items()}
    for key in ("anyOf", "oneOf"):
        options = result.get(key)
        if isinstance(options, list) and NULL in options:
            rest = [option for option in options if option != NULL]
            del result[key]
            if len(rest) == 1 and "$ref" in rest[0]:
                result["allOf"] = rest
            elif len(rest) == 1:
                result = {**rest[0], **result}
            else:
                result[key] = rest
            result["nullable"] = True
    if "const" in result:
        result["enum"] = [result.pop("const")]
    return result


def router_part(routes: Sequence[BaseRoute], tags: tuple[dict[str, str], ...] = ()
                ) -> OpenApiPart:
    """The OpenAPI 3.0 description of these routes (those in the schema), as a part."""
    document = get_openapi(title="part", version="0", openapi_version=OPENAPI_30,
                           routes=list(routes))
    schemas = document.get("components", {}).get("schemas", {})
    return OpenApiPart(downgraded(document.get("paths", {})), downgraded(schemas), tags)
