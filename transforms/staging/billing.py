"""stg_billing: raw billing rows (any format) to the canonical cost schema at daily grain.

Conservation law: for every chunk, each input row lands in exactly one of the staged rows, the
excluded rows (readable, but not a cost: a card payment, a transfer) or the quarantine; the staged
daily aggregates keep every amount of the staged rows (sum before = sum after, per currency).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.grouping import sum_by
from transforms.staging.formats import FORMATS_BY_NAME
from transforms.staging.formats.base import EXCLUSIONS, REASONS, AdaptContext, Adapted, SourceRows
from transforms.staging.parsing import STR, billing_months, clean_text, parse_charge_dates, per_distinct

__all__ = ["REASONS", "EXCLUSIONS"]

UNALLOCATED = "unallocated"
AMOUNTS = ("billed_cost", "effective_cost", "list_cost")
# Finance dimensions: what general-ledger and bank/card exports are analysed by (null for cloud
# bills unless the export has them, e.g. Azure's CostCenter). Ids and names both: ids are what
# rules and projects.csv match on, names what people read.
FINANCE_DIMENSIONS = (
    "cost_center", "cost_center_name", "profit_center", "profit_center_name", "directorate",
    "functional_area", "functional_area_name", "gl_account", "gl_account_name", "vendor", "merchant_category",
)
CLOUD_DIMENSIONS = (
    "provider", "billing_account_id", "sub_account_id", "service_name", "service_category", "region",
    "charge_category",
)
DIMENSIONS = CLOUD_DIMENSIONS + FINANCE_DIMENSIONS
# The canonical daily grain: one row per distinct value of these columns.
GRAIN = (
    "charge_date",
    "billing_month",
    "provider",
    "billing_account_id",
    "sub_account_id",
    "project",
    "project_source",
    "service_name",
    "service_category",
    "region",
    "charge_category",
    *FINANCE_DIMENSIONS,
    "billing_currency",
    "source_file",
)
STAGED_COLUMNS = GRAIN + AMOUNTS + ("source_rows",)
QUARANTINE_COLUMNS = (
    "source_file",
    "line_number",
    "billing_month",
    "reason",
    "source_column",
    "detail",
    "billed_cost",
    "effective_cost",
    "billing_currency",
    "raw_values",
)
EXCLUDED_COLUMNS = (
    "source_file",
    "line_number",
    "billing_month",
    "charge_date",
    "reason",
    "detail",
    "description",
    "amount",
    "billing_currency",
    "raw_values",
)


@dataclass(frozen=True)
class StagingContext:
    """Everything staging needs to know besides the rows themselves."""

    source_file: str
    format_name: str
    reporting_currency: str = "USD"
    project_tag_keys: tuple[str, ...] = ("project", "Project", "app")
    account_projects: dict[str, str] = field(default_factory=dict)  # sub_account_id -> project
    cost_center_projects: dict[str, str] = field(default_factory=dict)  # cost_center -> project
    first_date: date = date(2000, 1, 1)
    last_date: date = date(2100, 1, 1)
    # source column name per role, for readable quarantine rows
    source_columns: dict[str, str] = field(default_factory=dict)
    fiscal_year_start_month: int = 1
    fiscal_year_named_by: str = "start"

    def adapt_context(self) -> AdaptContext:
        return AdaptContext(
            reporting_currency=self.reporting_currency, first_date=self.first_date, last_date=self.last_date,
            source_columns=self.source_columns, source_file=self.source_file,
            fiscal_year_start_month=self.fiscal_year_start_month, fiscal_year_named_by=self.fiscal_year_named_by,
        )


class StagedChunk(NamedTuple):
    staged: pd.DataFrame  # canonical rows at resource grain (not yet aggregated)
    quarantine: pd.DataFrame
    excluded: pd.DataFrame


def stage_billing_chunk(raw: pd.DataFrame, line_numbers: np.ndarray, ctx: StagingContext) -> StagedChunk:
    """Canonical, quarantined and excluded rows of one chunk.

    ``raw`` has the format's role names as columns (see its BillingFormat.columns) and text
    values (null for null: NaN or None)."""
    fmt = FORMATS_BY_NAME[ctx.format_name]
    rows = SourceRows({name: clean_text(raw[name]) for name in raw.columns}, raw.index)  # each column once
    adapted = fmt.adapt(rows, ctx.adapt_context())
    checks = adapted.checks

    bad = checks.bad
    quarantine = _quarantine_rows(raw, line_numbers, bad, adapted, ctx)
    excluded_mask = adapted.excluded.notna() & ~bad if adapted.excluded is not None else None
    excluded = _excluded_rows(raw, line_numbers, excluded_mask, adapted, ctx)

    good = ~bad if excluded_mask is None else ~bad & ~excluded_mask
    # most chunks have no bad row: skip the boolean indexing of every column then
    keep = (lambda series: series) if good.all() else (lambda series: series[good])  # noqa: E731
    absent = pd.Series(np.nan, index=raw.index, dtype=STR)
    billed = keep(adapted.billed_cost)
    staged = pd.DataFrame({"charge_date": keep(adapted.charge_date)})
    for name in DIMENSIONS:
        staged[name] = keep(adapted.dimensions.get(name, absent))
    staged["billing_currency"] = keep(adapted.billing_currency)
    staged["billed_cost"] = billed
    # FOCUS makes these mandatory; where an export leaves them empty, the billed amount is what
    # was paid, so it stands in (documented in docs/formats.md)
    for name in ("effective_cost", "list_cost"):
        value = getattr(adapted, name)
        staged[name] = billed if value is None else keep(value).fillna(billed)
    staged["billing_month"] = billing_months(staged["charge_date"])
    staged["project"], staged["project_source"] = _attribute_projects(adapted, keep, staged, ctx)
    staged["source_file"] = ctx.source_file
    staged["source_rows"] = 1
    return StagedChunk(staged, quarantine, excluded)


def _attribute_projects(adapted: Adapted, keep, staged: pd.DataFrame, ctx: StagingContext) -> tuple[pd.Series, pd.Series]:
    """Project of each row. A format with a project column (generic): that column, else
    'unallocated'. Every other format: a project tag, else the sub-account's project, else the
    cost center's project (projects.csv), else 'unallocated'."""
    index = staged.index
    if adapted.project is not None:
        column = keep(adapted.project)
        source = pd.Series(np.where(column.notna(), "column", UNALLOCATED), index=index, dtype="object")
        return column.fillna(UNALLOCATED), source
    project = pd.Series(None, index=index, dtype="object")
    source = pd.Series(UNALLOCATED, index=index, dtype="object")
    if adapted.tag_columns:
        for key in ctx.project_tag_keys:
            if key in adapted.tag_columns:
                project = project.where(project.notna(), keep(adapted.tag_columns[key]))
        source[project.notna()] = "tag"
    elif adapted.tags is not None:
        tags = keep(adapted.tags)
        if tags.notna().any():
            parser = adapted.tag_parser
            project = per_distinct(tags, lambda text: _project_tag(parser(text), ctx.project_tag_keys))
            source[project.notna()] = "tag"
    for column, mapping, label in (("sub_account_id", ctx.account_projects, "account"),
                                   ("cost_center", ctx.cost_center_projects, "cost_center")):
        if not mapping or staged[column].isna().all():
            continue
        mapped = per_distinct(staged[column], mapping.get)
        use = project.isna() & mapped.notna()
        source[use] = label
        project = project.where(~use, mapped)
    return project.fillna(UNALLOCATED), source


def _project_tag(tags: dict | None, keys: tuple[str, ...]) -> str | None:
    if not tags:
        return None  # malformed tags do not lose money: the row falls back to the mappings
    for key in keys:
        value = tags.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _raw_values(raw_rows: pd.DataFrame, ctx: StagingContext) -> list[str]:
    """Each row's original values as a JSON object (source column names; nulls left out).

    Built column by column, each distinct value encoded once and the pieces joined by Arrow:
    a statement can have hundreds of thousands of excluded rows, and one json.dumps per row
    was most of its scan time."""
    pieces = []
    for column in raw_rows.columns:
        key = json.dumps(ctx.source_columns.get(column, column), ensure_ascii=False) + ":"
        values = raw_rows[column]
        encoded = per_distinct(values.where(values.notna(), None),
                               lambda v, key=key: key + json.dumps(v if isinstance(v, str) else str(v), ensure_ascii=False))
        pieces.append(pa.array(encoded.to_numpy(dtype=object), type=pa.string(), from_pandas=True))
    joined = pc.binary_join_element_wise(*pieces, ",", null_handling="skip")
    return pc.binary_join_element_wise("{", joined, "}", "").to_pylist()


def _quarantine_rows(raw, lines, bad: pd.Series, adapted: Adapted, ctx: StagingContext) -> pd.DataFrame:
    if not bad.any():
        return empty_quarantine()
    checks = adapted.checks
    reason, column = checks.reason[bad], checks.field[bad]
    # a quarantined row belongs to the month of its charge date, else of its billing period
    day = adapted.charge_date[bad]
    month_day = day.where(checks.in_range(day))
    if adapted.period_text is not None:
        period = parse_charge_dates(adapted.period_text[bad], adapted.period_style)
        month_day = month_day.fillna(period.where(checks.in_range(period)))
    out = pd.DataFrame(
        {
            "source_file": ctx.source_file,
            "line_number": lines[bad.to_numpy()].astype("int64"),
            "billing_month": billing_months(month_day).to_numpy(),
            "reason": reason.to_numpy(),
            "source_column": column.to_numpy(),
            "detail": [f"{c}: {REASONS[r]}" if c else REASONS[r] for r, c in zip(reason, column)],
            "billed_cost": adapted.billed_cost[bad].to_numpy(),
            "effective_cost": (adapted.effective_cost if adapted.effective_cost is not None
                               else adapted.billed_cost)[bad].to_numpy(),
            "billing_currency": adapted.billing_currency[bad].to_numpy(dtype=object, na_value=None),
            "raw_values": _raw_values(raw[bad], ctx),
        }
    )
    return out.reset_index(drop=True)


def _excluded_rows(raw, lines, mask: pd.Series | None, adapted: Adapted, ctx: StagingContext) -> pd.DataFrame:
    if mask is None or not mask.any():
        return empty_excluded()
    reason = adapted.excluded[mask]
    amount = adapted.written_amount if adapted.written_amount is not None else adapted.billed_cost
    description = adapted.description[mask].to_numpy(dtype=object, na_value=None) if adapted.description is not None else None
    out = pd.DataFrame(
        {
            "source_file": ctx.source_file,
            "line_number": lines[mask.to_numpy()].astype("int64"),
            "billing_month": billing_months(adapted.charge_date[mask]).to_numpy(),
            "charge_date": adapted.charge_date[mask].to_numpy(),
            "reason": reason.to_numpy(),
            "detail": reason.map(EXCLUSIONS).to_numpy(),
            "description": description,
            "amount": amount[mask].to_numpy(),
            "billing_currency": adapted.billing_currency[mask].to_numpy(dtype=object, na_value=None),
            "raw_values": _raw_values(raw[mask], ctx),
        }
    )
    return out.reset_index(drop=True)


def empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in QUARANTINE_COLUMNS})


def empty_excluded() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in EXCLUDED_COLUMNS})
    frame["charge_date"] = pd.Series(dtype="datetime64[ns]")
    return frame


def aggregate_daily(staged: pd.DataFrame) -> pd.DataFrame:
    """Sum staged rows to the canonical daily grain (amounts and row counts conserved)."""
    if staged.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in STAGED_COLUMNS})
    # billing_month follows from charge_date and source_file is one value per file, so both are
    # left out of the hash keys (fewer keys, faster) and restored after summing.
    per_file = [f for f in pd.unique(staged["source_file"])]
    keys = [c for c in GRAIN if c not in ("billing_month", "source_file")]
    if len(per_file) != 1:
        keys.append("source_file")
    out = sum_by(staged, keys, [*AMOUNTS, "source_rows"])
    if len(per_file) == 1:
        out["source_file"] = per_file[0]
    out["billing_month"] = billing_months(out["charge_date"])
    return out[list(STAGED_COLUMNS)]


def attribute_undated(rows: pd.DataFrame, fallback_month: str | None) -> pd.DataFrame:
    """Give quarantined rows without a usable date a billing month, so that they are replaced
    together with that month's data on every re-run (see docs/formats.md)."""
    if rows.empty or fallback_month is None:
        return rows
    out = rows.copy()
    out["billing_month"] = out["billing_month"].fillna(fallback_month)
    return out
