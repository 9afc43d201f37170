"""The Dagster code location: `dagster dev -m finops_pipeline.definitions`."""

from dagster import Definitions

from finops_pipeline.defs.analytics.assets import (
    fct_budget_vs_actual,
    fct_cost_anomalies,
    fct_cost_drivers,
    fct_cost_forecasts,
)
from finops_pipeline.defs.billing.assets import stg_billing_assets
from finops_pipeline.defs.costs.assets import (
    fct_costs_daily,
    fct_costs_monthly,
    fct_kpis_monthly,
    int_costs_allocated,
    int_costs_converted,
)
from finops_pipeline.defs.jobs import all_jobs, all_schedules
from finops_pipeline.defs.reference.assets import (
    dim_projects,
    stg_allocation_rules,
    stg_budgets,
    stg_fx_rates,
    stg_pricing,
)
from finops_pipeline.defs.reference.sensors import reference_change_sensor
from finops_pipeline.resources import FinopsResource

defs = Definitions(
    assets=[
        stg_billing_assets,
        dim_projects,
        stg_fx_rates,
        stg_allocation_rules,
        stg_pricing,
        stg_budgets,
        int_costs_converted,
        int_costs_allocated,
        fct_costs_daily,
        fct_costs_monthly,
        fct_kpis_monthly,
        fct_budget_vs_actual,
        fct_cost_drivers,
        fct_cost_anomalies,
        fct_cost_forecasts,
    ],
    jobs=all_jobs,
    schedules=all_schedules,
    sensors=[reference_change_sensor],
    resources={"finops": FinopsResource()},
)
