"""Who may ask: anyone under an approved plan; under a plan not yet approved, only the
owner or someone the owner mandated (with the mandate attached). Pure, no I/O."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from geoportal.errors import InvalidBody

NOT_APPROVED = frozenset({"à l'étude", "non encore approuvé"})
IN_FORCE = frozenset({"en vigueur", "en révision"})  # a plan under revision stays in force


class PlanLike(Protocol):
    """What is read of a plan of the rules answer."""

    @property
    def situation(self) -> str: ...


def plans_approved(plans: Sequence[PlanLike]) -> bool:
    """Whether the plot is covered only by approved plans: at least one in force, and none
    under study or not yet approved (its content is not public until approved)."""
    return any(p.situation in IN_FORCE for p in plans) \
        and not any(p.situation in NOT_APPROVED for p in plans)


def check_capacity(approved: bool, capacity: str, pieces: Collection[str]) -> None:
    """422 when the requester may not ask for this plot (the practice's rule)."""
    if approved:
        return
    if capacity not in ("owner", "mandated"):
        raise InvalidBody(
            "Cette parcelle relève d'un plan d'aménagement non encore approuvé (à l'étude ou "
            "en enquête publique) : seul le propriétaire, ou une personne mandatée par lui "
            "avec le mandat joint, peut demander la note.",
            en="This plot falls under a plan not yet approved (under study or public "
               "inquiry): only the owner, or someone the owner mandated with the mandate "
               "attached, may ask for the note.")
    if capacity == "mandated" and "mandate" not in pieces:
        raise InvalidBody(
            "Cette parcelle relève d'un plan d'aménagement non encore approuvé : joignez le "
            "mandat du propriétaire (PDF, JPEG ou PNG).",
            en="This plot falls under a plan not yet approved: attach the owner's mandate "
               "(PDF, JPEG or PNG).")
