"""Ingest: landing billing exports -> stg_billing + quarantine_billing_rows + excluded_billing_rows
(per billing month)."""


import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from finops_pipeline.defs.billing.expectations import validate_stg_billing
from finops_pipeline.defs.conservation import compare_month_totals, conservation_result
from finops_pipeline.defs.partitions import billing_month_partitions, monthly_backfill_policy
from finops_pipeline.ingest.billing import concat_frames, stage_billing_months
from finops_pipeline.resources import FinopsResource
from finops_pipeline.warehouse.reader import read_partition
from finops_pipeline.warehouse.schema import excluded_billing_rows, quarantine_billing_rows, stg_billing
from finops_pipeline.warehouse.writer import replace_month
from transforms.money import cents, exact_total
from transforms.staging.billing import aggregate_daily, empty_excluded, empty_quarantine

GROUP = "billing"


@multi_asset(
    specs=[
        AssetSpec(
            "stg_billing",
            group_name=GROUP,
            kinds={"pandas", "sql"},
            description="Canonical billing costs at daily grain (charge day x provider x account x project x "
            "service x region x charge category x currency x source file), amounts in billing currency. "
            "Every landing export, any format, one row per distinct grain key.",
        ),
        AssetSpec(
            "quarantine_billing_rows",
            group_name=GROUP,
            kinds={"sql"},
            description="Input rows that could not be loaded, one row per input line, with the file, line, "
            "reason and raw values. Nothing is dropped silently: input = loaded + excluded + quarantined.",
        ),
        AssetSpec(
            "excluded_billing_rows",
            group_name=GROUP,
            kinds={"sql"},
            description="Readable statement rows that are not costs (card payments, transfers between own accounts, "
            "deposits, pending transactions), one row per input line with the reason and the amount as written.",
        ),
    ],
    check_specs=[
        AssetCheckSpec("rows_conserved", asset="stg_billing", blocking=True,
                       description="Every input row is loaded, excluded or quarantined; warehouse totals equal staged totals."),
        AssetCheckSpec("great_expectations", asset="stg_billing", blocking=True,
                       description="Keys not null, ISO 4217 currencies, charge_date inside its month, amounts numeric."),
    ],
    partitions_def=billing_month_partitions,
    backfill_policy=monthly_backfill_policy,
)
def stg_billing_assets(context: AssetExecutionContext, finops: FinopsResource):
    settings, engine = finops.settings(), finops.engine()
    months = list(context.partition_keys)
    staged = stage_billing_months(settings, months)
    for exc in staged.errors:
        context.log.error(str(exc))

    expectations = validate_stg_billing({m: staged.daily[m] for m in staged.loadable_months})
    failed_expectations = {m: f for m, f in expectations.items() if f}
    writable = [m for m in staged.loadable_months if m not in failed_expectations]
    for month in writable:
        replace_month(engine, month, {stg_billing: staged.daily[month], quarantine_billing_rows: staged.quarantine[month],
                                      excluded_billing_rows: staged.excluded[month]})
        context.log.info(f"{month}: {len(staged.daily[month])} daily rows, {len(staged.quarantine[month])} quarantined, "
                         f"{len(staged.excluded[month])} excluded")

    # what the metadata and the conservation check read of the loaded rows (not every column: a copy)
    columns = ["billing_month", "billing_currency", "billed_cost", "effective_cost", "list_cost", "source_rows"]
    loaded = concat_frames([staged.daily[m][columns] for m in writable], aggregate_daily(pd.DataFrame())[columns])
    quarantined = concat_frames([staged.quarantine[m] for m in writable], empty_quarantine())
    excluded = concat_frames([staged.excluded[m] for m in writable], empty_excluded())
    yield MaterializeResult(asset_key="stg_billing", metadata=_stg_metadata(loaded, quarantined, excluded, writable, staged))
    yield MaterializeResult(asset_key="quarantine_billing_rows", metadata=_by_reason("quarantine_billing_rows", quarantined))
    yield MaterializeResult(asset_key="excluded_billing_rows", metadata=_by_reason("excluded_billing_rows", excluded))

    yield _rows_conserved(engine, staged, loaded, writable)
    yield AssetCheckResult(
        check_name="great_expectations",
        asset_key="stg_billing",
        passed=not failed_expectations,
        severity=AssetCheckSeverity.ERROR,
        metadata={"failures": MetadataValue.json(failed_expectations), "months_validated": len(expectations)},
    )
    problems = [f"{m}: {exc}" for m, excs in sorted(staged.blocked.items()) for exc in excs]
    problems += [f"{m}: expectations failed: {'; '.join(f)}" for m, f in sorted(failed_expectations.items())]
    if problems:
        raise Failure(
            description=f"{len(staged.blocked) + len(failed_expectations)} month(s) not loaded; "
            f"{len(writable)} month(s) loaded. " + " | ".join(problems[:20]),
            metadata={"months_not_loaded": sorted(set(staged.blocked) | set(failed_expectations))},
        )


def _rows_conserved(engine, staged, loaded: pd.DataFrame, months: list[str]) -> AssetCheckResult:
    problems = []
    for scan in staged.scans:  # every input row is staged, excluded or quarantined
        if scan.rows_accounted != scan.rows_read:
            problems.append(f"{scan.file}: read {scan.rows_read} rows, accounted for {scan.rows_accounted} "
                            "(loaded + excluded + quarantined)")
    amounts = ["billed_cost", "effective_cost", "list_cost", "source_rows"]
    stored = read_partition(engine, stg_billing, months, ["billing_month", *amounts]) if months else loaded
    problems += compare_month_totals(loaded, stored, amounts, months, len(loaded))
    return conservation_result("rows_conserved", problems, "input rows = loaded + excluded + quarantined; warehouse = staged",
                               months)


def _stg_metadata(loaded: pd.DataFrame, quarantined: pd.DataFrame, excluded: pd.DataFrame, months: list[str], staged) -> dict:
    by_currency = loaded.groupby("billing_currency")[["billed_cost", "effective_cost"]].sum() if not loaded.empty else None
    loaded_rows = int(loaded["source_rows"].sum())
    return {
        "table": "stg_billing",
        "months_loaded": MetadataValue.text(", ".join(months) or "none"),
        "dagster/row_count": len(loaded),
        "input_rows": loaded_rows + len(excluded) + len(quarantined),
        "loaded_rows": loaded_rows,
        "excluded_rows": len(excluded),
        "quarantined_rows": len(quarantined),
        "loaded_billed_cost_by_currency": MetadataValue.md(
            "none" if by_currency is None else by_currency.map(cents).to_markdown()
        ),
        "quarantined_billed_cost": cents(exact_total(quarantined["billed_cost"])),
        "landing_files": len(staged.scans) + len(staged.errors),
        "unreadable_files": MetadataValue.md("\n".join(f"- {e}" for e in staged.errors) or "none"),
    }


def _by_reason(table: str, rows: pd.DataFrame) -> dict:
    reasons = rows["reason"].value_counts().to_dict() if not rows.empty else {}
    return {"table": table, "dagster/row_count": len(rows), "by_reason": MetadataValue.json(reasons)}
