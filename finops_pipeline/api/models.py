"""Response bodies: the OpenAPI schema is generated from these, so they say exactly what comes back.
Money is a float rounded to cents in the reporting currency; dates and times are ISO 8601."""

from __future__ import annotations

import datetime as dt
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Money = float | None


def money(value) -> float | None:
    """Round to cents; None for null / NaN / inf (never a non-JSON number)."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    rounded = round(value, 2)
    return 0.0 if rounded == 0 else rounded  # no -0.0


def utc(value) -> dt.datetime | None:
    """Timestamps as UTC with an offset (SQLite returns them naive)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def ratio(value, digits: int = 2) -> float | None:
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- health -----------------------------------------------------------------------------------------

class TableFreshness(_Model):
    table: str
    last_materialized_at: dt.datetime | None = Field(description="max(loaded_at), generated_at, last_seen or "
                                                                 "created_at of the table (UTC); null when empty")
    rows: int | None = Field(None, description="Row count (only for the small, unpartitioned tables)")


class DataFreshness(_Model):
    first_billing_month: str | None
    latest_billing_month: str | None
    latest_charge_date: dt.date | None = Field(description="Latest charge day in fct_costs_daily")


class Health(_Model):
    status: Literal["ok", "unavailable"]
    warehouse: Literal["reachable", "unreachable"]
    dialect: str
    message: str | None = None
    checked_at: dt.datetime
    tables: list[TableFreshness]
    data: DataFreshness | None


# --- costs ------------------------------------------------------------------------------------------

class CostRow(_Model):
    """Only the keys of the grouping are present (date for grain=daily), then `cost`."""

    date: dt.date | None = None
    month: str | None = None
    project: str | None = None
    team: str | None = None
    service_name: str | None = None
    provider: str | None = None
    region: str | None = None
    sub_account_id: str | None = None
    cost: Money = Field(description="Sum of the chosen metric, reporting currency")


class CostsResponse(_Model):
    grain: Literal["monthly", "daily"]
    metric: Literal["effective_cost", "billed_cost", "chargeback_cost"]
    group_by: list[str]
    from_month: str | None = Field(alias="from", description="First billing month included (null = from the first)")
    to_month: str | None = Field(alias="to", description="Last billing month included (null = to the latest)")
    source_table: Literal["fct_costs_monthly", "fct_costs_daily"]
    currency: str
    limit: int
    next_cursor: str | None = Field(description="Pass as `cursor` (with the same other parameters) for the next page; "
                                                "null on the last page")
    rows: list[CostRow]


class HeatmapRow(_Model):
    member: str | None = Field(description="The row's member of `dimension` (null = rows without a value)")
    project: str | None = Field(description="The project, when dimension = project; else null")
    team: str | None = Field(description="The project's team, when dimension = project; else null")
    values: list[Money] = Field(description="One value per month of `months` (0 where no cost)")
    total: Money


class HeatmapResponse(_Model):
    year: int
    dimension: str
    metric: str
    currency: str
    months: list[str]
    rows: list[HeatmapRow]
    month_totals: list[Money]
    total: Money


# --- KPIs -------------------------------------------------------------------------------------------

class KpisResponse(_Model):
    month: str
    currency: str
    scope: Literal["organisation", "projects"] = Field(description="organisation (unscoped token, from fct_kpis_monthly) "
                                                                   "or projects (scoped token, computed over its projects)")
    projects: list[str] | None = Field(description="Projects the figures cover, for a scoped token")
    total_cost: Money
    chargeback_cost: Money
    previous_month: str
    previous_month_cost: Money = Field(description="null before the first month of data")
    change_abs: Money
    change_pct: float | None
    avg_monthly_cost_12m: Money
    top_project: str | None
    top_project_cost: Money
    projects_with_spend: int
    next_month: str
    next_month_forecast: Money = Field(description="fct_cost_forecasts for the month after `month` (total row, or the "
                                                   "sum of the token's project rows); null when not forecast")


# --- budgets ----------------------------------------------------------------------------------------

class BudgetRow(_Model):
    month: str
    project: str
    team: str | None
    budget: Money
    budget_currency: str | None
    budget_original: Money
    actual: Money
    remaining: Money
    pct_used: float | None
    is_open_month: bool
    projected_month_end: Money
    status: str | None = Field(description="under, warning, over, projected_over; null without a budget")


class BudgetsResponse(_Model):
    months: list[str]
    currency: str
    total_budget: Money
    total_actual: Money
    rows: list[BudgetRow]


# --- forecasts --------------------------------------------------------------------------------------

class ForecastRow(_Model):
    level: Literal["total", "project"]
    project: str | None
    month: str
    forecast: Money
    lower_80: Money
    upper_80: Money
    lower_95: Money
    upper_95: Money
    actual_to_date: Money
    model: str | None
    backtest_smape: float | None
    history_months: int | None


class ForecastsResponse(_Model):
    currency: str
    generated_at: dt.datetime | None
    total_is_sum_of_projects: bool = Field(description="true for a scoped token: its total rows are the sums of its "
                                                       "projects' forecasts (no interval)")
    rows: list[ForecastRow]


# --- anomalies --------------------------------------------------------------------------------------

class RootCause(_Model):
    dimension: str
    member: str | None
    impact: Money
    share: float | None


class Anomaly(_Model):
    anomaly_id: str
    grain: str
    period_start: dt.date
    project: str
    team: str | None
    service_name: str | None
    currency: str
    actual_cost: Money
    expected_cost: Money
    impact: Money
    impact_pct: float | None
    score: float | None
    severity: str | None
    methods: list[str]
    root_cause: list[RootCause]
    status: str
    status_note: str | None
    first_seen: dt.datetime
    last_seen: dt.datetime


class AnomaliesResponse(_Model):
    limit: int
    next_cursor: str | None
    rows: list[Anomaly]


class AcknowledgeRequest(_Model):
    note: str | None = Field(None, max_length=1000, description="expected, planned, or free text",
                             examples=["expected", "planned", "load test of the new checkout"])


# --- drivers ----------------------------------------------------------------------------------------

class DriverRow(_Model):
    member: str
    previous_cost: Money
    current_cost: Money
    change: Money
    share_of_change: float | None
    rank: int


class DriversResponse(_Model):
    month: str | None
    previous_month: str | None
    dimension: str
    currency: str
    source: Literal["fct_cost_drivers", "fct_costs_daily"] = Field(
        description="fct_cost_drivers for an unscoped token; recomputed from the token's rows of fct_costs_daily otherwise")
    total_change: Money
    rows: list[DriverRow]


# --- projects ---------------------------------------------------------------------------------------

class ProjectRow(_Model):
    project: str
    code: str | None
    owner: str | None
    team: str | None
    account_ids: list[str]
    in_reference: bool = Field(description="true when the project is in reference/projects.csv (dim_projects)")
    first_month: str | None = Field(description="First billing month with cost")
    last_month: str | None = Field(description="Latest billing month with cost")


class ProjectsResponse(_Model):
    rows: list[ProjectRow]
