"""What a run of the monthly job is told (its tags) and what a failed one tells a person.

The schedules and sensors under ``defs/`` and the CLI's in-process runner both launch runs over a
range of billing months, and the run-failure alerts of both report the root error, so this
vocabulary lives outside ``defs/`` (which nothing else may import) and imports no definitions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dagster import AssetKey, RunRequest

from transforms.months import contiguous_ranges

# Dagster's own tags for a run over a partition range (one run for first..last, the single-run
# backfill policy); a UI backfill sets the same two.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"

# Why a run was launched: "nightly", "landing", "<file> changed" (shown in the UI's run list).
TRIGGER_TAG = "finops/trigger"
# The landing files (and how they changed) that made the landing sensor request a run.
LANDING_FILES_TAG = "finops/landing_files"


def range_tags(first: str, last: str) -> dict[str, str]:
    """The tags of one run over the billing months first..last."""
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def range_run_requests(key: str, months: Iterable[str], trigger_tags: Callable[[str, str], dict[str, str]],
                       asset_selection: list[AssetKey] | None = None) -> list[RunRequest]:
    """One run per contiguous range of ``months`` (run key '<key>:<first>..<last>'), tagged with
    its range and ``trigger_tags(first, last)``: a sensor's requests for the months a change reaches."""
    return [
        RunRequest(run_key=f"{key}:{first}..{last}", asset_selection=asset_selection,
                   tags={**range_tags(first, last), **trigger_tags(first, last)})
        for first, last in contiguous_ranges(months)
    ]


def partition_text(tags: dict[str, str]) -> str | None:
    """'first..last' of a range run, the partition key of a one-partition run, else None."""
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    return f"{start}..{end}" if start else tags.get(PARTITION_TAG)


def root_error_message(error) -> str:
    """The message a person needs: Dagster wraps an unexpected exception in "Error occurred while
    executing op ..."; the real cause is at the end of the `cause` chain. A `Failure` raised on
    purpose carries its own message and has no cause."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error.message.strip()
