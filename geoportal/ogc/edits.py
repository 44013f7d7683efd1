"""Edits of a layer (OGC API Features Part 4), each in one transaction on the write pool.

Every edit: ``BEGIN``; the actor and source set for the history triggers
(``set_config(..., true)``: for this transaction only); for PUT, PATCH and DELETE the row
locked and its version compared with ``If-Match`` (so of two writers with the same ETag,
exactly one wins: the other finds the new version once the lock is released); the geometry
(valid, not empty, in the agency's area) and the references (e.g. a zone's ``code`` among
its plan's rules) checked; then the write, returning the new feature as GeoJSON. Any refusal
rolls the whole transaction back: nothing is half-written.

A feature that other rows reference (a plan with zones) is not deleted (409): the foreign
keys would cascade, deleting every zone silently.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from geoportal.core.requestid import application_name
from geoportal.db.catalog import ConstraintInfo, TableInfo
from geoportal.errors import (
    Conflict,
    GeoportalError,
    InvalidBody,
    NotFound,
    PreconditionFailed,
    expected,
)
from geoportal.ogc import edit_sql
from geoportal.ogc.caching import ANY, feature_etag
from geoportal.ogc.edit_body import Edit
from geoportal.ogc.query import Statement
from geoportal.registry import Layer

log = logging.getLogger("geoportal.edits")
Versions = frozenset[int] | str | None
"""What ``If-Match`` accepts: versions, ``ANY`` (``*``), or None when it was not sent."""
SOURCE = "api"
SHOWN_VALUES = 30


@dataclass(frozen=True)
class Written:
    """The feature as written: its id, new version and GeoJSON (CRS84) body."""

    fid: int
    version: int
    feature: bytes

    @property
    def etag(self) -> str:
        """The strong ETag of the new version."""
        return feature_etag(self.version)


@dataclass(frozen=True)
class EditContext:
    """What every edit of one request needs besides its content."""

    layer: Layer
    info: TableInfo
    actor: str
    name_of: Callable[[str], str]  # a table's name for messages (its layer's id)


@asynccontextmanager
async def _transaction(pool: asyncpg.Pool, context: EditContext
                       ) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as conn, conn.transaction():
        # The request id rides in the same statement (no extra round trip): the edit's
        # transaction shows as "geoportal rid=…" in pg_stat_activity and the server's log.
        await conn.execute("SELECT set_config('geoportal.actor', $1, true), "
                           "set_config('geoportal.source', $2, true), "
                           "set_config('application_name', $3, true)", context.actor, SOURCE,
                           application_name())
        with _refusals(context):
            yield conn


async def create(pool: asyncpg.Pool, context: EditContext, edit: Edit) -> Written:
    """POST: a new feature; its id comes from the table's sequence."""
    async with _transaction(pool, context) as conn:
        await _check(conn, context, edit, current={})
        return await _write(conn, edit_sql.insert_statement(context.layer, context.info, edit))


async def change(pool: asyncpg.Pool, context: EditContext, fid: int, edit: Edit,
                 versions: Versions, replace: bool) -> Written:
    """PUT (``replace``: every property) or PATCH (only those given) of one feature."""
    async with _transaction(pool, context) as conn:
        current = await _lock(conn, context, fid, versions, delete=False)
        # A patch keeps the references it does not name; a replacement names them all.
        await _check(conn, context, edit, {} if replace else current)
        return await _write(conn, edit_sql.update_statement(context.layer, context.info, fid,
                                                            edit, replace))


async def delete(pool: asyncpg.Pool, context: EditContext, fid: int, versions: Versions) -> None:
    """DELETE one feature, unless other rows still reference it (409)."""
    async with _transaction(pool, context) as conn:
        await _lock(conn, context, fid, versions, delete=True)
        await _refuse_if_referenced(conn, context, fid)
        await conn.execute(*_args(edit_sql.delete_statement(context.layer, fid)))


def _args(statement: Statement) -> tuple[Any, ...]:
    return (statement.text, *statement.values)


async def _write(conn: asyncpg.Connection, statement: Statement) -> Written:
    # The row is locked (update) or new (insert): RETURNING always gives it.
    row = expected(await conn.fetchrow(*_args(statement)), "the written row")
    return Written(int(row["id"]), int(row["version"]), bytes(row["feature"]))


def _reference_columns(context: EditContext) -> list[str]:
    """Columns of the layer's own references that are properties (read before a change)."""
    props = {p.column_name for p in context.layer.properties}
    return list(dict.fromkeys(c for fk in context.info.foreign_keys for c in fk.columns
                              if c in props))


async def _lock(conn: asyncpg.Connection, context: EditContext, fid: int, versions: Versions,
                delete: bool) -> dict[str, Any]:
    """The feature's row locked, its reference columns' values; 404 or 412 (``If-Match``)."""
    layer = context.layer
    row = await conn.fetchrow(*_args(edit_sql.lock_statement(
        layer, fid, _reference_columns(context), delete)))
    if row is None:
        raise NotFound(f"aucune entité {fid} dans la collection « {layer.id} »",
                       en=f"no feature {fid} in collection '{layer.id}'")
    version = int(row["version"])
    if versions is not None and versions != ANY and version not in versions:
        raise PreconditionFailed(
            f"L'entité {fid} a changé depuis votre lecture (version courante : v{version}) : "
            "relisez-la, reportez vos changements et renvoyez-les avec son nouvel ETag dans "
            "If-Match.",
            en=f"Feature {fid} changed since you read it (current version: v{version}): read "
               "it again, reapply your changes and send them with its new ETag in If-Match.",
            etag=feature_etag(version))
    return {key: value for key, value in row.items() if key != "version"}


async def _check(conn: asyncpg.Connection, context: EditContext, edit: Edit,
                 current: dict[str, Any]) -> None:
    """The new geometry and references, checked by PostGIS in the edit's transaction."""
    layer = context.layer
    references = _references(context, edit, current)
    geometry = edit.geometry if edit.geometry_given else None
    if geometry is None and not references:
        return
    statement = edit_sql.check_statement(layer, geometry, [(fk, v) for fk, v in references])
    try:
        row = await conn.fetchrow(*_args(statement))
    except (asyncpg.DataError, asyncpg.InternalServerError) as exc:  # PROJ, GEOS refusals
        log.info("edit of %s: geometry refused by PostGIS: %s", layer.id, type(exc).__name__)
        raise InvalidBody(
            "geometry : ne peut pas être lue ni exprimée en EPSG:26191 ; vérifiez le CRS "
            "(en-tête Content-Crs) et les coordonnées",
            en="geometry: cannot be read or expressed in EPSG:26191; check the CRS "
               "(Content-Crs header) and the coordinates", field="geometry") from None
    row = expected(row, "the checks' row")
    if geometry is not None:
        _geometry_verdict(row)
    for index, (constraint, values) in enumerate(references):
        if not row[f"ref_{index}"]:
            raise await _missing_reference(conn, context, constraint, values)


def _geometry_verdict(row: asyncpg.Record) -> None:
    if row["empty"]:
        raise InvalidBody("geometry : la géométrie est vide", en="geometry: the geometry is empty",
                          field="geometry")
    if not row["valid"]:
        reason = str(row["reason"])[:200]
        raise InvalidBody(
            f"geometry : géométrie non valide selon PostGIS ({reason}) ; corrigez-la (pas "
            "d'auto-intersection, anneaux bien orientés et fermés) et renvoyez-la",
            en=f"geometry: not a valid geometry according to PostGIS ({reason}); correct it "
               "(no self-intersection, closed rings) and send it again", field="geometry")
    if not row["inside"]:
        raise InvalidBody(
            "geometry : hors du territoire de l'Agence urbaine de Casablanca ; vérifiez le CRS "
            "(en-tête Content-Crs) et l'ordre des axes",
            en="geometry: outside the area of the Agence urbaine de Casablanca; check the CRS "
               "(Content-Crs header) and the axis order", field="geometry")


def _references(context: EditContext, edit: Edit, current: dict[str, Any]
                ) -> list[tuple[ConstraintInfo, list[tuple[Any, str]]]]:
    """The layer's references whose columns the edit sets, with the new values; single-column
    references first (a missing plan says more than a code missing from that plan)."""
    layer, info = context.layer, context.info
    by_column = {p.column_name: p for p in layer.properties}
    found = []
    for constraint in sorted(info.foreign_keys, key=lambda c: len(c.columns)):
        found_props = [by_column.get(c) for c in constraint.columns]
        props = [p for p in found_props if p is not None]
        if len(props) < len(found_props) or not any(p.name in edit.properties for p in props):
            continue
        values = []
        for prop in props:
            value = edit.properties.get(prop.name, current.get(prop.column_name))
            values.append((value, edit_sql.cast(layer, info, prop)))
        if all(value is not None for value, _ in values):  # NULLs are not references
            found.append((constraint, values))
    return found


async def _missing_reference(conn: asyncpg.Connection, context: EditContext,
                             constraint: ConstraintInfo, values: list[tuple[Any, str]]
                             ) -> InvalidBody:
    """A 422 naming the property whose value refers to nothing, with the valid choices when
    the reference is composite (a zone's code among its plan's)."""
    layer = context.layer
    by_column = {p.column_name: p for p in layer.properties}
    names = [by_column[c].name for c in constraint.columns]
    target = context.name_of(str(constraint.ref_table))
    field = f"properties.{names[-1]}"
    shown = values[-1][0]
    if len(names) == 1:
        return InvalidBody(f"{field} : {shown!r} n'existe pas dans « {target} »",
                           en=f"{field}: {shown!r} does not exist in '{target}'", field=field)
    known = [(ref, value, kind) for ref, (value, kind)
             in zip(constraint.ref_columns[:-1], values[:-1], strict=True)]
    statement = edit_sql.allowed_values_statement(constraint, constraint.ref_columns[-1], known)
    allowed = [r[0] for r in await conn.fetch(*_args(statement))]
    scope = ", ".join(f"{n} = {v!r}" for n, (v, _) in zip(names[:-1], values[:-1], strict=True))
    listed = ", ".join(allowed[:SHOWN_VALUES]) + (" …" if len(allowed) > SHOWN_VALUES else "")
    return InvalidBody(
        f"{field} : {shown!r} n'est pas défini dans « {target} » pour {scope} ; valeurs "
        f"admises : {listed or 'aucune'}",
        en=f"{field}: {shown!r} is not defined in '{target}' for {scope}; allowed values: "
           f"{listed or 'none'}", field=field)


async def _refuse_if_referenced(conn: asyncpg.Connection, context: EditContext, fid: int
                                ) -> None:
    statement = edit_sql.inbound_statement(context.layer, context.info, fid)
    if statement is None:
        return
    row = expected(await conn.fetchrow(*_args(statement)), "the counts' row")
    used = [(context.name_of(c.table), int(n)) for c, n
            in zip(context.info.inbound, row.values(), strict=True) if n]
    if used:
        listed = ", ".join(f"{title} ({n if n < 1000 else '1000+'})" for title, n in used)
        raise Conflict(
            f"L'entité {fid} est encore référencée par : {listed} ; supprimez ou rattachez "
            "d'abord ces entités.",
            en=f"Feature {fid} is still referenced by: {listed}; delete or reassign those "
               "first.")


@contextmanager
def _refusals(context: EditContext) -> Iterator[None]:
    """Constraint violations the checks could not foresee (a concurrent edit, a rule of the
    table) become 409/422 naming the field; never the database's text."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        refusal = _refusal(context, exc)
        if refusal is None:
            raise
        log.info("edit of %s refused by the database: %s (%s)", context.layer.id,
                 type(exc).__name__, getattr(exc, "constraint_name", None))
        raise refusal from None


def _refusal(context: EditContext, exc: asyncpg.PostgresError) -> GeoportalError | None:
    layer, info = context.layer, context.info
    constraint = info.constraint(getattr(exc, "constraint_name", None))
    fields = _fields(layer, info, constraint.columns if constraint else ())
    named = fields or "properties"
    if isinstance(exc, asyncpg.UniqueViolationError):
        if constraint is not None and constraint.kind == "p":
            return Conflict("Cet identifiant est déjà pris ; réessayez.",
                            en="This id is already taken; try again.")
        return Conflict(f"{named} : une autre entité de « {layer.id} » a déjà cette valeur "
                        "(elle doit être unique)",
                        en=f"{named}: another feature of '{layer.id}' already has this value "
                           "(it must be unique)")
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        if constraint is not None and constraint.table != layer.table:
            title = context.name_of(constraint.table)
            return Conflict(f"L'entité est encore référencée par « {title} ».",
                            en=f"The feature is still referenced by '{title}'.")
        return InvalidBody(f"{named} : la valeur ne désigne aucune entité existante",
                           en=f"{named}: the value refers to no existing feature",
                           field=fields.split(", ")[-1] or None)
    if isinstance(exc, asyncpg.NotNullViolationError):
        field = _fields(layer, info, (getattr(exc, "column_name", None) or "",))
        return InvalidBody(f"{field or 'properties'} : obligatoire",
                           en=f"{field or 'properties'}: required", field=field or None)
    if isinstance(exc, asyncpg.CheckViolationError):
        return InvalidBody(f"{named} : valeur refusée par une règle de la couche",
                           en=f"{named}: value refused by a rule of the layer",
                           field=fields.split(", ")[0] or None)
    if isinstance(exc, asyncpg.DataError):
        return InvalidBody("une valeur ne tient pas dans sa colonne (trop longue ou hors "
                           "limites)", en="a value does not fit its column (too long or out "
                           "of range)")
    if isinstance(exc, asyncpg.DeadlockDetectedError | asyncpg.SerializationError):
        return Conflict("Modification concurrente de la même entité : réessayez.",
                        en="A concurrent change of the same feature: try again.")
    return None


def _fields(layer: Layer, info: TableInfo, columns: tuple[str, ...]) -> str:
    """The request fields behind table columns (a generated column: the columns it reads)."""
    names: list[str] = []
    for column in columns:
        for source in info.generated_from.get(column, (column,)):
            if source == layer.geometry_column:
                names.append("geometry")
                continue
            prop = next((p for p in layer.properties if p.column_name == source), None)
            if prop is not None:
                names.append(f"properties.{prop.name}")
    return ", ".join(dict.fromkeys(names))
