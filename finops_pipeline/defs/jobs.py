"""Jobs and schedules over the monthly assets."""

from dagster import AssetSelection, DefaultScheduleStatus, build_schedule_from_partitioned_job, define_asset_job

from finops_pipeline.defs.partitions import billing_month_partitions

# Everything monthly plus the reference tables it reads: one selection, used by the CLI
# (`finops run`), UI backfills and the nightly schedule.
monthly_costs_job = define_asset_job(
    "monthly_costs_job",
    selection=AssetSelection.groups("billing", "reference", "costs", "analytics"),
    partitions_def=billing_month_partitions,
    description="Ingest landing billing files, rebuild the cost tables for the selected billing months and "
    "the analytics over all months.",
)

# Re-loads the open month every night (providers restate it); older months change only
# through a backfill or, later, the landing sensor.
nightly_open_month_schedule = build_schedule_from_partitioned_job(
    monthly_costs_job,
    hour_of_day=2,
    minute_of_hour=0,
    name="nightly_open_month_schedule",
    default_status=DefaultScheduleStatus.STOPPED,
)

all_jobs = [monthly_costs_job]
all_schedules = [nightly_open_month_schedule]
