"""What applies on a date, and how shares are rounded: the pure rules of the lookup."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from geoportal.rules.assess import applicable_plan_ids, apportion, plan_situation

TODAY = dt.date(2026, 11, 29)


def plan(status: str, approved: str | None, until: str | None) -> dict[str, Any]:
    return {"status": status, "approval_date": approved, "valid_until": until}


@pytest.mark.parametrize(("record", "at", "situation"), [
    (plan("en vigueur", "2018-05-17", "2028-05-17"), TODAY, "en vigueur"),
    (plan("en vigueur", "2018-05-17", "2028-05-17"), dt.date(2018, 5, 16), "non encore approuvé"),
    (plan("en vigueur", "2018-05-17", "2028-05-17"), dt.date(2018, 5, 17), "en vigueur"),
    (plan("en vigueur", "2018-05-17", "2028-05-17"), dt.date(2028, 5, 18), "expiré"),
    (plan("en vigueur", "2011-07-14", "2021-07-14"), TODAY, "expiré"),
    (plan("en révision", "2016-03-01", "2029-03-01"), TODAY, "en révision"),
    (plan("en révision", "2016-03-01", "2029-03-01"), dt.date(2017, 1, 1), "en vigueur"),
    (plan("à l'étude", None, None), TODAY, "à l'étude"),
    (plan("expiré", "2005-01-01", None), TODAY, "expiré"),
    (plan("expiré", "2005-01-01", "2015-01-01"), dt.date(2010, 1, 1), "en vigueur"),
    (plan("en vigueur", None, None), TODAY, "non encore approuvé"),
])
def test_a_plan_situation_follows_its_dates_and_status(
        record: dict[str, Any], at: dt.date, situation: str) -> None:
    assert plan_situation(record, at, TODAY) == situation


def test_plans_in_force_apply_and_an_expired_one_only_when_nothing_else_does() -> None:
    plans = {1: plan("en vigueur", "2011-01-01", "2021-01-01"),
             2: plan("en vigueur", "2015-01-01", "2025-01-01"),
             3: plan("en vigueur", "2020-01-01", "2030-01-01")}
    assert applicable_plan_ids({1: "expiré", 2: "expiré", 3: "en vigueur"}, plans) == {3}
    assert applicable_plan_ids({1: "expiré", 2: "expiré"}, plans) == {2}
    assert applicable_plan_ids({1: "à l'étude"}, plans) == set()


@pytest.mark.parametrize("values", [[1400.004, 599.996], [100 / 3] * 3, [33.335, 33.335, 33.33],
                                    [0.005, 99.995]])
def test_apportioned_shares_sum_exactly_to_the_total(values: list[float]) -> None:
    total = sum(values)
    shares = apportion(values, total)
    assert round(sum(shares), 2) == round(total, 2)
    assert all(abs(s - v) < 0.01 for s, v in zip(shares, values, strict=True))
