"""The analytics assets (fct_budget_vs_actual, fct_cost_drivers) materialized by the monthly job in
process against SQLite, on the small landing folder of tests/conftest.py plus a budgets file."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import EXPECTED_EFFECTIVE_USD
from tests.helpers import check_results, materialized_assets, read_whole_table, row_counts, run_job, table_totals

TABLES = ["fct_budget_vs_actual", "fct_cost_drivers"]
# every dimension, the finance ones too (this cloud-only data has none: their "(none)" member carries the change)
DIMENSIONS = ["project", "service_name", "sub_account_id", "region", "provider", "cost_center", "cost_center_name",
              "profit_center", "profit_center_name", "directorate", "functional_area", "functional_area_name",
              "gl_account", "gl_account_name", "vendor", "merchant_category"]
# checkout: USD in 2024-09; EUR 50 in 2024-10 at the carried-forward 2024-09 rate 1.10 = 55.
# search: 90 in 2024-09 (it spends 100: over); no budget in 2024-10 (it spends 20).
# newproj: a budget, no spend. 2024-12 has no data: its budget is left out.
BUDGETS = ("project,month,amount,currency\n"
           "checkout,2024-09,100,\n"
           "checkout,2024-10,50,EUR\n"
           "search,2024-09,90,USD\n"
           "newproj,2024-10,10,USD\n"
           "checkout,2024-12,1,USD\n")


def _state(url: str) -> tuple:
    return (
        row_counts(url, TABLES),
        table_totals(url, "fct_budget_vs_actual", "actual"),
        table_totals(url, "fct_budget_vs_actual", "budget"),
        table_totals(url, "fct_cost_drivers", "change"),
        table_totals(url, "fct_cost_drivers", "current_cost"),
    )


def test_budget_vs_actual_and_cost_drivers(data_dir, sqlite_url):
    (data_dir / "reference" / "budgets.csv").write_text(BUDGETS)
    result = run_job(data_dir, sqlite_url, "2024-09", "2024-10")
    # only these two assets (and what they read) matter here, not other analytics assets of the job
    for table in TABLES:
        assert result.is_node_success(table), table
    assert set(TABLES) <= materialized_assets(result)
    checks = check_results(result)
    assert checks["actual_matches_monthly"] == (True, "ERROR")
    assert checks["drivers_sum_to_change"] == (True, "ERROR")

    # actual per month = fct_costs_monthly's effective cost (= the hand-computed fixture totals)
    monthly = table_totals(sqlite_url, "fct_costs_monthly")
    assert table_totals(sqlite_url, "fct_budget_vs_actual", "actual") == pytest.approx(monthly, abs=1e-9)
    assert monthly == pytest.approx(EXPECTED_EFFECTIVE_USD, abs=1e-9)

    bva = read_whole_table(sqlite_url, "fct_budget_vs_actual")
    assert not bva.duplicated(["billing_month", "project"]).any()
    rows = {(m, p): r for m, p, r in zip(bva["billing_month"], bva["project"], bva.itertuples())}
    assert set(bva["billing_month"]) == {"2024-09", "2024-10"}  # the 2024-12 budget has no data
    checkout = rows[("2024-10", "checkout")]
    assert (checkout.budget_currency, checkout.budget_original) == ("EUR", 50.0)
    assert checkout.budget == pytest.approx(55.0)
    assert checkout.actual == pytest.approx(1.125)
    assert bool(checkout.is_open_month)  # data stops on 2024-10-15
    assert not bool(rows[("2024-09", "checkout")].is_open_month)
    assert rows[("2024-09", "search")].status == "over"  # 100 > 90
    assert rows[("2024-09", "checkout")].status == "under"  # 77.75 of 100
    newproj = rows[("2024-10", "newproj")]
    assert (newproj.actual, newproj.budget, newproj.status) == (0.0, 10.0, "under")
    search = rows[("2024-10", "search")]
    assert search.actual == pytest.approx(20.0)
    assert pd.isna(search.budget) and pd.isna(search.status)

    # drivers: every dimension adds up to the change 2024-09 -> 2024-10
    drivers = read_whole_table(sqlite_url, "fct_cost_drivers")
    change = EXPECTED_EFFECTIVE_USD["2024-10"] - EXPECTED_EFFECTIVE_USD["2024-09"]
    sums = drivers.groupby(["billing_month", "dimension"])["change"].sum().to_dict()
    assert sums == pytest.approx({("2024-10", d): change for d in DIMENSIONS}, abs=1e-9)

    # re-running changes nothing
    before = _state(sqlite_url)
    again = run_job(data_dir, sqlite_url, "2024-09", "2024-10")
    assert all(again.is_node_success(table) for table in TABLES)
    assert check_results(again)["actual_matches_monthly"] == check_results(again)["drivers_sum_to_change"] == (True, "ERROR")
    after = _state(sqlite_url)
    assert after[0] == before[0]
    for got, expected in zip(after[1:], before[1:]):
        assert got == pytest.approx(expected, abs=1e-9)
