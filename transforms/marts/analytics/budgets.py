"""fct_budget_vs_actual: each project's spend against its budget, per billing month.

Conservation law: `actual` summed over the projects of a month equals fct_costs_monthly's
effective cost of that month: every project with spend appears, with a null budget when it has
none, and a budget without spend appears with actual 0.

For the open month (the latest month whose data stops before its last day), the month-end
projection is the month-to-date cost plus, for each remaining day, the median cost of that
weekday over the last four weeks: weekends stay cheap, and a once-a-month charge (a support fee on
the 1st) is not repeated, because one day in four does not move a median.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from transforms.intermediate.costs_converted import resolve_fx_rates

STATUSES = ("under", "warning", "over", "projected_over")
COLUMNS = [
    "billing_month", "project", "team", "reporting_currency", "budget", "budget_currency", "budget_original",
    "actual", "remaining", "pct_used", "is_open_month", "projected_month_end", "status",
]
PATTERN_DAYS = 28


@dataclass(frozen=True)
class BudgetThresholds:
    warning_pct: float = 80.0  # pct_used at or above this (and not over) is a warning


def open_month(daily: pd.DataFrame) -> tuple[str, pd.Timestamp] | None:
    """(month, last charge day) when the latest month's data stops before the month's last day."""
    if daily.empty:
        return None
    last_day = pd.Timestamp(daily["charge_date"].max()).normalize()
    month_end = last_day + pd.offsets.MonthEnd(0)
    return (last_day.strftime("%Y-%m"), last_day) if last_day < month_end else None


def project_month_end(
    daily: pd.DataFrame, month: str, last_day: pd.Timestamp, first_cost: pd.Series | None = None
) -> pd.Series:
    """Projected month-end effective cost per project of the open month.

    `daily` holds the daily cost per project (charge_date, project, effective_cost) of at least
    the open month and the four weeks before its last day. `first_cost` is each project's first
    charge date ever (default: its first date in `daily`): days before it do not count, so a new
    project is not diluted by zeros, while a project that only pays a monthly fee is not mistaken
    for a new one and its fee is not repeated."""
    window_start = last_day - pd.Timedelta(days=PATTERN_DAYS - 1)
    days = pd.date_range(window_start, last_day, freq="D")
    per_day = (
        daily[(daily["charge_date"] >= window_start) & (daily["charge_date"] <= last_day)]
        .groupby(["project", "charge_date"])["effective_cost"].sum()
        .unstack("charge_date")
        .reindex(columns=days, fill_value=0.0)
        .fillna(0.0)
    )
    in_month = daily["billing_month"] == month
    to_date = daily[in_month].groupby("project")["effective_cost"].sum()
    remaining = pd.date_range(last_day + pd.Timedelta(days=1), last_day + pd.offsets.MonthEnd(0), freq="D")
    if per_day.empty or len(remaining) == 0:
        return to_date
    # Median per weekday over the window, counting only days since the project's first cost in it
    # (a project that started last week is not diluted by the zeros before it existed).
    if first_cost is None:
        first_cost = daily.groupby("project")["charge_date"].min()
    starts = pd.to_datetime(per_day.index.map(first_cost)).fillna(days[0]).to_numpy(dtype="datetime64[ns]")
    started = days.to_numpy(dtype="datetime64[ns]")[None, :] >= starts[:, None]
    values = np.where(started, per_day.to_numpy(), np.nan)
    weekdays = days.weekday.to_numpy()
    medians = np.full((len(per_day), 7), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: handled just below
        for wd in range(7):
            medians[:, wd] = np.nanmedian(values[:, weekdays == wd], axis=1)
        # A weekday not seen since the project started falls back to its mean daily cost.
        fallback = np.nan_to_num(np.nanmean(values, axis=1))
    medians = np.where(np.isnan(medians), fallback[:, None], medians)
    rest = medians[:, remaining.weekday.to_numpy()].sum(axis=1)
    projection = pd.Series(rest, index=per_day.index)
    return to_date.add(projection, fill_value=0.0)


def convert_budgets(budgets: pd.DataFrame, fx: pd.DataFrame, reporting_currency: str) -> pd.DataFrame:
    """budgets.csv rows with `budget` in the reporting currency, at the rate of the budget's month
    (the latest earlier rate when the month has none, as for costs)."""
    if budgets.empty:
        return budgets.assign(budget=pd.Series(dtype="float64"))
    pairs = budgets[["month", "currency"]].drop_duplicates().rename(
        columns={"month": "billing_month", "currency": "billing_currency"})
    rates = resolve_fx_rates(pairs, fx, reporting_currency).rename(
        columns={"billing_month": "month", "billing_currency": "currency"})
    out = budgets.merge(rates[["month", "currency", "fx_rate"]], on=["month", "currency"], how="left")
    return out.assign(budget=out["amount"] * out["fx_rate"]).drop(columns="fx_rate")


def build_budget_vs_actual(
    monthly: pd.DataFrame,
    budgets: pd.DataFrame,
    daily: pd.DataFrame,
    projects: pd.DataFrame,
    reporting_currency: str,
    thresholds: BudgetThresholds | None = None,
    first_cost: pd.Series | None = None,
) -> pd.DataFrame:
    """`monthly`: fct_costs_monthly rows (billing_month, project, effective_cost); `budgets`:
    project, month, amount, currency, budget (converted to the reporting currency); `daily`:
    charge_date, billing_month, project, effective_cost of the open month and the 4 weeks before."""
    monthly = monthly.assign(project=monthly["project"].fillna("unallocated"))
    actual = monthly.groupby(["billing_month", "project"], dropna=False)["effective_cost"].sum().rename("actual")
    plan = budgets.rename(columns={"month": "billing_month", "amount": "budget_original", "currency": "budget_currency"})
    plan = plan.set_index(["billing_month", "project"])[["budget", "budget_original", "budget_currency"]]
    months = set(monthly["billing_month"])
    plan = plan[plan.index.get_level_values("billing_month").isin(months)]  # budgets of months with data
    out = pd.concat([actual, plan], axis=1).reset_index()
    out["actual"] = out["actual"].fillna(0.0)
    out["project"] = out["project"].fillna("unallocated")
    teams = projects.set_index("project")["team"] if not projects.empty else pd.Series(dtype="str")
    out["team"] = out["project"].map(teams).astype("str")
    out["reporting_currency"] = reporting_currency
    out["remaining"] = out["budget"] - out["actual"]
    out["pct_used"] = np.where(out["budget"] > 0, out["actual"] / out["budget"] * 100, np.nan)
    out["projected_month_end"] = out["actual"]
    out["is_open_month"] = False
    current = open_month(daily)
    if current is not None:
        month, last_day = current
        projected = project_month_end(daily, month, last_day, first_cost)
        is_open = out["billing_month"] == month
        out.loc[is_open, "is_open_month"] = True
        out.loc[is_open, "projected_month_end"] = out.loc[is_open, "project"].map(projected).fillna(
            out.loc[is_open, "actual"]).to_numpy()
    out["status"] = _status(out, thresholds or BudgetThresholds())
    return out[COLUMNS].sort_values(["billing_month", "project"]).reset_index(drop=True)


def _status(frame: pd.DataFrame, thresholds: BudgetThresholds) -> pd.Series:
    budget = frame["budget"]
    limit = budget.fillna(np.inf)  # no budget: never over (the status is null anyway)
    over = frame["actual"] > limit
    projected_over = frame["is_open_month"] & (frame["projected_month_end"] > limit)
    # pct_used rounded to 1e-9 %: 0.99 of 1.10 is 90 %, not 89.99999999999999 %
    used = np.round(frame["actual"] / limit.where(limit != 0, np.inf) * 100, 9)
    warning = used >= thresholds.warning_pct
    status = np.select([over, projected_over, warning], ["over", "projected_over", "warning"], default="under")
    return pd.Series(status, index=frame.index, dtype="str").where(budget.notna())
