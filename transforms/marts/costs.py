"""fct_costs_daily and fct_costs_monthly: costs users query, in the reporting currency.

Conservation law: both marts hold exactly the amounts and source rows of int_costs_converted for
the same months, only summed to a coarser grain.
"""

from __future__ import annotations

import pandas as pd

from transforms.staging.billing import AMOUNTS

DAILY_GRAIN = [
    "charge_date", "billing_month", "provider", "billing_account_id", "sub_account_id", "project", "team",
    "service_name", "service_category", "region", "charge_category", "billing_currency", "reporting_currency",
    "fx_rate", "fx_rate_source",
]
MONTHLY_GRAIN = [
    "billing_month", "project", "team", "provider", "service_name", "service_category", "billing_currency",
    "reporting_currency",
]
VALUES = list(AMOUNTS) + ["source_rows"]


def _sum(frame: pd.DataFrame, keys: list[str], values: list[str]) -> pd.DataFrame:
    return frame.groupby(keys, dropna=False, sort=True)[values].sum().reset_index()


def build_costs_daily(converted: pd.DataFrame, projects: pd.DataFrame) -> pd.DataFrame:
    """Drop file lineage and add the project's team (from dim_projects)."""
    teams = dict(zip(projects["project"], projects["team"])) if not projects.empty else {}
    frame = converted.assign(team=converted["project"].map(teams))
    return _sum(frame, DAILY_GRAIN, VALUES + ["effective_cost_billing_currency"])


def build_costs_monthly(daily: pd.DataFrame) -> pd.DataFrame:
    return _sum(daily, MONTHLY_GRAIN, VALUES)
