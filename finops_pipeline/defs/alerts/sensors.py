"""Sensors and the weekly digest that turn tables and failures into Slack alerts.

- `alert_outbox_sensor` watches fct_cost_anomalies and fct_budget_vs_actual: when either is
  materialized it writes the alerts they call for into alert_outbox (idempotent).
- `alert_delivery_sensor` drains the outbox every minute: Slack down means `failed` now and
  retried on the next tick; no Slack configured means `skipped` with the reason.
- `run_failure_alert_sensor` writes and delivers an alert for every failed run of this code location.
- `weekly_digest_schedule` (Mondays 08:00 UTC) runs `weekly_digest_job`: last week's spend
  against the week before, top movers, open anomalies, budgets at risk.
All default to RUNNING: without Slack they only record skipped alerts, which is harmless.
"""

import warnings
from datetime import datetime, timezone

from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    MultiAssetSensorEvaluationContext,
    OpExecutionContext,
    RunFailureSensorContext,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    job,
    multi_asset_sensor,
    op,
    run_failure_sensor,
    sensor,
)

from finops_pipeline.alerts import delivery, outbox
from finops_pipeline.alerts.digest import digest_alert
from finops_pipeline.alerts.outbox import Alert
from finops_pipeline.resources import FinopsResource
from finops_pipeline.runs import partition_text, root_error_message

# Dagster recommends Declarative Automation over multi-asset sensors for launching runs; this one
# launches nothing, it has a side effect (writing the outbox), the case the warning itself allows.
warnings.filterwarnings("ignore", message=".*MultiAssetSensorDefinition.*superseded.*")

WATCHED = [AssetKey("fct_cost_anomalies"), AssetKey("fct_budget_vs_actual")]
DELIVERY_INTERVAL_SECONDS = 60


@multi_asset_sensor(monitored_assets=WATCHED, default_status=DefaultSensorStatus.RUNNING,
                    minimum_interval_seconds=30,
                    description="Writes anomaly and budget alerts to alert_outbox when their tables change.")
def alert_outbox_sensor(context: MultiAssetSensorEvaluationContext, finops: FinopsResource):
    latest = context.latest_materialization_records_by_key()
    if not any(latest.values()):
        return SkipReason("no new materialization of the anomaly or budget tables")
    new = delivery.fill(finops.engine(), finops.settings())
    context.advance_all_cursors()
    return SkipReason(f"outbox: {new['anomaly']} new anomaly alert(s), {new['budget']} new budget alert(s)")


@sensor(default_status=DefaultSensorStatus.RUNNING, minimum_interval_seconds=DELIVERY_INTERVAL_SECONDS,
        description="Delivers pending alerts from alert_outbox to Slack (retries failed ones).")
def alert_delivery_sensor(context: SensorEvaluationContext, finops: FinopsResource):
    report = delivery.deliver(finops.engine(), finops.settings())
    return SkipReason(f"alerts: {report.summary()}")


@run_failure_sensor(default_status=DefaultSensorStatus.RUNNING,
                    description="Posts every failed run (step and error, with a link to the run) to Slack.")
def run_failure_alert_sensor(context: RunFailureSensorContext, finops: FinopsResource):
    run = context.dagster_run
    failed_steps = [e.step_key for e in context.get_step_failure_events() if e.step_key]
    error = context.failure_event.message or ""
    for event in context.get_step_failure_events():
        if event.step_failure_data and event.step_failure_data.error:
            error = root_error_message(event.step_failure_data.error)
            break
    alert = Alert(kind="run_failure", dedup_key=f"run_failure:{run.run_id}", payload={
        "run_id": run.run_id, "job_name": run.job_name, "failed_steps": failed_steps, "error": error[:1500],
        "partition_range": partition_text(run.tags or {}),
    })
    engine, settings = finops.engine(), finops.settings()
    outbox.write(engine, [alert], datetime.now(timezone.utc))
    delivery.deliver(engine, settings)


@op(description="Write and deliver the weekly spend digest.")
def send_weekly_digest(context: OpExecutionContext, finops: FinopsResource) -> None:
    engine, settings = finops.engine(), finops.settings()
    alert = digest_alert(engine, settings)
    if alert is None:
        context.log.info("no cost data yet: no digest")
        return
    new = outbox.write(engine, [alert], datetime.now(timezone.utc))
    report = delivery.deliver(engine, settings)
    context.log.info(f"digest {alert.dedup_key}: {'new' if new else 'already written'}; {report.summary()}")


@job(description="The weekly spend digest: last week vs the week before, top movers, open anomalies, "
     "budgets at risk.")
def weekly_digest_job():
    send_weekly_digest()


weekly_digest_schedule = ScheduleDefinition(
    name="weekly_digest_schedule", job=weekly_digest_job, cron_schedule="0 8 * * 1", execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
