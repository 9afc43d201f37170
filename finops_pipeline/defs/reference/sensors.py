"""reference_change_sensor: a change of the reference files recomputes the months it can affect.

Edit rules.yaml (or pricing.csv, fx_rates.csv, projects.csv, budgets.csv) and, within a minute, one run per
contiguous range of affected months is requested. Run keys are derived from the change (a
generation counter kept in the cursor and the new contents), so a change triggers its runs once,
however many times a tick is evaluated; changing the file back is a new change.
"""

import hashlib
import json

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultSensorStatus,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from finops_pipeline.defs.jobs import monthly_costs_job
from finops_pipeline.defs.reference.changes import changed_files, impacts, months_in, snapshot
from finops_pipeline.resources import FinopsResource
from finops_pipeline.runs import TRIGGER_TAG, range_run_requests
from finops_pipeline.settings import sensor_interval_seconds
from finops_pipeline.warehouse.queries import loaded_months

INTERVAL_SECONDS = sensor_interval_seconds()


@sensor(
    job=monthly_costs_job,
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Recomputes the billing months a change of rules.yaml, pricing.csv, fx_rates.csv or "
    "projects.csv can affect (one run per contiguous range of months).",
)
def reference_change_sensor(context: SensorEvaluationContext, finops: FinopsResource):
    settings = finops.settings()
    new = snapshot(settings.reference_dir)
    if not context.cursor:
        return SensorResult(skip_reason=SkipReason("first tick: recorded the reference files as they are"),
                            cursor=json.dumps(new))
    old = json.loads(context.cursor)
    changed = changed_files(old, new)
    if not changed:
        return SkipReason("no reference file changed")
    # A file with errors keeps its last valid content in the cursor, so the eventual fix is
    # compared with what the warehouse was computed from (and not with "unknown": every month).
    for parsed in ("rules", "pricing", "fx", "budgets"):
        if new[parsed] is None:
            new[parsed] = old.get(parsed)
    if new["rule_problems"]:
        context.log.warning("rules.yaml has errors; its rules are not recomputed until it is fixed: "
                            + " | ".join(new["rule_problems"]))
    # Each detected change gets the next generation number: A -> B -> A -> B is four changes and
    # must run four times, yet re-evaluating one tick (same cursor) gives the same run keys.
    new["generation"] = old.get("generation", 0) + 1
    found = impacts(old, new)
    # Only months the warehouse holds can carry results computed with the old files.
    data_months = sorted(loaded_months(finops.engine()))
    months = sorted({m for impact in found for m in months_in(impact.windows, data_months)})
    for impact in found:
        context.log.info(f"{impact.file}: {impact.reason}; months "
                         f"{', '.join(months_in(impact.windows, data_months)) or 'none with data'}")
    if not months:
        return SensorResult(skip_reason=SkipReason(f"{', '.join(changed)} changed; no month with data is affected"),
                            cursor=json.dumps(new))
    # One selection for the whole change (the union of what each file reaches), so a commit that
    # edits two files still triggers one run per range of months.
    graph = context.repository_def.asset_graph
    roots = AssetSelection.assets(*[AssetKey(r) for impact in found for r in impact.roots])
    in_job = AssetSelection.assets(*monthly_costs_job.selection.resolve(graph))
    keys = sorted(((roots | roots.downstream()) & in_job).resolve(graph), key=lambda k: k.to_user_string())
    key = f"{new['generation']}:{_content_key(new)}"
    trigger = {TRIGGER_TAG: ", ".join(changed) + " changed"}
    requests = range_run_requests(f"reference:{key}", months, lambda first, last: trigger, asset_selection=keys)
    return SensorResult(run_requests=requests, cursor=json.dumps(new))


def _content_key(snap: dict) -> str:
    return hashlib.sha256(json.dumps(snap["digests"], sort_keys=True).encode()).hexdigest()[:16]
