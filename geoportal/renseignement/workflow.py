"""The one place that says which action may move a request from which status to which.

Pure: no I/O. ``transition`` answers the new status or refuses (409, in French) — every
route that changes a request asks it, under a row lock, before writing anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from geoportal.errors import Conflict
from geoportal.renseignement.labels import status_fr

STAFF_ROLES = ("instructeur", "signataire", "admin")


@dataclass(frozen=True)
class Transition:
    """An action: the statuses it may start from, the one it leads to, and who may do it."""

    action: str
    sources: frozenset[str]
    target: str | None  # None: the status does not change (an observation)
    roles: tuple[str, ...]  # "requester" for the requester's own action
    label_fr: str
    label_en: str


TRANSITIONS: dict[str, Transition] = {t.action: t for t in (
    Transition("taken", frozenset({"submitted"}), "under_review", ("instructeur",),
               "prendre la demande en charge", "take the request for review"),
    Transition("piece_requested", frozenset({"under_review"}), "waiting_requester",
               ("instructeur",), "demander une pièce au demandeur",
               "ask the requester for a piece"),
    Transition("piece_received", frozenset({"waiting_requester"}), "under_review",
               ("requester",), "déposer une pièce demandée", "upload a requested piece"),
    Transition("observation", frozenset({"under_review", "waiting_requester"}), None,
               ("instructeur",), "ajouter une observation", "add an observation"),
    Transition("refused", frozenset({"submitted", "under_review", "waiting_requester"}),
               "refused", ("instructeur",), "refuser la demande", "refuse the request"),
    Transition("approved", frozenset({"under_review"}), "ready_to_sign", ("instructeur",),
               "approuver pour signature", "approve for signature"),
    # The signature itself is done by geoportal.renseignement's signing routes.
    Transition("signed", frozenset({"ready_to_sign"}), "issued", ("signataire",),
               "signer la note", "sign the note"),
)}


def transition(action: str, status: str) -> str:
    """The status ``action`` leads to from ``status``; 409 when it may not be done now."""
    step = TRANSITIONS[action]
    if status not in step.sources:
        raise Conflict(
            f"Impossible de {step.label_fr} : la demande est « {status_fr(status)} ».",
            en=f"Cannot {step.label_en}: the request is '{status}'.")
    return step.target or status


def allowed_actions(status: str, role: str) -> list[str]:
    """The staff actions ``role`` may take on a request in ``status`` (for the page)."""
    return [t.action for t in TRANSITIONS.values()
            if status in t.sources and "requester" not in t.roles
            and (role == "admin" or role in t.roles)]
