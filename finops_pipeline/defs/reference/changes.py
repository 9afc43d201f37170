"""What a change of the reference files can affect: which assets, which billing months.

The sensor keeps a snapshot of the reference folder in its cursor and compares the next one with
it. Only months a change can reach are recomputed:
- rules.yaml: the date windows of added, removed, edited, switched on/off or re-ordered rules
  (old and new window of an edited rule); a rule without a window reaches every month. Whole
  months, because a proportional split weighs the whole billing month.
- pricing.csv: the windows of rows that appeared, disappeared or changed.
- fx_rates.csv: the months of changed rates and every later month (they may carry a rate forward).
- projects.csv: every month (it maps accounts to projects at ingest and gives each project its team).
- budgets.csv: the months of changed budgets (only the budget tables are recomputed).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from finops_pipeline.ingest.errors import InputFileError
from finops_pipeline.ingest.reference import load_allocation_rules, load_budgets, load_fx_rates, load_pricing

WATCHED = ("rules.yaml", "pricing.csv", "projects.csv", "fx_rates.csv", "budgets.csv")
ALL = None  # an open end of a window: every month on that side


@dataclass(frozen=True)
class Impact:
    file: str
    roots: tuple[str, ...]  # assets to recompute, with everything downstream of them
    windows: tuple[tuple[str | None, str | None], ...]  # (first, last) ISO dates; None = open
    reason: str


def snapshot(reference_dir: Path) -> dict:
    """A JSON-serialisable picture of the reference files: content digests plus the parsed rows
    the month analysis needs (a file with errors has its parsed part set to None)."""
    digests = {}
    for name in WATCHED:
        path = reference_dir / name
        digests[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
    ruleset = load_allocation_rules(reference_dir)
    rules = None if ruleset.problems else [
        [r.id, r.fingerprint(), _iso(r.start), _iso(r.end), r.active] for r in ruleset.rules
    ]
    pricing, pricing_problems = _load(load_pricing, reference_dir)
    fx, fx_problems = _load(load_fx_rates, reference_dir)
    # The currency a budget is read in when the file has none does not matter for a diff.
    budgets, budget_problems = _load(lambda d: load_budgets(d, "USD"), reference_dir)
    return {
        "digests": digests,
        "rules": rules,
        "rule_problems": ruleset.problems[:10],
        "pricing": None if pricing_problems else [
            [r.service, float(r.markup_pct), _iso(r.start), _iso(r.end)] for r in pricing.itertuples()
        ],
        "fx": None if fx_problems else sorted([r.month, r.currency, float(r.rate)] for r in fx.itertuples()),
        "budgets": None if budget_problems else sorted(
            [r.project, r.month, float(r.amount), r.currency] for r in budgets.itertuples()),
    }


def _load(loader, reference_dir: Path):
    try:
        return loader(reference_dir)
    except InputFileError as exc:
        return None, [str(exc)]


def _iso(value) -> str | None:
    if value is None or value != value:  # None or NaT
        return None
    return value.isoformat()[:10]


def changed_files(old: dict, new: dict) -> list[str]:
    return [name for name in WATCHED if old["digests"].get(name) != new["digests"].get(name)]


def impacts(old: dict, new: dict) -> list[Impact]:
    """The recomputations the difference between two snapshots calls for."""
    out = []
    for name in changed_files(old, new):
        if name == "rules.yaml":
            out += _rules_impact(old["rules"], new["rules"])
        elif name == "pricing.csv":
            out += _rows_impact(name, ("stg_pricing", "fct_costs_daily"), old["pricing"], new["pricing"],
                                lambda row: (row[2], row[3]))
        elif name == "fx_rates.csv":
            out += _rows_impact(name, ("stg_fx_rates", "int_costs_converted"), old["fx"], new["fx"],
                                lambda row: (f"{row[0]}-01", None))
        elif name == "budgets.csv":
            out += _rows_impact(name, ("stg_budgets",), old.get("budgets"), new.get("budgets"),
                                lambda row: (f"{row[1]}-01", f"{row[1]}-28"))
        elif name == "projects.csv":
            out.append(Impact(name, ("dim_projects", "stg_billing", "quarantine_billing_rows"), ((ALL, ALL),),
                              "projects.csv maps accounts to projects and projects to teams"))
    return out


def _rules_impact(old: list | None, new: list | None) -> list[Impact]:
    if new is None:  # the new file is invalid: nothing can be recomputed until it is fixed
        return []
    roots = ("stg_allocation_rules", "int_costs_allocated")
    if old is None:  # from a broken file to a valid one: the last good rules are unknown
        return [Impact("rules.yaml", roots, ((ALL, ALL),), "rules.yaml is valid again")]
    before = {r[0]: r for r in old}
    after = {r[0]: r for r in new}
    touched: dict[str, list] = {}
    for rid in before.keys() | after.keys():
        b, a = before.get(rid), after.get(rid)
        if b is None or a is None:
            rule = a or b
            if rule[4]:  # an added or removed inactive rule changes nothing
                touched[rid] = [rule]
        elif b[1] != a[1]:
            touched[rid] = [b, a]
    # re-ordering: a rule whose set of (common) predecessors changed now sees different input
    common_old = [r[0] for r in old if r[0] in after]
    common_new = [r[0] for r in new if r[0] in before]
    for rid in common_old:
        if set(common_old[: common_old.index(rid)]) != set(common_new[: common_new.index(rid)]):
            touched.setdefault(rid, [before[rid], after[rid]])
    windows = tuple(sorted({(r[2], r[3]) for rules in touched.values() for r in rules}, key=str))
    if not windows:
        return []
    return [Impact("rules.yaml", roots, windows, "rules changed: " + ", ".join(sorted(touched)))]


def _rows_impact(name: str, roots: tuple[str, ...], old: list | None, new: list | None, window) -> list[Impact]:
    if new is None:
        return []
    if old is None:
        return [Impact(name, roots, ((ALL, ALL),), f"{name} is valid again")]
    changed = {tuple(r) for r in old} ^ {tuple(r) for r in new}
    if not changed:  # only formatting or comments changed: no number can differ
        return []
    windows = tuple(sorted({window(list(r)) for r in changed}, key=str))
    return [Impact(name, roots, windows, f"{len(changed)} row(s) of {name} changed")]


def months_in(windows: tuple[tuple[str | None, str | None], ...], data_months: list[str]) -> list[str]:
    """The billing months with data that any window reaches (windows are inclusive dates)."""
    hit = set()
    for first, last in windows:
        lo = first[:7] if first else None
        hi = last[:7] if last else None
        hit |= {m for m in data_months if (lo is None or m >= lo) and (hi is None or m <= hi)}
    return sorted(hit)
