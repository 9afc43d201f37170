"""The one partitioning of every monthly table: the billing month, key 'YYYY-MM'."""

from __future__ import annotations

import warnings
from datetime import date, datetime, timezone

from dagster import BackfillPolicy, BetaWarning, MonthlyPartitionsDefinition

# The single-run backfill policy below is a deliberate choice; Dagster flags the parameter as beta
# in every process that loads the code location (webserver, daemon, each run and step), which
# buries real messages in the logs. Only that warning is silenced.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=BetaWarning)

# Early enough for any cloud bill a user still holds; rows dated before it are quarantined with
# reason date_out_of_range, never dropped. Empty months cost nothing to materialize.
FIRST_BILLING_MONTH = "2000-01"

# end_offset=1 makes the still-open current month a partition: providers restate it daily, so
# every run re-loads it.
billing_month_partitions = MonthlyPartitionsDefinition(start_date=FIRST_BILLING_MONTH, fmt="%Y-%m", end_offset=1)

# A range (UI backfill, `finops run`) is one run: landing files are scanned once for all months.
# Each month is still written in its own transaction, so a bad month never corrupts another.
monthly_backfill_policy = BackfillPolicy.single_run()


def first_day() -> date:
    return date.fromisoformat(FIRST_BILLING_MONTH + "-01")


def last_day(today: date | None = None) -> date:
    """Last day of the current (open) month: the latest date a billing row may carry."""
    today = today or datetime.now(timezone.utc).date()
    nxt = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)
