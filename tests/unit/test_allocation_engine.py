"""Applying allocation rules to daily cost rows (transforms/intermediate/allocation/engine.py).

Small frames built by hand, with expectations computed by hand: every rule type, date windows,
rule order, the three distribution methods, rounding to the cent, lineage and conservation.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from transforms.intermediate.allocation.engine import LINEAGE, SPLIT_AMOUNTS, apply_rules
from transforms.intermediate.allocation.rules import Rule
from transforms.money import conserved, exact_total

TEXT = ["billing_month", "project", "service_name", "sub_account_id", "region"]
COLUMNS = ["charge_date", *TEXT, *SPLIT_AMOUNTS, "source_rows"]
CONSERVED = [*SPLIT_AMOUNTS, "source_rows"]


def row(day: str, project: str, cost: float, *, service="Amazon EC2", account="111", region="us-east-1",
        source_rows=1, **amounts) -> dict:
    """One daily cost row; every amount is `cost` unless given (e.g. list_cost=12.0)."""
    out = {"charge_date": pd.Timestamp(day), "billing_month": day[:7], "project": project, "service_name": service,
           "sub_account_id": account, "region": region, **{a: float(cost) for a in SPLIT_AMOUNTS},
           "source_rows": source_rows}
    out.update({k: float(v) for k, v in amounts.items()})
    return out


def costs(*rows: dict) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=COLUMNS)
    frame["charge_date"] = pd.to_datetime(frame["charge_date"]).astype("datetime64[ns]")
    for col in TEXT:
        frame[col] = frame[col].astype("str")
    for col in SPLIT_AMOUNTS:
        frame[col] = frame[col].astype("float64")
    frame["source_rows"] = frame["source_rows"].astype("int64")
    return frame


def _window(start, end) -> dict:
    return {"start": date.fromisoformat(start) if start else None, "end": date.fromisoformat(end) if end else None}


def rename(rid, src, dst, start=None, end=None, active=True) -> Rule:
    return Rule(rid, "rename_project", 1, {"from": src, "to": dst}, active=active, **_window(start, end))


def transfer(rid, src, dst, match=None, start=None, end=None, active=True) -> Rule:
    match = {k: (v if isinstance(v, list) else [v]) for k, v in (match or {}).items()}
    return Rule(rid, "transfer_cost", 1, {"from": src, "to": dst, "match": match}, active=active, **_window(start, end))


def move(rid, service, src, dst, start=None, end=None, active=True) -> Rule:
    return Rule(rid, "move_service", 1, {"from": src, "to": dst, "service": service}, active=active, **_window(start, end))


def distribute(rid, src, targets, method="even", weights=None, start=None, end=None, active=True) -> Rule:
    params = {"from": src, "to": list(targets), "method": method}
    if weights is not None:
        params["weights"] = weights
    return Rule(rid, "distribute_cost", 1, params, active=active, **_window(start, end))


def split_proportionally(before: pd.DataFrame, targets: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One proportional rule "p" from "shared" to ``targets``: (every row after it, the rows it wrote)."""
    after, _ = apply_rules(before, [distribute("p", "shared", targets, "proportional")])
    return after, after[after["allocation_rule_id"] == "p"]


def by_project(frame: pd.DataFrame, column: str = "effective_cost") -> dict[str, float]:
    return {p: float(v) for p, v in frame.groupby("project")[column].sum().items()}


def assert_conserved(before: pd.DataFrame, after: pd.DataFrame) -> None:
    for month, rows in before.groupby("billing_month"):
        out = after[after["billing_month"] == month]
        for col in CONSERVED:
            expected, actual = exact_total(rows[col]), exact_total(out[col])
            assert conserved(expected, actual, len(rows)), (month, col, expected, actual)
        assert int(rows["source_rows"].sum()) == int(out["source_rows"].sum())
    assert set(after["billing_month"]) == set(before["billing_month"])


# ------------------------------------------------------------------------------------------
# each rule type


def test_rename_project_moves_every_row_of_the_project():
    before = costs(
        row("2024-09-01", "legacy", 10.0),
        row("2024-09-15", "legacy", 2.5, service="S3"),
        row("2024-10-03", "legacy", 1.0),
        row("2024-09-01", "search", 7.0),
    )
    after, effects = apply_rules(before, [rename("r", "legacy", "search")])
    assert after["project"].tolist() == ["search"] * 4
    assert after["project_before_rules"].tolist() == ["legacy", "legacy", "legacy", "search"]
    assert after["allocation_rule_id"].tolist()[:3] == ["r"] * 3 and pd.isna(after.loc[3, "allocation_rule_id"])
    assert after["allocation_method"].isna().all() and after["allocated_ratio"].isna().all()
    assert after[COLUMNS].drop(columns="project").equals(before.drop(columns="project"))
    assert [(e.rule_id, e.type, e.rows, e.effective_cost) for e in effects] == [("r", "rename_project", 3, 13.5)]


def test_transfer_cost_moves_only_matching_rows_of_the_source():
    before = costs(
        row("2024-09-01", "unallocated", 1.0, service="Support", account="111", region="us-east-1"),  # moves
        row("2024-09-01", "unallocated", 2.0, service="Support", account="111", region="eu-west-1"),  # moves (list)
        row("2024-09-01", "unallocated", 4.0, service="Support", account="111", region="ap-south-1"),  # region
        row("2024-09-01", "unallocated", 8.0, service="Support", account="222", region="us-east-1"),  # account
        row("2024-09-01", "unallocated", 16.0, service="EC2", account="111", region="us-east-1"),  # service
        row("2024-09-01", "checkout", 32.0, service="Support", account="111", region="us-east-1"),  # other project
    )
    rule = transfer("t", "unallocated", "platform", {"service": "Support", "account": "111", "region": ["us-east-1", "eu-west-1"]})
    after, effects = apply_rules(before, [rule])
    assert after["project"].tolist() == ["platform", "platform", "unallocated", "unallocated", "unallocated", "checkout"]
    assert after["allocation_rule_id"].tolist()[:2] == ["t", "t"] and after["allocation_rule_id"].iloc[2:].isna().all()
    assert by_project(after) == {"platform": 3.0, "unallocated": 28.0, "checkout": 32.0}
    assert (effects[0].rows, effects[0].effective_cost) == (2, 3.0)


@pytest.mark.parametrize(
    "match, moved",
    [
        ({}, [True, True, True]),
        ({"service": "Support"}, [True, False, True]),
        ({"account": "222"}, [False, True, False]),
        ({"region": "eu-west-1"}, [False, False, True]),
        ({"service": ["EC2", "Support"]}, [True, True, True]),
        ({"service": "Support", "region": "eu-west-1"}, [False, False, True]),
        ({"service": "Nothing"}, [False, False, False]),
    ],
)
def test_transfer_cost_match_keys(match, moved):
    before = costs(
        row("2024-09-01", "unallocated", 1.0, service="Support", account="111", region="us-east-1"),
        row("2024-09-02", "unallocated", 2.0, service="EC2", account="222", region="us-east-1"),
        row("2024-09-03", "unallocated", 4.0, service="Support", account="111", region="eu-west-1"),
    )
    after, _ = apply_rules(before, [transfer("t", "unallocated", "x", match)])
    assert (after["project"] == "x").tolist() == moved


def test_move_service_moves_that_service_of_the_source_only():
    before = costs(
        row("2024-09-01", "ml", 10.0, service="Snowflake"),
        row("2024-09-01", "ml", 20.0, service="SageMaker"),
        row("2024-09-01", "search", 40.0, service="Snowflake"),
    )
    after, effects = apply_rules(before, [move("m", "Snowflake", "ml", "data")])
    assert after["project"].tolist() == ["data", "ml", "search"]
    assert after["allocation_rule_id"].iloc[0] == "m" and after["allocation_rule_id"].iloc[1:].isna().all()
    assert (effects[0].rows, effects[0].effective_cost) == (1, 10.0)


def test_distribute_even():
    before = costs(row("2024-09-01", "shared", 90.0, source_rows=4), row("2024-09-01", "a", 5.0))
    after, effects = apply_rules(before, [distribute("d", "shared", ["a", "b", "c"])])
    split = after[after["allocation_rule_id"] == "d"]
    assert split["project"].tolist() == ["a", "b", "c"]
    for col in SPLIT_AMOUNTS:
        assert split[col].tolist() == [30.0, 30.0, 30.0]
    assert split["source_rows"].tolist() == [4, 0, 0]
    assert split["allocation_method"].tolist() == ["even"] * 3
    assert split["allocated_ratio"].tolist() == pytest.approx([1 / 3] * 3)
    assert split["project_before_rules"].tolist() == ["shared"] * 3
    assert (split["charge_date"] == pd.Timestamp("2024-09-01")).all()
    assert "shared" not in set(after["project"])
    assert by_project(after) == {"a": 35.0, "b": 30.0, "c": 30.0}
    assert (effects[0].rows, effects[0].effective_cost) == (1, 90.0)


def test_distribute_fixed_weights_split_every_amount_column():
    before = costs(row("2024-09-01", "tools", 10.0, effective_cost=9.0, list_cost=12.0, billed_cost_billing_currency=20.0,
                       effective_cost_billing_currency=18.0, list_cost_billing_currency=24.0, source_rows=3))
    after, _ = apply_rules(before, [distribute("f", "tools", ["a", "b"], "fixed", {"a": 0.3, "b": 0.7})])
    assert after["project"].tolist() == ["a", "b"]
    expected = {
        "billed_cost": [3.0, 7.0], "effective_cost": [2.7, 6.3], "list_cost": [3.6, 8.4],
        "billed_cost_billing_currency": [6.0, 14.0], "effective_cost_billing_currency": [5.4, 12.6],
        "list_cost_billing_currency": [7.2, 16.8],
    }
    for col, values in expected.items():
        assert after[col].tolist() == pytest.approx(values, abs=1e-12), col
    assert after["source_rows"].tolist() == [0, 3]  # the largest share
    assert after["allocated_ratio"].tolist() == pytest.approx([0.3, 0.7])
    assert after["allocation_method"].tolist() == ["fixed", "fixed"]


def test_distribute_proportional_to_the_targets_own_cost():
    before = costs(
        row("2024-09-01", "shared", 100.0, source_rows=2),
        row("2024-09-02", "a", 10.0),
        row("2024-09-03", "b", 30.0),
        row("2024-09-04", "b", 10.0),
        row("2024-09-05", "other", 1000.0),  # not a target: no weight
    )
    after, split = split_proportionally(before, ["a", "b"])
    assert split["project"].tolist() == ["a", "b"]
    assert split["effective_cost"].tolist() == [20.0, 80.0]
    assert split["allocated_ratio"].tolist() == pytest.approx([0.2, 0.8])
    assert split["source_rows"].tolist() == [0, 2]
    assert by_project(after) == {"a": 30.0, "b": 120.0, "other": 1000.0}


# ------------------------------------------------------------------------------------------
# date windows


WINDOW_DAYS = ["2024-09-09", "2024-09-10", "2024-09-15", "2024-09-20", "2024-09-21"]
INSIDE = [False, True, True, True, False]


@pytest.mark.parametrize(
    "rule",
    [
        rename("w", "x", "y", start="2024-09-10", end="2024-09-20"),
        transfer("w", "x", "y", {"service": "EC2"}, start="2024-09-10", end="2024-09-20"),
        move("w", "EC2", "x", "y", start="2024-09-10", end="2024-09-20"),
        distribute("w", "x", ["y", "z"], "fixed", {"y": 1.0, "z": 0.0}, start="2024-09-10", end="2024-09-20"),
    ],
    ids=["rename", "transfer", "move", "distribute"],
)
def test_window_includes_start_and_end_day_only(rule):
    before = costs(*[row(d, "x", 1.0, service="EC2") for d in WINDOW_DAYS])
    after, effects = apply_rules(before, [rule])
    after = after.sort_values("charge_date").reset_index(drop=True)
    assert after["charge_date"].dt.strftime("%Y-%m-%d").tolist() == WINDOW_DAYS  # zero shares dropped
    assert (after["project"] == "y").tolist() == INSIDE
    assert (after["allocation_rule_id"] == "w").tolist() == INSIDE
    assert effects[0].rows == 3


@pytest.mark.parametrize(
    "start, end, inside",
    [
        ("2024-09-10", None, [False, True, True, True, True]),
        (None, "2024-09-20", [True, True, True, True, False]),
        ("2024-09-15", "2024-09-15", [False, False, True, False, False]),
        (None, None, [True] * 5),
        ("2024-09-22", None, [False] * 5),
    ],
)
def test_open_and_one_day_windows(start, end, inside):
    before = costs(*[row(d, "x", 1.0) for d in WINDOW_DAYS])
    after, _ = apply_rules(before, [rename("w", "x", "y", start=start, end=end)])
    assert (after["project"] == "y").tolist() == inside


def test_window_compares_the_day_of_a_charge_date_with_a_time():
    before = costs(row("2024-09-20", "x", 1.0), row("2024-09-21", "x", 1.0))
    before["charge_date"] = pd.to_datetime(["2024-09-20 23:59:59", "2024-09-21 00:00:00"])
    after, _ = apply_rules(before, [rename("w", "x", "y", end="2024-09-20")])
    assert after["project"].tolist() == ["y", "x"]


def test_distribute_window_after_an_earlier_split_uses_the_new_rows_dates():
    # the second rule runs on a frame whose rows were reordered by the first split
    before = costs(row("2024-09-01", "s", 10.0), row("2024-09-30", "t", 20.0), row("2024-09-15", "s", 30.0))
    rules = [distribute("d1", "s", ["t", "u"]), distribute("d2", "t", ["v", "w"], start="2024-09-15", end="2024-09-15")]
    after, _ = apply_rules(before, rules)
    got = sorted(zip(after["charge_date"].dt.day, after["project"], after["effective_cost"]))
    assert got == [(1, "t", 5.0), (1, "u", 5.0), (15, "u", 15.0), (15, "v", 7.5), (15, "w", 7.5), (30, "t", 20.0)]


# ------------------------------------------------------------------------------------------
# rule order and inactive rules


def test_a_later_rule_sees_the_earlier_rules_output_and_order_matters():
    before = costs(row("2024-09-01", "legacy", 10.0), row("2024-09-01", "search", 5.0))
    rules = [rename("r1", "legacy", "search"), rename("r2", "search", "discovery")]
    after, _ = apply_rules(before, rules)
    assert after["project"].tolist() == ["discovery", "discovery"]
    assert after["allocation_rule_id"].tolist() == ["r2", "r2"]  # the last rule that touched the row
    swapped, _ = apply_rules(before, rules[::-1])
    assert swapped["project"].tolist() == ["search", "discovery"]
    assert swapped["allocation_rule_id"].tolist() == ["r1", "r2"]


def test_proportional_basis_includes_cost_moved_by_earlier_rules():
    before = costs(
        row("2024-09-01", "shared", 100.0),
        row("2024-09-01", "a", 10.0),
        row("2024-09-01", "b", 10.0),
        row("2024-09-01", "unallocated", 30.0, service="Support"),
    )
    first = transfer("t", "unallocated", "a", {"service": "Support"})
    split = distribute("p", "shared", ["a", "b"], "proportional")
    after, _ = apply_rules(before, [first, split])
    assert after.loc[after["allocation_rule_id"] == "p", "effective_cost"].tolist() == [80.0, 20.0]  # 40 : 10
    swapped, _ = apply_rules(before, [split, first])
    assert swapped.loc[swapped["allocation_rule_id"] == "p", "effective_cost"].tolist() == [50.0, 50.0]  # 10 : 10
    assert by_project(after) == {"a": 120.0, "b": 30.0}
    assert by_project(swapped) == {"a": 90.0, "b": 60.0}


def test_split_then_move_and_move_then_split():
    before = costs(row("2024-09-01", "shared", 10.0, service="Snowflake"))
    rules = [distribute("d", "shared", ["ml", "web"]), move("m", "Snowflake", "ml", "data")]
    after, _ = apply_rules(before, rules)
    assert sorted(zip(after["project"], after["allocation_rule_id"])) == [("data", "m"), ("web", "d")]
    moved = after[after["project"] == "data"].iloc[0]
    assert moved["allocation_method"] == "even" and moved["allocated_ratio"] == 0.5  # lineage of the split kept
    swapped, _ = apply_rules(before, rules[::-1])
    assert sorted(swapped["project"]) == ["ml", "web"]


def test_inactive_rules_do_nothing():
    before = costs(row("2024-09-01", "a", 10.0), row("2024-09-02", "s", 6.0))
    rules = [rename("off1", "a", "b", active=False), distribute("off2", "s", ["a", "b"], active=False)]
    after, effects = apply_rules(before, rules)
    unchanged, _ = apply_rules(before, [])
    pd.testing.assert_frame_equal(after, unchanged)
    assert after["allocation_rule_id"].isna().all()
    assert [(e.rule_id, e.rows, e.effective_cost) for e in effects] == [("off1", 0, 0.0), ("off2", 0, 0.0)]


def test_inactive_rule_between_active_ones():
    before = costs(row("2024-09-01", "a", 10.0))
    after, _ = apply_rules(before, [rename("r1", "a", "b"), rename("off", "b", "c", active=False), rename("r3", "b", "d")])
    assert after["project"].tolist() == ["d"] and after["allocation_rule_id"].tolist() == ["r3"]


# ------------------------------------------------------------------------------------------
# proportional details


def test_proportional_with_one_zero_cost_target():
    before = costs(
        row("2024-09-01", "shared", 100.0, source_rows=5),
        row("2024-09-01", "a", 0.0),
        row("2024-09-01", "b", 10.0),
        row("2024-09-01", "c", 30.0),
    )
    after, split = split_proportionally(before, ["a", "b", "c"])
    assert split["project"].tolist() == ["b", "c"]  # a's share is 0.00 and carries no rows: dropped
    assert split["effective_cost"].tolist() == [25.0, 75.0]
    assert split["allocated_ratio"].tolist() == pytest.approx([0.25, 0.75])
    assert split["source_rows"].tolist() == [0, 5]
    assert_conserved(before, after)


@pytest.mark.parametrize(
    "target_rows",
    [
        [("a", 0.0), ("b", 0.0)],
        [],  # the targets have no rows at all
        [("a", -5.0), ("b", 0.0)],  # net credits count as 0
        [("other", 50.0)],  # only non-targets have cost
    ],
    ids=["zero_rows", "no_rows", "credits", "non_targets_only"],
)
def test_proportional_with_all_targets_at_zero_is_even(target_rows):
    before = costs(row("2024-09-01", "shared", 100.01, source_rows=2), *[row("2024-09-02", p, c) for p, c in target_rows])
    after, split = split_proportionally(before, ["a", "b"])
    assert split["project"].tolist() == ["a", "b"]
    assert split["effective_cost"].tolist() == pytest.approx([50.01, 50.0], abs=1e-9)  # remainder on the first
    assert split["allocated_ratio"].tolist() == [0.5, 0.5]
    assert split["source_rows"].tolist() == [2, 0]
    assert_conserved(before, after)


# (shared cost and target rows of 2024-09 and 2024-10, expected (billing_month, project) -> (cost, ratio))
PER_MONTH_CASES = [
    pytest.param(
        [row("2024-09-10", "shared", 100.0), row("2024-10-10", "shared", 100.0), row("2024-09-01", "a", 10.0),
         row("2024-09-01", "b", 30.0), row("2024-10-01", "a", 30.0), row("2024-10-01", "b", 10.0)],
        {("2024-09", "a"): (25.0, 0.25), ("2024-09", "b"): (75.0, 0.75), ("2024-10", "a"): (75.0, 0.75),
         ("2024-10", "b"): (25.0, 0.25)},
        id="each_month_its_own_weights",
    ),
    pytest.param(
        [row("2024-09-10", "shared", 10.0), row("2024-10-10", "shared", 10.0), row("2024-09-01", "a", 1.0),
         row("2024-09-01", "b", 3.0)],
        {("2024-09", "a"): (2.5, 0.25), ("2024-09", "b"): (7.5, 0.75), ("2024-10", "a"): (5.0, 0.5),
         ("2024-10", "b"): (5.0, 0.5)},
        id="month_without_target_cost_is_even_while_other_month_is_proportional",
    ),
]


@pytest.mark.parametrize("rows, expected", PER_MONTH_CASES)
def test_proportional_weights_are_per_billing_month(rows, expected):
    before = costs(*rows)
    after, split = split_proportionally(before, ["a", "b"])
    got = {(m, p): c for m, p, c in zip(split["billing_month"], split["project"], split["effective_cost"])}
    assert got == {key: cost for key, (cost, _) in expected.items()}
    ratios = {(m, p): r for m, p, r in zip(split["billing_month"], split["project"], split["allocated_ratio"])}
    assert ratios == pytest.approx({key: ratio for key, (_, ratio) in expected.items()})
    assert_conserved(before, after)


def test_proportional_target_with_net_negative_cost_counts_zero():
    before = costs(
        row("2024-09-01", "shared", 100.0),
        row("2024-09-01", "a", 5.0),
        row("2024-09-02", "a", -15.0),  # a nets to -10 this month
        row("2024-09-01", "b", 20.0),
        row("2024-09-01", "c", 60.0),
    )
    after, split = split_proportionally(before, ["a", "b", "c"])
    assert split["project"].tolist() == ["b", "c"]
    assert split["effective_cost"].tolist() == [25.0, 75.0]
    assert by_project(after) == {"a": -10.0, "b": 45.0, "c": 135.0}


def test_proportional_weights_use_the_whole_billing_month_not_the_rule_window():
    before = costs(
        row("2024-09-20", "shared", 100.0),
        row("2024-09-01", "a", 10.0),  # outside the window but in the same billing month
        row("2024-09-20", "b", 10.0),
        row("2024-10-01", "b", 1000.0),  # another month: no weight
    )
    rule = distribute("p", "shared", ["a", "b"], "proportional", start="2024-09-15", end="2024-09-30")
    after, _ = apply_rules(before, [rule])
    assert after.loc[after["allocation_rule_id"] == "p", "effective_cost"].tolist() == [50.0, 50.0]


def test_proportional_basis_is_effective_cost_for_every_column():
    before = costs(
        row("2024-09-01", "shared", 10.0, billed_cost=20.0, list_cost=40.0, effective_cost_billing_currency=9.0),
        row("2024-09-01", "a", 1.0, billed_cost=100.0),
        row("2024-09-01", "b", 3.0, list_cost=0.0),
    )
    split = split_proportionally(before, ["a", "b"])[1].reset_index(drop=True)
    assert split["effective_cost"].tolist() == [2.5, 7.5]
    assert split["billed_cost"].tolist() == [5.0, 15.0]
    assert split["list_cost"].tolist() == [10.0, 30.0]
    assert split["effective_cost_billing_currency"].tolist() == pytest.approx([2.25, 6.75], abs=1e-12)


# ------------------------------------------------------------------------------------------
# rounding, source rows and lineage


def test_even_split_into_cents_puts_the_remainder_on_the_first_largest_share():
    before = costs(row("2024-09-01", "shared", 100.0, source_rows=3))
    after, _ = apply_rules(before, [distribute("d", "shared", ["a", "b", "c"])])
    for col in SPLIT_AMOUNTS:
        assert after[col].tolist() == pytest.approx([33.34, 33.33, 33.33], abs=1e-12), col
        assert math.fsum(after[col]) == 100.0, col
    assert after["source_rows"].tolist() == [3, 0, 0]


def test_split_remainder_goes_to_the_largest_share():
    before = costs(row("2024-09-01", "shared", 1.0))
    after, _ = apply_rules(before, [distribute("f", "shared", ["a", "b", "c"], "fixed", {"a": 1 / 6, "b": 1 / 2, "c": 1 / 3})])
    # 0.1666.. -> 0.17, 0.3333.. -> 0.33, the largest (b) gets 1 - 0.17 - 0.33
    assert after["project"].tolist() == ["a", "b", "c"]
    assert after["effective_cost"].tolist() == pytest.approx([0.17, 0.50, 0.33], abs=1e-12)
    assert after["source_rows"].tolist() == [0, 1, 0]
    assert math.fsum(after["effective_cost"]) == pytest.approx(1.0, abs=1e-12)


def test_negative_amounts_split_to_the_cent():
    before = costs(row("2024-09-01", "shared", -10.0))
    after, _ = apply_rules(before, [distribute("d", "shared", ["a", "b", "c"])])
    assert after["effective_cost"].tolist() == pytest.approx([-3.34, -3.33, -3.33], abs=1e-12)
    assert math.fsum(after["effective_cost"]) == pytest.approx(-10.0, abs=1e-12)


def test_split_rows_that_round_to_zero_are_dropped():
    before = costs(
        row("2024-09-01", "shared", 0.01, source_rows=2),
        row("2024-09-02", "shared", 0.0000004),
        row("2024-09-03", "shared", 0.0),
    )
    after, _ = apply_rules(before, [distribute("d", "shared", ["a", "b", "c"])])
    # every share but the first rounds to 0.00: only the first target's row is kept, with all of it
    assert after["project"].tolist() == ["a", "a", "a"]
    assert after["effective_cost"].tolist() == [0.01, 0.0000004, 0.0]
    assert after["source_rows"].tolist() == [2, 1, 1]
    assert_conserved(before, after)


def test_row_with_a_cent_in_one_column_keeps_its_split_rows():
    before = costs(row("2024-09-01", "shared", 1.0, list_cost=0.0, billed_cost=0.0, effective_cost=0.0,
                       billed_cost_billing_currency=0.0, effective_cost_billing_currency=0.0))
    after, _ = apply_rules(before, [distribute("d", "shared", ["a", "b"])])
    assert after["list_cost_billing_currency"].tolist() == [0.5, 0.5]
    assert after["project"].tolist() == ["a", "b"]


def test_chained_split_ratios_multiply():
    before = costs(row("2024-09-01", "s", 100.0, source_rows=4), row("2024-09-01", "a", 40.0))
    rules = [
        distribute("d1", "s", ["a", "b"], "fixed", {"a": 0.5, "b": 0.5}),
        distribute("d2", "a", ["c", "d"], "fixed", {"c": 0.25, "d": 0.75}),
    ]
    after, _ = apply_rules(before, rules)
    got = {(p, b, round(r, 12)): c for p, b, r, c in zip(after["project"], after["project_before_rules"],
                                                       after["allocated_ratio"], after["effective_cost"])}
    assert got == {
        ("b", "s", 0.5): 50.0,
        ("c", "s", 0.125): 12.5,  # 0.5 x 0.25 of the original row
        ("d", "s", 0.375): 37.5,
        ("c", "a", 0.25): 10.0,  # a's own row: first split
        ("d", "a", 0.75): 30.0,
    }
    assert set(after["allocation_rule_id"]) == {"d1", "d2"}
    assert after.loc[after["project"] == "b", "allocation_rule_id"].tolist() == ["d1"]
    assert int(after["source_rows"].sum()) == 5
    # the original row's 4 source rows went to a (first of two equal shares), then to d (largest)
    assert after.loc[(after["project"] == "d") & (after["project_before_rules"] == "s"), "source_rows"].tolist() == [4]


def test_lineage_columns():
    before = costs(
        row("2024-09-01", "legacy", 1.0),
        row("2024-09-01", "shared", 9.0),
        row("2024-09-01", "untouched", 2.0),
    )
    after, _ = apply_rules(before, [rename("r", "legacy", "search"), distribute("d", "shared", ["search", "web"], "fixed",
                                                                                 {"search": 2 / 3, "web": 1 / 3})])
    assert after.columns.tolist() == [*COLUMNS, *LINEAGE]
    lineage = after[["project", *LINEAGE]].astype(object).where(after[["project", *LINEAGE]].notna(), None)
    rows = sorted(tuple(x) for x in lineage.itertuples(index=False))
    assert [r[:4] for r in rows] == [
        ("search", "legacy", "r", None),
        ("search", "shared", "d", "fixed"),
        ("untouched", "untouched", None, None),
        ("web", "shared", "d", "fixed"),
    ]
    assert [r[4] for r in rows] == pytest.approx([None, 2 / 3, None, 1 / 3])
    assert after["allocation_rule_id"].dtype == "str" and after["allocation_method"].dtype == "str"
    assert after["allocated_ratio"].dtype == "float64"


def test_source_rows_are_conserved_through_every_rule_type():
    before = costs(
        row("2024-09-01", "shared", 10.0, source_rows=7),
        row("2024-09-01", "shared", 0.001, source_rows=3),
        row("2024-09-01", "legacy", 1.0, source_rows=11),
        row("2024-09-01", "unallocated", 1.0, source_rows=13, service="Support"),
    )
    rules = [
        rename("r", "legacy", "a"),
        transfer("t", "unallocated", "shared", {"service": "Support"}),
        distribute("d", "shared", ["a", "b", "c"], "proportional"),
        distribute("e", "a", ["x", "y"], "even"),
    ]
    after, _ = apply_rules(before, rules)
    assert int(after["source_rows"].sum()) == 34
    assert (after["source_rows"] >= 0).all()
    assert_conserved(before, after)


# ------------------------------------------------------------------------------------------
# conservation on a random frame


PROJECTS = ["unallocated", "shared", "legacy", "checkout", "search", "data", "ml", "tools"]
SERVICES = ["EC2", "S3", "Support", "Snowflake", "Slack"]
ACCOUNTS = ["111", "222", "333"]
REGIONS = ["us-east-1", "eu-west-1", "global"]
MANY_RULES = [
    rename("rename-legacy", "legacy", "search", start="2024-08-15"),
    transfer("support", "unallocated", "shared", {"service": "Support"}),
    transfer("acct-222", "unallocated", "data", {"account": "222", "region": ["us-east-1", "global"]}, end="2024-09-20"),
    move("snowflake", "Snowflake", "ml", "data"),
    transfer("saas", "unallocated", "tools", {"service": ["Slack", "S3"]}),
    distribute("tools-fixed", "tools", ["checkout", "search", "data", "ml"], "fixed",
               {"checkout": 0.1, "search": 0.2, "data": 0.3, "ml": 0.4}),
    distribute("shared-prop", "shared", ["checkout", "search", "data"], "proportional", start="2024-08-10", end="2024-10-20"),
    distribute("shared-even-rest", "shared", ["checkout", "search", "data", "ml", "tools"], "even"),
    distribute("never", "ml", ["checkout"], "even", active=False),
    distribute("data-prop", "data", ["checkout", "ml"], "proportional", start="2024-09-01"),
    rename("search-to-discovery", "search", "discovery", end="2024-09-30"),
    distribute("rest-even", "unallocated", ["checkout", "discovery", "ml"], "even"),
    distribute("ml-again", "ml", ["checkout", "tools"], "fixed", {"checkout": 0.35, "tools": 0.65}),
]


def random_costs(seed: int, n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("2024-08-01") + pd.to_timedelta(rng.integers(0, 92, n), unit="D")
    scale = 10.0 ** rng.integers(-7, 4, n)
    base = np.round(rng.normal(5, 10, n) * scale, 10)
    base[rng.random(n) < 0.05] = 0.0
    fx = rng.choice([1.0, 0.9, 1.3], n)
    frame = pd.DataFrame({
        "charge_date": days.astype("datetime64[ns]"),
        "billing_month": days.strftime("%Y-%m"),
        "project": rng.choice(PROJECTS, n),
        "service_name": rng.choice(SERVICES, n),
        "sub_account_id": rng.choice(ACCOUNTS, n),
        "region": rng.choice(REGIONS, n),
        "billed_cost": base * fx,
        "effective_cost": np.round(base * 0.8, 10) * fx,
        "list_cost": np.round(base * 1.25, 10) * fx,
        "billed_cost_billing_currency": base,
        "effective_cost_billing_currency": np.round(base * 0.8, 10),
        "list_cost_billing_currency": np.round(base * 1.25, 10),
        "source_rows": rng.integers(1, 6, n),
    })
    for col in TEXT:
        frame[col] = frame[col].astype("str")
    return frame[COLUMNS]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conservation_per_month_on_a_random_frame(seed):
    before = random_costs(seed)
    after, effects = apply_rules(before, MANY_RULES)
    assert_conserved(before, after)
    matched = {e.rule_id: e.rows for e in effects}
    assert matched["never"] == 0
    assert all(rows > 0 for rid, rows in matched.items() if rid != "never"), matched
    assert set(after["allocation_rule_id"].dropna()) >= {"rename-legacy", "snowflake", "search-to-discovery", "ml-again"}
    # the buckets are emptied by the distributions that take them as source (within their windows)
    assert not set(after["project"]) & {"shared", "unallocated", "ml"}
    assert set(after.loc[after["project"] == "legacy", "charge_date"].dt.strftime("%Y-%m-%d")) <= {f"2024-08-{d:02d}" for d in range(1, 15)}
    assert (after["allocated_ratio"].dropna().between(0, 1)).all()
    # before is not modified
    pd.testing.assert_frame_equal(before, random_costs(seed))


def test_result_does_not_depend_on_the_input_index():
    before = random_costs(5, 400)
    shifted = before.set_axis(before.index * 7 + 3)
    a, _ = apply_rules(before, MANY_RULES)
    b, _ = apply_rules(shifted, MANY_RULES)
    pd.testing.assert_frame_equal(a, b)
    assert a.index.equals(pd.RangeIndex(len(a)))


# ------------------------------------------------------------------------------------------
# nothing to do


def test_rule_matching_nothing_changes_only_lineage_columns():
    before = costs(row("2024-09-01", "a", 10.0), row("2024-10-01", "b", 3.0, service="S3"))
    rules = [
        rename("r", "nobody", "x"),
        transfer("t", "a", "x", {"service": "Nothing"}),
        move("m", "Nothing", "a", "x"),
        distribute("d", "nobody", ["a", "b"], "proportional"),
        rename("w", "a", "x", start="2025-01-01"),
    ]
    after, effects = apply_rules(before, rules)
    pd.testing.assert_frame_equal(after[COLUMNS], before)
    assert after["project_before_rules"].tolist() == ["a", "b"]
    assert after[["allocation_rule_id", "allocation_method", "allocated_ratio"]].isna().all().all()
    assert [(e.rows, e.effective_cost) for e in effects] == [(0, 0.0)] * 5


def test_no_rules():
    before = costs(row("2024-09-01", "a", 10.0))
    after, effects = apply_rules(before, [])
    assert effects == []
    pd.testing.assert_frame_equal(after[COLUMNS], before)
    assert after.columns.tolist() == [*COLUMNS, *LINEAGE]


def test_empty_frame():
    before = costs()
    after, effects = apply_rules(before, [rename("r", "a", "b"), distribute("d", "a", ["b", "c"], "proportional")])
    assert after.empty
    assert after.columns.tolist() == [*COLUMNS, *LINEAGE]
    assert [(e.rule_id, e.rows, e.effective_cost) for e in effects] == [("r", 0, 0.0), ("d", 0, 0.0)]


def test_transfer_cost_matches_finance_dimensions():
    """A cost center's spend to a project, and a vendor to a team's project (general-ledger and
    card rows land in 'unallocated' when projects.csv does not map them)."""
    before = costs(row("2024-09-01", "unallocated", 1.0), row("2024-09-01", "unallocated", 2.0),
                   row("2024-09-02", "unallocated", 4.0), row("2024-09-02", "checkout", 8.0))
    before["cost_center"] = pd.Series(["CC-4100", "CC-4200", "CC-4100", "CC-4100"], dtype="str")
    before["vendor"] = pd.Series(["Atlassian", "Datadog", "Datadog", "Datadog"], dtype="str")
    rules = [transfer("cc", "unallocated", "platform", {"cost_center": "CC-4100"}),
             transfer("dd", "unallocated", "observability", {"vendor": ["Datadog"]})]
    after, effects = apply_rules(before, rules)
    # row 3 is CC-4100 *and* Datadog: the first rule takes it, so the second finds it gone
    assert after["project"].tolist() == ["platform", "observability", "platform", "checkout"]
    assert [(e.rows, e.effective_cost) for e in effects] == [(2, 5.0), (1, 2.0)]
    assert by_project(after) == {"platform": 5.0, "observability": 2.0, "checkout": 8.0}
