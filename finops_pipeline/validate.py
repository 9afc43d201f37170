"""`finops validate`: every check the pipeline would make of its inputs, without running it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from finops_pipeline.ingest.billing import scan_landing
from finops_pipeline.ingest.errors import InputFileError
from finops_pipeline.ingest.reference import load_allocation_rules, load_pricing, load_reference
from finops_pipeline.settings import Settings
from transforms.intermediate.allocation.rules import project_warnings
from transforms.intermediate.costs_converted import MissingFxRate, resolve_fx_rates


@dataclass
class ValidationReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)


def validate_inputs(settings: Settings) -> ValidationReport:
    report = ValidationReport()
    if not settings.landing_billing_dir.exists():
        report.errors.append(f"{settings.landing_billing_dir}: folder missing; put billing CSV exports there")
        return report
    reference = load_reference(settings.reference_dir, settings.reporting_currency)
    report.errors += reference.problems
    report.errors += load_pricing(settings.reference_dir)[1]
    try:
        scans, failures = scan_landing(settings)
    except InputFileError as exc:
        report.errors.append(str(exc))
        return report
    data_projects = {p for s in scans for p in s.daily["project"].dropna().unique()}
    _check_rules(settings, report, data_projects, set(reference.projects["project"]))
    report.errors += [str(exc) for _, exc in failures]
    for scan in scans:
        for reason, rows in scan.quarantine.groupby("reason"):
            lines = ", ".join(str(n) for n in rows["line_number"].dropna().astype(int).head(5))
            report.warnings.append(
                f"{scan.file}: {len(rows)} row(s) will be quarantined ({reason}; lines {lines}): {rows['detail'].iloc[0]}"
            )
        for reason, rows in scan.excluded.groupby("reason"):  # not a problem, but worth a look
            lines = ", ".join(str(n) for n in rows["line_number"].head(5))
            report.info.append(f"{scan.file}: {len(rows)} row(s) are not costs and will be excluded "
                                f"({reason}; lines {lines})")
    pairs = pd.concat([s.daily[["billing_month", "billing_currency"]] for s in scans]).drop_duplicates() if scans else None
    if pairs is not None and not pairs.empty:
        try:
            rates = resolve_fx_rates(pairs, reference.fx_rates, settings.reporting_currency)
            for _, r in rates[rates["fx_rate_source"].str.startswith("carried")].iterrows():
                report.warnings.append(
                    f"reference/fx_rates.csv: no {r.billing_currency} rate for {r.billing_month}; "
                    f"the rate of {r.fx_rate_source.split(':')[1]} will be carried forward"
                )
        except MissingFxRate as exc:
            report.errors.append(f"reference/fx_rates.csv: {exc}")
    months = sorted({m for s in scans for m in s.months})
    rows = sum(s.rows_read for s in scans)
    report.info.append(f"{len(scans) + len(failures)} landing file(s), {rows:,} rows, months "
                       f"{months[0] + ' .. ' + months[-1] if months else 'none'}")
    return report


def _check_rules(settings: Settings, report: ValidationReport, data_projects: set[str], known_projects: set[str]) -> None:
    """rules.yaml errors, and warnings for rules naming a project nobody has seen."""
    ruleset = load_allocation_rules(settings.reference_dir)
    report.errors += ruleset.problems
    report.warnings += project_warnings(ruleset.rules, data_projects | known_projects,
                                        display=str(settings.reference_dir / "rules.yaml"))
    if ruleset.rules:
        report.info.append(f"{len(ruleset.active)} active allocation rule(s), "
                           f"{len(ruleset.rules) - len(ruleset.active)} inactive")
