"""Accuracy and runtime of transforms.marts.analytics.anomalies against the two seed baselines.

(a) A seeded generator of labelled daily cost series (``synthetic_costs``). 80 % are usage
    series: a level log-uniform in 30 to 8,000 a day; monthly growth N(2 %, 3 %) clipped to
    -5 %..+12 %; a weekday pattern (half cheaper weekends, 30 % flat, 20 % an arbitrary weekly
    pattern); log-normal day-to-day noise with sigma 0.02 to 0.20; 35 % have a recurring monthly
    charge of 3 to 30 days of cost on top; 30 % start late (half ramping up over 2 to 6 weeks);
    4 % are decommissioned (cost falls to 0). 20 % are subscription series (intermittent: zero on
    every day but their monthly charge, e.g. a SaaS fee, a support plan or a tax row alone): a
    charge log-uniform in 50 to 5,000 growing 0 to 3 % a month, half at a fixed price (+-1 %),
    half varying +-10 % (tax-like); 30 % start late, 4 % are cancelled. Every monthly charge is on
    the 1st (60 %), on the last day of the month (10 %: Jan 31, Feb 29, Mar 31, Apr 30, ...) or on
    a day 2 to 28; a late one renews on its start day. Injected events in usage series, 0 to 3 per
    series, starts uniform over the series' life after 35 days, 45 days apart, each fitting (with
    its tolerance) before the data or the series ends:
      spike        1 to 3 days, +max(U(50 %, 400 %), exp(5 sigma) - 1) of the trend;
      level_shift  permanent, +max(U(40 %, 200 %), exp(4 sigma) - 1);
      drift        linear ramp over 21 to 60 days to +max(U(50 %, 150 %), exp(4 sigma) - 1);
    in subscription series, 0 to 2 per series, from its 3rd charge on, 2 months apart:
      fee_jump     one month's charge x U(2, 4);
      fee_step     the charge x U(1.5, 3) from one month on (the step month is the event).
    Every event is material: at least U(150, 400) a day more (sizes are raised to reach it) and,
    in usage series, k noise standard deviations in the log domain, so that a person would call it
    an anomaly. Benign patterns (weekends, growth, ramp-ups, recurring and intermittent monthly
    charges, their +-10 % variation, decommissions, cancellations) are never labelled. Generator
    v1 stated sizes in linear multiples of sigma (for log-normal noise that put some "events"
    inside the noise) and clustered events early in a series' life; v2 fixed both before any
    reported run; v3 added the subscription series and month-end charges (v2's monthly charges
    all rode on daily usage, so the intermittent case was not measured at all).
(b) Event-level precision, recall, F1 and mean detection delay for
      ours        detect_daily(costs) with the default AnomalyConfig;
      baseline A  cost > trailing 30-day mean + 3 x trailing 30-day std;
      baseline B  cost > trailing 7-day mean x 1.3.
    Every method sees the same dense series (missing day = 0) and gives no verdict in a series'
    first 10 days. Matching, identical for all methods:
      * an event's range is [start, end + TOLERANCE_DAYS] (end: last spike day, the step day,
        the last day of a drift's ramp); the event is detected if a flag falls in its range,
        and its delay is the first such flag's day minus its start;
      * flagged days outside every range of their series are grouped into runs of consecutive
        days; each run is one false alarm;
      * precision = detected / (detected + false alarms), recall = detected / events.
    Primary (the goal is judged on this): a probationary period, as NAB's scoring has, the same
    for every method: the first PROBATION (61) days of each series are unscored history (flags
    there ignored; events starting there not counted, and flags in their ranges ignored). That
    is two months, so every monthly charge has been seen once, as when the asset runs with
    lookback. Secondary: no probation (every day from a series' 11th on scored). An ablation
    switches off one part at a time (primary scoring).
(c) NAB realAWSCloudwatch (5-minute CloudWatch metrics, not costs), resampled to hourly means,
    window level with the same rule (ranges = NAB's labelled windows, tolerance 0, NAB's
    probationary period of the first 15 % of each file unscored for every method), with one
    config mapping fixed in advance (NAB_CONFIG) and the two baselines on the same hourly points.

Seeds: TUNING_SEEDS were used while the method was developed, VALIDATION_SEEDS checked once
after it; the reported REPORTED_SEEDS were run only for the report.

    .venv/bin/python -m benchmarks.anomaly_benchmark                    # writes benchmarks/out/anomalies.md
    .venv/bin/python -m benchmarks.anomaly_benchmark --seeds 1 2 --no-nab --no-timing
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from transforms.marts.analytics.anomalies import AnomalyConfig, detect_daily

REPO = Path(__file__).resolve().parent.parent
NAB_DIR = REPO.parent / "shared" / "datasets" / "nab"
DEFAULT_OUT = REPO / "benchmarks" / "out" / "anomalies.md"
TUNING_SEEDS = (1, 2)
VALIDATION_SEEDS = (3, 4)  # checked once the method was tuned; seen, so not reported as held out
REPORTED_SEEDS = (101, 102, 103)
TOLERANCE_DAYS = 7
MIN_HISTORY = 10
GOAL_F1, GOAL_MARGIN = 0.9, 0.2
GENERATOR_VERSION = 3
SUBSCRIPTION_SHARE = 0.2  # series that cost nothing but a monthly charge
TIMING_SIZES = ((200, 500), (2000, 500), (5000, 730))  # series x days
# Primary scoring: every method gets the same probationary period (as NAB's scoring does): the
# first 61 days of each series are history only, with flags and events there unscored; that is
# two months, so a monthly charge has been seen once before it is judged. Secondary: no probation.
PROBATION = pd.Timedelta(days=61)
NAB_PROBATION = 0.15  # NAB's own: the first 15 % of each file


# --------------------------------------------------------------------------- (a) synthetic data


@dataclass(frozen=True)
class Spec:
    n_series: int = 300
    n_days: int = 540
    first_day: str = "2024-01-01"


def _noise(rng: np.random.Generator, sigma: float, n: int) -> np.ndarray:
    """Multiplicative log-normal day-to-day variation (sigma 0.02 to 0.20: a 2 to 20 % CV)."""
    return np.exp(sigma * rng.standard_normal(n) - sigma * sigma / 2)


def _weekday_pattern(rng: np.random.Generator) -> np.ndarray:
    kind = rng.random()
    if kind < 0.5:  # compute-like: cheaper weekends
        return np.array([1, 1, 1, 1, 1, *[rng.uniform(0.45, 0.85)] * 2])
    if kind < 0.8:  # storage-like: flat
        return np.ones(7)
    return rng.uniform(0.7, 1.3, 7)  # batch-like: an arbitrary weekly pattern


def _charge_days(rng: np.random.Generator, days: pd.DatetimeIndex, first: int) -> tuple[np.ndarray, int, str]:
    """The days of a monthly charge (a fee, a support plan, a tax row): on the 1st (60 %), on the last
    day of the month (10 %) or on a day 2 to 28; one that starts late renews on its start day.
    Returns (mask over days, the series' possibly moved first day, the rule as text)."""
    u = rng.random()
    if u < 0.1:  # the last day of each month: Jan 31, Feb 28/29, Mar 31, Apr 30, ...
        if first > 0:
            first = int(np.flatnonzero(days.is_month_end & (np.arange(len(days)) >= first))[0])
        return days.is_month_end, first, "last"
    day = 1 if u < 0.7 else int(rng.integers(2, 29))
    if first > 0:  # a subscription bought on day d renews on day d
        first -= max(0, days[first].day - 28)
        day = days[first].day
    return days.day.to_numpy() == day, first, str(day)


def _usage_series(rng: np.random.Generator, spec: Spec, days: pd.DatetimeIndex, name: str) -> tuple[pd.DataFrame, list[dict], dict]:
    n = spec.n_days
    first = int(rng.integers(0, n - 150)) if rng.random() < 0.3 else 0
    level = float(np.exp(rng.uniform(np.log(30), np.log(8000))))
    sigma = float(rng.uniform(0.02, 0.20))
    t = np.arange(n) - first
    monthly_growth = float(np.clip(rng.normal(0.02, 0.03), -0.05, 0.12))
    trend = level * (1 + monthly_growth) ** (t / 30.4)
    if first > 0 and rng.random() < 0.5:  # a new project ramping up over its first weeks
        ramp_days, ramp_from = int(rng.integers(14, 45)), rng.uniform(0.3, 0.7)
        trend = trend * np.clip(ramp_from + (1 - ramp_from) * t / ramp_days, ramp_from, 1.0)
    normal = trend * _weekday_pattern(rng)[days.day_of_week.to_numpy()]
    # decommissioned (cost falls to 0 for good): good news, never labelled
    end_of_life = int(rng.integers(first + 200, n)) if rng.random() < 0.04 and first + 200 < n else n
    events, effect = [], np.zeros(n)
    # starts uniform over the series' life after 35 days of history, at least 45 days apart, and
    # early enough that the longest event (a 60-day drift) and its tolerance fit in its life
    starts = np.sort(rng.choice(np.arange(first + 35, end_of_life - 60 - TOLERANCE_DAYS),
                                int(rng.choice(4, p=[0.3, 0.35, 0.25, 0.1])), replace=False))
    free_from = 0
    for position in starts:
        if position < free_from:
            continue
        kind = str(rng.choice(["spike", "level_shift", "drift"], p=[0.5, 0.25, 0.25]))
        floor = rng.uniform(150, 400)
        if kind == "spike":
            duration = int(rng.integers(1, 4))
            size = max(rng.uniform(0.5, 4.0), np.expm1(5 * sigma)) * trend[position:position + duration]
            effect[position:position + duration] += np.maximum(size, floor)
            end = min(position + duration, n) - 1
        else:
            size = max(rng.uniform(0.4, 2.0) if kind == "level_shift" else rng.uniform(0.5, 1.5), np.expm1(4 * sigma))
            size = max(size, floor / trend[position])  # material in money too
            ramp = 1 if kind == "level_shift" else int(rng.integers(21, 61))
            share = np.clip((np.arange(n) - position + 1) / ramp, 0, 1)
            effect += normal * size * share
            end = min(position + ramp - 1, n - 1)
        events.append({"series": name, "kind": kind, "start": days[position], "end": days[end]})
        free_from = end + 45
    cost = (normal + effect) * _noise(rng, sigma, n)
    charge_rule, first_charge = "", pd.NaT
    if rng.random() < 0.35:  # a recurring monthly charge on top of the usage: support fee, commitment, licence
        on_day, first, charge_rule = _charge_days(rng, days, first)
        charge = level * rng.uniform(3, 30) * rng.uniform(0.95, 1.05, n)
        cost += np.where(on_day, charge, 0.0)
        first_charge = days[np.flatnonzero(on_day & (np.arange(n) >= first))[0]]
    cost[end_of_life:] = 0.0
    cost[:first] = np.nan
    frame = pd.DataFrame({"series": name, "date": days, "cost": cost}).iloc[first:]
    info = {"series": name, "kind": "usage", "sigma": sigma, "first": first, "level": level, "monthly_growth": monthly_growth,
            "charge_rule": charge_rule, "first_charge": first_charge}
    return frame[frame["cost"] != 0], events, info  # a day without rows costs 0


def _subscription_series(rng: np.random.Generator, spec: Spec, days: pd.DatetimeIndex,
                         name: str) -> tuple[pd.DataFrame, list[dict], dict]:
    """A series that costs nothing but a monthly charge: a SaaS fee (a fixed price growing with
    seats) or a tax / support row (varying +-10 % with last month's spend)."""
    n = spec.n_days
    first = int(rng.integers(0, n - 150)) if rng.random() < 0.3 else 0
    on_day, first, charge_rule = _charge_days(rng, days, first)
    charge_at = np.flatnonzero(on_day & (np.arange(n) >= first))
    fee = float(np.exp(rng.uniform(np.log(50), np.log(5000))))
    growth = float(rng.uniform(0.0, 0.03))  # a month
    months = np.arange(len(charge_at))
    if rng.random() < 0.5:
        amounts, variation = fee * (1 + growth) ** months * rng.uniform(0.99, 1.01, len(months)), "fixed"
    else:
        amounts, variation = fee * (1 + growth) ** months * rng.uniform(0.9, 1.1, len(months)), "varying"
    # cancelled (the charge stops for good): never labelled
    if rng.random() < 0.04 and len(months) > 8:
        amounts[int(rng.integers(6, len(months))):] = 0.0
    events = []
    # a charge that jumps for one month or steps up for good, from its third month, 2 months apart,
    # material like every event (at least U(150, 400) more)
    candidates = np.arange(2, max(2, int(np.count_nonzero(amounts)) - 1))
    chosen = np.sort(rng.choice(candidates, min(len(candidates), int(rng.choice(3, p=[0.5, 0.35, 0.15]))), replace=False))
    free_from = 0
    for month in chosen:
        if month < free_from or amounts[month] <= 0:
            continue
        kind = str(rng.choice(["fee_jump", "fee_step"]))
        floor = rng.uniform(150, 400)
        factor = max(rng.uniform(2.0, 4.0) if kind == "fee_jump" else rng.uniform(1.5, 3.0), 1 + floor / amounts[month])
        if kind == "fee_jump":
            amounts[month] *= factor
        else:
            amounts[month:] *= factor
        events.append({"series": name, "kind": kind, "start": days[charge_at[month]], "end": days[charge_at[month]]})
        free_from = month + 2
    keep = amounts > 0
    frame = pd.DataFrame({"series": name, "date": days[charge_at[keep]], "cost": amounts[keep]})
    info = {"series": name, "kind": "subscription", "sigma": 0.0, "first": int(charge_at[0]), "level": fee,
            "monthly_growth": growth, "charge_rule": f"{charge_rule} ({variation})", "first_charge": days[charge_at[0]]}
    return frame, events, info


def _one_series(rng: np.random.Generator, spec: Spec, days: pd.DatetimeIndex, name: str) -> tuple[pd.DataFrame, list[dict], dict]:
    if rng.random() < SUBSCRIPTION_SHARE:
        return _subscription_series(rng, spec, days, name)
    return _usage_series(rng, spec, days, name)


def synthetic_costs(seed: int, spec: Spec = Spec(), with_info: bool = False) -> tuple[pd.DataFrame, ...]:
    """(costs: series, date, cost; events: series, kind, start, end[; per-series parameters]),
    reproducible from ``seed``."""
    rng = np.random.default_rng([GENERATOR_VERSION, seed])
    days = pd.date_range(spec.first_day, periods=spec.n_days, freq="D")
    frames, events, infos = [], [], []
    for i in range(spec.n_series):
        frame, found, info = _one_series(rng, spec, days, f"s{seed}-{i:04d}")
        frames.append(frame)
        events.extend(found)
        infos.append(info)
    costs, events = pd.concat(frames, ignore_index=True), pd.DataFrame(events, columns=["series", "kind", "start", "end"])
    return (costs, events, pd.DataFrame(infos)) if with_info else (costs, events)


# --------------------------------------------------------------------------- (b) baselines and matching


def dense(costs: pd.DataFrame, freq: str = "D") -> pd.DataFrame:
    """steps x series, 0 on a missing step after a series' first row, NaN before it."""
    wide = costs.pivot_table(index="date", columns="series", values="cost", aggfunc="sum")
    wide = wide.reindex(pd.date_range(wide.index.min(), wide.index.max(), freq=freq))
    started = wide.notna().cumsum() > 0
    return wide.fillna(0.0).where(started)


def _judged(wide: pd.DataFrame) -> pd.DataFrame:
    started = wide.notna().cumsum()
    return started > MIN_HISTORY


def baseline_a(wide: pd.DataFrame) -> pd.DataFrame:
    """z-score > 3 against the trailing 30 days' mean and standard deviation."""
    past = wide.shift(1).rolling(30, min_periods=MIN_HISTORY)
    return (wide > past.mean() + 3 * past.std()) & _judged(wide)


def baseline_b(wide: pd.DataFrame) -> pd.DataFrame:
    """cost > trailing 7-day average + 30 %."""
    return (wide > 1.3 * wide.shift(1).rolling(7, min_periods=7).mean()) & _judged(wide)


def flags_of(wide_flags: pd.DataFrame) -> pd.DataFrame:
    stacked = wide_flags.stack()
    stacked = stacked[stacked.astype(bool)]
    return pd.DataFrame({"series": stacked.index.get_level_values(1), "date": stacked.index.get_level_values(0)})


def match(flags: pd.DataFrame, events: pd.DataFrame, tolerance: pd.Timedelta, step: pd.Timedelta,
          scored_from: pd.Series | None = None) -> dict:
    """Event-level scores by the rule of the module docstring. ``scored_from`` (per series: the end
    of its probationary period): flags before it are ignored, and so are the events that start
    before it and every flag inside their ranges (neither detections nor false alarms)."""
    flags = flags[["series", "date"]].drop_duplicates().sort_values(["series", "date"])
    unscored = events.iloc[0:0]
    if scored_from is not None:
        flags = flags[(flags["date"] >= flags["series"].map(scored_from)).to_numpy()]
        early = (events["start"] < events["series"].map(scored_from)).to_numpy()
        events, unscored = events[~early], events[early]
    ranges = events.assign(stop=events["end"] + tolerance)
    joined = flags.merge(ranges.reset_index(names="event"), on="series", how="left")
    inside = (joined["date"] >= joined["start"]) & (joined["date"] <= joined["stop"])
    hits = joined[inside]
    first_hit = hits.groupby("event")["date"].min()
    delays = (first_hit - ranges.loc[first_hit.index, "start"]) / step
    covered = hits[["series", "date"]].drop_duplicates()
    if len(unscored):
        ignored = flags.merge(unscored.assign(stop=unscored["end"] + tolerance), on="series")
        ignored = ignored[(ignored["date"] >= ignored["start"]) & (ignored["date"] <= ignored["stop"])]
        covered = pd.concat([covered, ignored[["series", "date"]]]).drop_duplicates()
    outside = flags.merge(covered, on=["series", "date"], how="left", indicator=True)
    outside = outside[outside["_merge"] == "left_only"]
    new_run = (outside["series"] != outside["series"].shift()) | (outside["date"] - outside["date"].shift() != step)
    alarms = outside.assign(run=new_run.cumsum().to_numpy())[["series", "date", "run"]]
    detected, false_alarms, n_events = len(first_hit), int(new_run.sum()), len(events)
    precision = detected / (detected + false_alarms) if detected + false_alarms else 0.0
    recall = detected / n_events if n_events else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    by_kind = {kind: (int(first_hit.index.isin(group.index).sum()), len(group), float(delays[delays.index.isin(group.index)].mean()))
               for kind, group in events.groupby("kind")} if "kind" in events else {}
    return {"events": n_events, "detected": detected, "false_alarms": false_alarms, "flags": len(flags),
            "precision": precision, "recall": recall, "f1": f1, "delay": float(delays.mean()) if len(delays) else float("nan"),
            "by_kind": by_kind, "alarms": alarms}


def probation_ends(costs: pd.DataFrame, days: pd.Timedelta | None = None, share: float | None = None) -> pd.Series:
    """Per series, the first step scored: its first row + ``days``, or + ``share`` of its span."""
    span = costs.groupby("series")["date"].agg(["min", "max"])
    return span["min"] + (days if days is not None else share * (span["max"] - span["min"]))


# --------------------------------------------------------------------------- runs


BASELINES = (("baseline A (z > 3, 30 d)", baseline_a), ("baseline B (> 7 d avg + 30 %)", baseline_b))
ABLATIONS = (
    ("without the Isolation Forest vote", {"weight_isolation_forest": 0.0}),
    ("without the z-score vote", {"weight_zscore": 0.0}),
    ("gates only (no score threshold)", {"min_score": 0.0}),
    ("without the sustained test", {"sustain_days": 1}),
    ("without drift detection", {"detect_drift": False}),
    ("without the recurring-charge model", {"recurrence_months": 0}),
    ("without weekday factors", {"season_length": 1}),
)


def run_methods(costs: pd.DataFrame, events: pd.DataFrame, configs: dict[str, AnomalyConfig], tolerance: int,
                freq: str = "D", scored_from: pd.Series | None = None) -> dict:
    """Our detector under each config, and the two baselines, all on the same input and matched by
    the same rule: with ``scored_from`` (per series) under that probation, and also (as
    "<method> @all") with every judged step scored."""
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    flags = {}
    for name, config in configs.items():
        flags[name] = detect_daily(costs, config)
    wide = dense(costs, freq)
    for name, baseline in BASELINES:
        flags[name] = flags_of(baseline(wide))
    results = {name: match(found, events, tolerance * step, step, scored_from) for name, found in flags.items()}
    if scored_from is not None:
        results |= {f"{name} @all": match(found, events, tolerance * step, step) for name, found in flags.items()}
    return results


def first_charges(info: pd.DataFrame) -> pd.DataFrame:
    """(series, date) of the first occurrence in the data of each series' recurring charge."""
    charged = info[info["first_charge"].notna()]
    return pd.DataFrame({"series": charged["series"], "date": pd.to_datetime(charged["first_charge"])})


def pool(runs: list[dict]) -> dict:
    detected, alarms, n = (sum(r[k] for r in runs) for k in ("detected", "false_alarms", "events"))
    precision, recall = detected / max(1, detected + alarms), detected / max(1, n)
    kinds = {k: tuple(sum(r["by_kind"].get(k, (0, 0))[i] for r in runs) for i in (0, 1))
             for k in sorted({k for r in runs for k in r["by_kind"]})}
    return {"events": n, "detected": detected, "false_alarms": alarms, "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / max(1e-12, precision + recall), "by_kind": kinds,
            "delay": sum(r["delay"] * r["detected"] for r in runs if r["detected"]) / max(1, detected),
            "f1_range": (min(r["f1"] for r in runs), max(r["f1"] for r in runs)),
            "first_charge_alarms": sum(r.get("first_charge_alarms", 0) for r in runs)}


def synthetic(seeds: tuple[int, ...], spec: Spec, ablations: bool) -> tuple[dict, dict]:
    """Per seed and pooled results of ours (and its ablations) and the baselines."""
    configs = {"ours": AnomalyConfig()}
    if ablations:
        configs |= {f"ours {name}": replace(AnomalyConfig(), **change) for name, change in ABLATIONS}
    per_seed = {}
    for seed in seeds:
        costs, events, info = synthetic_costs(seed, spec, with_info=True)
        results = run_methods(costs, events, configs, TOLERANCE_DAYS, scored_from=probation_ends(costs, PROBATION))
        charges = first_charges(info)
        for result in results.values():
            runs = result["alarms"].merge(charges, on=["series", "date"])["run"]
            result["first_charge_alarms"] = runs.nunique()
        per_seed[seed] = {"results": results, "size": (len(costs), costs["series"].nunique(), len(events))}
    methods = per_seed[seeds[0]]["results"]
    pooled = {m: pool([per_seed[s]["results"][m] for s in seeds]) for m in methods}
    return per_seed, pooled


# NAB: 5-minute CloudWatch metrics resampled to hourly means. One mapping, fixed before looking at
# results: a cost day becomes a metric hour with a 24-hour season, windows scale with it, there
# is no money floor (units are CPU %, bytes, counts) and no day-of-month model (14-day files);
# the first 48 hours are never judged (NAB's own probation is the first 15 %, ~50 hours).
NAB_CONFIG = replace(
    AnomalyConfig(), freq="h", season_length=24, season_cycles=7, level_window=24, trend_window=48, scale_window=168,
    min_history_days=48, min_impact=0.0, recurrence_months=0, drift_window=48, drift_recent_days=12, drift_lag=24,
    drift_quiet_days=168,
)
NAB_VARIANTS = {
    "ours (cost gates: +30 %)": NAB_CONFIG,
    "ours (metric gates: no % gate)": replace(NAB_CONFIG, min_impact_pct=0.0),
    "ours (metric gates + drops)": replace(NAB_CONFIG, min_impact_pct=0.0, report_drops=True, drop_min_pct=0.0),
}


def nab(nab_dir: Path) -> tuple[dict, list[tuple]]:
    """All realAWSCloudwatch files as one hourly panel; windows from combined_windows.json."""
    windows = json.loads((nab_dir / "labels" / "combined_windows.json").read_text())
    frames, events = [], []
    for path in sorted((nab_dir / "data" / "realAWSCloudwatch").glob("*.csv")):
        raw = pd.read_csv(path, parse_dates=["timestamp"])
        hourly = raw.set_index("timestamp")["value"].resample("h").mean().dropna()
        frames.append(pd.DataFrame({"series": path.stem, "date": hourly.index, "cost": hourly.to_numpy()}))
        for start, end in windows.get(f"realAWSCloudwatch/{path.name}", []):
            events.append({"series": path.stem, "kind": "window", "start": pd.Timestamp(start).floor("h"), "end": pd.Timestamp(end)})
    costs, events = pd.concat(frames, ignore_index=True), pd.DataFrame(events, columns=["series", "kind", "start", "end"])
    results = run_methods(costs, events, NAB_VARIANTS, 0, "h", probation_ends(costs, share=NAB_PROBATION))
    per_file = []
    for series in sorted(costs["series"].unique()):
        mine, one_costs = events[events["series"] == series], costs[costs["series"] == series]
        one = run_methods(one_costs, mine, {"ours": NAB_CONFIG}, 0, "h", probation_ends(one_costs, share=NAB_PROBATION))
        per_file.append((series, len(mine), one))
    return results, per_file


def runtime(n_series: int, n_days: int, seed: int = 7) -> tuple[int, float, float]:
    """(cost rows, seconds of detect_daily, peak RSS in MiB so far) on a synthetic panel."""
    costs, _ = synthetic_costs(seed, Spec(n_series=n_series, n_days=n_days))
    started = time.perf_counter()
    detect_daily(costs)
    seconds = time.perf_counter() - started
    return len(costs), seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- report


HEADER = "| method | precision | recall | F1 | mean delay | detected | false alarms |\n|---|---|---|---|---|---|---|"


def _row(name: str, r: dict) -> str:
    delay = f"{r['delay']:.1f}" if r["detected"] else "–"
    scores = f"{r['precision']:.3f} | {r['recall']:.3f} | **{r['f1']:.3f}**"
    return f"| {name} | {scores} | {delay} | {r['detected']}/{r['events']} | {r['false_alarms']} |"


def goal(pooled: dict) -> tuple[bool, float, float]:
    ours = pooled["ours"]["f1"]
    best = max(pooled[name]["f1"] for name, _ in BASELINES)
    return ours >= GOAL_F1 and ours - best >= GOAL_MARGIN, ours, best


def report_synthetic(seeds: tuple[int, ...], spec: Spec, per_seed: dict, pooled: dict) -> list[str]:
    seen = set(TUNING_SEEDS) | set(VALIDATION_SEEDS)
    tuning = "held-out seeds, never used for tuning" if not set(seeds) & seen else "seeds used while tuning"
    lines = [f"### Synthetic daily costs ({tuning}: {', '.join(map(str, seeds))})", "",
             f"{spec.n_series} series x {spec.n_days} days per seed (generator v{GENERATOR_VERSION}); tolerance "
             f"{TOLERANCE_DAYS} days; delay in days from the event's start to its first flag.", ""]
    for seed in seeds:
        rows, series, events = per_seed[seed]["size"]
        lines.append(f"- seed {seed}: {rows:,} cost rows, {series} series, {events} injected events")
    main = ["ours", *(name for name, _ in BASELINES)]
    lines += ["", f"Primary, with a probationary period (the goal is judged on this): every method, ours and both baselines, "
              f"gets the first {PROBATION.days} days of each series as unscored history; flags in them are ignored, and so "
              "are the events that start in them together with every flag in their ranges.", "", HEADER,
              *(_row(m, pooled[m]) for m in main), ""]
    lines += [f"Secondary, without a probationary period (every day from a series' {MIN_HISTORY + 1}th on scored, for "
              "every method):", "", HEADER, *(_row(m, pooled[f"{m} @all"]) for m in main), ""]
    lines += ["F1 per seed (primary): " + "; ".join(f"{m} {pooled[m]['f1_range'][0]:.3f} – {pooled[m]['f1_range'][1]:.3f}"
                                                    for m in main), ""]
    kinds = sorted(pooled["ours"]["by_kind"])
    lines += ["Recall by kind of event (primary; detected / scored events):", "", "| method | " + " | ".join(kinds) + " |",
              "|---|" + "---|" * len(kinds)]
    for m in main:
        cells = (f"{pooled[m]['by_kind'][k][0]}/{pooled[m]['by_kind'][k][1]} ({pooled[m]['by_kind'][k][0] / max(1, pooled[m]['by_kind'][k][1]):.2f})"
                 for k in kinds)
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "False alarms, without probation, that are the first occurrence in the data of a recurring monthly charge "
              "(no earlier month to compare with, so no causal method can know): "
              + "; ".join(f"{m} {pooled[m + ' @all']['first_charge_alarms']} of {pooled[m + ' @all']['false_alarms']}"
                          for m in main) + "."]
    met, ours, best = goal(pooled)
    lines += ["", f"Goal (F1 >= {GOAL_F1} and >= {GOAL_MARGIN} above the better baseline): ours {ours:.3f}, better baseline "
              f"{best:.3f}, margin {ours - best:+.3f} -> **{'met' if met else 'NOT met'}**."]
    ablations = [m for m in pooled if m.startswith("ours ") and not m.endswith("@all")]
    if ablations:
        lines += ["", "Ablation (same seeds, primary scoring; one part switched off at a time):", "", HEADER,
                  _row("ours", pooled["ours"])]
        lines += [_row(m, pooled[m]) for m in ablations]
    return lines


def report_runtime(timings: list[tuple]) -> list[str]:
    lines = ["", "### Runtime of detect_daily", "", "| cost rows | series x days | seconds | peak RSS of the process (MiB) |", "|---|---|---|---|"]
    lines += [f"| {rows:,} | {series} x {days} | {seconds:.2f} | {rss:,.0f} |" for rows, series, days, seconds, rss in timings]
    lines += ["", f"{platform.machine()}, {os.cpu_count()} CPU, Python {platform.python_version()}, pandas {pd.__version__}, "
              f"numpy {np.__version__}; one process, no parallelism."]
    return lines


def report_nab(nab_results) -> list[str]:
    lines = ["", "### NAB realAWSCloudwatch (17 files, hourly means, window level)", ""]
    if nab_results is None:
        return lines + [f"Skipped: {NAB_DIR} not found (expected ../shared/datasets/nab next to the repository)."]
    results, per_file = nab_results
    lines += ["Windows from labels/combined_windows.json; a window is detected if a flag falls inside it (tolerance 0); "
              "flags outside every window, in runs of consecutive hours, are false alarms; delay in hours. NAB's probationary "
              f"period, the first {NAB_PROBATION:.0%} of each file, is unscored for every method (as in the synthetic primary "
              "scoring).", "", HEADER]
    lines += [_row(m, r) for m, r in results.items() if not m.endswith("@all")]
    lines += ["", "Without the probationary period: " + "; ".join(
        f"{m.removesuffix(' @all')} F1 {r['f1']:.3f} ({r['detected']}/{r['events']}, {r['false_alarms']} FA)"
        for m, r in results.items() if m.endswith("@all")) + "."]
    names = ["ours", *(name for name, _ in BASELINES)]
    lines += ["", "Per file (detected windows / windows, false alarms), ours with cost gates:", "",
              "| file | windows | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for series, n, one in per_file:
        lines.append(f"| {series} | {n} | " + " | ".join(f"{one[m]['detected']}/{n}, {one[m]['false_alarms']} FA" for m in names) + " |")
    return lines


DOC_INTRO = """# Accuracy of anomaly detection (fct_cost_anomalies)

Generated by `.venv/bin/python -m benchmarks.anomaly_benchmark --doc docs/accuracy_anomalies.md`
on {date}; every number below comes from that run or from `AnomalyConfig`'s defaults. The
detector is `transforms/marts/analytics/anomalies.py` (`detect_daily`, `detect_monthly`), the benchmark
`benchmarks/anomaly_benchmark.py` (its docstring has the generator's parameters).

## Method

For every series (e.g. project x service) and day, an *expected cost* from strictly earlier
days: a robust level ({c.level_window}-day median with the weekday pattern removed, grown at the
pace of the last two {c.trend_window}-day medians) x a weekday factor (median over
{c.season_cycles} weeks) + a recurring allowance: the largest charge on the same day of the month
(+-{c.recurrence_tolerance_days} day; a month's last day also maps to the earlier month's last day) in one of the
{c.recurrence_months} previous months explains today's excess up to its size. A charge is read
from raw costs, not from the detector's verdicts: a day's cost above the centred median of its
fortnight where it stands out (+{c.recurrence_min_pct:g} % and {c.recurrence_min_z:g} noise units, no money floor), so a
charge in a series' unjudged first days counts and, in an intermittent series (zero on every
other day: a SaaS fee, a tax row), the whole amount is the charge. Only the excess beyond what
recurred is judged, with the charge's own month-to-month variation ({c.recurrence_scale:g} in log terms)
added to the noise. Noise is multiplicative, so the robust
z is log(actual / expected) over 1.4826 x the median absolute log residual of the last
{c.scale_window} days, widened for the number of days it rests on. Four tests propose a day: a
**spike** (the day alone), a **sustained** rise (each of the last {c.sustain_days} days above
expected, their mean significant), a **drift** (the last {c.drift_recent_days} days' run-rate vs
the {c.drift_window}-day run-rate ending {c.drift_lag} days back, projected on its previous growth
pace; reported once per episode and not within {c.drift_quiet_days} days of another report of the
series) and, off by default, **drops**. A day is reported only if it is at least {c.min_impact:g}
a day over expected (`min_impact`) AND +{c.min_impact_pct:g} % (`min_impact_pct`) AND robust z >=
{c.min_robust_z:g} (`min_robust_z`), after {c.min_history_days} days of the series, and its score
is at least {c.min_score:g}. The score in [0, 1] is a weighted vote (0.5 = at a vote's own
threshold) of the robust z ({c.weight_seasonal_mad:g}), a classic z-score of the log residual over
{c.zscore_window} days ({c.weight_zscore:g}), an Isolation Forest over scale-free features (robust
z, log ratio, classic z, day-over-day and week-over-week change, weekday;
{c.weight_isolation_forest:g}) and the percentage over expected ({c.weight_relative:g}).
Months (`detect_monthly`): expected = median of the last 3 months x the median month-over-month
growth of the last {c.monthly_window}; reported from {c.monthly_min_impact:g} over expected AND
+{c.monthly_min_impact_pct:g} % over both expected and the previous month AND robust z >=
{c.monthly_min_robust_z:g}, after {c.monthly_min_history} complete months. Monthly detection is
covered by unit tests, not by this benchmark.

## Matching rule (the same for every method)

An injected event's range is [start, end + {tolerance} days] (end: the last spike day, the step
day, the last day of a drift's ramp). The event is detected if any flag falls in its range; its
delay is that first flag's day minus its start. Flagged days outside every range of their series
are grouped into runs of consecutive days, and each run is one false alarm. Precision =
detected / (detected + false alarms); recall = detected / events. Every method sees the same
dense series (a missing day costs 0) and gives no verdict in a series' first {min_history} days.

**Probationary period.** The primary scoring, on which the goal is judged, gives every method
(ours and both baselines) the same unscored warm-up, as NAB's scoring does: the first
{probation} days of each series are history only. Flags in them are ignored; events that start
in them are not counted, and flags inside their ranges are neither detections nor false alarms.
{probation} days is two months, so a monthly charge has been seen once before it is scored, as
when the asset runs with lookback. The secondary table scores every day from a series'
{first_judged}th on, for every method, with no probation.
NAB uses the same rule on hourly points with NAB's labelled windows as ranges, no tolerance and
NAB's own probationary period (the first {nab_probation} of each file) for every method.

The method was developed on seeds {tuning} and checked once on seeds {validation}. {provenance}
During development the generator was revised twice, each time before the reported run: v1 to v2
(event sizes in the log domain of the noise, events spread over a series' life and fitted inside
its data) and v2 to v3 (subscription series that cost nothing but a monthly charge, month-end
charges, and fee jumps and steps as events: v2's monthly charges all rode on daily usage, so the
pipeline's most common recurring pattern, a SaaS fee or tax row alone on the 1st, was not
measured). The reported seeds were run once with v3.

## Results
"""


def render_doc(text: str, pooled: dict, nab_results, seeds: tuple[int, ...]) -> str:
    from datetime import date

    config = AnomalyConfig()
    held_out = not set(seeds) & (set(TUNING_SEEDS) | set(VALIDATION_SEEDS))
    provenance = (f"The tables below are seeds {', '.join(map(str, seeds))}, run only for this report." if held_out else
                  f"The tables below are seeds {', '.join(map(str, seeds))}, which were seen while tuning: not a held-out result.")
    intro = DOC_INTRO.format(date=date.today().isoformat(), c=config, tolerance=TOLERANCE_DAYS, min_history=MIN_HISTORY,
                             tuning=", ".join(map(str, TUNING_SEEDS)), validation=", ".join(map(str, VALIDATION_SEEDS)),
                             provenance=provenance, probation=PROBATION.days, first_judged=MIN_HISTORY + 1,
                             nab_probation=f"{NAB_PROBATION:.0%}")
    met, ours, best = goal(pooled)
    strict, unprobed = pooled["ours"], pooled["ours @all"]
    unprobed_best = max(pooled[f"{name} @all"]["f1"] for name, _ in BASELINES)
    verdict = [
        "", f"## Goal: F1 >= {GOAL_F1} and at least {GOAL_MARGIN} above the better baseline", "",
        f"**{'Met' if met else 'Not met'}** on the primary scoring ({PROBATION.days}-day probationary period for every method): "
        f"ours F1 {ours:.3f} ({'above' if ours >= GOAL_F1 else 'below'} {GOAL_F1} by {abs(ours - GOAL_F1):.3f}), better "
        f"baseline {best:.3f}, margin {ours - best:+.3f} (needed +{GOAL_MARGIN}).",
        "",
        f"Without the probationary period ours scores F1 {unprobed['f1']:.3f} (precision {unprobed['precision']:.3f}, recall "
        f"{unprobed['recall']:.3f}) against {unprobed_best:.3f} for the better baseline. Of ours' {unprobed['false_alarms']} false "
        f"alarms there, {unprobed['first_charge_alarms']} are the first occurrence in the data of a monthly charge riding on "
        f"daily usage whose day is past the series' {MIN_HISTORY}th day: there is no earlier month to compare with, so a causal "
        "detector cannot know it recurs (the baselines flag them too). A subscription series' first charge is its first row, "
        "never judged.",
        "",
        "The baselines fail mainly on precision: weekends, recurring charges and the noise of small series cross "
        "\"3 standard deviations\" and \"+30 % over the weekly average\" many times a year per series, while ours "
        "requires money, percentage and significance together against an expected cost that knows the weekday, the "
        "monthly calendar and the trend.",
    ]
    ablated = {name: pooled.get(f"ours {name}") for name, _ in ABLATIONS}
    if all(ablated.values()):
        worst = min(ablated, key=lambda name: ablated[name]["f1"])
        useless = [name for name, r in ablated.items() if r["f1"] >= strict["f1"] - 0.005]
        verdict[-1] += (f" The ablation shows what carries the result: {worst}, F1 falls to {ablated[worst]['f1']:.3f} "
                        f"(precision {ablated[worst]['precision']:.3f})")
        parts = [name.removeprefix("without ") for name in useless]
        verdict[-1] += f"; switching off {' or '.join(parts)} changes F1 by less than 0.005 here." if parts else "."
    if nab_results is not None:
        results, per_file = nab_results
        ours_nab, metric = results["ours (cost gates: +30 %)"], results["ours (metric gates: no % gate)"]
        a_nab = results[BASELINES[0][0]]
        counters = sum(one["ours"]["false_alarms"] for series, _, one in per_file if "disk" in series or "network" in series.lower())
        verdict += [
            "", "## NAB, honestly", "",
            f"On NAB realAWSCloudwatch ours (cost gates) scores F1 {ours_nab['f1']:.3f}, "
            f"{'below' if ours_nab['f1'] < a_nab['f1'] else 'above'} baseline A ({a_nab['f1']:.3f}). These are CPU, disk, "
            "network and request metrics, not costs: many labelled windows are small level changes of smooth metrics (a few "
            "percent) or bursts of byte counters that are zero most of the time. Our gates are built for money (a percentage "
            "floor and a robust z of 3.5 on a causal baseline), and a mostly-zero series has an expected value of 0 (the "
            "day-of-month model is off for hourly metrics), so every burst of it is reported: the disk and network files "
            f"carry {counters} of our {ours_nab['false_alarms']} false "
            f"alarms (per-file table). Without the percentage gate ours scores F1 {metric['f1']:.3f}. NAB does not measure "
            "cost anomalies, and the detector was not tuned on it.",
        ]
    history = config.drift_lag + 2 * config.drift_window
    verdict += [
        "", "## Wiring it into an asset", "",
        f"Run it with lookback: read at least {PROBATION.days} days of fct_costs_daily before the first month the asset writes, "
        "and write only the rows of the materialised months. The first month of any input window has no earlier month, so "
        "its recurring charges would be reported as spikes; the lookback also gives the level, weekday and noise estimates "
        f"their history. Drift detection needs {history} days of a series before it can fire.",
    ]
    return intro + "\n" + text + "\n".join(verdict) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(REPORTED_SEEDS))
    parser.add_argument("--series", type=int, default=Spec.n_series)
    parser.add_argument("--days", type=int, default=Spec.n_days)
    parser.add_argument("--no-ablation", action="store_true")
    parser.add_argument("--no-nab", action="store_true")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--doc", type=Path, help="also write the accuracy doc fragment (method, rule, results) here")
    args = parser.parse_args(argv)
    seeds, spec = tuple(args.seeds), Spec(n_series=args.series, n_days=args.days)
    if set(seeds) & (set(TUNING_SEEDS) | set(VALIDATION_SEEDS)):
        print(f"note: seeds {sorted(set(seeds) & (set(TUNING_SEEDS) | set(VALIDATION_SEEDS)))} were used while tuning", file=sys.stderr)
    per_seed, pooled = synthetic(seeds, spec, not args.no_ablation)
    lines = report_synthetic(seeds, spec, per_seed, pooled)
    if not args.no_timing:
        lines += report_runtime([(rows, s, d, sec, rss) for s, d in TIMING_SIZES for rows, sec, rss in [runtime(s, d)]])
    nab_results = None
    if not args.no_nab:
        if NAB_DIR.exists():
            nab_results = nab(NAB_DIR)
        else:
            print(f"NAB skipped: {NAB_DIR} not found", file=sys.stderr)
        lines += report_nab(nab_results)
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"written to {args.out}", file=sys.stderr)
    if args.doc:
        args.doc.write_text(render_doc(text, pooled, nab_results, seeds))
        print(f"written to {args.doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
