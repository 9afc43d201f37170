"""cProfile of ``scan_file`` on a generated FOCUS file: where the ingest time goes.

    python -m benchmarks.profile_scan                 # 1M rows (generated/cached like the benchmark)
    python -m benchmarks.profile_scan --rows 200000 --top 40
    python -m benchmarks.profile_scan --rows 10000000 --phases   # no cProfile: phase timers only

Prints the functions with the most own time (tottime) and the most inclusive time (cumtime),
each with its share of the total, and writes the raw profile (for snakeviz / pstats) next to
the data in /tmp/finops-bench. cProfile sees only the main thread: pyarrow's read-ahead (and
so the file hashing in reader._HashingReader) runs on an I/O thread and shows up, if at all,
as waiting time inside ``iter_chunks``.

``--phases`` wraps the functions scan.py calls (without editing them) with wall-clock timers:
reading/parsing, staging, per-chunk aggregation and the re-aggregation of partial sums
(``_combine``), with call counts; cheap enough to run on 10M rows.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

from benchmarks.run_ingest_benchmark import DEFAULT_WORKDIR, ensure_dataset


def _where(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":
        return name  # a builtin / C function
    parts = Path(filename).parts
    for anchor in ("finops_pipeline", "transforms", "pandas", "pyarrow", "numpy", "benchmarks"):
        if anchor in parts:
            filename = "/".join(parts[parts.index(anchor):])
            break
    else:
        filename = Path(filename).name
    return f"{filename}:{line}({name})"


def table(stats: pstats.Stats, key: str, top: int) -> str:
    """Top ``top`` entries by 'tottime' or 'cumtime' as a markdown table with shares of the total."""
    total = stats.total_tt or 1.0
    entries = []
    for func, (_cc, nc, tt, ct, _callers) in stats.stats.items():
        entries.append((func, nc, tt, ct))
    idx = 2 if key == "tottime" else 3
    entries.sort(key=lambda e: e[idx], reverse=True)
    lines = [f"| {key} s | share | calls | function |", "|---:|---:|---:|---|"]
    for func, nc, tt, ct in entries[:top]:
        v = tt if key == "tottime" else ct
        lines.append(f"| {v:.2f} | {100 * v / total:.1f}% | {nc:,} | `{_where(func)}` |")
    return "\n".join(lines)


class _Timed:
    """A callable wrapper adding its calls' wall time to a shared ledger."""

    def __init__(self, name: str, func, ledger: dict):
        self.name, self.func, self.ledger = name, func, ledger

    def __call__(self, *args, **kwargs):
        t = time.perf_counter()
        try:
            return self.func(*args, **kwargs)
        finally:
            calls, secs = self.ledger.get(self.name, (0, 0.0))
            self.ledger[self.name] = (calls + 1, secs + time.perf_counter() - t)


def _timed_iter(chunks, ledger: dict):
    """Time spent producing each chunk (CSV read + parse + to_pandas), i.e. inside next()."""
    it = iter(chunks)
    while True:
        t = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            calls, secs = ledger.get("iter_chunks (read+parse)", (0, 0.0))
            ledger["iter_chunks (read+parse)"] = (calls, secs + time.perf_counter() - t)
            return
        calls, secs = ledger.get("iter_chunks (read+parse)", (0, 0.0))
        ledger["iter_chunks (read+parse)"] = (calls + 1, secs + time.perf_counter() - t)
        yield item


def run_phases(scan_module, landing, ctx) -> tuple[float, dict, object]:
    ledger: dict[str, tuple[int, float]] = {}
    patched = {
        "stage_billing_chunk": _Timed("stage_billing_chunk", scan_module.stage_billing_chunk, ledger),
        "aggregate_daily": _Timed("aggregate_daily", scan_module.aggregate_daily, ledger),
        "_combine": _Timed("_combine (re-aggregate partials)", scan_module._combine, ledger),
    }
    original_iter = scan_module.iter_chunks
    patched["iter_chunks"] = lambda stream, **kw: _timed_iter(original_iter(stream, **kw), ledger)
    saved = {k: getattr(scan_module, k) for k in patched}
    try:
        for k, v in patched.items():
            setattr(scan_module, k, v)
        t0 = time.perf_counter()
        scan = scan_module.scan_file(landing, ctx, cache_dir=None)
        wall = time.perf_counter() - t0
    finally:
        for k, v in saved.items():
            setattr(scan_module, k, v)
    return wall, ledger, scan


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--months", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--phases", action="store_true", help="phase timers instead of cProfile")
    args = ap.parse_args(argv)

    from finops_pipeline.ingest import scan as scan_module
    from finops_pipeline.ingest.billing import staging_context
    from finops_pipeline.ingest.landing import discover_landing_files
    from finops_pipeline.ingest.scan import scan_file
    from finops_pipeline.settings import load_settings

    path, _ = ensure_dataset(args.workdir.resolve(), args.rows, args.seed, args.months)
    (landing,) = discover_landing_files(path.parent)
    ctx = staging_context(load_settings(data_dir=args.workdir), account_projects={})

    if args.phases:
        wall, ledger, scan = run_phases(scan_module, landing, ctx)
        print(f"scan_file on {args.rows:,} rows: {wall:.2f}s, {len(scan.daily):,} daily groups\n")
        print("| phase | calls | seconds | share |\n|---|---:|---:|---:|")
        # _combine's own aggregate_daily calls are not counted twice: only scan.py's are wrapped
        for name, (calls, secs) in sorted(ledger.items(), key=lambda kv: -kv[1][1]):
            print(f"| {name} | {calls:,} | {secs:.2f} | {100 * secs / wall:.1f}% |")
        rest = wall - sum(secs for _, secs in ledger.values())
        print(f"| other (loop, quarantine concat, ...) | | {rest:.2f} | {100 * rest / wall:.1f}% |")
        return 0

    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    scan = scan_file(landing, ctx, cache_dir=None)
    profiler.disable()
    wall = time.perf_counter() - t0
    out = args.workdir / f"scan_file-{args.rows}.prof"
    profiler.dump_stats(str(out))
    stats = pstats.Stats(profiler, stream=io.StringIO())
    print(f"scan_file on {args.rows:,} rows: {wall:.2f}s under cProfile "
          f"(profiled total {stats.total_tt:.2f}s), {len(scan.daily):,} daily groups\n")
    print(f"### Own time (tottime), top {args.top}\n")
    print(table(stats, "tottime", args.top))
    print(f"\n### Inclusive time (cumtime), top {args.top}\n")
    print(table(stats, "cumtime", args.top))
    print(f"\nraw profile: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
