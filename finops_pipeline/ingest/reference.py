"""Reading reference/*.csv files, turning staging problems into file:line messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from finops_pipeline.ingest.errors import InputFileError
from transforms.intermediate.allocation.rules import RuleSet, parse_rules
from transforms.staging import reference as staging
from transforms.staging.pricing import stage_pricing


@dataclass
class ReferenceData:
    projects: pd.DataFrame
    account_projects: dict[str, str]
    fx_rates: pd.DataFrame
    budgets: pd.DataFrame
    problems: list[str] = field(default_factory=list)  # "file:line: message"


def _read_text_csv(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[], encoding="utf-8-sig", skip_blank_lines=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputFileError(str(path), f"cannot be parsed as CSV ({exc})", "save it as UTF-8 CSV with one header row") from exc
    except pd.errors.EmptyDataError as exc:
        raise InputFileError(str(path), "the file is empty", "add a header row, or delete the file") from exc


def _messages(path: Path, problems) -> list[str]:
    return [f"{path}:{i + 2}: {msg}" if i is not None else f"{path}: {msg}" for i, msg in problems]


def load_projects(reference_dir: Path) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    path = reference_dir / "projects.csv"
    raw = _read_text_csv(path)
    if raw is None:
        return pd.DataFrame(columns=staging.PROJECT_COLUMNS), {}, []
    dim, accounts, problems = staging.stage_projects(raw)
    return dim, accounts, _messages(path, problems)


def load_fx_rates(reference_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    path = reference_dir / "fx_rates.csv"
    raw = _read_text_csv(path)
    if raw is None:
        return pd.DataFrame(columns=["month", "currency", "rate"]), []
    rates, problems = staging.stage_fx_rates(raw)
    return rates, _messages(path, problems)


def load_budgets(reference_dir: Path, reporting_currency: str) -> tuple[pd.DataFrame, list[str]]:
    path = reference_dir / "budgets.csv"
    raw = _read_text_csv(path)
    if raw is None:
        return pd.DataFrame(columns=["project", "month", "amount", "currency"]), []
    budgets, problems = staging.stage_budgets(raw, reporting_currency)
    return budgets, _messages(path, problems)


def load_reference(reference_dir: Path, reporting_currency: str) -> ReferenceData:
    projects, accounts, p1 = load_projects(reference_dir)
    fx, p2 = load_fx_rates(reference_dir)
    budgets, p3 = load_budgets(reference_dir, reporting_currency)
    return ReferenceData(projects, accounts, fx, budgets, p1 + p2 + p3)


def load_pricing(reference_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    path = reference_dir / "pricing.csv"
    raw = _read_text_csv(path)
    if raw is None:
        return stage_pricing(pd.DataFrame(columns=["service", "markup_pct"]))[0], []
    pricing, problems = stage_pricing(raw)
    return pricing, _messages(path, problems)


def load_rules(path: Path, display: str = "reference/rules.yaml") -> RuleSet:
    """The rules of ``path`` (parsed and validated by transforms' ``parse_rules``); a missing file
    means no rules."""
    if not path.exists():
        return RuleSet()
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM, as spreadsheet tools write it, is allowed
    except UnicodeDecodeError:
        return RuleSet(problems=[f"{display}: not UTF-8 text; save the file as UTF-8"])
    return parse_rules(text, display)


def load_allocation_rules(reference_dir: Path) -> RuleSet:
    path = reference_dir / "rules.yaml"
    return load_rules(path, display=str(path))
