"""The one error of the importer: the file cannot be loaded as it is, and why."""

from __future__ import annotations

import psycopg

from geoportal.errors import GeoportalError
from geoportal.registry import Layer


class IngestError(GeoportalError):
    """The import is refused; the message says what is wrong and what to do."""

    status_code = 422
    code = "ImportRefused"


# What a broken rule of the table means for the file, in French and in English.
BROKEN_RULES: dict[type[psycopg.errors.IntegrityError], tuple[str, str]] = {
    psycopg.errors.UniqueViolation: ("le fichier répète une valeur qui doit être unique",
                                     "the file repeats a value that must be unique"),
    psycopg.errors.ForeignKeyViolation: ("le fichier renvoie à des entités qui n'existent pas",
                                         "the file references rows that do not exist"),
    psycopg.errors.NotNullViolation: ("le fichier laisse vide une valeur obligatoire",
                                      "the file leaves a required value empty"),
}
BROKEN_RULE = ("le fichier enfreint une règle de la table", "the file breaks a rule of the table")


def broken_rule(layer: Layer, exc: psycopg.errors.IntegrityError) -> IngestError:
    """The refusal for a file that breaks a rule of the table, in the agency's terms."""
    french, english = BROKEN_RULES.get(type(exc), BROKEN_RULE)
    constraint = exc.diag.constraint_name or exc.diag.column_name or ""
    detail = f"({constraint}) {exc.diag.message_detail or ''}".strip()
    return IngestError(f"{layer.id} : {french} {detail} ; rien n'a changé",
                       en=f"{layer.id}: {english} {detail}; nothing changed")
