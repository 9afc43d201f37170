"""Money conservation checks shared by the assets: totals per month must survive each step."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

from transforms.money import conserved, exact_total


def month_totals(frame: pd.DataFrame, column: str) -> dict[str, Decimal]:
    if frame.empty:
        return {}
    return {m: exact_total(values) for m, values in frame.groupby("billing_month")[column]}


def compare_month_totals(
    before: pd.DataFrame, after: pd.DataFrame, columns: list[str], months: list[str], rows: int
) -> list[str]:
    """Human-readable differences (empty when every month's totals agree)."""
    totals = MonthlyTotals(columns)
    totals.add(before, after)
    return totals.problems(months, rows)


class MonthlyTotals:
    """compare_month_totals for frames given a month (or a few) at a time: the same exact
    per-month totals, compared with the same tolerance (``rows`` = every row of ``before``)."""

    def __init__(self, columns: list[str]):
        self.columns = columns
        self.before: dict[str, dict[str, Decimal]] = {c: {} for c in columns}
        self.after: dict[str, dict[str, Decimal]] = {c: {} for c in columns}
        self.rows = 0

    def add(self, before: pd.DataFrame, after: pd.DataFrame) -> None:
        for column in self.columns:
            self.before[column].update(month_totals(before, column))
            self.after[column].update(month_totals(after, column))
        self.rows += len(before)

    def problems(self, months: list[str], rows: int | None = None) -> list[str]:
        rows = self.rows if rows is None else rows
        problems = []
        for column in self.columns:
            b, a = self.before[column], self.after[column]
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
