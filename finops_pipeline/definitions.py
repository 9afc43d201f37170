"""The Dagster code location: `dagster dev -m finops_pipeline.definitions`."""

from dagster import Definitions, in_process_executor

from finops_pipeline.defs.alerts.sensors import (
    alert_delivery_sensor,
    alert_outbox_sensor,
    run_failure_alert_sensor,
    weekly_digest_job,
    weekly_digest_schedule,
)
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
from finops_pipeline.defs.jobs import all_jobs
from finops_pipeline.defs.landing.sensors import landing_sensor
from finops_pipeline.defs.reference.assets import (
    dim_projects,
    stg_allocation_rules,
    stg_budgets,
    stg_fx_rates,
    stg_pricing,
)
from finops_pipeline.defs.reference.sensors import reference_change_sensor
from finops_pipeline.defs.schedules import nightly_schedule
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
    jobs=[*all_jobs, weekly_digest_job],
    schedules=[nightly_schedule, weekly_digest_schedule],
    sensors=[
        landing_sensor,
        reference_change_sensor,
        alert_outbox_sensor,
        alert_delivery_sensor,
        run_failure_alert_sensor,
    ],
    resources={"finops": FinopsResource()},
    # Runs launched by the daemon or the UI execute their steps in the run's own process, as
    # `finops run` does: the default executor starts one process per step, each importing pandas,
    # scikit-learn and the pipeline again (~15 steps: a 3-month backfill took ~2.5 min instead of
    # ~25 s on 2 cores), and the steps form a chain that could not run side by side anyway.
    # Months are parallelised by separate runs (docs/scaling.md), not by steps.
    executor=in_process_executor,
)
