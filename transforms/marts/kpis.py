"""kpis_monthly: month-level cost KPIs for the whole organisation and for each team.

Conservation law: in every billing month the organisation row's ``total_cost`` (and
``chargeback_cost``) equals fct_costs_monthly's ``effective_cost`` (``chargeback_cost``) for that
month, and the team rows of a month (a null team reported as ``unassigned``) add up to the
organisation row; a calendar month with no data between the first and the last month has an
organisation row with total 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.staging.billing import UNALLOCATED

UNASSIGNED = "unassigned"
ORGANISATION = "organisation"
TEAM = "team"
OUTPUT_COLUMNS = [
    "billing_month", "scope", "team", "reporting_currency", "total_cost", "chargeback_cost", "previous_month_cost",
    "change_abs", "change_pct", "avg_monthly_cost_12m", "top_project", "top_project_cost", "projects_with_spend",
]
TRAILING_MONTHS = 12
# Below half a cent an amount displays as 0.00: such a project has no spend, and a percentage
# change from such a month would only measure float noise (e.g. credits that net to 1e-17).
ZERO_SPEND = 0.005
# Project totals are ranked at this precision, so that two projects with the same cents are a tie
# (broken alphabetically) however their rows were summed.
RANK_DECIMALS = 6
KEYS = ["scope", "unit", "billing_month"]  # unit: "" for the organisation, the team name for a team


def _empty() -> pd.DataFrame:
    dtypes = {"total_cost": "float64", "chargeback_cost": "float64", "previous_month_cost": "float64", "change_abs": "float64",
              "change_pct": "float64", "avg_monthly_cost_12m": "float64", "top_project_cost": "float64", "projects_with_spend": "int64"}
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "str")) for c in OUTPUT_COLUMNS})


def _labels(values: pd.Series, missing: str) -> pd.Series:
    # object first: an all-null column may arrive as float64, which cannot hold the label
    return values.astype(object).where(values.notna(), missing).astype(str)


def _reporting_currency(monthly: pd.DataFrame) -> str | None:
    currencies = monthly["reporting_currency"].dropna().unique()
    if len(currencies) > 1:
        # summing amounts in different currencies would give a meaningless total
        raise ValueError(f"fct_costs_monthly mixes reporting currencies: {sorted(currencies)}")
    return str(currencies[0]) if len(currencies) else None


def _calendar(billing_month: pd.Series) -> tuple[pd.Series, pd.Index]:
    """Canonical 'YYYY-MM' of each row, and every calendar month from the first to the last."""
    if billing_month.isna().any():
        raise ValueError("fct_costs_monthly has rows without billing_month")
    seen = billing_month.astype(str).unique()
    periods = pd.to_datetime(pd.Series(seen), format="%Y-%m").dt.to_period("M")
    canonical = dict(zip(seen, periods.dt.strftime("%Y-%m")))
    months = pd.period_range(periods.min(), periods.max(), freq="M").strftime("%Y-%m")
    return billing_month.astype(str).map(canonical), pd.Index(months, name="billing_month")


def _trailing_mean(grid: pd.DataFrame) -> pd.DataFrame:
    """Mean over the window of up to 12 months ending with each month (months before the first
    month of data are not counted). Each window is summed afresh, not as a running total, so a
    large month leaves no float residue in later averages."""
    values = grid.to_numpy(dtype="float64")
    padded = np.vstack([np.zeros((TRAILING_MONTHS - 1, values.shape[1])), values])
    sums = np.lib.stride_tricks.sliding_window_view(padded, TRAILING_MONTHS, axis=0).sum(axis=-1)
    counts = np.minimum(np.arange(1, len(grid) + 1), TRAILING_MONTHS)[:, None]
    return pd.DataFrame(sums / counts, index=grid.index, columns=grid.columns)


def _long(wide: pd.DataFrame) -> pd.Series:
    """(month × scope/unit) grid back to a Series indexed like KEYS."""
    return wide.unstack().reorder_levels(KEYS)


def build_kpis_monthly(monthly: pd.DataFrame) -> pd.DataFrame:
    """One row per billing month for the organisation, and one per (billing month, team) that
    has rows in that month; see OUTPUT_COLUMNS."""
    if monthly.empty:
        return _empty()
    currency = _reporting_currency(monthly)
    billing_month, months = _calendar(monthly["billing_month"])
    base = pd.DataFrame(
        {
            "billing_month": billing_month,
            "project": _labels(monthly["project"], UNALLOCATED),
            "effective_cost": monthly["effective_cost"].astype("float64"),
            "chargeback_cost": monthly["chargeback_cost"].astype("float64"),
        }
    )
    # Every cost row counts once for the organisation and once for its team; both scopes then
    # go through the same groupbys, so they cannot drift apart.
    rows = pd.concat(
        [base.assign(scope=ORGANISATION, unit=""), base.assign(scope=TEAM, unit=_labels(monthly["team"], UNASSIGNED))],
        ignore_index=True,
    )
    totals = rows.groupby(KEYS, sort=True)[["effective_cost", "chargeback_cost"]].sum()
    by_project = rows.groupby(KEYS + ["project"], sort=True)["effective_cost"].sum().reset_index()

    ranked = by_project.assign(rank=by_project["effective_cost"].round(RANK_DECIMALS)).sort_values(
        KEYS + ["rank", "project"], ascending=[True, True, True, False, True]
    )
    top = ranked.drop_duplicates(KEYS).set_index(KEYS)
    spending = by_project[by_project["effective_cost"].abs() > ZERO_SPEND].groupby(KEYS).size()

    # Calendar grid: months without rows (for a scope, or gap months for everyone) count as 0,
    # so the previous month and the trailing window are calendar months, not rows.
    grid = totals["effective_cost"].unstack(["scope", "unit"]).reindex(months).fillna(0.0)
    previous = grid.shift(1)  # the first month of data has no previous month: null

    index = pd.MultiIndex.from_product([[ORGANISATION], [""], months], names=KEYS).append(
        totals.index[totals.index.get_level_values("scope") == TEAM]
    )
    out = pd.DataFrame(index=index)
    out["total_cost"] = _long(grid).reindex(index)
    out["chargeback_cost"] = totals["chargeback_cost"].reindex(index).fillna(0.0)
    out["previous_month_cost"] = _long(previous).reindex(index)
    out["change_abs"] = out["total_cost"] - out["previous_month_cost"]
    comparable = out["previous_month_cost"].abs() > ZERO_SPEND
    out["change_pct"] = (out["change_abs"] / out["previous_month_cost"] * 100).where(comparable)
    out["avg_monthly_cost_12m"] = _long(_trailing_mean(grid)).reindex(index)
    out["top_project"] = top["project"].reindex(index)
    out["top_project_cost"] = top["effective_cost"].reindex(index)
    out["projects_with_spend"] = spending.reindex(index).fillna(0).astype("int64")

    out = out.reset_index()
    out["team"] = out["unit"].where(out["scope"] == TEAM)
    out["reporting_currency"] = currency
    out = out.sort_values(["billing_month", "scope", "team"], na_position="first", kind="stable")
    return out[OUTPUT_COLUMNS].reset_index(drop=True)
