"""The job over the monthly assets (its schedule is in schedules.py, its sensors beside their inputs)."""

from dagster import AssetSelection, define_asset_job

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
