"""Running the monthly job in process, as `finops run` and `finops demo` do.

The CLI is the only place that executes a job itself; schedules, sensors and UI backfills ask
the Dagster daemon. It loads the code location like any Dagster tool does (the definitions
entry point), never a module of ``defs/``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

from dagster import DagsterInstance, ExecuteInProcessResult

from finops_pipeline.runs import range_tags, root_error_message
from transforms.months import month_range

MONTHLY_JOB = "monthly_costs_job"


@dataclass
class RunOutcome:
    months: list[str]
    success: bool
    run_id: str
    failures: list[str]


@contextmanager
def _instance():
    """The DAGSTER_HOME instance when there is one (runs then show in the UI), else an
    in-memory instance, so that the CLI works on a fresh machine with nothing configured."""
    if os.environ.get("DAGSTER_HOME"):
        with DagsterInstance.get() as instance:
            yield instance
    else:
        with DagsterInstance.ephemeral() as instance:
            yield instance


def run_months(months: list[str], log_level: str = "INFO") -> RunOutcome:
    """One Dagster run over the contiguous range first..last of ``months``."""
    from finops_pipeline.definitions import defs

    job = defs().resolve_job_def(MONTHLY_JOB)
    first, last = min(months), max(months)
    with _instance() as instance:
        result: ExecuteInProcessResult = job.execute_in_process(
            instance=instance,
            tags=range_tags(first, last),
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            raise_on_error=False,
        )
    failures = [
        f"{event.step_key}: {root_error_message(event.step_failure_data.error) if event.step_failure_data.error else ''}"
        for event in result.all_events
        if event.is_step_failure
    ]
    return RunOutcome(month_range(first, last), result.success, result.run_id, failures)
