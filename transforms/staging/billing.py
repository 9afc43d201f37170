"""stg_billing: raw billing rows (any format) to the canonical cost schema at daily grain.

Conservation law: for every chunk, each input row lands either in the staged rows or in the
quarantine, never both and never neither; the staged daily aggregates keep every amount of the
staged rows (sum before = sum after, per currency).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.currencies import ISO_4217_CODES

UNALLOCATED = "unallocated"
AMOUNTS = ("billed_cost", "effective_cost", "list_cost")
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
    "billing_currency",
    "source_file",
)
STAGED_COLUMNS = GRAIN + AMOUNTS + ("source_rows",)
QUARANTINE_COLUMNS = (
    "source_file",
    "line_number",
    "billing_month",
    "reason",
    "detail",
    "billed_cost",
    "effective_cost",
    "billing_currency",
    "raw_values",
)

# Quarantine reasons, in the order they are tested: a row gets the first that applies.
REASONS = {
    "malformed_row": "the row does not have as many fields as the header; fix the quoting or delimiters",
    "missing_date": "the charge date is empty; every billed row needs a ChargePeriodStart / date",
    "unparseable_date": "the charge date is not an ISO 8601 date; write it as YYYY-MM-DD[THH:MM:SS[Z]]",
    "date_out_of_range": "the charge date is outside the supported billing months; check the year",
    "missing_amount": "the cost is empty; a billed row needs a number (0 is allowed)",
    "unparseable_amount": "a cost is not a plain decimal number; remove currency signs and thousands separators",
    "invalid_currency": "the currency is not an ISO 4217 code (e.g. USD, EUR); fix the currency column",
}


@dataclass(frozen=True)
class StagingContext:
    """Everything staging needs to know besides the rows themselves."""

    source_file: str
    format_name: str
    reporting_currency: str = "USD"
    project_tag_keys: tuple[str, ...] = ("project", "Project", "app")
    account_projects: dict[str, str] = field(default_factory=dict)  # sub_account_id -> project
    first_date: date = date(2000, 1, 1)
    last_date: date = date(2100, 1, 1)
    # source column name per canonical column, for readable quarantine rows
    source_columns: dict[str, str] = field(default_factory=dict)


def _arrow(s: pd.Series) -> pa.Array | pa.ChunkedArray:
    """The Arrow data behind a string Series (zero-copy for pandas' Arrow-backed strings)."""
    if isinstance(s.array, pd.arrays.ArrowStringArray):
        return s.array._pa_array
    return pa.array(s, type=pa.string(), from_pandas=True)


def _clean_text(s: pd.Series) -> pd.Series:
    """Strip surrounding (ASCII) spaces; empty text is null. Done with Arrow kernels: per-value
    Python string handling here once cost half of the ingest time."""
    trimmed = pc.ascii_trim_whitespace(_arrow(s))
    cleaned = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    return pd.Series(pd.arrays.ArrowStringArray(cleaned, dtype=_STR), index=s.index)


# pandas' default "str" dtype: Arrow storage, NaN for missing (not pd.NA, whose truthiness raises)
_STR = pd.StringDtype("pyarrow", na_value=np.nan)


def parse_charge_dates(raw: pd.Series) -> pd.Series:
    """UTC calendar day of each timestamp (datetime64, midnight); NaT where unparseable."""
    arrow = _arrow(raw)
    # Fast path: a column that is all ISO 8601 without zone, or all with a zone, casts in Arrow.
    for target in (pa.timestamp("ns"), pa.timestamp("ns", tz="UTC")):
        try:
            instants = pc.cast(pc.cast(arrow, target), pa.timestamp("ns"))  # zoned -> UTC wall time
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        days = pc.floor_temporal(instants, unit="day")
        return pd.Series(days.to_pandas(), index=raw.index, dtype="datetime64[ns]")
    ts = pd.to_datetime(raw, utc=True, format="ISO8601", errors="coerce")
    return ts.dt.tz_convert(None).dt.normalize().astype("datetime64[ns]")


def billing_months(days: pd.Series) -> pd.Series:
    """'YYYY-MM' of each day; labels are made for the few distinct months, not per row."""
    ym = (days.dt.year * 100 + days.dt.month).to_numpy(dtype="float64", na_value=np.nan)
    codes, uniques = pd.factorize(ym, use_na_sentinel=True)
    labels = np.array([f"{int(v) // 100:04d}-{int(v) % 100:02d}" for v in uniques] + [None], dtype=object)
    return pd.Series(labels[codes], index=days.index, dtype="str")


def parse_amounts(raw: pd.Series) -> pd.Series:
    """float64 amounts; NaN where the text is not a finite decimal number."""
    try:  # fast path: the whole column is numeric text (Arrow's vectorised cast)
        values = pc.cast(_arrow(raw), pa.float64()).to_numpy(zero_copy_only=False)
        num = pd.Series(values, index=raw.index, dtype="float64")
    except (pa.ArrowInvalid, ValueError, TypeError):
        num = pd.to_numeric(raw, errors="coerce").astype("float64")
    return num.where(np.isfinite(num))


def projects_from_tags(tags: pd.Series, keys: tuple[str, ...]) -> pd.Series:
    """Value of the first tag key found among ``keys``; parsed once per distinct Tags text."""
    codes, uniques = pd.factorize(tags, use_na_sentinel=True)
    found = np.array([_project_tag(text, keys) for text in uniques] + [None], dtype=object)
    return pd.Series(found[codes], index=tags.index, dtype="object")


def _project_tag(text: str, keys: tuple[str, ...]) -> str | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None  # malformed Tags do not lose money: the row falls back to the account mapping
    if not isinstance(parsed, dict):
        return None
    for key in keys:
        value = parsed.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def stage_billing_chunk(
    raw: pd.DataFrame, line_numbers: np.ndarray, ctx: StagingContext
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical rows (resource grain, not yet aggregated) and quarantined rows of one chunk.

    ``raw`` has canonical column names and text values (null for null: NaN or None).
    """
    cleaned = {name: _clean_text(raw[name]) for name in raw.columns}  # each column once
    absent = pd.Series([None] * len(raw), index=raw.index, dtype="str")
    col = lambda name: cleaned.get(name, absent)  # noqa: E731

    date_text = col("charge_period_start")
    charge_date = parse_charge_dates(date_text)
    amount_text = {a: col(a) for a in AMOUNTS}
    amounts = {a: parse_amounts(t) for a, t in amount_text.items()}
    if "billing_currency" in raw:
        currency = col("billing_currency").str.upper()
    else:  # generic files without a currency column are in the reporting currency
        currency = pd.Series(ctx.reporting_currency, index=raw.index, dtype="object")

    reason = pd.Series(None, index=raw.index, dtype="object")

    def flag(mask: pd.Series, code: str) -> None:
        reason[mask & reason.isna()] = code

    flag(date_text.isna(), "missing_date")
    flag(charge_date.isna(), "unparseable_date")
    in_range = (charge_date >= pd.Timestamp(ctx.first_date)) & (charge_date <= pd.Timestamp(ctx.last_date))
    flag(~in_range, "date_out_of_range")
    flag(amount_text["billed_cost"].isna(), "missing_amount")
    for a in AMOUNTS:
        flag(amount_text[a].notna() & amounts[a].isna(), "unparseable_amount")
    flag(~currency.isin(ISO_4217_CODES), "invalid_currency")

    bad = reason.notna()
    # a quarantined row belongs to the month of its charge date, else of its billing period
    month_day = charge_date[bad].where(in_range[bad])
    if "billing_period_start" in raw and bad.any():
        period = parse_charge_dates(col("billing_period_start")[bad])
        period_ok = (period >= pd.Timestamp(ctx.first_date)) & (period <= pd.Timestamp(ctx.last_date))
        month_day = month_day.fillna(period.where(period_ok))
    quarantine = _quarantine_rows(
        raw[bad], line_numbers[bad.to_numpy()], reason[bad], month_day, amounts, currency, ctx
    )

    good = ~bad
    # most chunks have no bad row: skip the boolean indexing of every column then
    keep = (lambda series: series) if not bad.any() else (lambda series: series[good])  # noqa: E731
    billed = keep(amounts["billed_cost"])
    staged = pd.DataFrame(
        {
            "charge_date": keep(charge_date),
            "provider": keep(col("provider")),
            "billing_account_id": keep(col("billing_account_id")),
            "sub_account_id": keep(col("sub_account_id")),
            "service_name": keep(col("service_name")),
            "service_category": keep(col("service_category")),
            "region": keep(col("region")),
            "charge_category": keep(col("charge_category")),
            "billing_currency": keep(currency),
            "billed_cost": billed,
            # FOCUS makes these mandatory; where an export leaves them empty, the billed amount
            # is what was paid, so it stands in (documented in docs/formats.md)
            "effective_cost": keep(amounts["effective_cost"]).fillna(billed),
            "list_cost": keep(amounts["list_cost"]).fillna(billed),
        }
    )
    staged["billing_month"] = billing_months(staged["charge_date"])
    staged["project"], staged["project_source"] = _attribute_projects(
        keep(col("project")), keep(col("tags")), staged["sub_account_id"], ctx
    )
    staged["source_file"] = ctx.source_file
    staged["source_rows"] = 1
    return staged, quarantine


def _attribute_projects(
    project_column: pd.Series, tags: pd.Series, sub_accounts: pd.Series, ctx: StagingContext
) -> tuple[pd.Series, pd.Series]:
    """Project of each row: tag, else account mapping, else 'unallocated' (FOCUS);
    the project column, else 'unallocated' (generic)."""
    index = sub_accounts.index
    if ctx.format_name == "generic":
        source = pd.Series(np.where(project_column.notna(), "column", UNALLOCATED), index=index, dtype="object")
        return project_column.fillna(UNALLOCATED), source
    project = pd.Series(None, index=index, dtype="object")
    source = pd.Series(UNALLOCATED, index=index, dtype="object")
    if tags.notna().any():
        project = projects_from_tags(tags, ctx.project_tag_keys)
        source[project.notna()] = "tag"
    if ctx.account_projects:
        codes, uniques = pd.factorize(sub_accounts, use_na_sentinel=True)
        mapped = pd.Series(
            np.array([ctx.account_projects.get(a) for a in uniques] + [None], dtype=object)[codes], index=index
        )
        use = project.isna() & mapped.notna()
        source[use] = "account"
        project = project.where(~use, mapped)
    return project.fillna(UNALLOCATED), source


def _quarantine_rows(raw_bad, lines, reason, month_day, amounts, currency, ctx) -> pd.DataFrame:
    if raw_bad.empty:
        return empty_quarantine()
    source_names = {c: ctx.source_columns.get(c, c) for c in raw_bad.columns}
    raw_values = [
        json.dumps({source_names[k]: v for k, v in rec.items() if not pd.isna(v)}, ensure_ascii=False)
        for rec in raw_bad.to_dict("records")
    ]
    idx = raw_bad.index
    out = pd.DataFrame(
        {
            "source_file": ctx.source_file,
            "line_number": lines.astype("int64"),
            "billing_month": billing_months(month_day).to_numpy(),
            "reason": reason.to_numpy(),
            "detail": [REASONS[r] for r in reason],
            "billed_cost": amounts["billed_cost"][idx].to_numpy(),
            "effective_cost": amounts["effective_cost"][idx].to_numpy(),
            "billing_currency": currency[idx].to_numpy(),
            "raw_values": raw_values,
        },
        index=idx,
    )
    return out.reset_index(drop=True)


def empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in QUARANTINE_COLUMNS})


def aggregate_daily(staged: pd.DataFrame) -> pd.DataFrame:
    """Sum staged rows to the canonical daily grain (amounts and row counts conserved)."""
    if staged.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in STAGED_COLUMNS})
    # billing_month follows from charge_date and source_file is one value per file, so both are
    # left out of the hash keys (fewer keys, faster) and restored after summing.
    keys = [c for c in GRAIN if c not in ("billing_month", "source_file")]
    per_file = [f for f in pd.unique(staged["source_file"])]
    if len(per_file) != 1:
        keys.append("source_file")
    out = staged.groupby(keys, dropna=False, sort=False, observed=True)[list(AMOUNTS) + ["source_rows"]].sum().reset_index()
    if len(per_file) == 1:
        out["source_file"] = per_file[0]
    out["billing_month"] = billing_months(out["charge_date"])
    return out[list(STAGED_COLUMNS)]


def attribute_undated(quarantine: pd.DataFrame, fallback_month: str | None) -> pd.DataFrame:
    """Give quarantined rows without a usable date a billing month, so that they are replaced
    together with that month's data on every re-run (see docs/formats.md)."""
    if quarantine.empty or fallback_month is None:
        return quarantine
    out = quarantine.copy()
    out["billing_month"] = out["billing_month"].fillna(fallback_month)
    return out
