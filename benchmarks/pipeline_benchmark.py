"""End-to-end benchmark: generated FOCUS billing through every asset of monthly_costs_job.

Steps:

1. a synthetic FOCUS 1.0 export (``benchmarks/generate_focus.py``: 3 providers, 20 services,
   ``--projects`` project tags, hourly rows over ``--months`` months, ``--rows-per-month`` rows a
   month) is generated once and cached under ``benchmarks/out/gen/``;
2. reference files realistic for that many projects are written next to it: projects.csv (every
   project with code, owner and team; two thirds of the sub-accounts mapped to a project, so
   untagged resources there are attributed by account and the rest stay ``unallocated``),
   rules.yaml (``--rules`` rules of every type: renames, transfers with service / account /
   region filters and a catch-all, service moves, even / fixed / proportional distributions,
   date windows, an inactive rule), pricing.csv (a default markup, per-service markups, one
   with a date window), fx_rates.csv (EUR for every month) and budgets.csv (every project,
   every month, near its spend; some budgets in EUR);
3. a fresh warehouse is loaded with the real CLI, ``finops run`` (one Dagster run over every
   month, the single-run backfill), in a subprocess with its own ``DAGSTER_HOME`` so that the
   run's event log is kept;
4. per step: wall seconds from the run's STEP_START / STEP_SUCCESS events, rows from each
   materialization's ``dagster/row_count``, and peak RSS, CPU and other processes' CPU from
   /proc samples of the process tree (every 0.2 s) inside the step's interval; for the whole
   process: wall time, peak RSS (``ru_maxrss`` from ``wait4``: the high-water mark, not a
   sample) and CPU seconds.

``finops run`` first lists the billing months of the landing files: that scans (parses) every
CSV and caches the daily aggregates, which the ingest step then reads. The table shows that
phase as "landing scan" before the Dagster steps, and the alert outbox pass after the run as
"alerts".

The machine may be shared: *others* is the CPU (in cores) used by every process outside the
benchmarked tree (and outside PostgreSQL for that backend) during the same interval, from
/proc/stat. Anything well above 0 competed for the cores and makes the numbers pessimistic.

    python -m benchmarks.pipeline_benchmark                             # 12 x 1M rows, SQLite
    python -m benchmarks.pipeline_benchmark --rows-per-month 100000 --backend both
    python -m benchmarks.pipeline_benchmark --rows-per-month 100000 --cprofile /tmp/run.prof
    python -m benchmarks.pipeline_benchmark --sweep                     # the scaling points
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import PG_ADMIN_URL, log, machine_ticks, month_list, pg_admin, pg_drop
from transforms.months import last_day

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "out"
GEN = OUT / "gen"
WORK = OUT / "pipeline-bench"
PG_DB = "finops_pipeline_bench"
GOAL_SECONDS, GOAL_RSS_MIB = 180.0, 2048.0
SAMPLE_SECONDS = 0.2
TABLES = (
    "stg_billing", "quarantine_billing_rows", "dim_projects", "stg_fx_rates", "stg_allocation_rules", "stg_pricing",
    "stg_budgets", "int_costs_converted", "int_costs_allocated", "fct_costs_daily", "fct_costs_monthly",
    "fct_kpis_monthly", "fct_budget_vs_actual", "fct_cost_forecasts", "fct_cost_anomalies", "fct_cost_drivers",
    "alert_outbox",
)


# --------------------------------------------------------------------------- data


def ensure_dataset(rows: int, months: int, first_month: str, seed: int, projects: int) -> tuple[Path, dict]:
    """The cached generated file for these parameters (generated in a subprocess if absent)."""
    from benchmarks.generate_focus import GENERATOR_VERSION

    stem = f"focus-{rows}r-s{seed}-m{months}-{first_month}-p{projects}-v{GENERATOR_VERSION}"
    path, meta_path = GEN / f"{stem}.csv", GEN / f"{stem}.json"
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("bytes") == path.stat().st_size and "sub_accounts" in meta:
            log(f"using cached {path.relative_to(REPO)} ({meta['bytes'] / 2**20:,.0f} MiB)")
            return path, meta
    log(f"generating {rows:,} rows over {months} months, {projects} projects -> {path.relative_to(REPO)}")
    subprocess.run([sys.executable, "-m", "benchmarks.generate_focus", "--rows", str(rows), "--out", str(path),
                    "--seed", str(seed), "--months", str(months), "--first-month", first_month,
                    "--projects", str(projects), "--meta", str(meta_path)], check=True, cwd=REPO, stdout=sys.stderr)
    return path, json.loads(meta_path.read_text())


TEAMS = {"checkout": "payments", "search": "discovery", "billing": "finance", "ml": "ml", "data": "data"}
BUCKETS = ("shared-platform", "security", "collaboration-tools")  # projects that only receive cost from rules


def _team(project: str) -> str:
    return TEAMS.get(project.split("-")[1], "platform") if "-" in project else "platform"


def write_reference(ref: Path, months: list[str], meta: dict, n_rules: int, seed: int) -> dict:
    """projects.csv, rules.yaml, pricing.csv, fx_rates.csv, budgets.csv for the generated data;
    returns a short description for the report."""
    from benchmarks.generate_focus import PROVIDERS, project_names

    rng = random.Random(seed)
    projects = list(project_names(meta.get("projects", 50)))
    ref.mkdir(parents=True, exist_ok=True)

    # projects.csv: two thirds of each provider's sub-accounts belong to a project (untagged
    # resources there are attributed by account); the rest stay unallocated.
    accounts = [(p, a) for p, ids in meta["sub_accounts"].items() for a in ids]
    mapped = [a for i, (_, a) in enumerate(accounts) if i % 3 != 2]
    owners = {p: [] for p in projects}
    for i, account in enumerate(mapped):
        owners[projects[(i * 7) % len(projects)]].append(account)
    lines = ["project,code,owner,team,account_id"]
    for i, p in enumerate([*projects, *BUCKETS]):
        for account in owners.get(p) or [""]:
            lines.append(f"{p},P{i:04d},owner{i}@example.com,{_team(p)},{account}")
    (ref / "projects.csv").write_text("\n".join(lines) + "\n")

    unmapped = [a for i, (_, a) in enumerate(accounts) if i % 3 == 2]
    rules = _rules(projects, unmapped, months, n_rules, rng)
    (ref / "rules.yaml").write_text(_rules_yaml(rules))

    services = [s[0] for p in PROVIDERS.values() for s in p[4]]
    half = len(months) // 2
    change = (f"{services[0]},8,,{_month_end(months[half - 1])}\n{services[0]},10,{months[half]}-01,\n" if half
              else f"{services[0]},8,,\n")  # a price change half-way
    (ref / "pricing.csv").write_text(
        "service,markup_pct,start,end\n*,5,,\n" + change
        + f"{services[1]},3,,\n{services[9]},0,,\n{services[16]},12.5,,\n")

    (ref / "fx_rates.csv").write_text("month,currency,rate\n" + "".join(
        f"{m},EUR,{1.05 + 0.01 * (i % 7):.4f}\n" for i, m in enumerate(months)))

    # budgets near each project's share of the spend (USD), a fifth of them set in EUR
    per_project = max(100.0, meta["total_effective_cost"] / len(months) / len(projects))
    budget_lines = ["project,month,amount,currency"]
    for p in projects:
        level = per_project * rng.uniform(0.7, 1.4)
        currency = "EUR" if rng.random() < 0.2 else "USD"
        for m in months:
            budget_lines.append(f"{p},{m},{round(level / (1.08 if currency == 'EUR' else 1.0), -1):.0f},{currency}")
    (ref / "budgets.csv").write_text("\n".join(budget_lines) + "\n")
    types = {}
    for r in rules:
        types[r["type"]] = types.get(r["type"], 0) + 1
    return {"projects": len(projects) + len(BUCKETS), "mapped_accounts": len(mapped), "unmapped_accounts": len(unmapped),
            "rules": len(rules), "rule_types": types, "budgets": len(budget_lines) - 1}


def _month_end(month: str) -> str:
    return last_day(month).isoformat()


def _rules(projects: list[str], unmapped: list[str], months: list[str], n_rules: int, rng: random.Random) -> list[dict]:
    """A rules file as a finance team grows one: the standard set of every type, then (for
    --rules above it) dated moves and transfers, each touching a service of one project."""
    from benchmarks.generate_focus import PROVIDERS

    services = [s[0] for p in PROVIDERS.values() for s in p[4]]
    first, mid, last = months[0], months[len(months) // 2], months[-1]
    checkout = [p for p in projects if p.endswith("-checkout")][:6] or projects[:6]
    product = [p for p in projects if p.endswith(("-checkout", "-search"))][:20] or projects[:20]
    rules = [
        {"id": "rename-vega-data", "type": "rename_project", "from": projects[48 % len(projects)],
         "to": projects[38 % len(projects)], "start": f"{mid}-01",
         "description": "The team merged into its ML sibling mid-year."},
        {"id": "rename-legacy-tag", "type": "rename_project", "from": "legacy-search", "to": projects[10 % len(projects)],
         "description": "An old tag value nobody uses any more (matches nothing: a rule ahead of or after the data)."},
        {"id": "support-to-platform", "type": "transfer_cost", "from": "unallocated", "to": "shared-platform",
         "match": {"service": [services[6], services[7], services[13]]},
         "description": "Monitoring and networking without a project are platform costs."},
        {"id": "sec-accounts", "type": "transfer_cost", "from": "unallocated", "to": "security",
         "match": {"account": unmapped[:3]}, "description": "The security team's accounts."},
        {"id": "eu-region-to-platform", "type": "transfer_cost", "from": "unallocated", "to": "shared-platform",
         "match": {"region": ["eu-central-1", "westeurope"]}, "start": f"{first}-01", "end": _month_end(mid),
         "description": "EU shared infrastructure, until the migration."},
        {"id": "rest-to-platform", "type": "transfer_cost", "from": "unallocated", "to": "shared-platform",
         "description": "Everything still unallocated is shared platform cost."},
        {"id": "rds-to-data", "type": "move_service", "service": services[2], "from": projects[1 % len(projects)],
         "to": projects[41 % len(projects)], "description": "The data team runs this project's databases."},
        {"id": "monitor-to-platform", "type": "move_service", "service": services[14], "from": projects[33 % len(projects)],
         "to": "shared-platform", "start": f"{mid}-01", "description": "Central monitoring."},
        {"id": "split-security", "type": "distribute_cost", "from": "security", "to": checkout[:5], "method": "fixed",
         "weights": dict(zip(checkout[:5], (0.3, 0.25, 0.2, 0.15, 0.1))),
         "description": "Security by head count (finance's figures)."},
        {"id": "split-platform", "type": "distribute_cost", "from": "shared-platform", "to": product,
         "method": "proportional", "description": "The platform serves the product teams, in proportion to their cost."},
        {"id": "split-collaboration", "type": "distribute_cost", "from": "collaboration-tools", "to": product[:10],
         "method": "even", "description": "SaaS seats, evenly (no data yet: matches nothing)."},
        {"id": "old-even-split", "type": "distribute_cost", "from": "shared-platform", "to": product[:4],
         "method": "even", "end": _month_end(last), "active": False, "description": "The old split, kept switched off."},
    ]
    i = 0
    while len(rules) < n_rules:  # dated service moves and filtered transfers, one project each
        month = months[i % len(months)]
        src, dst = projects[(i * 7 + 3) % len(projects)], projects[(i * 11 + 5) % len(projects)]
        if src == dst:
            dst = projects[(i * 11 + 6) % len(projects)]
        if i % 2 == 0:
            rules.insert(-3, {"id": f"move-{i}", "type": "move_service", "service": rng.choice(services),
                              "from": src, "to": dst, "start": f"{month}-01", "end": _month_end(month)})
        else:
            rules.insert(-3, {"id": f"transfer-{i}", "type": "transfer_cost", "from": src, "to": dst,
                              "match": {"region": [rng.choice(["us-east-1", "eastus", "us-ashburn-1", "eu-west-1"])]},
                              "start": f"{month}-01", "end": _month_end(month)})
        i += 1
    return rules[:max(n_rules, 1)]


def _rules_yaml(rules: list[dict]) -> str:
    import yaml

    return "# Generated by benchmarks/pipeline_benchmark.py\n" + yaml.safe_dump({"rules": rules}, sort_keys=False)


# --------------------------------------------------------------------------- /proc sampling


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _rss_and_ticks(pids: list[int]) -> tuple[int, int]:
    """Summed RSS (KiB) and user+sys jiffies of the given processes."""
    rss = ticks = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
            rss += int(fields[21]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
        except (OSError, IndexError):
            pass
    return rss, ticks


def _postgres_ticks() -> int:
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, _, rest = stat.read_text().rpartition(")")
        except OSError:
            continue
        if head.endswith("(postgres"):
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])
    return total


@dataclass
class Sample:
    t: float  # epoch seconds (Dagster event timestamps are epoch too)
    rss_kib: int
    tree_ticks: int  # CPU of the benchmarked process tree (dead children's CPU is in their parent's cutime later)
    db_ticks: int
    busy: int
    total: int


class Sampler:
    def __init__(self, pid: int, postgres: bool):
        self.pid, self.postgres = pid, postgres
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def take(self) -> Sample:
        rss, ticks = _rss_and_ticks(_tree(self.pid))
        busy, total = machine_ticks()
        return Sample(time.time(), rss, ticks, _postgres_ticks() if self.postgres else 0, busy, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.take())
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


@dataclass
class Window:
    peak_rss_mib: float
    cpu_seconds: float  # CPU of the benchmarked tree in the interval
    cpu_cores: float  # the same / wall
    db_cores: float
    others_cores: float  # everything else on the machine


def window(samples: list[Sample], start: float, end: float) -> Window:
    tick = os.sysconf("SC_CLK_TCK")
    inside = [s for s in samples if start <= s.t <= end]
    before = [s for s in samples if s.t < start]
    after = [s for s in samples if s.t > end]
    a = before[-1] if before else (inside[0] if inside else None)
    b = after[0] if after else (inside[-1] if inside else None)
    peak = max((s.rss_kib for s in inside + ([b] if b else [])), default=0) / 1024
    if a is None or b is None or b.t <= a.t:
        return Window(peak, float("nan"), float("nan"), float("nan"), float("nan"))
    wall = b.t - a.t
    cpu = max(0, b.tree_ticks - a.tree_ticks) / tick
    db = max(0, b.db_ticks - a.db_ticks) / tick / wall
    machine = (b.busy - a.busy) / max(1, b.total - a.total) * (os.cpu_count() or 1)
    return Window(peak, cpu, cpu / wall, db, max(0.0, machine - cpu / wall - db))


# --------------------------------------------------------------------------- one run


@dataclass
class Step:
    name: str
    assets: list[str]
    seconds: float
    rows: dict[str, int]
    window: Window
    start: float = 0.0


@dataclass
class RunResult:
    backend: str
    label: str
    params: dict
    reference: dict
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mib: float  # ru_maxrss of the finops process (high-water mark)
    sampled_peak_mib: float  # highest sampled RSS of the whole tree
    whole: Window
    steps: list[Step] = field(default_factory=list)
    table_rows: dict = field(default_factory=dict)
    warehouse_mib: float = float("nan")
    success: bool = True
    error: str = ""


def run_pipeline(backend: str, csv_path: Path, meta: dict, months: list[str], args, label: str) -> RunResult:
    root = WORK / label / backend
    shutil.rmtree(root, ignore_errors=True)
    # Dagster's own run and event storage (SQLite, one fsync per event) on tmpfs when there is
    # one: `finops run` without DAGSTER_HOME keeps it in memory, and a deployment in PostgreSQL;
    # the benchmark needs it on disk only to read the step events afterwards.
    shm = Path("/dev/shm")
    home = (shm / f"finops-bench-{os.getpid()}-{label}-{backend}") if shm.is_dir() else root / "dagster_home"
    shutil.rmtree(home, ignore_errors=True)
    data = root / "data"
    landing = data / "landing" / "billing"
    landing.mkdir(parents=True)
    home.mkdir(parents=True)
    # no compute log capture (`finops run` without DAGSTER_HOME has none): it spawns tail processes
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\ncompute_logs:\n"
                                       "  module: dagster._core.storage.noop_compute_log_manager\n"
                                       "  class: NoOpComputeLogManager\n")
    os.link(csv_path, landing / "focus.csv")  # a hard link: no copy of the multi-GiB file
    reference = write_reference(data / "reference", months, meta, args.rules, args.seed)
    if backend == "postgresql":
        from sqlalchemy.engine import make_url

        url = make_url(PG_ADMIN_URL).set(database=PG_DB).render_as_string(hide_password=False)
        pg_drop(PG_DB)
        pg_admin(f"CREATE DATABASE {PG_DB}")
    else:
        url = f"sqlite:///{data / 'warehouse.db'}"
    env = {**os.environ, "FINOPS_DATA_DIR": str(data), "FINOPS_WAREHOUSE_URL": url, "DAGSTER_HOME": str(home),
           "PYTHONUNBUFFERED": "1"}
    for k in ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_CHANNEL", "FINOPS_STATE_DIR"):
        env.pop(k, None)
    finops = str(Path(sys.executable).with_name("finops"))
    cmd = [finops, "run", "--quiet"]
    if args.cprofile:
        cmd = [sys.executable, "-m", "cProfile", "-o", str(args.cprofile), finops, "run", "--quiet"]
    log(f"{backend}: `finops run` over {len(months)} months ({label}) ...")
    logfile = root / "finops-run.log"
    with open(logfile, "w") as out:
        t0 = time.time()
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        with Sampler(proc.pid, backend == "postgresql") as sampler:
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        t1 = time.time()
    final = sampler.take()
    # the reaped process has left /proc: its CPU is in the rusage, and CPU time only grows
    final.tree_ticks = round((usage.ru_utime + usage.ru_stime) * os.sysconf("SC_CLK_TCK"))
    samples = sampler.samples + [final]
    for prev, s in zip(samples, samples[1:]):
        s.tree_ticks = max(s.tree_ticks, prev.tree_ticks)
    result = RunResult(
        backend=backend, label=label, params=_params(args, meta, months), reference=reference,
        wall_seconds=t1 - t0, cpu_seconds=usage.ru_utime + usage.ru_stime, peak_rss_mib=usage.ru_maxrss / 1024,
        sampled_peak_mib=max((s.rss_kib for s in samples), default=0) / 1024, whole=window(samples, t0, t1),
        success=proc.returncode == 0,
    )
    # the tree's CPU from /proc misses nothing here (one process), but ru_* is exact: use it
    result.whole.cpu_seconds = result.cpu_seconds
    result.whole.cpu_cores = result.cpu_seconds / result.wall_seconds
    if not result.success:
        result.error = logfile.read_text()[-3000:]
        log(f"{backend}: finops run FAILED (exit {proc.returncode}), see {logfile}")
    result.steps = read_steps(home, samples, t0, t1)
    shutil.rmtree(home, ignore_errors=True)
    result.table_rows = count_rows(url)
    if backend == "sqlite":
        result.warehouse_mib = sum(p.stat().st_size for p in data.glob("warehouse.db*")) / 2**20
    log(f"{backend}: {result.wall_seconds:.1f} s, peak RSS {result.peak_rss_mib:,.0f} MiB, "
        f"others {result.whole.others_cores:.2f} cores")
    if backend == "postgresql" and not args.keep:
        pg_drop(PG_DB)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)  # warehouse, scan cache, reference files (the CSV is a link)
        if not any(root.parent.iterdir()):
            root.parent.rmdir()
    return result


def _params(args, meta: dict, months: list[str]) -> dict:
    return {"rows": meta["rows"], "rows_per_month": meta["rows"] // len(months), "months": len(months),
            "first_month": months[0], "projects": meta.get("projects", 50), "rules": args.rules,
            "resources": meta["resources"], "file_mib": meta["bytes"] / 2**20, "seed": meta["seed"]}


def read_steps(home: Path, samples: list[Sample], t0: float, t1: float) -> list[Step]:
    """Per step of the run: wall time from its events, rows from its materializations; plus the
    phases of `finops run` outside the Dagster run (landing scan before, alerts after)."""
    from dagster import DagsterEventType, DagsterInstance

    os.environ["DAGSTER_HOME"] = str(home)
    with DagsterInstance.get() as instance:
        runs = instance.get_runs()
        if not runs:
            return []
        run = runs[0]
        records = instance.all_logs(run.run_id)
    starts, ends, rows, assets = {}, {}, {}, {}
    run_start = run_end = None
    for entry in records:
        event = entry.dagster_event
        if event is None:
            continue
        kind = event.event_type
        if kind == DagsterEventType.RUN_START:
            run_start = entry.timestamp
        elif kind in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
            run_end = entry.timestamp
        elif kind == DagsterEventType.STEP_START:
            starts[event.step_key] = entry.timestamp
        elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            ends[event.step_key] = entry.timestamp
        elif kind == DagsterEventType.ASSET_MATERIALIZATION:
            mat = event.event_specific_data.materialization
            key = mat.asset_key.to_user_string()
            assets.setdefault(event.step_key, [])
            if key not in assets[event.step_key]:
                assets[event.step_key].append(key)
            count = mat.metadata.get("dagster/row_count")
            if count is not None:
                rows[key] = int(count.value)
    steps = []
    first = run_start or min(starts.values(), default=t0)
    steps.append(Step("landing scan + CLI start (before the run)", [], first - t0, {}, window(samples, t0, first), t0))
    for key in sorted(starts, key=starts.get):
        end = ends.get(key, run_end or t1)
        names = assets.get(key, [key])
        steps.append(Step(key, names, end - starts[key], {a: rows[a] for a in names if a in rows},
                          window(samples, starts[key], end), starts[key]))
    last = run_end or max(ends.values(), default=t1)
    steps.append(Step("alerts + exit (after the run)", [], t1 - last, {}, window(samples, last, t1), last))
    return steps


def count_rows(url: str) -> dict:
    from sqlalchemy import inspect, text

    from finops_pipeline.warehouse.engine import make_engine

    engine = make_engine(url)
    out = {}
    try:
        existing = set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            for t in TABLES:
                if t in existing:
                    out[t] = conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
    finally:
        engine.dispose()
    return out


# --------------------------------------------------------------------------- report


def _fmt(x: float, digits: int = 1) -> str:
    return "n/a" if x != x else f"{x:,.{digits}f}"


def report_run(r: RunResult) -> list[str]:
    p = r.params
    verdict = r.success and r.wall_seconds <= GOAL_SECONDS and r.peak_rss_mib <= GOAL_RSS_MIB
    lines = [
        f"**{r.backend}** ({r.label}): {p['rows']:,} rows = {p['months']} months x {p['rows_per_month']:,}, "
        f"{p['projects']} projects, {p['resources']:,} resources, {r.reference['rules']} rules; "
        f"CSV {p['file_mib']:,.0f} MiB. **{'succeeded' if r.success else 'FAILED'}**: "
        f"wall **{r.wall_seconds:,.1f} s**, CPU {r.cpu_seconds:,.1f} s, peak RSS **{r.peak_rss_mib:,.0f} MiB** "
        f"(sampled tree max {r.sampled_peak_mib:,.0f}), others {_fmt(r.whole.others_cores, 2)} cores on average"
        + (f", PostgreSQL {_fmt(r.whole.db_cores, 2)} cores" if r.backend == "postgresql" else "")
        + (f"; warehouse file {r.warehouse_mib:,.0f} MiB" if r.warehouse_mib == r.warehouse_mib else "") + ".",
        "",
        "| step | asset(s) | wall s | share | CPU s | rows | peak RSS MiB | CPU cores | "
        + ("DB cores | " if r.backend == "postgresql" else "") + "others |",
        "|---|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if r.backend == "postgresql" else "") + "---:|",
    ]
    for s in r.steps:
        rows = " + ".join(f"{n:,}" for n in s.rows.values()) or ""
        lines.append(
            f"| {s.name} | {', '.join(s.assets)} | {s.seconds:,.1f} | {s.seconds / r.wall_seconds:.0%} | "
            f"{_fmt(s.window.cpu_seconds)} | {rows} | "
            f"{s.window.peak_rss_mib:,.0f} | {_fmt(s.window.cpu_cores, 2)} | "
            + (f"{_fmt(s.window.db_cores, 2)} | " if r.backend == "postgresql" else "")
            + f"{_fmt(s.window.others_cores, 2)} |")
    lines.append(
        f"| **whole `finops run`** | | **{r.wall_seconds:,.1f}** | 100% | {r.cpu_seconds:,.1f} | | "
        f"**{r.peak_rss_mib:,.0f}** | "
        f"{_fmt(r.whole.cpu_cores, 2)} | " + (f"{_fmt(r.whole.db_cores, 2)} | " if r.backend == "postgresql" else "")
        + f"{_fmt(r.whole.others_cores, 2)} |")
    lines += ["", f"Goal (<= {GOAL_SECONDS:.0f} s, peak RSS <= {GOAL_RSS_MIB / 1024:.0f} GiB): "
              f"**{'met' if verdict else 'not met'}** on {r.backend}.", ""]
    if not r.success:
        lines += ["```", r.error[-1500:], "```", ""]
    return lines


def report(runs: list[RunResult], started: datetime, argv: list[str]) -> str:
    import dagster
    import pandas
    import sqlalchemy

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                           text=True).stdout.strip()
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    lines = [
        f"_`python -m benchmarks.pipeline_benchmark {' '.join(argv)}`".rstrip() + f"_ on {started:%Y-%m-%d %H:%M} UTC "
        f"(commit {commit}{' + local changes' if dirty else ''}).",
        "",
        f"Machine: {os.cpu_count()} cores, {mem:.1f} GiB RAM, {platform.machine()}, Linux {platform.release()}; Python "
        f"{platform.python_version()}, Dagster {dagster.__version__}, pandas {pandas.__version__}, SQLAlchemy "
        f"{sqlalchemy.__version__}. `finops run` (one Dagster run over every month, in process) from a fresh "
        "warehouse and an empty scan cache. *wall s* per step from the run's STEP_START / STEP_SUCCESS events; "
        "*rows* = the materializations' `dagster/row_count` (every month of the run); *peak RSS* = highest "
        f"RSS of the process sampled every {SAMPLE_SECONDS:g} s in the step (the whole run: `ru_maxrss`); "
        "*CPU cores* = CPU seconds per wall second of `finops run`; *others* = cores used by every other process "
        "on the machine in the same interval (the machine is shared: anything well above 0 competed for the "
        "2 cores).",
        "",
    ]
    for r in runs:
        lines += report_run(r)
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def one(args, label: str | None = None) -> list[RunResult]:
    months = month_list(args.first_month, args.months)
    csv_path, meta = ensure_dataset(args.rows_per_month * args.months, args.months, args.first_month, args.seed,
                                    args.projects)
    label = label or f"{args.months}x{args.rows_per_month}-p{args.projects}-r{args.rules}"
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    runs = []
    for backend in backends:
        try:
            runs.append(run_pipeline(backend, csv_path, meta, months, args, label))
        finally:
            if backend == "postgresql" and not args.keep:
                pg_drop(PG_DB)
    WORK.mkdir(parents=True, exist_ok=True)
    for r in runs:
        (WORK / f"{label}-{r.backend}.json").write_text(json.dumps(asdict(r), indent=1, default=str))
    if args.drop_data:
        csv_path.unlink(missing_ok=True)
        csv_path.with_suffix(".json").unlink(missing_ok=True)
    return runs


# (rows per month, months, projects, rules): each varies one dimension around 250k x 12, 50, 12
SWEEP = [
    (100_000, 12, 50, 12), (250_000, 12, 50, 12), (500_000, 12, 50, 12),
    (250_000, 3, 50, 12), (250_000, 6, 50, 12), (250_000, 24, 50, 12),
    (250_000, 12, 200, 12), (250_000, 12, 1000, 12),
    (250_000, 12, 50, 50), (250_000, 12, 50, 200),
]
SWEEP_STEPS = ("stg_billing_assets", "int_costs_allocated", "fct_costs_daily", "fct_cost_anomalies", "fct_cost_forecasts")


def sweep(args) -> str:
    results = []
    for rows, months, projects, rules in SWEEP:
        a = argparse.Namespace(**{**vars(args), "rows_per_month": rows, "months": months, "projects": projects,
                                  "rules": rules})
        (r,) = one(a)
        results.append(asdict(r))
        print(sweep_table(results), file=sys.stderr)
    return sweep_table(results)


def sweep_report() -> str:
    """The sweep table from the saved results of each point's latest run (benchmarks/out/pipeline-bench/*.json),
    with the main benchmark (12 x 1M) after the 500k row when it has been run."""
    results = []
    for rows, months, projects, rules in [*SWEEP[:3], (1_000_000, 12, 50, 12), *SWEEP[3:]]:
        path = WORK / f"{months}x{rows}-p{projects}-r{rules}-sqlite.json"
        if path.exists():
            results.append(json.loads(path.read_text()))
    return sweep_table(results)


def sweep_table(results: list[dict]) -> str:
    step_heads = " | ".join(f"{s} s" for s in SWEEP_STEPS)
    lines = ["| rows/month | months | rows | projects | rules | resources | stg_billing rows | fct_costs_daily rows | "
             f"wall s | CPU s | landing scan s | {step_heads} | peak RSS MiB | others |",
             "|" + "---:|" * (13 + len(SWEEP_STEPS))]
    for r in results:
        p, steps = r["params"], r["steps"]
        seconds = {s["name"]: s["seconds"] for s in steps}
        scan = steps[0]["seconds"] if steps else float("nan")
        cells = " | ".join(_fmt(seconds.get(s, float("nan"))) for s in SWEEP_STEPS)
        lines.append(
            f"| {p['rows_per_month']:,} | {p['months']} | {p['rows']:,} | {p['projects']} | {r['reference']['rules']} | "
            f"{p['resources']:,} | {r['table_rows'].get('stg_billing', 0):,} | {r['table_rows'].get('fct_costs_daily', 0):,} | "
            f"{r['wall_seconds']:,.1f} | {r['cpu_seconds']:,.1f} | {scan:,.1f} | {cells} | {r['peak_rss_mib']:,.0f} | "
            f"{_fmt(r['whole']['others_cores'], 2)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows-per-month", type=int, default=1_000_000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--first-month", default="2024-01")
    ap.add_argument("--projects", type=int, default=50, help="project tags in the generated data")
    ap.add_argument("--rules", type=int, default=12, help="allocation rules in rules.yaml (12 = one standard set)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    ap.add_argument("--cprofile", type=Path, default=None, help="run `finops run` under cProfile, stats to this file")
    ap.add_argument("--keep", action="store_true", help="keep the warehouse (SQLite file or PostgreSQL database), "
                    "the scan cache and the reference files under benchmarks/out/pipeline-bench/")
    ap.add_argument("--drop-data", action="store_true", help="delete the generated CSV afterwards")
    ap.add_argument("--sweep", action="store_true", help="run the scaling points (SWEEP) and write pipeline_scaling.md")
    ap.add_argument("--sweep-report", action="store_true", help="rewrite pipeline_scaling.md from the points' saved results")
    ap.add_argument("--out", type=Path, default=None, help="markdown result (default benchmarks/out/pipeline_benchmark.md)")
    args = ap.parse_args(argv)
    started = datetime.now(UTC)
    if args.sweep or args.sweep_report:
        text = sweep(args) if args.sweep else sweep_report()
        out = args.out or OUT / "pipeline_scaling.md"
    else:
        text = report(one(args), started, argv)
        out = args.out or OUT / "pipeline_benchmark.md"
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
