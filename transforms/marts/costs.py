"""fct_costs_daily and fct_costs_monthly: allocated costs users query, in the reporting currency.

Conservation law: both marts hold exactly the amounts and source rows of int_costs_allocated for
the same months, only summed to a coarser grain. chargeback_cost is added beside them and never
changes billed / effective / list cost (it equals effective_cost where no markup applies).
"""

from __future__ import annotations

import pandas as pd

from transforms.grouping import sum_by
from transforms.marts.chargeback import chargeback_cost, markup_pct_for
from transforms.staging.billing import AMOUNTS, FINANCE_DIMENSIONS

PROJECT_ATTRIBUTES = ["team", "project_code", "project_owner"]
LINEAGE = ["project_before_rules", "allocation_rule_id", "allocation_method", "allocated_ratio"]
DAILY_GRAIN = [
    "charge_date", "billing_month", "provider", "billing_account_id", "sub_account_id", "project",
    *PROJECT_ATTRIBUTES, "service_name", "service_category", "region", "charge_category", *FINANCE_DIMENSIONS,
    "billing_currency", "reporting_currency", "fx_rate", "fx_rate_source", *LINEAGE, "markup_pct",
]
MONTHLY_GRAIN = [
    "billing_month", "project", *PROJECT_ATTRIBUTES, "provider", "service_name", "service_category",
    *FINANCE_DIMENSIONS, "billing_currency", "reporting_currency", *LINEAGE,
]
VALUES = [*AMOUNTS, "chargeback_cost", "source_rows"]


def _sum(frame: pd.DataFrame, keys: list[str], values: list[str]) -> pd.DataFrame:
    return sum_by(frame, keys, values, sort=True)


def build_costs_daily(allocated: pd.DataFrame, projects: pd.DataFrame, pricing: pd.DataFrame) -> pd.DataFrame:
    """Drop file lineage, add the project's team, code and owner (dim_projects) and the
    chargeback price (pricing.csv)."""
    attributes = projects.set_index("project")[["team", "code", "owner"]] if not projects.empty else None
    frame = allocated.copy()
    for column, source in zip(PROJECT_ATTRIBUTES, ("team", "code", "owner")):
        frame[column] = frame["project"].map(attributes[source]) if attributes is not None else None
        frame[column] = frame[column].astype("str")
    frame["markup_pct"] = markup_pct_for(frame["charge_date"], frame["service_name"], pricing).to_numpy()
    frame["chargeback_cost"] = chargeback_cost(frame["effective_cost"], frame["markup_pct"])
    return _sum(frame, DAILY_GRAIN, VALUES + ["effective_cost_billing_currency"])


def build_costs_monthly(daily: pd.DataFrame) -> pd.DataFrame:
    return _sum(daily, MONTHLY_GRAIN, VALUES)
