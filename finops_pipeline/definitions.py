"""The Dagster code location: `dagster dev -m finops_pipeline.definitions`."""

from dagster import Definitions

from finops_pipeline.defs.billing.assets import stg_billing_assets
from finops_pipeline.defs.costs.assets import fct_costs_daily, fct_costs_monthly, int_costs_converted
from finops_pipeline.defs.jobs import all_jobs, all_schedules
from finops_pipeline.defs.reference.assets import dim_projects, stg_fx_rates
from finops_pipeline.resources import FinopsResource

defs = Definitions(
    assets=[stg_billing_assets, dim_projects, stg_fx_rates, int_costs_converted, fct_costs_daily, fct_costs_monthly],
    jobs=all_jobs,
    schedules=all_schedules,
    resources={"finops": FinopsResource()},
)
