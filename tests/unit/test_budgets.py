"""fct_budget_vs_actual (transforms/marts/analytics/budgets.py): statuses, the open-month projection,
budget conversion and conservation. Expected numbers are computed by hand in the comments."""

from __future__ import annotations

import pandas as pd
import pytest

from transforms.intermediate.costs_converted import MissingFxRate
from transforms.marts.analytics.budgets import (
    COLUMNS,
    BudgetThresholds,
    build_budget_vs_actual,
    convert_budgets,
    open_month,
    project_month_end,
)

PROJECTS = pd.DataFrame({"project": ["web", "api"], "team": ["frontend", "platform"]})
NO_DAILY = pd.DataFrame({"charge_date": pd.Series(dtype="datetime64[ns]"), "billing_month": pd.Series(dtype="str"),
                         "project": pd.Series(dtype="str"), "effective_cost": pd.Series(dtype="float64")})


def monthly(rows: list[tuple]) -> pd.DataFrame:
    """fct_costs_monthly-like rows from (billing_month, project, effective_cost)."""
    return pd.DataFrame(rows, columns=["billing_month", "project", "effective_cost"])


def budgets(rows: list[tuple]) -> pd.DataFrame:
    """stg_budgets rows from (project, month, amount[, currency[, budget]]): USD, budget = amount by default."""
    records = []
    for project, month, amount, *rest in rows:
        currency = rest[0] if rest else "USD"
        budget = rest[1] if len(rest) > 1 else amount
        records.append({"project": project, "month": month, "amount": amount, "currency": currency, "budget": budget})
    frame = pd.DataFrame(records, columns=["project", "month", "amount", "currency", "budget"])
    return frame.astype({"amount": "float64", "budget": "float64"})


def daily(rows: list[tuple]) -> pd.DataFrame:
    """fct_costs_daily-like rows from (charge_date, project, effective_cost)."""
    frame = pd.DataFrame(rows, columns=["charge_date", "project", "effective_cost"])
    frame["charge_date"] = pd.to_datetime(frame["charge_date"])
    frame.insert(1, "billing_month", frame["charge_date"].dt.strftime("%Y-%m"))
    return frame


def monthly_from(days: pd.DataFrame) -> pd.DataFrame:
    return days.groupby(["billing_month", "project"], as_index=False)["effective_cost"].sum()


DEFAULT = BudgetThresholds()  # warning at 80 %


def build(month_rows, budget_rows=(), days=None, thresholds=DEFAULT) -> pd.DataFrame:
    m = month_rows if isinstance(month_rows, pd.DataFrame) else monthly(month_rows)
    return build_budget_vs_actual(m, budgets(list(budget_rows)), NO_DAILY if days is None else days, PROJECTS,
                                  "USD", thresholds)


def row(frame: pd.DataFrame, month: str, project: str) -> pd.Series:
    hit = frame[(frame["billing_month"] == month) & (frame["project"] == project)]
    assert len(hit) == 1, (month, project, len(hit))
    return hit.iloc[0]


# --- statuses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "pct", "status"),
    [
        (79.99, 79.99, "under"),
        (80.00, 80.00, "warning"),
        (99.99, 99.99, "warning"),
        (100.00, 100.00, "warning"),  # exactly on budget is not over
        (100.01, 100.01, "over"),
        (0.0, 0.0, "under"),
    ],
)
def test_status_at_the_default_thresholds(actual, pct, status):
    assert DEFAULT.warning_pct == 80.0
    r = row(build([("2024-05", "web", actual)], [("web", "2024-05", 100.0)]), "2024-05", "web")
    assert r["pct_used"] == pytest.approx(pct, abs=1e-9)
    assert r["remaining"] == pytest.approx(100.0 - actual, abs=1e-9)
    assert r["status"] == status


@pytest.mark.parametrize(
    ("budget", "actual", "status"),
    [
        (1000.0, 799.99, "under"),  # 79.999 %: under, even at 80 % ...
        (1000.0, 899.99, "under"),  # 89.999 %
        (1000.0, 900.0, "warning"),  # 90 %
        (200.0, 180.0, "warning"),  # 90 %
        (200.0, 200.0, "warning"),
        (200.0, 200.01, "over"),
    ],
)
def test_status_with_a_custom_warning_pct(budget, actual, status):
    result = build([("2024-05", "web", actual)], [("web", "2024-05", budget)], thresholds=BudgetThresholds(90.0))
    assert row(result, "2024-05", "web")["status"] == status


def test_status_exactly_at_a_custom_warning_pct_with_a_cent_budget():
    result = build([("2024-05", "web", 0.99)], [("web", "2024-05", 1.10)], thresholds=BudgetThresholds(90.0))
    assert row(result, "2024-05", "web")["status"] == "warning"


def test_warning_pct_zero_warns_as_soon_as_there_is_a_budget():
    result = build([("2024-05", "web", 0.0)], [("web", "2024-05", 100.0)], thresholds=BudgetThresholds(0.0))
    assert row(result, "2024-05", "web")["status"] == "warning"


# --- the open month and its projection --------------------------------------------------------
#
# May 2024 starts on a Wednesday; the data stops on Wednesday 2024-05-15.
#   May 1-15: 11 weekdays (1-3, 6-10, 13-15) and 4 weekend days (4, 5, 11, 12)
#   May 16-31: 12 weekdays (16-17, 20-24, 27-31) and 4 weekend days (18, 19, 25, 26)
# April 2024 (starts on a Monday): 22 weekdays and 8 weekend days.
#   steady: 100 per weekday, 20 per weekend day from 2024-04-01
#       April 22*100 + 8*20 = 2360; May to date 11*100 + 4*20 = 1180; rest 12*100 + 4*20 = 1280 -> 2460
#   fee: as steady, plus a 500 support fee on the 1st of each month
#       April 2860; May to date 1680; the fee is not repeated -> 1680 + 1280 = 2960
#   newbie: 40 a day from Saturday 2024-05-11 (5 days of data, no full week)
#       May to date 200; its own level for the 16 remaining days -> 200 + 16*40 = 840
LAST_DAY = "2024-05-15"


def _open_month_days(last_day: str = LAST_DAY) -> pd.DataFrame:
    rows = []
    for day in pd.date_range("2024-04-01", last_day, freq="D"):
        level = 20.0 if day.weekday() >= 5 else 100.0
        rows.append((day, "steady", level))
        rows.append((day, "fee", level + (500.0 if day.day == 1 else 0.0)))
        if day >= pd.Timestamp("2024-05-11"):
            rows.append((day, "newbie", 40.0))
    return daily(rows)


def test_open_month_is_the_latest_month_when_its_data_stops_early():
    assert open_month(_open_month_days()) == ("2024-05", pd.Timestamp(LAST_DAY))
    assert open_month(_open_month_days("2024-05-31")) is None  # data up to the last day: closed
    assert open_month(_open_month_days("2024-04-30")) is None
    assert open_month(NO_DAILY) is None


def test_projection_follows_the_weekday_pattern_and_does_not_repeat_the_monthly_fee():
    projected = project_month_end(_open_month_days(), "2024-05", pd.Timestamp(LAST_DAY))
    assert projected.to_dict() == pytest.approx({"steady": 2460.0, "fee": 2960.0, "newbie": 840.0}, abs=1e-9)


def test_open_month_rows_carry_the_projection_and_the_status():
    days = _open_month_days()
    result = build(
        monthly_from(days),
        [("steady", "2024-04", 2400.0), ("steady", "2024-05", 2400.0), ("fee", "2024-05", 3000.0),
         ("newbie", "2024-05", 150.0), ("idle", "2024-05", 100.0)],
        days,
    )
    steady = row(result, "2024-05", "steady")
    assert bool(steady["is_open_month"])
    assert steady["actual"] == pytest.approx(1180.0)
    assert steady["projected_month_end"] == pytest.approx(2460.0)
    assert steady["pct_used"] == pytest.approx(1180.0 / 2400.0 * 100)  # 49.17 %
    assert steady["status"] == "projected_over"  # 2460 > 2400
    fee = row(result, "2024-05", "fee")
    assert (fee["actual"], fee["projected_month_end"]) == pytest.approx((1680.0, 2960.0))
    assert fee["status"] == "under"  # 56 % used, 2960 <= 3000
    newbie = row(result, "2024-05", "newbie")
    assert newbie["projected_month_end"] == pytest.approx(840.0)
    assert newbie["status"] == "over"  # 200 > 150 already: over wins over projected_over
    idle = row(result, "2024-05", "idle")  # budget, no spend: actual 0, projected 0
    assert (idle["actual"], idle["projected_month_end"], idle["remaining"], idle["pct_used"]) == (0.0, 0.0, 100.0, 0.0)
    assert idle["status"] == "under"
    # the closed month before: no projection, and a status from actual only
    april = row(result, "2024-04", "steady")
    assert not bool(april["is_open_month"])
    assert april["projected_month_end"] == april["actual"] == pytest.approx(2360.0)
    assert april["status"] == "warning"  # 98.33 %
    assert set(result.loc[~result["is_open_month"].astype(bool), "status"].dropna()) <= {"under", "warning", "over"}


def test_projected_over_only_for_the_open_month():
    # The same ratios in a closed month (data up to 2024-05-31) and in the open one (up to the 15th).
    closed_days = _open_month_days("2024-05-31")
    closed = build(monthly_from(closed_days), [("steady", "2024-05", 2700.0)], closed_days)
    r = row(closed, "2024-05", "steady")
    # May: 23 weekdays, 8 weekend days -> 2460; 2460 / 2700 = 91.1 %
    assert not bool(r["is_open_month"])
    assert r["actual"] == r["projected_month_end"] == pytest.approx(2460.0)
    assert r["status"] == "warning"
    assert not closed["is_open_month"].astype(bool).any()
    open_days = _open_month_days()
    opened = build(monthly_from(open_days), [("steady", "2024-04", 2000.0), ("steady", "2024-05", 2000.0)], open_days)
    assert row(opened, "2024-05", "steady")["status"] == "projected_over"  # 1180 now, 2460 projected
    assert row(opened, "2024-04", "steady")["status"] == "over"  # 2360 > 2000, closed


def test_a_month_whose_data_reaches_its_last_day_is_not_open():
    days = _open_month_days("2024-05-31")
    result = build(monthly_from(days), [("steady", "2024-05", 5000.0)], days)
    assert not result["is_open_month"].astype(bool).any()
    assert (result["projected_month_end"] == result["actual"]).all()
    assert row(result, "2024-05", "steady")["status"] == "under"


def test_a_project_with_only_a_monthly_fee_is_not_projected_to_repeat_it():
    # web: 10 a day from 2024-03-01 to Friday 2024-05-03; saas: 300 on 2024-03-01, 04-01, 05-01 only.
    rows = [(day, "web", 10.0) for day in pd.date_range("2024-03-01", "2024-05-03", freq="D")]
    rows += [(f"2024-0{m}-01", "saas", 300.0) for m in (3, 4, 5)]
    days = daily(rows)
    result = build(monthly_from(days), [("saas", "2024-05", 300.0)], days)
    web = row(result, "2024-05", "web")
    assert web["projected_month_end"] == pytest.approx(310.0)  # 31 days x 10
    saas = row(result, "2024-05", "saas")
    assert saas["projected_month_end"] == pytest.approx(300.0)
    assert saas["status"] == "warning"  # 100 % used, nothing more to come


# --- budgets: missing, without spend, converted -----------------------------------------------


def test_spend_without_budget_is_present_with_null_budget_and_status():
    result = build([("2024-05", "web", 50.0), ("2024-05", "api", 30.0)], [("web", "2024-05", 100.0)])
    assert list(result.columns) == COLUMNS
    api = row(result, "2024-05", "api")
    assert api["actual"] == 30.0
    for column in ("budget", "budget_currency", "budget_original", "remaining", "pct_used", "status"):
        assert pd.isna(api[column]), column
    assert api["team"] == "platform"
    assert row(result, "2024-05", "web")["status"] == "under"


def test_budget_without_spend_in_a_month_with_data_has_actual_zero():
    result = build(
        [("2024-05", "web", 50.0)],
        [("api", "2024-05", 80.0), ("api", "2024-06", 80.0), ("ghost", "2024-05", 10.0)],  # June: no data at all
    )
    api = row(result, "2024-05", "api")
    assert (api["actual"], api["budget"], api["remaining"], api["pct_used"], api["status"]) == (
        0.0, 80.0, 80.0, 0.0, "under")
    assert api["team"] == "platform"
    ghost = row(result, "2024-05", "ghost")  # not in dim_projects: no team, still a row
    assert ghost["actual"] == 0.0 and pd.isna(ghost["team"])
    assert set(result["billing_month"]) == {"2024-05"}


def test_null_project_spend_is_unallocated():
    result = build([("2024-05", None, 7.0), ("2024-05", "web", 3.0)])
    assert row(result, "2024-05", "unallocated")["actual"] == 7.0


def test_null_project_spend_meets_the_unallocated_budget():
    result = build([("2024-05", None, 7.0), ("2024-05", "web", 3.0)], [("unallocated", "2024-05", 10.0)])
    r = row(result, "2024-05", "unallocated")
    assert (r["actual"], r["budget"], r["status"]) == (7.0, 10.0, "under")


FX = pd.DataFrame({"month": ["2024-03", "2024-05"], "currency": ["EUR", "EUR"], "rate": [1.10, 1.20]})


def test_eur_budgets_use_the_months_rate_or_the_latest_earlier_one():
    raw = pd.DataFrame({
        "project": ["web", "web", "web", "api"],
        "month": ["2024-03", "2024-04", "2024-05", "2024-04"],
        "amount": [1000.0, 1000.0, 1000.0, 500.0],
        "currency": ["EUR", "EUR", "EUR", "USD"],
    })
    out = convert_budgets(raw, FX, "USD")
    got = {(p, m): b for p, m, b in zip(out["project"], out["month"], out["budget"])}
    assert got == pytest.approx({
        ("web", "2024-03"): 1100.0,  # exact rate
        ("web", "2024-04"): 1100.0,  # no April rate: March's is carried forward
        ("web", "2024-05"): 1200.0,  # exact rate
        ("api", "2024-04"): 500.0,  # already in the reporting currency
    })
    assert list(out["amount"]) == [1000.0, 1000.0, 1000.0, 500.0]  # the original stays


def test_eur_budget_without_any_earlier_rate_is_an_error_not_a_guess():
    raw = pd.DataFrame({"project": ["web"], "month": ["2024-02"], "amount": [1000.0], "currency": ["EUR"]})
    with pytest.raises(MissingFxRate):
        convert_budgets(raw, FX, "USD")


def test_no_budgets_convert_to_an_empty_frame():
    out = convert_budgets(pd.DataFrame(columns=["project", "month", "amount", "currency"]), FX, "USD")
    assert out.empty and "budget" in out.columns


def test_converted_budget_flows_into_budget_vs_actual():
    converted = convert_budgets(
        pd.DataFrame({"project": ["web"], "month": ["2024-04"], "amount": [1000.0], "currency": ["EUR"]}), FX, "USD")
    result = build_budget_vs_actual(monthly([("2024-04", "web", 990.0)]), converted, NO_DAILY, PROJECTS, "USD")
    r = row(result, "2024-04", "web")
    assert (r["budget_currency"], r["budget_original"], r["reporting_currency"]) == ("EUR", 1000.0, "USD")
    assert r["budget"] == pytest.approx(1100.0)  # carried-forward March rate 1.10
    assert r["pct_used"] == pytest.approx(90.0)
    assert r["remaining"] == pytest.approx(110.0)
    assert r["status"] == "warning"


# --- conservation -----------------------------------------------------------------------------


def test_actual_summed_per_month_equals_the_input():
    # several rows per project and month (services), a credit, a null project, budgets with and without spend
    rows = [
        ("2024-04", "web", 60.0), ("2024-04", "web", 40.25), ("2024-04", "api", 12.5), ("2024-04", None, 3.0),
        ("2024-05", "web", 70.0), ("2024-05", "api", -2.5), ("2024-05", "api", 10.0), ("2024-05", "batch", 1.125),
    ]
    result = build(rows, [("web", "2024-04", 100.0), ("idle", "2024-04", 50.0), ("idle", "2024-05", 50.0)])
    totals = result.groupby("billing_month")["actual"].sum().to_dict()
    assert totals == pytest.approx({"2024-04": 115.75, "2024-05": 78.625}, abs=1e-9)
    assert row(result, "2024-04", "web")["actual"] == pytest.approx(100.25)
    assert row(result, "2024-05", "api")["actual"] == pytest.approx(7.5)
    # one row per month and project
    assert not result.duplicated(["billing_month", "project"]).any()
    assert len(result) == 4 + 4  # April: web, api, unallocated, idle; May: web, api, batch, idle
