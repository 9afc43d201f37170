"""Ingest throughput and peak memory of ``scan_file`` against DuckDB on the same FOCUS file.

For each size (default 1M and 10M rows) a synthetic FOCUS 1.0 export is generated once and
cached under /tmp/finops-bench (keyed by rows, seed, months and generator version). Each engine
then runs in its own subprocess, so that peak RSS is that engine's alone:

* ``ours``      finops_pipeline.ingest.scan.scan_file(file, ctx, cache_dir=None): stream,
                stage and aggregate to the daily grain (CSV parsing in a
                background thread overlaps pandas staging: up to 2 cores);
* ``duckdb``    read_csv(all_varchar) + casts + the same GROUP BY to the daily grain, with
                DuckDB's default thread count (= cores);
* ``duckdb-1t`` the same with ``threads=1``, as a like-for-like single-core reference.

Throughput is rows / seconds of the work itself (imports and interpreter start excluded, shown
separately), best of ``--repeat`` runs (default: 3 up to 2M rows, else 1) since the machine may
be shared; peak RSS is the child's high-water mark (/proc/self/status VmHWM), the highest of the
runs (and of RSS sampled every 10 ms during the scan). Both engines must agree on the total EffectiveCost (1e-6 relative) and on the number of
daily groups. The markdown table is printed and written to
docs/performance.md under "Ingest throughput vs DuckDB" (other sections are kept).

    python -m benchmarks.run_ingest_benchmark                # 1M and 10M rows, writes the doc
    python -m benchmarks.run_ingest_benchmark --rows 200000 --no-doc
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from benchmarks.common import busy_cpu_seconds, host_facts

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = Path("/tmp/finops-bench")
DEFAULT_DOC = REPO / "docs" / "performance.md"
SECTION = "Ingest throughput vs DuckDB"
DEFAULT_ROWS = (1_000_000, 10_000_000)
ENGINES = ("ours", "duckdb", "duckdb-1t")
PRIMARY_DUCKDB = "duckdb"
GOAL_RATIO = 0.5  # our rows/s >= 0.5 x DuckDB's
GOAL_RSS_MIB = 1.5 * 1024  # our peak RSS at 10M rows
GOAL_RSS_AT_ROWS = 10_000_000
REL_TOL = 1e-6


# --------------------------------------------------------------------------- data


def dataset_path(workdir: Path, rows: int, seed: int, months: int) -> Path:
    from benchmarks.generate_focus import GENERATOR_VERSION

    return workdir / f"focus-{rows}r-s{seed}-m{months}-v{GENERATOR_VERSION}" / "focus.csv"


def ensure_dataset(workdir: Path, rows: int, seed: int, months: int) -> tuple[Path, dict]:
    """The cached file for these parameters, generated if absent or incomplete."""
    path = dataset_path(workdir, rows, seed, months)
    meta_path = path.parent.parent / f"{path.parent.name}.json"  # outside the landing folder
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("bytes") == path.stat().st_size:
            print(f"using cached {path} ({meta['bytes'] / 2**20:,.0f} MiB)", file=sys.stderr)
            return path, meta
    print(f"generating {rows:,} rows -> {path}", file=sys.stderr)
    # in a subprocess, so that the generator's memory is not this process's
    cmd = [sys.executable, "-m", "benchmarks.generate_focus", "--rows", str(rows), "--out", str(path),
           "--seed", str(seed), "--months", str(months), "--meta", str(meta_path)]
    subprocess.run(cmd, check=True, env=_child_env(), cwd=str(workdir), stdout=sys.stderr)
    meta = json.loads(meta_path.read_text())
    print(f"generated in {meta['seconds']}s ({meta['bytes'] / 2**20:,.0f} MiB)", file=sys.stderr)
    return path, meta


def warm_page_cache(path: Path) -> float:
    """Read the file once so that every engine starts from the same (cached) state."""
    t = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.read(16 << 20):
            pass
    return time.perf_counter() - t


# --------------------------------------------------------------------------- children


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class RssSampler:
    """Samples VmRSS every few ms on a daemon thread: VmHWM alone can miss peaks that an
    allocator returned with madvise(), which does not update the kernel's high-water mark."""

    def __init__(self, interval: float = 0.01):
        import threading

        self.peak_kib, self._interval = 0, interval
        self._page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with open("/proc/self/statm") as f:
            while not self._stop.is_set():
                f.seek(0)
                self.peak_kib = max(self.peak_kib, int(f.read().split()[1]) * self._page_kib)
                self._stop.wait(self._interval)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def child_ours(path: Path, workdir: Path) -> dict:
    from finops_pipeline.ingest.billing import staging_context
    from finops_pipeline.ingest.landing import discover_landing_files
    from finops_pipeline.ingest.scan import scan_file
    from finops_pipeline.settings import load_settings

    (landing,) = discover_landing_files(path.parent)
    ctx = staging_context(load_settings(data_dir=workdir / "settings-unused"), account_projects={})
    rss_ready = _status_kib("VmRSS")
    with RssSampler() as sampler:
        cpu0, t0 = _cpu_seconds(), time.perf_counter()
        scan = scan_file(landing, ctx, cache_dir=None)
        seconds = time.perf_counter() - t0
    daily = scan.daily
    return {
        "seconds": seconds,
        "cpu_seconds": _cpu_seconds() - cpu0,
        "rows": scan.rows_read,
        "staged_rows": int(daily["source_rows"].sum()),
        "quarantined": len(scan.quarantine),
        "groups": len(daily),
        "effective_cost": float(daily["effective_cost"].sum()),
        "billed_cost": float(daily["billed_cost"].sum()),
        "rss_ready_kib": rss_ready,
        "sampled_peak_kib": sampler.peak_kib,
    }


DUCKDB_SQL = """
WITH staged AS (
    SELECT
        date_trunc('day', CAST(trim(ChargePeriodStart) AS TIMESTAMP)) AS charge_date,
        trim(ProviderName) AS provider,
        trim(BillingAccountId) AS billing_account_id,
        trim(SubAccountId) AS sub_account_id,
        coalesce({project_exprs}, 'unallocated') AS project,
        trim(ServiceName) AS service_name,
        trim(ServiceCategory) AS service_category,
        trim(RegionId) AS region,
        trim(ChargeCategory) AS charge_category,
        upper(trim(BillingCurrency)) AS billing_currency,
        CAST(BilledCost AS DOUBLE) AS billed_cost,
        CAST(EffectiveCost AS DOUBLE) AS effective_cost,
        CAST(ListCost AS DOUBLE) AS list_cost
    FROM read_csv({path}, header = true, all_varchar = true, nullstr = ['NULL', ''])
)
SELECT charge_date, provider, billing_account_id, sub_account_id, project, service_name,
       service_category, region, charge_category, billing_currency,
       sum(billed_cost) AS billed_cost, sum(effective_cost) AS effective_cost,
       sum(list_cost) AS list_cost, count(*) AS source_rows
FROM staged
GROUP BY ALL
"""


def duckdb_sql(path: Path, tag_keys: tuple[str, ...] = ("project", "Project", "app")) -> str:
    """The daily-grain query; the project is the first non-blank of the configured tag keys,
    as in transforms/staging/billing.py."""
    exprs = ", ".join(f"nullif(trim(json_extract_string(Tags, '$.\"{k}\"')), '')" for k in tag_keys)
    literal = "'" + str(path).replace("'", "''") + "'"
    return DUCKDB_SQL.format(project_exprs=exprs, path=literal)


def child_duckdb(path: Path, workdir: Path, threads: int | None) -> dict:
    import duckdb
    import pyarrow.compute as pc

    tmp = workdir / "duckdb-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"temp_directory": str(tmp)})
    if threads:
        con.sql(f"SET threads = {int(threads)}")
    used_threads = con.sql("SELECT current_setting('threads')").fetchall()[0][0]
    rss_ready = _status_kib("VmRSS")
    with RssSampler() as sampler:
        cpu0, t0 = _cpu_seconds(), time.perf_counter()
        daily = con.sql(duckdb_sql(path)).to_arrow_table()
        seconds = time.perf_counter() - t0
    staged_rows = pc.sum(daily["source_rows"]).as_py() or 0
    return {
        "seconds": seconds,
        "cpu_seconds": _cpu_seconds() - cpu0,
        "rows": staged_rows,  # every row is staged: the generated data has no bad rows
        "staged_rows": staged_rows,
        "quarantined": 0,
        "groups": daily.num_rows,
        "effective_cost": pc.sum(daily["effective_cost"]).as_py() or 0.0,
        "billed_cost": pc.sum(daily["billed_cost"]).as_py() or 0.0,
        "rss_ready_kib": rss_ready,
        "sampled_peak_kib": sampler.peak_kib,
        "threads": used_threads,
    }


def run_child(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    path = Path(args.file)
    if args.child == "ours":
        result = child_ours(path, args.workdir)
    elif args.child == "duckdb":
        result = child_duckdb(path, args.workdir, None)
    elif args.child == "duckdb-1t":
        result = child_duckdb(path, args.workdir, 1)
    else:
        raise SystemExit(f"unknown engine {args.child}")
    result["engine"] = args.child
    result["hwm_kib"] = _status_kib("VmHWM")
    result["child_seconds"] = time.perf_counter() - t0
    print("RESULT " + json.dumps(result))
    return 0


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}


def spawn(engine: str, path: Path, workdir: Path) -> dict:
    """Run one engine in a fresh interpreter and collect its result line."""
    cmd = [sys.executable, "-m", "benchmarks.run_ingest_benchmark", "--child", engine, "--file", str(path),
           "--workdir", str(workdir)]
    busy0 = busy_cpu_seconds()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=str(workdir), env=_child_env(), text=True)
    out = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    # CPU the rest of the machine used meanwhile (other users' tests, daemons): a noise gauge
    others = busy_cpu_seconds() - busy0 - (usage.ru_utime + usage.ru_stime)
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{engine} failed (exit {proc.returncode}):\n{out[-4000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    result["process_seconds"] = wall
    # ru_maxrss from wait4 is kept for reference only: Linux carries the pre-exec (forked parent)
    # high-water mark into it, so it over-reports; VmHWM belongs to the child's own address space.
    result["maxrss_kib"] = usage.ru_maxrss
    result["peak_rss_mib"] = max(result["hwm_kib"], result.get("sampled_peak_kib", 0)) / 1024
    result["rows_per_s"] = result["rows"] / result["seconds"] if result["seconds"] else float("nan")
    result["others_cpu_seconds"] = max(0.0, others)
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    result["others_cpu_share"] = max(0.0, others) / (wall * ncpu) if wall else 0.0
    return result


def best_of(runs: list[dict]) -> dict:
    """The fastest run, with the highest peak RSS of all runs and every run's seconds."""
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    best["all_seconds"] = [round(r["seconds"], 3) for r in runs]
    best["runs"] = len(runs)
    return best


# --------------------------------------------------------------------------- report


def machine_info() -> dict:
    import duckdb
    import numpy
    import pandas
    import pyarrow

    return {**host_facts(REPO), "pandas": pandas.__version__, "pyarrow": pyarrow.__version__, "numpy": numpy.__version__,
            "duckdb": duckdb.__version__}


def _fmt_int(n: float) -> str:
    return f"{n:,.0f}"


def compare(rows: int, results: dict[str, dict], expected_effective: float | None) -> dict:
    ours, duck = results.get("ours"), results.get(PRIMARY_DUCKDB)
    out: dict = {"rows": rows}
    if ours and duck:
        out["ratio"] = ours["rows_per_s"] / duck["rows_per_s"]
        a, b = ours["effective_cost"], duck["effective_cost"]
        out["effective_rel_diff"] = abs(a - b) / max(abs(a), abs(b), 1e-300)
        out["effective_ok"] = out["effective_rel_diff"] <= REL_TOL
        out["groups_ours"], out["groups_duckdb"] = ours["groups"], duck["groups"]
        out["groups_ok"] = ours["groups"] == duck["groups"]
        out["rows_ok"] = ours["staged_rows"] == duck["staged_rows"] == rows
    if "duckdb-1t" in results and ours:
        out["ratio_1t"] = ours["rows_per_s"] / results["duckdb-1t"]["rows_per_s"]
    if ours and expected_effective is not None:
        out["generator_rel_diff"] = abs(ours["effective_cost"] - expected_effective) / max(abs(expected_effective), 1e-300)
    if ours:
        out["ours_peak_rss_mib"] = ours["peak_rss_mib"]
    return out


def render(info: dict, runs: list[tuple[int, dict, dict[str, dict], dict]]) -> str:
    """The markdown of the doc section (without its heading)."""
    lines = [
        f"_Generated by `python -m benchmarks.run_ingest_benchmark` on {info['date']} (commit {info['commit']})._",
        "",
        (f"Machine: {info['nproc']} cores, {info['cpu']}, {info['mem_gib']:.1f} GiB RAM, {info['os']}; "
         f"Python {info['python']}, pandas {info['pandas']}, pyarrow {info['pyarrow']}, numpy {info['numpy']}, "
         f"DuckDB {info['duckdb']}."),
        "",
        ("Input: synthetic FOCUS 1.0 export from `benchmarks/generate_focus.py` (44 columns as in the FOCUS "
         "sample, hourly `ChargePeriodStart` over {months} month(s) in time order, 3 providers, 20 services, "
         "~36 sub-accounts, 50 projects in a JSON `Tags` column on ~80% of resources, one resource "
         "billing about once an hour), plain CSV, read from a warm page cache. Each engine runs in its "
         "own process. *Seconds* and *rows/s* cover the scan itself (imports and interpreter start "
         "excluded: see *process s*), best of *runs*; *CPU s* is user+sys CPU time of the scan; "
         "*peak RSS* is the process high-water mark (max of VmHWM and RSS sampled every 10 ms; highest of the runs), *ready RSS* the RSS "
         "after imports, just before the scan. *others* is the share of the machine's CPU capacity that "
         "other processes used during the best run (from /proc/stat): the machine is shared, and "
         "anything well above 0% means other work competed for the cores.")
        .format(months=", ".join(sorted({str(m.get("months", "?")) for _, m, _, _ in runs}))),
        "",
        ("| rows | file MiB | engine | seconds | rows/s | CPU s | process s | peak RSS MiB | ready RSS MiB "
         "| daily groups | total EffectiveCost | runs | others |"),
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    labels = {
        "ours": "ours: `scan_file` (parse thread + staging)",
        "duckdb": "DuckDB `read_csv` + GROUP BY ({t} threads)",
        "duckdb-1t": "DuckDB, `threads=1`",
    }
    for rows, meta, results, _ in runs:
        for engine in ENGINES:
            r = results.get(engine)
            if not r:
                continue
            label = labels[engine].format(t=r.get("threads", "?"))
            lines.append(
                f"| {_fmt_int(rows)} | {meta['bytes'] / 2**20:,.0f} | {label} | {r['seconds']:.2f} | "
                f"{_fmt_int(r['rows_per_s'])} | {r['cpu_seconds']:.1f} | {r['process_seconds']:.1f} | "
                f"{r['peak_rss_mib']:,.0f} | {r['rss_ready_kib'] / 1024:,.0f} | {_fmt_int(r['groups'])} | "
                f"{r['effective_cost']:,.4f} | {r.get('runs', 1)} | {100 * r['others_cpu_share']:.0f}% |"
            )
    lines += [
        "",
        ("| rows | ours / DuckDB rows/s | ours / DuckDB 1-thread | ours peak RSS MiB "
         "| EffectiveCost rel. diff | ours vs generated total | groups ours / DuckDB | rows staged |"),
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for rows, _, _, cmp in runs:
        if "ratio" not in cmp:
            continue
        lines.append(
            f"| {_fmt_int(rows)} | {cmp['ratio']:.2f}x | {cmp.get('ratio_1t', float('nan')):.2f}x | "
            f"{cmp['ours_peak_rss_mib']:,.0f} | {cmp['effective_rel_diff']:.1e} "
            f"{'(ok)' if cmp['effective_ok'] else '(MISMATCH)'} | {cmp.get('generator_rel_diff', float('nan')):.1e} | "
            f"{_fmt_int(cmp['groups_ours'])} / {_fmt_int(cmp['groups_duckdb'])} "
            f"{'(equal)' if cmp['groups_ok'] else '(differ)'} | {'all' if cmp['rows_ok'] else 'MISMATCH'} |"
        )
    lines += ["", "Goals:", ""]
    lines += goal_lines(runs)
    lines += [
        "",
        ("Notes: the daily groups agree because the columns our grain has beyond DuckDB's GROUP BY "
         "(`billing_month`, `project_source`, `source_file`) are functions of the others (the day, "
         "whether a tag gave the project, the one file). Our scan also computes the file's SHA-256 "
         "(cache and lineage identity) and checks every row for quarantine reasons; DuckDB does "
         "neither. DuckDB uses every core by default; ours parses the CSV in a background "
         "thread while pandas stages the previous chunk (so up to 2 cores). The 1-thread DuckDB row "
         "is for reference."),
    ]
    return "\n".join(lines) + "\n"


def goal_lines(runs: list[tuple[int, dict, dict[str, dict], dict]]) -> list[str]:
    out = []
    ratios = [(rows, cmp["ratio"]) for rows, _, _, cmp in runs if "ratio" in cmp]
    if ratios:
        worst = min(r for _, r in ratios)
        shown = ", ".join(f"{r:.2f}x at {_fmt_int(n)} rows" for n, r in ratios)
        out.append(f"- Throughput >= {GOAL_RATIO}x DuckDB's: **{'met' if worst >= GOAL_RATIO else 'NOT met'}** ({shown}).")
    big = [cmp for rows, _, _, cmp in runs if rows == GOAL_RSS_AT_ROWS and "ours_peak_rss_mib" in cmp]
    if big:
        rss = big[0]["ours_peak_rss_mib"]
        out.append(
            f"- Peak RSS <= {GOAL_RSS_MIB / 1024:.1f} GiB at {_fmt_int(GOAL_RSS_AT_ROWS)} rows: "
            f"**{'met' if rss <= GOAL_RSS_MIB else 'NOT met'}** ({rss:,.0f} MiB)."
        )
    else:
        out.append(f"- Peak RSS goal at {_fmt_int(GOAL_RSS_AT_ROWS)} rows: not measured in this run.")
    checks = [cmp for _, _, _, cmp in runs if "effective_ok" in cmp]
    if checks:
        ok = all(c["effective_ok"] and c["groups_ok"] and c["rows_ok"] for c in checks)
        out.append(f"- Same totals and groups as DuckDB: **{'yes' if ok else 'NO'}**.")
    return out


def update_doc(doc: Path, body: str) -> None:
    """Replace (or append) the benchmark section, keeping every other section."""
    heading = f"## {SECTION}"
    text = doc.read_text() if doc.exists() else (
        "# Performance\n\nMeasured throughput and memory of the pipeline's hot paths, with the commands that reproduce them.\n"
    )
    lines = text.splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if ln.strip() == heading)
    except StopIteration:
        new = text.rstrip("\n") + "\n\n" + heading + "\n\n" + body
    else:
        end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
        rest = "\n".join(lines[end:])
        new = "\n".join(lines[:start]) + ("\n" if start else "") + heading + "\n\n" + body
        if rest:
            new += "\n" + rest + ("\n" if not rest.endswith("\n") else "")
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(new)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_ROWS), help="sizes to run (default 1M 10M)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--months", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="generated data and scratch (not the repo)")
    ap.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    ap.add_argument("--repeat", type=int, default=None, help="runs per engine, best kept (default 3 up to 2M rows, else 1)")
    ap.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="markdown file to update")
    ap.add_argument("--no-doc", action="store_true", help="print only; leave docs/performance.md alone")
    ap.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.workdir = args.workdir.resolve()
    if args.child:
        return run_child(args)

    args.workdir.mkdir(parents=True, exist_ok=True)
    info = machine_info()
    runs = []
    for rows in args.rows:
        path, meta = ensure_dataset(args.workdir, rows, args.seed, args.months)
        print(f"warming page cache: {warm_page_cache(path):.1f}s", file=sys.stderr)
        repeat = args.repeat or (3 if rows <= 2_000_000 else 1)
        attempts: dict[str, list[dict]] = {e: [] for e in args.engines}
        for i in range(repeat):
            for engine in args.engines:  # interleaved, so that a burst of other load hits all engines
                print(f"[{rows:,} rows] run {i + 1}/{repeat}: {engine} ...", file=sys.stderr, flush=True)
                r = spawn(engine, path, args.workdir)
                attempts[engine].append(r)
                print(
                    f"[{rows:,} rows] {engine}: {r['seconds']:.2f}s ({r['cpu_seconds']:.1f} CPU s), "
                    f"{r['rows_per_s']:,.0f} rows/s, peak RSS {r['peak_rss_mib']:,.0f} MiB, {r['groups']:,} groups, "
                    f"others used {100 * r['others_cpu_share']:.0f}% of the CPU",
                    file=sys.stderr, flush=True,
                )
        results = {e: best_of(rs) for e, rs in attempts.items()}
        cmp = compare(rows, results, meta.get("total_effective_cost"))
        runs.append((rows, meta, results, cmp))
    raw = args.workdir / f"results-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    raw.write_text(json.dumps({"machine": info, "runs": [
        {"rows": rows, "dataset": meta, "results": results, "comparison": cmp} for rows, meta, results, cmp in runs
    ]}, indent=2))
    body = render(info, runs)
    print(f"## {SECTION}\n\n{body}")
    print(f"raw results: {raw}", file=sys.stderr)
    if not args.no_doc:
        update_doc(args.doc, body)
        print(f"updated {args.doc}", file=sys.stderr)
    ok = all(c.get("effective_ok", True) and c.get("groups_ok", True) and c.get("rows_ok", True) for *_, c in runs)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
