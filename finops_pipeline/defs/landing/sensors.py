"""landing_sensor: a new, restated or deleted billing export re-loads the billing months it holds.

Files are those landing discovery finds: *.csv and *.csv.gz at any depth under landing/billing/,
hidden files and folders ignored. The cursor (JSON) keeps, per file, its size, mtime_ns, sha256
and the billing months it held. On each tick:

- a file whose size and mtime are unchanged is not read at all;
- a file whose size or mtime changed is re-hashed; if its content is the same (touched, or the
  same bytes copied over it) nothing is requested, the cursor just takes the new mtime;
- a new file requests the months it holds, a restated file (new content) the months it holds now
  and the months it held before (rows may have moved out of a month), a deleted file the months
  it held (re-loading them without it removes its rows from the warehouse).

The months of a file come from its scan (scan.py, cached under the state directory and shared
with the runs, which then do not read the file again); a file that cannot be read counts for the
month its path names, or is logged and skipped when its path names none. All months of one tick
are merged into contiguous ranges, one RunRequest (monthly_costs_job, every asset) per range.

First tick (empty cursor): the files present are recorded as the baseline, and only the months
they hold that the warehouse does not have yet (no row in stg_billing or quarantine_billing_rows)
are requested, so that starting the sensor on an existing deployment re-loads nothing, while a
fresh one loads what is already in landing. Months in the warehouse without any landing file are
left alone on the first tick (old exports may have been archived on purpose).

Run keys are "landing:<generation>:<content key>:<first>..<last>". The content key is a digest of
the triggering files' paths and sha256 (None for a deleted file); the generation is a counter in
the cursor, incremented by every tick that finds a change. A tick evaluated again from the same
cursor (e.g. its cursor update was lost) gives the same run keys, so Dagster launches its runs
once; a later change is always a new key, even back to earlier content (A -> B -> A, or a deleted
file copied back), which must re-load the months again. (A run key from the content alone would
be deduplicated by Dagster forever and leave the warehouse with B's rows, or without the file.)

Reading a large new export can take a while: a tick stops taking up changed files after
TICK_BUDGET_SECONDS (at least one per tick) and leaves the rest, unrecorded, to the next ticks.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime

from dagster import (
    DefaultSensorStatus,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from finops_pipeline.defs.jobs import monthly_costs_job
from finops_pipeline.ingest.billing import landing_staging_context
from finops_pipeline.ingest.errors import InputFileError
from finops_pipeline.ingest.landing import LandingFile, discover_landing_files
from finops_pipeline.ingest.scan import scan_file
from finops_pipeline.resources import FinopsResource
from finops_pipeline.runs import LANDING_FILES_TAG, TRIGGER_TAG, range_run_requests
from finops_pipeline.settings import landing_sensor_interval_seconds
from finops_pipeline.warehouse.queries import loaded_months
from transforms.months import FIRST_BILLING_MONTH, open_month

CURSOR_VERSION = 1
TICK_BUDGET_SECONDS = 30.0  # Dagster gives a sensor evaluation 60 s by default
_FILES_TAG_MAX = 500
_HASH_CHUNK = 1 << 20


@dataclass
class Change:
    relative: str
    kind: str  # "new", "restated" or "deleted"
    sha256: str | None  # None for a deleted file
    months: list[str]
    baseline: bool = False  # found by the first tick: only months the warehouse lacks are requested


@dataclass
class Tick:
    files: dict[str, dict]  # the next cursor's files
    changes: list[Change] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)  # changed files left to a later tick


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def parse_cursor(text: str | None) -> dict | None:
    """The cursor as a dict, or None when there is none (first tick) or it is from another version."""
    if not text:
        return None
    cursor = json.loads(text)
    return cursor if cursor.get("version") == CURSOR_VERSION else None


def _entry(lf: LandingFile, sha256: str, months: list[str]) -> dict:
    return {"size": lf.size, "mtime_ns": lf.mtime_ns, "sha256": sha256, "months": months}


def detect_changes(files: list[LandingFile], old: dict[str, dict], baseline: bool, months_of,
                   log, budget_seconds: float = TICK_BUDGET_SECONDS) -> Tick:
    """Compare the landing files with the cursor's; ``months_of(lf)`` gives a changed file's months."""
    started = time.monotonic()
    tick = Tick(files={})
    read = 0
    for lf in files:
        prev = old.get(lf.relative)
        if prev is not None and prev["size"] == lf.size and prev["mtime_ns"] == lf.mtime_ns:
            tick.files[lf.relative] = prev
            continue
        if read and time.monotonic() - started > budget_seconds:
            tick.deferred.append(lf.relative)
            if prev is not None:  # keep the old entry: the file is compared with it next tick
                tick.files[lf.relative] = prev
            continue
        read += 1
        try:
            sha = file_sha256(lf.path)
        except OSError as exc:  # removed or replaced while the tick ran: looked at again next tick
            log.warning(f"{lf.relative} could not be read ({exc}); looked at again on the next tick")
            if prev is not None:
                tick.files[lf.relative] = prev
            continue
        if prev is not None and prev["sha256"] == sha:  # touched, or the same bytes copied again
            tick.files[lf.relative] = _entry(lf, sha, prev["months"])
            continue
        months = months_of(lf)
        tick.files[lf.relative] = _entry(lf, sha, months)
        if prev is None:
            tick.changes.append(Change(lf.relative, "new", sha, months, baseline=baseline))
        else:
            before = prev["months"]
            tick.changes.append(Change(lf.relative, "restated", sha, sorted(set(months) | set(before))))
    present = {lf.relative for lf in files}
    for rel in sorted(set(old) - present):
        tick.changes.append(Change(rel, "deleted", None, list(old[rel]["months"])))
    if tick.deferred:
        log.info(f"{len(tick.deferred)} changed landing file(s) left to the next tick "
                 f"(time budget of {budget_seconds:g} s used): {', '.join(tick.deferred[:10])}")
    return tick


def _month_reader(settings, log):
    """months_of(lf): the billing months of one landing file, from its (cached) scan."""
    ctx = landing_staging_context(settings)
    cache_dir = settings.state_dir / "landing_scans"

    def months_of(lf: LandingFile) -> list[str]:
        try:
            return scan_file(lf, ctx, cache_dir).months
        except InputFileError as exc:
            if lf.path_month:
                log.warning(f"{lf.relative} cannot be read; re-loading the month its path names, "
                            f"{lf.path_month} (the run will report the error): {exc}")
                return [lf.path_month]
            log.warning(f"{lf.relative} cannot be read and its path names no billing month; skipped "
                        f"until it changes (runs over any month fail on it until it is fixed): {exc}")
            return []

    return months_of


def _content_key(changes: list[Change]) -> str:
    items = sorted([c.relative, c.sha256] for c in changes)
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]


def _files_tag(changes: list[Change], first: str, last: str) -> str:
    names = [f"{c.relative} ({c.kind})" for c in changes if any(first <= m <= last for m in c.months)]
    text = ", ".join(names)
    return text if len(text) <= _FILES_TAG_MAX else text[: _FILES_TAG_MAX - 15].rsplit(", ", 1)[0] + ", ..."


def evaluate(context: SensorEvaluationContext, finops: FinopsResource,
             budget_seconds: float = TICK_BUDGET_SECONDS, now: datetime | None = None) -> SensorResult:
    settings = finops.settings()
    old = parse_cursor(context.cursor)
    baseline = old is None or old.get("baseline_pending", False)
    old_files = {} if old is None else old["files"]
    generation = 0 if old is None else old["generation"]
    files = discover_landing_files(settings.landing_billing_dir)
    try:
        months_of = _month_reader(settings, context.log)
    except InputFileError as exc:  # the scans need the account -> project map
        return SensorResult(skip_reason=SkipReason(f"landing files not examined: {exc}"))
    tick = detect_changes(files, old_files, baseline, months_of, context.log, budget_seconds)
    if tick.changes:
        generation += 1
    cursor = json.dumps({"version": CURSOR_VERSION, "generation": generation,
                         "baseline_pending": baseline and bool(tick.deferred), "files": tick.files},
                        sort_keys=True, separators=(",", ":"))
    if not tick.changes:
        return SensorResult(skip_reason=SkipReason("no landing file changed"), cursor=cursor)

    have = loaded_months(finops.engine()) if any(c.baseline for c in tick.changes) else set()
    latest = open_month(now)  # the latest billing-month partition
    wanted: set[str] = set()
    for change in tick.changes:
        months = [m for m in change.months if not (change.baseline and m in have)]
        outside = [m for m in months if not FIRST_BILLING_MONTH <= m <= latest]
        if outside:
            context.log.warning(f"{change.relative}: {', '.join(outside)} not billing-month partitions "
                                f"({FIRST_BILLING_MONTH}..{latest}); not requested")
        months = [m for m in months if m not in outside]
        wanted.update(months)
        note = " (first tick: months already in the warehouse are not re-loaded)" if change.baseline else ""
        context.log.info(f"{change.relative} {change.kind}: months {', '.join(months) or 'none'}{note}")
    if not wanted:
        kinds = sorted({c.kind for c in tick.changes})
        reason = ("first tick: recorded the landing files; the warehouse already holds their months"
                  if all(c.baseline for c in tick.changes)
                  else f"{len(tick.changes)} landing file(s) {'/'.join(kinds)}; no billing month to re-load")
        return SensorResult(skip_reason=SkipReason(reason), cursor=cursor)
    key = f"landing:{generation}:{_content_key(tick.changes)}"
    requests = range_run_requests(key, wanted, lambda first, last: {
        TRIGGER_TAG: "landing", LANDING_FILES_TAG: _files_tag(tick.changes, first, last)})
    return SensorResult(run_requests=requests, cursor=cursor)


INTERVAL_SECONDS = landing_sensor_interval_seconds()


@sensor(
    job=monthly_costs_job,
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Re-loads the billing months of new, restated or deleted files under landing/billing/ "
    "(one run of monthly_costs_job per contiguous range of months). On its first tick it records the files "
    "and requests only the months the warehouse does not hold yet.",
)
def landing_sensor(context: SensorEvaluationContext, finops: FinopsResource) -> SensorResult:
    return evaluate(context, finops)
