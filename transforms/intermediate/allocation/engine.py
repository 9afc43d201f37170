"""int_costs_allocated: the converted daily cost rows with the allocation rules applied.

Conservation law: per billing month, every amount column (reporting and billing currency) and
`source_rows` sum to the same totals before and after the rules. Renames, transfers and moves
only relabel rows; a distribution splits a row into one row per target whose amounts add up to the
source row's (each share rounded to the cent, the remainder to the largest share), and the source
rows count goes to the largest share, so nothing is counted twice.

Lineage: `project_before_rules` keeps the project from ingest, `allocation_rule_id` the last rule
that touched the row; split rows also carry `allocation_method` and `allocated_ratio` (the share of
the original row, multiplied when a split row is split again), as FOCUS 1.3 split allocation does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from transforms.intermediate.allocation.rules import MATCH_KEYS, Rule

SPLIT_AMOUNTS = (
    "billed_cost", "effective_cost", "list_cost",
    "billed_cost_billing_currency", "effective_cost_billing_currency", "list_cost_billing_currency",
)
LINEAGE = ("project_before_rules", "allocation_rule_id", "allocation_method", "allocated_ratio")
BASIS = "effective_cost"  # proportional weights: the targets' own effective cost (reporting currency)


@dataclass(frozen=True)
class RuleEffect:
    rule_id: str
    type: str
    rows: int  # cost rows the rule matched
    effective_cost: float  # effective cost it moved, reporting currency


def apply_rules(costs: pd.DataFrame, rules: list[Rule]) -> tuple[pd.DataFrame, list[RuleEffect]]:
    """Apply the active rules in order; each sees the result of the ones before it."""
    frame = costs.copy()
    frame["project_before_rules"] = frame["project"]
    for col, dtype in (("allocation_rule_id", "str"), ("allocation_method", "str"), ("allocated_ratio", "float64")):
        frame[col] = pd.Series(np.nan, index=frame.index, dtype=dtype)
    days = pd.to_datetime(frame["charge_date"]).to_numpy(dtype="datetime64[D]")
    effects = []
    for rule in rules:
        if not rule.active or frame.empty:
            effects.append(RuleEffect(rule.id, rule.type, 0, 0.0))
            continue
        mask = _in_window(days, rule) & (frame["project"] == rule.source).to_numpy()
        if rule.type == "move_service":
            mask &= (frame["service_name"] == rule.params["service"]).to_numpy()
        elif rule.type == "transfer_cost":
            for key, values in rule.params["match"].items():
                mask &= frame[MATCH_KEYS[key]].isin(values).to_numpy()
        effects.append(RuleEffect(rule.id, rule.type, int(mask.sum()), float(frame.loc[mask, BASIS].sum())))
        if not mask.any():
            continue
        if rule.type == "distribute_cost":
            frame = _distribute(frame, mask, rule)
            days = pd.to_datetime(frame["charge_date"]).to_numpy(dtype="datetime64[D]")
        else:
            frame.loc[mask, "project"] = rule.params["to"]
            frame.loc[mask, "allocation_rule_id"] = rule.id
    return frame.reset_index(drop=True), effects


def _in_window(days: np.ndarray, rule: Rule) -> np.ndarray:
    mask = np.ones(len(days), dtype=bool)
    if rule.start is not None:
        mask &= days >= np.datetime64(rule.start, "D")
    if rule.end is not None:
        mask &= days <= np.datetime64(rule.end, "D")
    return mask


def _ratios(frame: pd.DataFrame, mask: np.ndarray, rule: Rule) -> np.ndarray:
    """One row of target shares (summing to 1) per source row."""
    targets = rule.targets
    n_src = int(mask.sum())
    method = rule.params["method"]
    if method == "even":
        return np.full((n_src, len(targets)), 1.0 / len(targets))
    if method == "fixed":
        weights = np.array([rule.params["weights"][t] for t in targets])
        return np.tile(weights / weights.sum(), (n_src, 1))
    # proportional: each target's cost in the billing month as it stands now, without the cost
    # being distributed (the source's rows are excluded by construction: a target is never the
    # source). A target with net credits counts as 0; all zero -> even split.
    others = frame.loc[~mask & frame["project"].isin(targets).to_numpy()]
    basis = (
        others.groupby(["billing_month", "project"])[BASIS].sum()
        .unstack("project")
        .reindex(columns=targets)
        .fillna(0.0)
        .clip(lower=0.0)
    )
    months = frame.loc[mask, "billing_month"]
    basis = basis.reindex(pd.Index(months.unique(), name="billing_month")).fillna(0.0)
    sums = basis.sum(axis=1)
    shares = basis.div(sums.where(sums > 0), axis=0).fillna(1.0 / len(targets))
    return shares.loc[months.to_numpy()].to_numpy()


def _distribute(frame: pd.DataFrame, mask: np.ndarray, rule: Rule) -> pd.DataFrame:
    targets = rule.targets
    n = len(targets)
    ratios = _ratios(frame, mask, rule)
    source = frame.loc[mask]
    rows = np.arange(len(source))
    largest = ratios.argmax(axis=1)  # first target on ties: deterministic
    split = source.iloc[np.repeat(rows, n)].reset_index(drop=True)
    for col in SPLIT_AMOUNTS:
        amounts = source[col].to_numpy(dtype="float64")
        shares = np.round(amounts[:, None] * ratios, 2)
        shares[rows, largest] = 0.0
        shares[rows, largest] = amounts - shares.sum(axis=1)
        split[col] = shares.ravel()
    counts = np.zeros((len(source), n), dtype="int64")
    counts[rows, largest] = source["source_rows"].to_numpy(dtype="int64")
    split["source_rows"] = counts.ravel()
    split["project"] = pd.Series(np.tile(np.array(targets, dtype=object), len(source)), dtype=frame["project"].dtype)
    prior = source["allocated_ratio"].fillna(1.0).to_numpy()
    split["allocated_ratio"] = (prior[:, None] * ratios).ravel()
    split["allocation_method"] = rule.params["method"]
    split["allocation_rule_id"] = rule.id
    # Shares rounded to 0.00 of a tiny row carry nothing; keeping them would only add rows.
    empty = (split[list(SPLIT_AMOUNTS)] == 0).all(axis=1) & (split["source_rows"] == 0)
    split = split.loc[~empty]
    return pd.concat([frame.loc[~mask], split], ignore_index=True)
