"""fct_costs_daily / fct_costs_monthly (transforms/marts/costs.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.helpers import stage_daily
from transforms.intermediate.allocation.engine import apply_rules
from transforms.intermediate.costs_converted import convert_costs
from transforms.marts.costs import DAILY_GRAIN, MONTHLY_GRAIN, build_costs_daily, build_costs_monthly
from transforms.money import conserved, exact_total
from transforms.staging.billing import AMOUNTS
from transforms.staging.pricing import stage_pricing
from transforms.staging.reference import stage_projects

FX = pd.DataFrame({"month": ["2024-08", "2024-08"], "currency": ["EUR", "GBP"], "rate": [1.1, 1.25]})
VALUES = [*AMOUNTS, "chargeback_cost", "source_rows"]


NO_PRICING = stage_pricing(pd.DataFrame(columns=["service", "markup_pct"]))[0]


ACCOUNT_PROJECTS = {"acc-0": "data", "acc-1": "ml", "acc-2": "data"}


def _raw_row(i: int, file_no: int) -> dict:
    amount = f"{((i + 3 * file_no) * 3.17) % 41 - 2:.4f}"
    return {"charge_period_start": f"2024-{8 + i % 2:02d}-{1 + i % 5:02d}T{i % 24:02d}:00:00Z",
            "billing_currency": ["USD", "EUR", "GBP"][i % 3], "billed_cost": amount,
            "effective_cost": f"{float(amount) * 0.8:.4f}", "sub_account_id": f"acc-{i % 4}",
            "service_name": ["EC2", "S3", "Lambda"][i % 3], "tags": '{"project": "web"}' if i % 5 == 0 else None}


def converted() -> pd.DataFrame:
    """int_costs_allocated (no rules) built by the real transforms from two source files."""
    frames = [
        stage_daily([_raw_row(i, file_no) for i in range(80)], source_file, account_projects=ACCOUNT_PROJECTS)
        for file_no, source_file in enumerate(["aws/2024-08/a.csv", "aws/2024-09/b.csv"])
    ]
    return apply_rules(convert_costs(pd.concat(frames, ignore_index=True), FX, "USD"), [])[0]


def projects() -> pd.DataFrame:
    raw = pd.DataFrame(
        [["web", "frontend", "acc-9"], ["data", "platform", "acc-0"], ["data", "platform", "acc-2"], ["ml", "research", "acc-1"]],
        columns=["project", "team", "account_id"],
        dtype=object,
    )
    dim, _, problems = stage_projects(raw)
    assert problems == []
    return dim


TEAMS = {"web": "frontend", "data": "platform", "ml": "research"}


def test_daily_adds_the_team_of_each_project():
    conv = converted()
    daily = build_costs_daily(conv, projects(), NO_PRICING)
    assert set(daily["project"]) == {"web", "data", "ml", "unallocated"}
    for project, team in zip(daily["project"], daily["team"]):
        if project == "unallocated":
            assert pd.isna(team)  # not in projects.csv: null team, row kept
        else:
            assert team == TEAMS[project]


def test_daily_without_projects_has_null_team_and_keeps_rows():
    conv = converted()
    daily = build_costs_daily(conv, pd.DataFrame(columns=["project", "code", "owner", "team", "account_ids"]), NO_PRICING)
    assert daily["team"].isna().all()
    assert int(daily["source_rows"].sum()) == int(conv["source_rows"].sum())


def test_daily_preserves_totals_and_drops_file_lineage():
    conv = converted()
    daily = build_costs_daily(conv, projects(), NO_PRICING)
    assert list(daily.columns) == DAILY_GRAIN + VALUES + ["effective_cost_billing_currency"]
    assert "source_file" not in daily.columns
    # the two files share days and accounts, so rows were combined
    assert len(daily) < len(conv)
    assert not daily.duplicated(DAILY_GRAIN).any()
    amounts = [*AMOUNTS, "source_rows"]
    for col in amounts + ["effective_cost_billing_currency"]:
        assert conserved(exact_total(conv[col]), exact_total(daily[col]), len(conv)), col
    # no pricing: the chargeback price is the effective cost, to the bit
    assert (daily["chargeback_cost"] == daily["effective_cost"]).all()
    # per month and currency as well
    keys = ["billing_month", "billing_currency", "project"]
    pd.testing.assert_frame_equal(
        conv.groupby(keys)[amounts].sum().sort_index(), daily.groupby(keys)[amounts].sum().sort_index(), rtol=1e-12
    )


@pytest.mark.parametrize("month", ["2024-08", "2024-09"])
def test_monthly_preserves_totals_per_month(month):
    conv = converted()
    daily = build_costs_daily(conv, projects(), NO_PRICING)
    monthly = build_costs_monthly(daily)
    assert list(monthly.columns) == MONTHLY_GRAIN + VALUES
    assert not monthly.duplicated(MONTHLY_GRAIN).any()
    d = daily[daily["billing_month"] == month]
    m = monthly[monthly["billing_month"] == month]
    c = conv[conv["billing_month"] == month]
    assert len(m) > 0
    assert int(m["source_rows"].sum()) == int(d["source_rows"].sum()) == int(c["source_rows"].sum())
    for a in AMOUNTS:
        assert conserved(exact_total(c[a]), exact_total(m[a]), len(c)), a
    keys = ["project", "team", "billing_currency"]
    pd.testing.assert_frame_equal(
        d.groupby(keys, dropna=False)[VALUES].sum().sort_index(),
        m.groupby(keys, dropna=False)[VALUES].sum().sort_index(),
        rtol=1e-12,
    )


def test_monthly_keeps_months_and_currencies_apart():
    monthly = build_costs_monthly(build_costs_daily(converted(), projects(), NO_PRICING))
    assert sorted(monthly["billing_month"].unique()) == ["2024-08", "2024-09"]
    assert set(monthly["billing_currency"]) == {"USD", "EUR", "GBP"}
    assert (monthly["reporting_currency"] == "USD").all()
