"""Staging the billing months a run asked for, from every landing file.

Which months an export holds is only known after reading it, so every file is scanned (once
per content version, see scan.py) and the requested months are cut out of the results.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from finops_pipeline.ingest.errors import InputFileError
from finops_pipeline.ingest.landing import LandingFile, discover_landing_files
from finops_pipeline.ingest.reference import load_projects
from finops_pipeline.ingest.scan import FileScan, scan_file
from finops_pipeline.settings import Settings
from transforms.months import billing_dates
from transforms.staging.billing import StagingContext, aggregate_daily, empty_excluded, empty_quarantine
from transforms.staging.reference import cost_center_projects


@dataclass
class StagedBilling:
    daily: dict[str, pd.DataFrame]  # billing_month -> stg_billing rows
    quarantine: dict[str, pd.DataFrame]  # billing_month -> quarantined rows
    excluded: dict[str, pd.DataFrame]  # billing_month -> rows that are not costs (card payments, ...)
    blocked: dict[str, list[InputFileError]]  # billing_month -> unreadable files that may hold it
    scans: list[FileScan] = field(default_factory=list)
    errors: list[InputFileError] = field(default_factory=list)

    @property
    def loadable_months(self) -> list[str]:
        return [m for m in self.daily if m not in self.blocked]


def staging_context(settings: Settings, account_projects: dict[str, str],
                    cost_centers: dict[str, str] | None = None) -> StagingContext:
    first_date, last_date = billing_dates()  # first partition .. end of the open month
    return StagingContext(
        source_file="",
        format_name="",
        reporting_currency=settings.reporting_currency,
        project_tag_keys=settings.project_tag_keys,
        account_projects=account_projects,
        cost_center_projects=cost_centers or {},
        first_date=first_date,
        last_date=last_date,
        fiscal_year_start_month=settings.fiscal_year_start_month,
        fiscal_year_named_by=settings.fiscal_year_named_by,
    )


def landing_staging_context(settings: Settings) -> StagingContext:
    """The staging context of this deployment: settings plus the project mappings of projects.csv."""
    projects, accounts, problems = load_projects(settings.reference_dir)
    if problems:
        raise InputFileError(str(settings.reference_dir / "projects.csv"), "; ".join(problems))
    return staging_context(settings, accounts, cost_center_projects(projects))


def scan_landing(settings: Settings) -> tuple[list[FileScan], list[tuple[LandingFile, InputFileError]]]:
    """Scan every landing file (cached); unreadable files are returned, not raised."""
    ctx = landing_staging_context(settings)
    cache_dir = settings.state_dir / "landing_scans"
    scans, failures = [], []
    for lf in discover_landing_files(settings.landing_billing_dir):
        try:
            scans.append(scan_file(lf, ctx, cache_dir))
        except InputFileError as exc:
            failures.append((lf, exc))
    return scans, failures


def landing_months(settings: Settings) -> list[str]:
    """Every billing month present in the landing data (rows or quarantined rows)."""
    scans, failures = scan_landing(settings)
    months = {m for s in scans for m in s.months}
    months |= {lf.path_month for lf, _ in failures if lf.path_month}
    return sorted(months)


def stage_billing_months(settings: Settings, months: list[str]) -> StagedBilling:
    scans, failures = scan_landing(settings)
    wanted = set(months)
    daily_parts: dict[str, list[pd.DataFrame]] = {m: [] for m in months}
    quarantine_parts: dict[str, list[pd.DataFrame]] = {m: [] for m in months}
    excluded_parts: dict[str, list[pd.DataFrame]] = {m: [] for m in months}
    for scan in scans:
        for frame, parts in ((scan.daily, daily_parts), (scan.quarantine, quarantine_parts), (scan.excluded, excluded_parts)):
            for month, rows in frame.groupby("billing_month", sort=False):
                if month in wanted:
                    parts[month].append(rows)
    blocked: dict[str, list[InputFileError]] = {}
    for lf, exc in failures:
        # An unreadable file blocks the month its path names, or every month when the path
        # names none: loading a month without it could silently drop that file's costs.
        for month in months if lf.path_month is None else [lf.path_month]:
            if month in wanted:
                blocked.setdefault(month, []).append(exc)
    daily = {m: concat_frames(parts, aggregate_daily(pd.DataFrame())) for m, parts in daily_parts.items()}
    quarantine = {m: concat_frames(parts, empty_quarantine()) for m, parts in quarantine_parts.items()}
    excluded = {m: concat_frames(parts, empty_excluded()) for m, parts in excluded_parts.items()}
    return StagedBilling(daily, quarantine, excluded, blocked, scans, [exc for _, exc in failures])


def concat_frames(parts: list[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    """The non-empty parts stacked, or ``empty`` (which carries the columns) when there are none."""
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else empty
