"""The one partitioning of every monthly table: the billing month, key 'YYYY-MM'.

Month arithmetic (ranges, next/previous, the open month) lives in transforms/months.py; this
module only turns it into Dagster's partitions and backfill policy.
"""

from __future__ import annotations

import warnings

from dagster import BackfillPolicy, BetaWarning, MonthlyPartitionsDefinition

from transforms.months import FIRST_BILLING_MONTH

# The single-run backfill policy below is a deliberate choice; Dagster flags the parameter as beta
# in every process that loads the code location (webserver, daemon, each run and step), which
# buries real messages in the logs. Only that warning is silenced.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=BetaWarning)

# end_offset=1 makes the still-open current month a partition (transforms.months.open_month):
# providers restate it daily, so every run re-loads it. The partitions follow UTC, as months do.
billing_month_partitions = MonthlyPartitionsDefinition(start_date=FIRST_BILLING_MONTH, fmt="%Y-%m", end_offset=1)

# A range (UI backfill, `finops run`) is one run: landing files are scanned once for all months.
# Each month is still written in its own transaction, so a bad month never corrupts another.
monthly_backfill_policy = BackfillPolicy.single_run()
