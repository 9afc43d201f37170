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
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from sqlalchemy import select

from finops_pipeline.defs.jobs import monthly_costs_job
from finops_pipeline.defs.reference.changes import changed_files, contiguous_ranges, impacts, months_in, snapshot
from finops_pipeline.pipeline_run import RANGE_END_TAG, RANGE_START_TAG
from finops_pipeline.resources import FinopsResource
from finops_pipeline.settings import sensor_interval_seconds
from finops_pipeline.warehouse import schema
from finops_pipeline.warehouse.engine import ensure_tables


def _data_months(finops: FinopsResource) -> list[str]:
    """Months already in the warehouse: only those can hold results computed with the old files."""
    engine = finops.engine()
    ensure_tables(engine)
    table = schema.stg_billing
    with engine.connect() as conn:
        return sorted(m for (m,) in conn.execute(select(table.c.billing_month).distinct()))


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
    data_months = _data_months(finops)
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
    requests = [
        RunRequest(
            run_key=f"reference:{key}:{first}..{last}",
            asset_selection=keys,
            tags={RANGE_START_TAG: first, RANGE_END_TAG: last, "finops/trigger": ", ".join(changed) + " changed"},
        )
        for first, last in contiguous_ranges(months)
    ]
    return SensorResult(run_requests=requests, cursor=json.dumps(new))


def _content_key(snap: dict) -> str:
    return hashlib.sha256(json.dumps(snap["digests"], sort_keys=True).encode()).hexdigest()[:16]
