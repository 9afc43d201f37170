"""Staging of the reference files: projects, FX rates, budgets.

Each function takes the file's rows as text (a DataFrame of str, header as written) and returns
the typed table plus a list of problems as (row index, message with the fix). The caller turns
row indexes into line numbers, since only it knows the file.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from transforms.currencies import ISO_4217_CODES

MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
Problems = list[tuple[int | None, str]]


def _missing_columns(raw: pd.DataFrame, required: tuple[str, ...]) -> Problems:
    missing = [c for c in required if c not in raw.columns]
    if missing:
        return [(None, f"missing column(s) {', '.join(missing)}; the header must include {', '.join(required)}")]
    return []


def _clean_cell(value):
    """Trimmed text; an empty or null cell is None ("not given")."""
    if isinstance(value, str):
        return value.strip() or None
    return None if value is None or value != value else value


def _strip(raw: pd.DataFrame) -> pd.DataFrame:
    out = raw.copy()
    out.columns = [str(c).strip().lower() for c in out.columns]
    for c in out.columns:
        out[c] = pd.Series([_clean_cell(v) for v in out[c].tolist()], index=out.index, dtype="object")
    return out


PROJECT_COLUMNS = ["project", "code", "owner", "team", "account_ids", "cost_centers"]


def stage_projects(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str], Problems]:
    """dim_projects rows (one per project) and the sub_account_id -> project map.

    projects.csv may repeat a project on several rows to map several accounts (a cloud account, a
    card or bank account) or cost centers (`cost_center`, general-ledger exports) to it. The
    cost-center map is the dim's `cost_centers` column (see ``cost_center_projects``)."""
    raw = _strip(raw)
    problems = _missing_columns(raw, ("project",))
    if problems:
        return pd.DataFrame(columns=PROJECT_COLUMNS), {}, problems
    for col in ("code", "owner", "team", "account_id", "cost_center"):
        if col not in raw:
            raw[col] = pd.Series([None] * len(raw), index=raw.index, dtype="object")
    maps: dict[str, dict[str, str]] = {"account_id": {}, "cost_center": {}}
    for i, row in zip(raw.index, raw.to_dict("records")):
        if row["project"] is None:
            problems.append((i, "empty project name; fill it in or delete the row"))
            continue
        for column, found in maps.items():
            key = row[column]
            if key is None:
                continue
            if key in found and found[key] != row["project"]:
                what = "an account" if column == "account_id" else "a cost center"
                problems.append((i, f"{column} {key} is already mapped to project {found[key]}; {what} can belong to one project"))
            found[key] = row["project"]
    accounts = maps["account_id"]
    valid = raw[raw["project"].notna()]
    dim = (
        valid.groupby("project", sort=True)
        .agg(
            code=("code", "first"),
            owner=("owner", "first"),
            team=("team", "first"),
            account_ids=("account_id", _joined),
            cost_centers=("cost_center", _joined),
        )
        .reset_index()
    )
    return dim, accounts, problems


def _joined(values: pd.Series) -> str | None:
    return ",".join(sorted({v for v in values if isinstance(v, str)})) or None


def cost_center_projects(dim: pd.DataFrame) -> dict[str, str]:
    """cost_center -> project, from dim_projects' comma-separated `cost_centers`."""
    if "cost_centers" not in dim:
        return {}
    return {cc: project for project, ccs in zip(dim["project"], dim["cost_centers"]) if isinstance(ccs, str)
            for cc in ccs.split(",")}


def stage_fx_rates(raw: pd.DataFrame) -> tuple[pd.DataFrame, Problems]:
    """month, currency, rate (reporting units per 1 unit); one rate per month and currency."""
    raw = _strip(raw)
    problems = _missing_columns(raw, ("month", "currency", "rate"))
    if problems:
        return pd.DataFrame(columns=["month", "currency", "rate"]), problems
    rates = pd.to_numeric(raw["rate"], errors="coerce")
    ok = pd.Series(True, index=raw.index)
    for i in raw.index:
        month, cur, rate = raw.at[i, "month"], (raw.at[i, "currency"] or "").upper(), rates[i]
        if not month or not MONTH_RE.match(month):
            problems.append((i, f"month {month!r} is not YYYY-MM"))
        elif cur not in ISO_4217_CODES:
            problems.append((i, f"currency {raw.at[i, 'currency']!r} is not an ISO 4217 code"))
        elif not (math.isfinite(rate) and rate > 0):
            problems.append((i, f"rate {raw.at[i, 'rate']!r} must be a positive number (reporting units per 1 {cur})"))
        else:
            continue
        ok[i] = False
    out = pd.DataFrame({"month": raw["month"], "currency": raw["currency"].str.upper(), "rate": rates})[ok]
    dupes = out[out.duplicated(["month", "currency"], keep="first")]
    for i in dupes.index:
        problems.append((i, f"second rate for {out.at[i, 'currency']} in {out.at[i, 'month']}; keep one row per month and currency"))
    out = out.drop(dupes.index)
    return out.sort_values(["currency", "month"]).reset_index(drop=True), problems


def stage_budgets(raw: pd.DataFrame, reporting_currency: str) -> tuple[pd.DataFrame, Problems]:
    """project, month, amount, currency (reporting currency when the column is absent or empty)."""
    raw = _strip(raw)
    problems = _missing_columns(raw, ("project", "month", "amount"))
    if problems:
        return pd.DataFrame(columns=["project", "month", "amount", "currency"]), problems
    if "currency" not in raw:
        raw["currency"] = None
    amounts = pd.to_numeric(raw["amount"], errors="coerce")
    currency = raw["currency"].fillna(reporting_currency).str.upper()
    ok = pd.Series(True, index=raw.index)
    for i in raw.index:
        if not raw.at[i, "project"]:
            problems.append((i, "empty project"))
        elif not raw.at[i, "month"] or not MONTH_RE.match(raw.at[i, "month"]):
            problems.append((i, f"month {raw.at[i, 'month']!r} is not YYYY-MM"))
        elif not (math.isfinite(amounts[i]) and amounts[i] >= 0):
            problems.append((i, f"amount {raw.at[i, 'amount']!r} must be a number >= 0"))
        elif currency[i] not in ISO_4217_CODES:
            problems.append((i, f"currency {raw.at[i, 'currency']!r} is not an ISO 4217 code"))
        else:
            continue
        ok[i] = False
    out = pd.DataFrame({"project": raw["project"], "month": raw["month"], "amount": amounts, "currency": currency})[ok]
    dupes = out[out.duplicated(["project", "month"], keep="first")]
    for i in dupes.index:
        problems.append((i, f"second budget for {out.at[i, 'project']} in {out.at[i, 'month']}; keep one row per "
                            "project and month"))
    return out.drop(dupes.index).reset_index(drop=True), problems
