"""nightly_schedule: every night, one run re-loads the open billing month and recomputes everything.

Providers restate the open month every day, so each tick re-loads it (the month of the scheduled
execution time in the schedule's timezone) and rebuilds every asset of monthly_costs_job. In the
first PREVIOUS_MONTH_DAYS days of a month the previous month is re-loaded too, in the same run
(a range run): providers finalise last month's bill during those days.

The cron and the timezone are read when the code location loads (Dagster fixes a schedule's cron
and timezone at definition time): FINOPS_NIGHTLY_CRON (default "0 2 * * *") and
FINOPS_NIGHTLY_TIMEZONE (default "UTC", any IANA name such as "Europe/Paris").
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    schedule,
)

from finops_pipeline.defs.jobs import monthly_costs_job
from finops_pipeline.runs import TRIGGER_TAG, range_tags
from finops_pipeline.settings import nightly_cron, nightly_timezone
from transforms.months import month_of, open_month, previous_month

# Days at the start of a month during which the previous month is re-loaded as well.
PREVIOUS_MONTH_DAYS = 5


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)  # naive = UTC


def nightly_range(when: datetime, tz: str) -> tuple[str, str]:
    """(first, last) billing months the tick scheduled at ``when`` re-loads.

    last = the open month: the month of ``when`` in ``tz``; first = the month before it during
    the first PREVIOUS_MONTH_DAYS days of the month, else the open month. A month that is not a
    partition yet (``tz`` ahead of UTC, just after its midnight on the 1st) is left out: the
    partitions, and the latest date a billing row may carry, follow UTC."""
    local = _aware(when).astimezone(ZoneInfo(tz))
    local_month = month_of(local)
    first = previous_month(local_month) if local.day <= PREVIOUS_MONTH_DAYS else local_month
    last = min(local_month, open_month(when))  # the latest partition (UTC)
    return min(first, last), last


def build_nightly_schedule(
    cron: str | None = None, tz: str | None = None, name: str = "nightly_schedule"
) -> ScheduleDefinition:
    """The nightly schedule; cron and timezone default to FINOPS_NIGHTLY_CRON / FINOPS_NIGHTLY_TIMEZONE."""
    cron = cron or nightly_cron()
    tz = tz or nightly_timezone()

    @schedule(
        name=name,
        job=monthly_costs_job,
        cron_schedule=cron,
        execution_timezone=tz,
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"Every night ({cron}, {tz}) one run re-loads the open billing month and recomputes every "
        f"asset of monthly_costs_job; in the first {PREVIOUS_MONTH_DAYS} days of a month the previous month "
        "is re-loaded too (providers finalise last month's bill then).",
    )
    def _nightly(context: ScheduleEvaluationContext) -> RunRequest:
        when = _aware(context.scheduled_execution_time or datetime.now(timezone.utc))
        first, last = nightly_range(when, tz)
        local_day = when.astimezone(ZoneInfo(tz)).date().isoformat()
        context.log.info(f"nightly tick of {local_day} ({tz}): re-loading {first}..{last}")
        return RunRequest(
            run_key=f"nightly:{local_day}:{first}..{last}",
            tags={**range_tags(first, last), TRIGGER_TAG: "nightly"},
        )

    return _nightly


nightly_schedule = build_nightly_schedule()
