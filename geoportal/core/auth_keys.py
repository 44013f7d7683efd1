"""API keys: how they look, how they are hashed, and the ``api_keys`` table.

A key is ``gp_`` followed by 43 URL-safe characters (32 random bytes). Only its first eight
characters (the prefix, for lookup and display) and its argon2 hash are stored: the key
itself is shown once, when it is created, and never again.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import asyncpg
import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg.rows import dict_row

Role = Literal["editor", "instructeur", "signataire", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
KEY_SCHEME = "gp_"
PREFIX_LENGTH = 8
KEY_BYTES = 32
MAX_KEY_LENGTH = 128  # anything longer is not one of ours: refused before any work

# OWASP's argon2id minimum (19 MiB, t=2, p=1): a 256-bit random key needs a one-way hash, not
# a slow one, and each verification costs CPU an attacker can spend (~40 ms here, RFC 9106's
# 64 MiB profile ~270 ms). Parameters are written in each hash: old hashes keep verifying.
hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


class KeyCommandError(Exception):
    """A key command that cannot be carried out (unknown name, duplicate, bad role)."""


def new_key() -> str:
    """A fresh random key with the recognisable ``gp_`` scheme."""
    return KEY_SCHEME + secrets.token_urlsafe(KEY_BYTES)


def key_prefix(key: str) -> str:
    """The stored, displayable part of a key."""
    return key[:PREFIX_LENGTH]


def looks_like_key(token: str) -> bool:
    """Whether a bearer token has the shape of one of our API keys."""
    return token.startswith(KEY_SCHEME) and PREFIX_LENGTH < len(token) <= MAX_KEY_LENGTH


def hash_key(key: str) -> str:
    """The argon2id hash stored for a key (CPU-bound: tens of milliseconds)."""
    return hasher.hash(key)


def key_matches(stored_hash: str, key: str) -> bool:
    """Whether ``key`` is the one ``stored_hash`` was made from (CPU-bound)."""
    try:
        return hasher.verify(stored_hash, key)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One row of ``api_keys``, without its hash."""

    id: int
    name: str
    role: Role
    layers: tuple[str, ...] | None
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class StoredKey:
    """An active key as the service looks it up: what it grants and the hash to check."""

    id: int
    name: str
    role: Role
    layers: tuple[str, ...] | None
    prefix: str
    key_hash: str
    last_used_at: dt.datetime | None


def check_grant(role: str, layers: Sequence[str]) -> None:
    """Refuse a role the contract does not know, or layers on a role that has none."""
    if role not in ROLES:
        raise KeyCommandError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if layers and role != "editor":
        raise KeyCommandError(f"--layer applies to the editor role only, not {role}")


def create_key(url: str, name: str, role: str, layers: Sequence[str] = ()) -> tuple[str, ApiKey]:
    """Store a new key for ``name``; returns the key (to show once) and its row."""
    name = name.strip()
    if not name or len(name) > 100:
        raise KeyCommandError("a key name has 1 to 100 characters")
    check_grant(role, layers)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        for _ in range(5):  # a prefix collision (1 in 10^9) just draws another key
            key = new_key()
            try:
                with conn.transaction():
                    row = conn.execute(
                        "INSERT INTO api_keys (name, role, layers, key_prefix, key_hash) "
                        "VALUES (%s, %s, %s, %s, %s) RETURNING id, name, role, layers, "
                        "key_prefix, created_at, last_used_at, revoked_at",
                        (name, role, sorted(set(layers)) or None, key_prefix(key),
                         hash_key(key)),
                    ).fetchone()
            except psycopg.errors.UniqueViolation as exc:
                if exc.diag.constraint_name == "api_keys_active_name":
                    raise KeyCommandError(f"an active key is already named {name!r}: revoke it "
                                    "first or choose another name") from None
                continue
            assert row is not None
            return key, _api_key(row)
    raise KeyCommandError("could not draw a key with an unused prefix")  # pragma: no cover


def _api_key(row: dict[str, Any]) -> ApiKey:
    layers = row["layers"]
    return ApiKey(id=row["id"], name=row["name"], role=row["role"],
                  layers=tuple(layers) if layers is not None else None, prefix=row["key_prefix"],
                  created_at=row["created_at"], last_used_at=row["last_used_at"],
                  revoked_at=row["revoked_at"])


def list_keys(url: str, include_revoked: bool = False) -> list[ApiKey]:
    """Every key (active ones only unless asked), oldest first; never their hashes."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT id, name, role, layers, key_prefix, created_at, last_used_at, revoked_at "
            "FROM api_keys WHERE %s OR revoked_at IS NULL ORDER BY id", (include_revoked,),
        ).fetchall()
    return [_api_key(row) for row in rows]


def revoke_key(url: str, name_or_prefix: str) -> ApiKey:
    """Revoke the active key with that name or prefix (exactly one must match)."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT id FROM api_keys WHERE revoked_at IS NULL AND (name = %s OR key_prefix = %s)",
            (name_or_prefix, name_or_prefix),
        ).fetchall()
        if not rows:
            raise KeyCommandError(f"no active key named or prefixed {name_or_prefix!r}")
        if len(rows) > 1:
            raise KeyCommandError(f"{name_or_prefix!r} matches {len(rows)} keys: give a prefix")
        row = conn.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE id = %s RETURNING id, name, role, "
            "layers, key_prefix, created_at, last_used_at, revoked_at",
            (rows[0]["id"],),
        ).fetchone()
    assert row is not None
    return _api_key(row)


async def active_keys(pool: asyncpg.Pool, prefix: str) -> list[StoredKey]:
    """The active key with that prefix, if any (prefixes are unique, revoked ones too)."""
    rows = await pool.fetch(
        "SELECT id, name, role, layers, key_prefix, key_hash, last_used_at FROM api_keys "
        "WHERE key_prefix = $1 AND revoked_at IS NULL", prefix)
    return [StoredKey(id=r["id"], name=r["name"], role=r["role"],
                      layers=tuple(r["layers"]) if r["layers"] is not None else None,
                      prefix=r["key_prefix"], key_hash=r["key_hash"],
                      last_used_at=r["last_used_at"]) for r in rows]


async def mark_used(pool: asyncpg.Pool, key_id: int, resolution_s: float) -> None:
    """Record when a key was last used, to ``resolution_s`` (one write per key per period)."""
    await pool.execute(
        "UPDATE api_keys SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL "
        "OR last_used_at < now() - make_interval(secs => $2))", key_id, resolution_s)
