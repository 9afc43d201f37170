"""Accuracy and speed of ``forecast_monthly`` on the M3 monthly series, against Naive2 and Theta.

M3 monthly (Makridakis & Hibon, 2000) is 1,428 business and economic series of 48-126 months,
each with the next 18 months held out: the closest public stand-in for monthly cost histories.
Every series is forecast 18 months ahead from its training months by

* ``forecast_monthly``  the engine behind fct_cost_forecasts (backtest-weighted combination);
* ``classical_theta``   our implementation of the M3 winner, the reference to beat;
* ``naive2``            the seasonally adjusted naive forecast, M3's sanity benchmark;

all three in the same run, scored the same way: sMAPE (M3/M4 definition, mean of
200 |y - f| / (|y| + |f|)), MASE (scaled by the in-sample seasonal-naive error, m = 12) and the
share of actuals inside the 80% and 95% intervals, over h = 1-18 and h = 1-3. Our model runs
first, alone, so that its wall time (worker start-up included) is its own.

    .venv/bin/python -m benchmarks.forecast_m3               # all 1,428 series, 2 workers
    .venv/bin/python -m benchmarks.forecast_m3 --limit 100 --jobs 1

The markdown report is printed and written to benchmarks/out/forecast_m3.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import busy_cpu_seconds, cpu_model
from transforms.marts.analytics.forecasting import Forecast, classical_theta, forecast_monthly, naive2

REPO = Path(__file__).resolve().parent.parent
DATASET = REPO.parent / "shared" / "datasets" / "m3-monthly"
OUT = REPO / "benchmarks" / "out" / "forecast_m3.md"
HORIZON = 18
SEASON = 12
METHODS = {"ours": forecast_monthly, "theta": classical_theta, "naive2": naive2}
LABELS = {
    "ours": "ours: `forecast_monthly`",
    "theta": "Theta (ours, classical)",
    "naive2": "Naive2 (ours)",
}
PUBLISHED = {"Theta": 13.83, "Naive2": 16.77}  # sMAPE h=1-18 on M3 monthly, as given in the brief
GOAL_SMAPE = 13.5
GOAL_COVERAGE_80 = (75.0, 85.0)
GOAL_SECONDS = 30.0


# --------------------------------------------------------------------------- data


def load_m3(limit: int | None) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    """Series ids, training months (ragged) and the (series, 18) held-out months."""
    if not DATASET.is_dir():
        sys.exit(f"M3 monthly data not found at {DATASET}: this benchmark reads ../shared/datasets/m3-monthly "
                 "next to the repository (see SOURCE.md there).")
    train = pd.read_csv(DATASET / "m3_monthly_train.csv").set_index("series_id")
    test = pd.read_csv(DATASET / "m3_monthly_test.csv").set_index("series_id").loc[train.index]
    if limit:
        train, test = train.iloc[:limit], test.iloc[:limit]
    histories = [row.dropna().to_numpy(dtype=float) for _, row in train.iterrows()]
    return list(train.index), histories, test.to_numpy(dtype=float)


# --------------------------------------------------------------------------- forecasting


def _forecast_one(task: tuple[str, np.ndarray]) -> tuple[np.ndarray, float, float, str]:
    """(5, horizon) mean / lower_80 / upper_80 / lower_95 / upper_95, wall and CPU seconds, model."""
    method, history = task
    start, start_cpu = time.perf_counter(), time.thread_time()
    forecast: Forecast = METHODS[method](history, HORIZON)
    seconds, cpu = time.perf_counter() - start, time.thread_time() - start_cpu
    bands = np.stack([forecast.mean, forecast.lower_80, forecast.upper_80, forecast.lower_95, forecast.upper_95])
    return bands, seconds, cpu, forecast.model


def run_method(method: str, histories: list[np.ndarray], jobs: int) -> dict:
    """Forecast every series with one method in a fresh pool; wall time includes its start-up.
    `others` is the share of the machine's CPU that other processes used meanwhile (/proc/stat):
    the machine may be shared, and other work inflates wall times."""
    busy, own = busy_cpu_seconds(), _own_cpu_seconds()
    start = time.perf_counter()
    tasks = [(method, history) for history in histories]
    if jobs > 1:
        pool = get_context("spawn").Pool(jobs)
        results = pool.map(_forecast_one, tasks, chunksize=max(1, len(tasks) // (jobs * 8)))
        pool.close()
        pool.join()  # workers exit and are reaped, so their CPU time is counted below
    else:
        results = [_forecast_one(task) for task in tasks]
    wall = time.perf_counter() - start
    others = (busy_cpu_seconds() - busy) - (_own_cpu_seconds() - own)
    return {
        "bands": np.stack([r[0] for r in results]),
        "seconds": np.array([r[1] for r in results]),
        "cpu": np.array([r[2] for r in results]),
        "models": [r[3] for r in results],
        "wall": wall,
        "others": max(0.0, others / (wall * (os.cpu_count() or 1))),
    }


def _own_cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the pool's workers)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


# --------------------------------------------------------------------------- metrics


def smape(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    return 200 * np.abs(actual - forecast) / (np.abs(actual) + np.abs(forecast))


def mase_scale(history: np.ndarray) -> float:
    """Mean absolute in-sample seasonal-naive error (m = 12)."""
    return float(np.mean(np.abs(history[SEASON:] - history[:-SEASON])))


def score(result: dict, training: list[np.ndarray], actual: np.ndarray, steps: slice) -> dict[str, float]:
    """MASE is scaled by the full training months even under --history, so that it stays
    comparable (and defined) when the models see only a few of them."""
    mean, lower_80, upper_80, lower_95, upper_95 = (result["bands"][:, i, steps] for i in range(5))
    y = actual[:, steps]
    scales = np.array([mase_scale(h) for h in training])[:, None]
    return {
        "smape": float(np.mean(smape(y, mean))),
        "mase": float(np.mean(np.abs(y - mean) / scales)),
        "cover_80": float(100 * np.mean((y >= lower_80) & (y <= upper_80))),
        "cover_95": float(100 * np.mean((y >= lower_95) & (y <= upper_95))),
    }


# --------------------------------------------------------------------------- report


def machine() -> str:
    cpu = cpu_model(platform.processor() or platform.machine())
    import sklearn

    return (f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}; Python {platform.python_version()}, "
            f"numpy {np.__version__}, pandas {pd.__version__}, scikit-learn {sklearn.__version__}")


def commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "transforms/marts/analytics", "benchmarks"],
                               cwd=REPO, capture_output=True, text=True, check=True)
        return sha.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def render(results: dict[str, dict], training: list[np.ndarray], actual: np.ndarray, args: argparse.Namespace) -> str:
    n = len(training)
    spans = {"1-18": slice(0, 18), "1-3": slice(0, 3), "13-18": slice(12, 18)}
    scores = {m: {span: score(results[m], training, actual, steps) for span, steps in spans.items()} for m in results}
    options = f" --jobs {args.jobs}" + (f" --limit {args.limit}" if args.limit else "") + (f" --history {args.history}" if args.history else "")
    seen = f"the last {args.history} training months of each" if args.history else "all training months (48-126)"
    lines = [
        "## Forecast accuracy on M3 monthly" + (f", {args.history}-month histories" if args.history else ""),
        "",
        f"_Generated by `python -m benchmarks.forecast_m3{options}` on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC (commit {commit()})._",
        "",
        f"Machine: {machine()}. Series: {n:,}, models see {seen}; horizon {HORIZON}, "
        f"{int(actual.size):,} held-out months.",
        "",
        "*Coverage* is over h = 1-18 unless marked. *Wall s* is the whole run for that method on "
        f"{args.jobs} worker process(es), worker start-up and imports included; *ms / series* is the "
        "wall time of one call inside a worker (mean, p95, max) and *CPU ms* its CPU time (mean); "
        "*others* is the share of the machine's CPU that other processes used during the run.",
        "",
        "| method | sMAPE h1-18 | sMAPE h1-3 | MASE h1-18 | MASE h1-3 | 80% PI coverage | 95% PI coverage "
        "| 80% cov. h1-3 / h13-18 | wall s | ms / series (mean, p95, max) | CPU ms / series | others |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method, result in results.items():
        s18, s3, late = scores[method]["1-18"], scores[method]["1-3"], scores[method]["13-18"]
        ms = 1000 * result["seconds"]
        lines.append(
            f"| {LABELS[method]} | {s18['smape']:.2f} | {s3['smape']:.2f} | {s18['mase']:.3f} | {s3['mase']:.3f} "
            f"| {s18['cover_80']:.1f}% | {s18['cover_95']:.1f}% | {s3['cover_80']:.1f}% / {late['cover_80']:.1f}% "
            f"| {result['wall']:.1f} | {ms.mean():.1f}, {np.percentile(ms, 95):.1f}, {ms.max():.1f} "
            f"| {1000 * result['cpu'].mean():.1f} | {100 * result['others']:.0f}% |"
        )
    if n == 1428 and not args.history:  # the published numbers are for all series, all months
        for name, value in PUBLISHED.items():
            lines.append(f"| {name}, published reference | {value:.2f} | | | | | | | | | | |")
    lines += ["", *_goals(scores["ours"], results["ours"], n, args), "", *_model_mix(results["ours"]["models"])]
    return "\n".join(lines) + "\n"


def _goals(ours: dict, result: dict, n: int, args: argparse.Namespace) -> list[str]:
    s, c80 = ours["1-18"]["smape"], ours["1-18"]["cover_80"]
    low, high = GOAL_COVERAGE_80
    full = n == 1428 and not args.history
    verdict = lambda ok: "**met**" if ok else "**missed**"
    time_verdict = verdict(result["wall"] <= GOAL_SECONDS) if full else "not judged (--limit / --history)"
    return [
        "Goals" + ("" if full else " (set for the full run; shown for reference)") + ":",
        "",
        f"- sMAPE h1-18 <= {GOAL_SMAPE}: {verdict(s <= GOAL_SMAPE)} ({s:.2f}).",
        f"- 80% intervals cover {low:.0f}-{high:.0f}% of actuals: {verdict(low <= c80 <= high)} ({c80:.1f}%; 95%: "
        f"{ours['1-18']['cover_95']:.1f}%).",
        f"- All 1,428 series in <= {GOAL_SECONDS:.0f} s on 2 cores: {time_verdict} ({result['wall']:.1f} s wall, "
        "worker start-up included).",
    ]


def _model_mix(models: list[str]) -> list[str]:
    """Which candidate carried the most weight, how often: what the combination leans on."""
    heaviest = pd.Series([m.removeprefix("combo(").split("=")[0].split(",")[0].rstrip(")") for m in models])
    counts = heaviest.value_counts()
    mix = ", ".join(f"{name} {count / len(models):.0%}" for name, count in counts.items())
    return [f"Heaviest candidate per series (ours): {mix}."]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N series")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--history", type=int, default=None,
                        help="models see only the last N training months (short-history behaviour); "
                             "the report goes to forecast_m3_history<N>.md")
    args = parser.parse_args(argv)
    _, training, actual = load_m3(args.limit)
    histories = [months[-args.history:] for months in training] if args.history else training
    results = {}
    for method in METHODS:
        results[method] = run_method(method, histories, args.jobs)
        print(f"{method}: {len(histories):,} series in {results[method]['wall']:.1f} s", file=sys.stderr)
    report = render(results, training, actual, args)
    out = OUT.with_stem(f"{OUT.stem}_history{args.history}") if args.history else OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(report)
    print(f"written to {out.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
