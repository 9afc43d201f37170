"""Running the monthly job in process, as `finops run` and `finops demo` do."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

from dagster import DagsterInstance, ExecuteInProcessResult

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


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

    job = defs.resolve_job_def("monthly_costs_job")
    first, last = min(months), max(months)
    with _instance() as instance:
        result: ExecuteInProcessResult = job.execute_in_process(
            instance=instance,
            tags={RANGE_START_TAG: first, RANGE_END_TAG: last},
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            raise_on_error=False,
        )
    failures = [
        f"{event.step_key}: {root_error_message(event.step_failure_data.error) if event.step_failure_data.error else ''}"
        for event in result.all_events
        if event.is_step_failure
    ]
    return RunOutcome(_range(first, last), result.success, result.run_id, failures)


def root_error_message(error) -> str:
    """The message a person needs: Dagster wraps an unexpected exception in "Error occurred while
    executing op ..."; the real cause is at the end of the `cause` chain. A `Failure` raised on
    purpose carries its own message and has no cause."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error.message.strip()


def _range(first: str, last: str) -> list[str]:
    y, m = map(int, first.split("-"))
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out
