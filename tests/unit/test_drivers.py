"""fct_cost_drivers (transforms/marts/analytics/drivers.py): month-over-month change decomposed by
dimension. Expected numbers are computed by hand in the comments."""

from __future__ import annotations

import pandas as pd
import pytest

from transforms.marts.analytics.drivers import COLUMNS, NO_MEMBER, build_cost_drivers


def by_member(rows: list[tuple]) -> pd.DataFrame:
    """member_costs-like rows from (billing_month, dimension, member, cost)."""
    return pd.DataFrame(rows, columns=["billing_month", "dimension", "member", "cost"])


def drivers_of(rows: list[tuple]) -> pd.DataFrame:
    return build_cost_drivers(by_member(rows))


def members(frame: pd.DataFrame, month: str, dimension: str) -> dict[str, tuple[float, float, float]]:
    part = frame[(frame["billing_month"] == month) & (frame["dimension"] == dimension)]
    return {m: (p, c, ch) for m, p, c, ch in zip(part["member"], part["previous_cost"], part["current_cost"],
                                                  part["change"])}


# Three months, the same money seen through two dimensions:
#   2024-01  project web 60, api 40           region eu 70, us 30                total 100
#   2024-02  project web 90, batch 40         region eu 100, (null) 30, us 0     total 130
#   2024-03  project web 50, batch 40         region eu 90                       total  90
THREE_MONTHS = [
    ("2024-01", "project", "web", 60.0), ("2024-01", "project", "api", 40.0),
    ("2024-01", "region", "eu", 70.0), ("2024-01", "region", "us", 30.0),
    ("2024-02", "project", "web", 90.0), ("2024-02", "project", "batch", 40.0),
    ("2024-02", "region", "eu", 100.0), ("2024-02", "region", None, 30.0),
    ("2024-03", "project", "web", 50.0), ("2024-03", "project", "batch", 40.0),
    ("2024-03", "region", "eu", 90.0),
]
TOTAL_CHANGE = {"2024-02": 30.0, "2024-03": -40.0}


def test_columns_and_order():
    out = drivers_of(THREE_MONTHS)
    assert list(out.columns) == COLUMNS
    keys = list(zip(out["billing_month"], out["dimension"], out["rank"]))
    assert keys == sorted(keys)


def test_members_changes_sum_to_the_total_change_per_month_and_dimension():
    out = drivers_of(THREE_MONTHS)
    sums = out.groupby(["billing_month", "dimension"])["change"].sum().to_dict()
    assert sums == pytest.approx({(m, d): c for m, c in TOTAL_CHANGE.items() for d in ("project", "region")})
    # previous and current also add up to the month totals (waterfall: start + steps = end)
    prev = out.groupby(["billing_month", "dimension"])["previous_cost"].sum().to_dict()
    curr = out.groupby(["billing_month", "dimension"])["current_cost"].sum().to_dict()
    for dimension in ("project", "region"):
        assert (prev[("2024-02", dimension)], curr[("2024-02", dimension)]) == (100.0, 130.0)
        assert (prev[("2024-03", dimension)], curr[("2024-03", dimension)]) == (130.0, 90.0)


def test_member_in_only_one_of_the_two_months_counts_as_zero_in_the_other():
    out = drivers_of(THREE_MONTHS)
    assert members(out, "2024-02", "project") == {
        "web": (60.0, 90.0, 30.0),
        "api": (40.0, 0.0, -40.0),  # gone
        "batch": (0.0, 40.0, 40.0),  # new
    }
    # api had no cost in February or March: no row for March
    assert members(out, "2024-03", "project") == {"web": (90.0, 50.0, -40.0), "batch": (40.0, 40.0, 0.0)}


def test_null_member_is_none_member():
    out = drivers_of(THREE_MONTHS)
    assert members(out, "2024-02", "region") == {
        "eu": (70.0, 100.0, 30.0),
        NO_MEMBER: (0.0, 30.0, 30.0),
        "us": (30.0, 0.0, -30.0),
    }
    assert members(out, "2024-03", "region") == {"eu": (100.0, 90.0, -10.0), NO_MEMBER: (30.0, 0.0, -30.0)}
    assert NO_MEMBER == "(none)"
    assert out["member"].notna().all()


def test_a_gap_month_without_data_counts_as_zero():
    # 2024-01 web 100, api 20; no data in 2024-02; 2024-03 web 50
    out = drivers_of([
        ("2024-01", "project", "web", 100.0), ("2024-01", "project", "api", 20.0),
        ("2024-03", "project", "web", 50.0),
    ])
    assert sorted(set(out["billing_month"])) == ["2024-02", "2024-03"]
    assert members(out, "2024-02", "project") == {"web": (100.0, 0.0, -100.0), "api": (20.0, 0.0, -20.0)}
    assert members(out, "2024-03", "project") == {"web": (0.0, 50.0, 50.0)}
    assert out.groupby("billing_month")["change"].sum().to_dict() == {"2024-02": -120.0, "2024-03": 50.0}


def test_costs_of_a_member_are_summed_within_the_month():
    out = drivers_of([
        ("2024-01", "project", "web", 10.0), ("2024-01", "project", "web", 5.5),
        ("2024-02", "project", "web", 20.0), ("2024-02", "project", "web", -1.25),  # a credit
    ])
    assert members(out, "2024-02", "project") == {"web": (15.5, 18.75, 3.25)}


def test_share_of_change_and_rank():
    # 2024-01 a 50, b 20, c 10, d 5; 2024-02 a 80 (+30), b 10 (-10), c 20 (+10), d 5 (0)
    # total change +30: shares 1, -1/3, 1/3, 0. b and c tie on |10|: distinct ranks, by member name.
    out = drivers_of([
        ("2024-01", "project", "a", 50.0), ("2024-01", "project", "b", 20.0),
        ("2024-01", "project", "c", 10.0), ("2024-01", "project", "d", 5.0),
        ("2024-02", "project", "a", 80.0), ("2024-02", "project", "b", 10.0),
        ("2024-02", "project", "c", 20.0), ("2024-02", "project", "d", 5.0),
    ])
    got = {m: (s, r) for m, s, r in zip(out["member"], out["share_of_change"], out["rank"])}
    assert got == {
        "a": (pytest.approx(1.0), 1), "b": (pytest.approx(-1 / 3), 2), "c": (pytest.approx(1 / 3), 3),
        "d": (pytest.approx(0.0), 4),
    }
    assert list(out["member"]) == ["a", "b", "c", "d"]  # ordered by rank
    assert out["share_of_change"].sum() == pytest.approx(1.0)
    assert out["rank"].dtype == "int64"


def test_ranks_restart_for_each_month_and_dimension():
    out = drivers_of(THREE_MONTHS)
    for _, part in out.groupby(["billing_month", "dimension"]):
        assert sorted(part["rank"]) == list(range(1, len(part) + 1))
        assert list(part["change"].abs()) == sorted(part["change"].abs(), reverse=True)


def test_share_is_null_when_the_total_does_not_change():
    # a +25, b -25: total change 0, a share would be a division by zero
    out = drivers_of([
        ("2024-01", "project", "a", 25.0), ("2024-01", "project", "b", 50.0),
        ("2024-02", "project", "a", 50.0), ("2024-02", "project", "b", 25.0),
    ])
    assert out["share_of_change"].isna().all()
    assert sorted(out["rank"]) == [1, 2]
    assert out["change"].sum() == 0.0


def test_the_first_month_has_no_rows():
    out = drivers_of(THREE_MONTHS)
    assert "2024-01" not in set(out["billing_month"])
    single = drivers_of([("2024-01", "project", "web", 10.0), ("2024-01", "region", "eu", 10.0)])
    assert single.empty
    assert list(single.columns) == COLUMNS


def test_empty_input():
    out = build_cost_drivers(by_member([]))
    assert out.empty
    assert list(out.columns) == COLUMNS
