"""Analytics over the cost marts: budgets, forecasts, anomalies and cost drivers.

Unpartitioned: each compares months with each other (a trailing pattern, a history, the month
before), so each is rebuilt over all months whenever any month changes. They read aggregates the
database computes, never the raw marts row by row. Each rebuild holds its table's rebuild_lock from
the first read to the replacement, so that with runs overlapping the last one to commit has read
every month (warehouse/locks.py).
"""

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSpec, AssetExecutionContext, MaterializeResult, MetadataValue, asset

from finops_pipeline.defs.conservation import compare_month_totals, conservation_result
from finops_pipeline.resources import FinopsResource
from finops_pipeline.warehouse import queries, schema
from finops_pipeline.warehouse.locks import rebuild_lock
from finops_pipeline.warehouse.reader import read_table
from finops_pipeline.warehouse.writer import replace_table
from transforms.marts.analytics.anomaly_table import build_anomalies
from transforms.marts.analytics.budgets import (
    PATTERN_DAYS,
    BudgetThresholds,
    build_budget_vs_actual,
    open_month,
    project_month_end,
)
from transforms.marts.analytics.drivers import DIMENSIONS, build_cost_drivers
from transforms.marts.analytics.forecast_table import build_forecasts
from transforms.months import month_range

GROUP = "analytics"


def _table_md(frame: pd.DataFrame, limit: int = 10) -> MetadataValue:
    return MetadataValue.md(frame.head(limit).to_markdown(index=False, floatfmt=",.2f") if len(frame) else "none")


@asset(
    deps=["fct_costs_monthly", "fct_costs_daily", "stg_budgets", "dim_projects"],
    group_name=GROUP,
    kinds={"pandas", "sql"},
    check_specs=[AssetCheckSpec("actual_matches_monthly", asset="fct_budget_vs_actual", blocking=True,
                                description="Per month, actual summed over projects equals fct_costs_monthly's "
                                "effective cost: every project with spend appears.")],
)
def fct_budget_vs_actual(context: AssetExecutionContext, finops: FinopsResource):
    """Each project's spend against its budget per month, with a month-end projection for the open
    month (weekday pattern of the last four weeks) and a status: under, warning, over,
    projected_over."""
    settings, engine = finops.settings(), finops.engine()
    with rebuild_lock(engine, schema.fct_budget_vs_actual):
        monthly = queries.monthly_cost_by(engine, "project")
        last = queries.last_charge_date(engine)
        since = None
        if last is not None:
            since = min(last.replace(day=1), last - pd.Timedelta(days=PATTERN_DAYS - 1)).strftime("%Y-%m-%d")
        daily = queries.daily_cost_by(engine, "project", since=since) if since else queries.daily_cost_by(engine, "project")
        result = build_budget_vs_actual(
            monthly, read_table(engine, schema.stg_budgets), daily, read_table(engine, schema.dim_projects),
            settings.reporting_currency, BudgetThresholds(settings.budget_warning_pct),
            first_cost=queries.first_charge_date_by_project(engine),
        )
        rows = replace_table(engine, schema.fct_budget_vs_actual, result)
    months = sorted(monthly["billing_month"].unique())
    problems = compare_month_totals(monthly, result.rename(columns={"actual": "effective_cost"}),
                                    ["effective_cost"], months, len(monthly))
    latest = result[result["billing_month"] == result["billing_month"].max()] if rows else result
    at_risk = latest[latest["status"].isin(["warning", "over", "projected_over"])]
    yield MaterializeResult(metadata={
        "dagster/row_count": rows,
        "status_counts": MetadataValue.json(result["status"].fillna("no_budget").value_counts().to_dict()),
        "latest_month_at_risk": _table_md(at_risk[["billing_month", "project", "budget", "actual",
                                                   "projected_month_end", "status"]]),
    })
    yield conservation_result("actual_matches_monthly", problems, "budget actuals = monthly mart", months)


@asset(
    deps=["fct_costs_daily", "fct_costs_monthly"],
    group_name=GROUP,
    kinds={"pandas", "sql"},
    check_specs=[AssetCheckSpec("drivers_sum_to_change", asset="fct_cost_drivers", blocking=True,
                                description="For every month and dimension, members' changes sum to the month's "
                                "total change in fct_costs_monthly.")],
)
def fct_cost_drivers(context: AssetExecutionContext, finops: FinopsResource):
    """Month-over-month change of effective cost decomposed by project, service, sub-account,
    region and provider, ranked by size (waterfall-ready)."""
    settings, engine = finops.settings(), finops.engine()
    with rebuild_lock(engine, schema.fct_cost_drivers):
        drivers = build_cost_drivers(queries.member_costs(engine, DIMENSIONS))
        drivers["reporting_currency"] = settings.reporting_currency
        rows = replace_table(engine, schema.fct_cost_drivers, drivers)
    totals = queries.monthly_cost_by(engine).set_index("billing_month")["effective_cost"]
    if len(totals):  # a month without data counts as 0, as in the drivers
        months = month_range(totals.index.min(), totals.index.max())
        totals = totals.reindex(months, fill_value=0.0).rename_axis("billing_month")
    expected = totals.diff().dropna().rename("change").reset_index()
    problems = []
    for dimension in DIMENSIONS:
        got = drivers[drivers["dimension"] == dimension]
        problems += [f"{dimension}: {p}" for p in compare_month_totals(
            expected, got, ["change"], list(expected["billing_month"]), max(len(got), 1))]
    top = drivers[(drivers["rank"] <= 3) & (drivers["dimension"] == "project")] if rows else drivers
    yield MaterializeResult(metadata={
        "dagster/row_count": rows,
        "top_project_drivers_latest_month": _table_md(
            top[top["billing_month"] == top["billing_month"].max()][["billing_month", "member", "change"]]
            if rows else top),
    })
    yield conservation_result("drivers_sum_to_change", problems, "drivers add up to the total change",
                              list(expected["billing_month"]))


@asset(
    deps=["fct_costs_daily", "dim_projects"],
    group_name=GROUP,
    kinds={"pandas", "scikit-learn", "sql"},
)
def fct_cost_anomalies(context: AssetExecutionContext, finops: FinopsResource) -> MaterializeResult:
    """Daily anomalies per project and per project x service, monthly spikes per project: a robust
    seasonal baseline (weekday pattern, trend, recurring monthly charges) combined with z-score,
    Isolation Forest and month-over-month votes into one score, reported only above both an
    absolute impact floor and a relative threshold. Acknowledgements in anomaly_feedback are kept."""
    settings, engine = finops.settings(), finops.engine()
    with rebuild_lock(engine, schema.fct_cost_anomalies):  # also keeps first_seen / status of the last rebuild
        detail = queries.daily_cost_by(engine, "project", "service_name", "sub_account_id", "region")
        last = queries.last_charge_date(engine)
        complete = sorted(m for m in detail["billing_month"].unique()
                          if last is None or pd.Period(m, freq="M").end_time.normalize() <= last)
        now = pd.Timestamp.now(tz="UTC")
        anomalies = build_anomalies(
            detail, read_table(engine, schema.dim_projects), read_table(engine, schema.anomaly_feedback),
            read_table(engine, schema.fct_cost_anomalies), settings.reporting_currency, now, complete,
            settings.anomaly_config(),
        )
        rows = replace_table(engine, schema.fct_cost_anomalies, anomalies)
    recent = anomalies.sort_values("period_start", ascending=False)
    return MaterializeResult(metadata={
        "dagster/row_count": rows,
        "by_severity": MetadataValue.json(anomalies["severity"].value_counts().to_dict()),
        "by_status": MetadataValue.json(anomalies["status"].value_counts().to_dict()),
        "latest": _table_md(recent[["period_start", "grain", "project", "service_name", "actual_cost",
                                    "expected_cost", "impact", "severity", "status"]]),
    })


def _open_month_projection(engine, daily: pd.DataFrame):
    """(open month, month-to-date per project, projection per project, share of days to come), or
    (None, empty, empty, 0) when the latest month is complete."""
    current = open_month(daily)
    if current is None:
        empty = pd.Series(dtype="float64")
        return None, empty, empty, 0.0
    month, last_day = current
    to_date = daily[daily["billing_month"] == month].groupby("project")["effective_cost"].sum()
    projected = project_month_end(daily, month, last_day, queries.first_charge_date_by_project(engine))
    month_end = last_day + pd.offsets.MonthEnd(0)
    return month, to_date, projected, (month_end - last_day).days / month_end.day


@asset(
    deps=["fct_costs_monthly", "fct_costs_daily"],
    group_name=GROUP,
    kinds={"pandas", "scikit-learn", "sql"},
    check_specs=[AssetCheckSpec("intervals_ordered", asset="fct_cost_forecasts", blocking=True,
                                description="lower_95 <= lower_80 <= forecast <= upper_80 <= upper_95 on every row.")],
)
def fct_cost_forecasts(context: AssetExecutionContext, finops: FinopsResource):
    """Monthly forecasts of effective cost for the organisation and each project,
    FINOPS_FORECAST_HORIZON months after the last complete month (the open month first, from its
    month-to-date cost). Per series the model is chosen by rolling-origin backtest; 80 % and 95 %
    intervals."""
    settings, engine = finops.settings(), finops.engine()
    with rebuild_lock(engine, schema.fct_cost_forecasts):
        monthly = queries.monthly_cost_by(engine, "project")
        last = queries.last_charge_date(engine)
        daily = queries.daily_cost_by(engine, "project", since=(last - pd.Timedelta(days=62)).strftime("%Y-%m-%d")) \
            if last is not None else queries.daily_cost_by(engine, "project")
        month, to_date, projected, remaining = _open_month_projection(engine, daily)
        forecasts = build_forecasts(monthly, month, to_date, projected, remaining, settings.forecast_horizon,
                                    settings.reporting_currency, pd.Timestamp.now(tz="UTC"),
                                    first_cost=queries.first_charge_date_by_project(engine))
        rows = replace_table(engine, schema.fct_cost_forecasts, forecasts)
    values = forecasts[["lower_95", "lower_80", "forecast", "upper_80", "upper_95"]].to_numpy(dtype="float64")
    tolerance = 1e-6 * (1 + abs(values))
    disordered = forecasts[(values[:, :-1] > values[:, 1:] + tolerance[:, 1:]).any(axis=1)]
    total = forecasts[forecasts["level"] == "total"]
    yield MaterializeResult(metadata={
        "dagster/row_count": rows,
        "horizon_months": settings.forecast_horizon,
        "open_month": month or "none",
        "total": _table_md(total[["month", "forecast", "lower_80", "upper_80", "model", "backtest_smape"]]),
        "models": MetadataValue.json(forecasts.drop_duplicates(["level", "project"])["model"].value_counts().to_dict()),
    })
    yield AssetCheckResult(
        check_name="intervals_ordered", passed=disordered.empty,
        metadata={"disordered_rows": MetadataValue.md(_table_md(disordered).value if len(disordered) else "none")},
    )
