"""SQL quoting, once: identifiers and literals for names that come from the layer registry.

Values from requests are never quoted into SQL: they are bound parameters (``$n``).
"""

from __future__ import annotations


def ident(name: str) -> str:
    """A quoted SQL identifier (names come from the registry, validated by pattern)."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal for a registry name (never for request input)."""
    return "'" + text.replace("'", "''") + "'"
