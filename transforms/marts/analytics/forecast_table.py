"""fct_cost_forecasts rows: the organisation total and each project, `horizon` months ahead.

History = complete months only (a project's months from its first cost, gaps as 0). The first
forecast month is the month after the last complete month; when that is the open month, its
forecast is the month-to-date cost plus the weekday-pattern projection of the remaining days
(the same projection budgets use), with the model's interval scaled to the share of the month
still to come. A project without cost in its last three complete months and none this month is
retired and gets no forecast; a project new in the open month has its projection as history.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.marts.analytics.forecasting import forecast_monthly

COLUMNS = [
    "level", "project", "month", "reporting_currency", "forecast", "lower_80", "upper_80", "lower_95", "upper_95",
    "actual_to_date", "model", "backtest_smape", "history_months", "generated_at",
]
BOUNDS = ("lower_95", "lower_80", "upper_80", "upper_95")
RETIRED_AFTER_MONTHS = 3


def _series(monthly: pd.DataFrame, last_complete: str, started: pd.Timestamp | None = None) -> pd.Series:
    """Monthly totals from the series' first month to `last_complete`, missing months as 0. A
    first month the project only joined part-way through (`started` after its 1st) is left out
    when later months exist: half a month would read as a doubling."""
    by_month = monthly.groupby("billing_month")["effective_cost"].sum()
    by_month = by_month[by_month.index <= last_complete]
    if by_month.empty:
        return by_month
    months = pd.period_range(by_month.index.min(), last_complete, freq="M").astype(str)
    series = by_month.reindex(months, fill_value=0.0)
    if started is not None and pd.notna(started) and pd.Timestamp(started).day > 1 and len(series) > 1 \
            and series.index[0] == pd.Timestamp(started).strftime("%Y-%m"):
        series = series.iloc[1:]
    return series


def _rows(level: str, project: str | None, history: pd.Series, months: list[str], open_info: dict | None) -> list[dict]:
    fc = forecast_monthly(history.to_numpy(dtype="float64"), len(months))
    rows = []
    for i, month in enumerate(months):
        row = {"level": level, "project": project, "month": month, "model": fc.model,
               "backtest_smape": fc.backtest_smape, "history_months": len(history), "actual_to_date": np.nan,
               "forecast": float(fc.mean[i]), **{b: float(getattr(fc, b)[i]) for b in BOUNDS}}
        if open_info is not None and month == open_info["month"]:
            # Month to date is known: only the remaining days are uncertain, and what is spent
            # stays spent (lower bounds never go below it, unless credits are projected).
            to_date, projected, remaining = open_info["to_date"], open_info["projected"], open_info["remaining_share"]
            row["actual_to_date"] = to_date
            floor = min(to_date, projected)
            for b in BOUNDS:
                row[b] = projected + (row[b] - row["forecast"]) * remaining
                if b.startswith("lower"):
                    row[b] = max(row[b], floor)
            row["forecast"] = projected
        rows.append(row)
    return rows


def build_forecasts(
    monthly: pd.DataFrame,
    open_month: str | None,
    to_date: pd.Series,
    projected: pd.Series,
    remaining_share: float,
    horizon: int,
    reporting_currency: str,
    generated_at: pd.Timestamp,
    first_cost: pd.Series | None = None,
) -> pd.DataFrame:
    """`monthly`: billing_month, project, effective_cost (fct_costs_monthly). For the open month,
    `to_date` and `projected` hold each project's month-to-date cost and month-end projection,
    `remaining_share` the fraction of its days still to come. `first_cost`: each project's first
    charge day (to leave out a partial first month)."""
    complete = sorted(m for m in monthly["billing_month"].unique() if m != open_month)
    if not complete:
        return pd.DataFrame(columns=COLUMNS)
    last_complete = complete[-1]
    months = [str(p) for p in pd.period_range(pd.Period(last_complete, freq="M") + 1, periods=horizon, freq="M")]
    has_open = open_month is not None and open_month == months[0]

    def open_info(keys) -> dict | None:
        if not has_open:
            return None
        return {"month": open_month, "to_date": float(to_date.reindex(keys).sum()),
                "projected": float(projected.reindex(keys).sum()), "remaining_share": remaining_share}

    rows = _rows("total", None, _series(monthly, last_complete), months, open_info(projected.index))
    for project, part in monthly.groupby("project"):
        history = _series(part, last_complete, first_cost.get(project) if first_cost is not None else None)
        spending_now = abs(to_date.get(project, 0.0)) >= 0.005
        if history.empty:
            if not (has_open and spending_now):
                continue
            # New this month: the projection of the open month is all there is to go on.
            history = pd.Series([float(projected.get(project, 0.0))], index=[open_month])
        elif (history.iloc[-RETIRED_AFTER_MONTHS:].abs() < 0.005).all() and not spending_now:
            continue  # retired: no cost for three months and none this month
        rows += _rows("project", project, history, months, open_info([project]))
    out = pd.DataFrame(rows)
    out["reporting_currency"] = reporting_currency
    out["generated_at"] = generated_at
    return out[COLUMNS]
