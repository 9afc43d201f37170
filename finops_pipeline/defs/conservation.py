"""Money conservation checks shared by the assets: totals per month must survive each step."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

from transforms.money import conserved, exact_total


def month_totals(frame: pd.DataFrame, column: str) -> dict[str, Decimal]:
    if frame.empty:
        return {}
    return {m: exact_total(g[column]) for m, g in frame.groupby("billing_month")}


def compare_month_totals(
    before: pd.DataFrame, after: pd.DataFrame, columns: list[str], months: list[str], rows: int
) -> list[str]:
    """Human-readable differences (empty when every month's totals agree)."""
    problems = []
    for column in columns:
        b, a = month_totals(before, column), month_totals(after, column)
        for month in months:
            x, y = b.get(month, Decimal(0)), a.get(month, Decimal(0))
            if not conserved(x, y, rows):
                problems.append(f"{month} {column}: before {x} after {y} (diff {y - x})")
    return problems


def conservation_result(check_name: str, problems: list[str], what: str, months: list[str]) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=check_name,
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        description=what,
        metadata={
            "months_checked": len(months),
            "problems": MetadataValue.md("\n".join(f"- {p}" for p in problems[:50]) or "none"),
        },
    )


def warning_result(check_name: str, findings: list[str], description: str, label: str) -> AssetCheckResult:
    """A WARN check: passes when there is nothing to report, else lists the findings."""
    return AssetCheckResult(
        check_name=check_name,
        passed=not findings,
        severity=AssetCheckSeverity.WARN,
        description=description,
        metadata={label: MetadataValue.md("\n".join(f"- {f}" for f in findings[:50]) or "none")},
    )
