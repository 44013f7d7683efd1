"""The request's state machine and the capacity rule, alone (pure functions, no database)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from geoportal.errors import Conflict, InvalidBody
from geoportal.renseignement.eligibility import check_capacity, plans_approved
from geoportal.renseignement.labels import STATUSES
from geoportal.renseignement.workflow import TRANSITIONS, allowed_actions, transition

ALLOWED = {
    ("taken", "submitted"): "under_review",
    ("piece_requested", "under_review"): "waiting_requester",
    ("piece_received", "waiting_requester"): "under_review",
    ("observation", "under_review"): "under_review",
    ("observation", "waiting_requester"): "waiting_requester",
    ("refused", "submitted"): "refused",
    ("refused", "under_review"): "refused",
    ("refused", "waiting_requester"): "refused",
    ("approved", "under_review"): "ready_to_sign",
    ("signed", "ready_to_sign"): "issued",
}


@pytest.mark.parametrize(("action", "status"), sorted(ALLOWED))
def test_each_allowed_transition_leads_where_the_workflow_says(action: str, status: str
                                                                ) -> None:
    assert transition(action, status) == ALLOWED[(action, status)]


@pytest.mark.parametrize(("action", "status"), sorted(
    (a, s) for a in TRANSITIONS for s in STATUSES if (a, s) not in ALLOWED))
def test_every_other_transition_is_a_409_in_french_naming_the_status(action: str,
                                                                     status: str) -> None:
    with pytest.raises(Conflict) as refused:
        transition(action, status)
    assert refused.value.status_code == 409
    assert refused.value.message.startswith("Impossible de ")
    assert STATUSES[status][0] in refused.value.message
    assert status in refused.value.en


def test_issued_and_refused_requests_are_final() -> None:
    for final in ("issued", "refused"):
        assert all(final not in t.sources for t in TRANSITIONS.values())


@pytest.mark.parametrize(("status", "role", "actions"), [
    ("submitted", "instructeur", ["taken", "refused"]),
    ("under_review", "instructeur", ["piece_requested", "observation", "refused", "approved"]),
    ("waiting_requester", "instructeur", ["observation", "refused"]),
    ("ready_to_sign", "instructeur", []),
    ("ready_to_sign", "signataire", ["signed"]),
    ("under_review", "signataire", []),
    ("under_review", "admin", ["piece_requested", "observation", "refused", "approved"]),
    ("issued", "admin", []),
    ("submitted", "editor", []),
])
def test_the_actions_offered_depend_on_status_and_role(status: str, role: str,
                                                       actions: list[str]) -> None:
    assert allowed_actions(status, role) == actions


@dataclass
class Plan:
    situation: str


@pytest.mark.parametrize(("situations", "approved"), [
    (["en vigueur"], True),
    (["en révision"], True),  # still in force while revised
    (["en vigueur", "en vigueur"], True),
    (["en révision", "à l'étude"], False),  # the revision under study is not public
    (["à l'étude"], False),
    (["non encore approuvé"], False),
    (["expiré"], False),  # no plan in force: only the master plan
    ([], False),
])
def test_a_plot_is_under_approved_plans_only_with_one_in_force_and_none_in_study(
        situations: list[str], approved: bool) -> None:
    assert plans_approved([Plan(s) for s in situations]) is approved


def test_the_capacity_rule_binds_only_under_plans_not_yet_approved() -> None:
    for capacity in ("owner", "mandated", "notary", "architect", "other"):
        check_capacity(True, capacity, set())
    check_capacity(False, "owner", set())
    check_capacity(False, "mandated", {"mandate"})
    for capacity, pieces in (("notary", {"mandate"}), ("other", set()),
                             ("mandated", {"ownership"})):
        with pytest.raises(InvalidBody) as refused:
            check_capacity(False, capacity, pieces)
        assert refused.value.status_code == 422
        assert "non encore approuvé" in refused.value.message
