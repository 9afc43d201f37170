"""Read API latency under concurrent load, on a warehouse loaded from a large generated billing set.

Steps, per backend (SQLite and/or PostgreSQL):

1. a synthetic FOCUS 1.0 export (``benchmarks/generate_focus.py``: 3 providers, 20 services,
   50 projects in tags, hourly rows over ``--months`` months) is generated once and cached under
   ``benchmarks/out/gen/`` (keyed by rows, months, first month, seed and generator version);
2. a fresh warehouse is loaded from it with the real pipeline: ``finops run`` with
   FINOPS_DATA_DIR / FINOPS_WAREHOUSE_URL pointing at ``benchmarks/out/api-bench/<backend>/``
   (reference files written there: the 50 projects with teams, EUR rates for every month, a 5%
   markup); for PostgreSQL a database ``finops_bench`` is created and dropped afterwards;
3. an admin token is created (``finops api-token create``) and ``finops api`` is started on
   127.0.0.1 (``--workers``, default 2 = the cores);
4. each query shape is driven by ``wrk`` (Debian package ``wrk``; without it, or with
   ``--python-client``, an asyncio + httpx load generator): one keep-alive connection per simulated
   client, each sending its next request as soon as the previous answer is read (a closed loop),
   after a warm-up: first with 1 connection (the service time, no queueing), then with
   ``--connections`` (default 50) for ``--duration`` seconds;
5. ``--cache both`` (default) does this twice: with the API's answer cache (the default,
   ``FINOPS_API_CACHE_MB=64``: a repeated question is answered from memory until the warehouse
   changes) and without it (``FINOPS_API_CACHE_MB=0``: every request runs its queries), so the
   cost of a first-time question is measured too.

The load generator runs on the same machine as the server and the database, so all three share
the cores; its own CPU use is reported. In a closed loop, latency = connections / throughput
(Little's law), so p50 <= 20 ms at 50 connections needs about 2,500 requests/s.

The markdown result is printed and written to ``benchmarks/out/api_benchmark.md``.

    python -m benchmarks.api_benchmark                                  # 10M rows, both backends
    python -m benchmarks.api_benchmark --rows 1000000 --backend sqlite --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import PG_ADMIN_URL, log, machine_ticks, month_list, pg_admin, pg_drop

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "out"
PG_DB = "finops_bench"
GOAL_P50_MS, GOAL_P99_MS = 20.0, 100.0


# --------------------------------------------------------------------------- data


def ensure_dataset(rows: int, months: int, first_month: str, seed: int) -> tuple[Path, dict]:
    """The cached generated file for these parameters (generated in a subprocess if absent)."""
    from benchmarks.generate_focus import GENERATOR_VERSION

    stem = f"focus-{rows}r-s{seed}-m{months}-{first_month}-v{GENERATOR_VERSION}"
    path, meta_path = OUT / "gen" / f"{stem}.csv", OUT / "gen" / f"{stem}.json"
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("bytes") == path.stat().st_size:
            log(f"using cached {path.relative_to(REPO)} ({meta['bytes'] / 2**20:,.0f} MiB)")
            return path, meta
    log(f"generating {rows:,} rows over {months} months -> {path.relative_to(REPO)}")
    subprocess.run([sys.executable, "-m", "benchmarks.generate_focus", "--rows", str(rows), "--out", str(path),
                    "--seed", str(seed), "--months", str(months), "--first-month", first_month,
                    "--meta", str(meta_path)], check=True, cwd=REPO, stdout=sys.stderr)
    return path, json.loads(meta_path.read_text())


def write_reference(ref: Path, months: list[str]) -> None:
    """Reference files matching the generator: its 50 projects (teams by prefix), an EUR rate for
    every month (one billing account is in EUR), a flat 5% chargeback markup, no allocation rules."""
    from benchmarks.generate_focus import PROJECTS

    ref.mkdir(parents=True, exist_ok=True)
    teams = {"checkout": "payments", "search": "discovery", "billing": "finance", "ml": "ml", "data": "data"}
    lines = ["project,code,owner,team,account_id"]
    for i, p in enumerate(PROJECTS):
        lines.append(f"{p},P{i:02d},owner{i}@example.com,{teams[p.split('-')[1]]},")
    (ref / "projects.csv").write_text("\n".join(lines) + "\n")
    (ref / "fx_rates.csv").write_text("month,currency,rate\n" + "".join(f"{m},EUR,1.08\n" for m in months))
    (ref / "pricing.csv").write_text("service,markup_pct,start,end\n*,5,,\n")
    (ref / "budgets.csv").write_text("project,month,amount,currency\n"
                                     + "".join(f"{p},{m},2000,USD\n" for p in PROJECTS[:10] for m in months))


# --------------------------------------------------------------------------- helpers


def finops(*args: str, env: dict, capture: bool = False) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).with_name("finops")), *args]
    return subprocess.run(cmd, env=env, cwd=REPO, check=True, text=True,
                          stdout=subprocess.PIPE if capture else sys.stderr, stderr=None if not capture else sys.stderr)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_exists() -> bool:
    import psycopg2

    conn = psycopg2.connect(PG_ADMIN_URL)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def proc_cpu_seconds(pid: int) -> float:
    """user+sys CPU of a process and its children (uvicorn workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(k) for k in kids]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError):
            pass
    return total


# --------------------------------------------------------------------------- load generator


@dataclass
class Result:
    name: str
    connections: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict = field(default_factory=dict)
    bytes: int = 0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    machine_busy: float = 0.0  # share of all cores busy (any process: server, client, PostgreSQL)
    db_cpu: float = 0.0  # PostgreSQL server processes
    summary: dict | None = None  # from wrk: count and percentiles in ms (no per-request list)
    tool: str = "httpx"

    @property
    def others(self) -> float:
        """Cores used by processes other than the API, the load generator and PostgreSQL: the
        machine may be shared, and anything well above 0 competed for the cores."""
        return max(0.0, (self.machine_busy * (os.cpu_count() or 1)) - (self.server_cpu + self.client_cpu + self.db_cpu) / self.seconds)

    def pct(self, q: float) -> float:
        if self.summary is not None:
            return self.summary["max" if q >= 100 else f"p{q:g}"]
        if not self.latencies_ms:
            return float("nan")
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]

    @property
    def count(self) -> int:
        return self.summary["requests"] if self.summary is not None else len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


async def drive(base: str, path: str, token: str | None, connections: int, duration: float, warmup: float,
                server_pid: int) -> Result:
    """Closed loop: `connections` clients, each on its own keep-alive connection, each sending its
    next request when the previous answer has been read in full. Warm-up requests are not counted."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    res = Result(path, connections, duration)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30.0) as client:
        t_start = time.perf_counter()
        t_measure, t_end = t_start + warmup, t_start + warmup + duration
        marks: dict = {}

        async def worker():
            while True:
                t0 = time.perf_counter()
                if t0 >= t_end:
                    return
                if t0 >= t_measure and "cpu" not in marks:
                    marks["cpu"] = (_self_cpu(), proc_cpu_seconds(server_pid), machine_ticks(), _postgres_cpu())
                try:
                    r = await client.get(path)
                    body = r.content
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok, body, r = False, b"", None
                t1 = time.perf_counter()
                if t0 < t_measure or t1 > t_end:
                    continue
                code = r.status_code if r is not None else "exception"
                res.statuses[code] = res.statuses.get(code, 0) + 1
                if ok:
                    res.latencies_ms.append((t1 - t0) * 1000)
                    res.bytes += len(body)
                else:
                    res.errors += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
        client_cpu, server_cpu, ticks, db_cpu = marks.get(
            "cpu", (_self_cpu(), proc_cpu_seconds(server_pid), machine_ticks(), _postgres_cpu()))
        res.db_cpu = _postgres_cpu() - db_cpu
        res.client_cpu = _self_cpu() - client_cpu
        res.server_cpu = proc_cpu_seconds(server_pid) - server_cpu
        busy, total = (b - a for a, b in zip(ticks, machine_ticks()))
        res.machine_busy = busy / total if total else 0.0
    return res


WRK_REPORT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests": %d, "duration_us": %d, "bytes": %d, "errors": %d, '
    .. '"p50": %.3f, "p90": %.3f, "p99": %.3f, "max": %.3f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
"""


def drive_wrk(base: str, path: str, token: str | None, connections: int, duration: float, warmup: float,
              server_pid: int) -> Result:
    """The same closed loop as `drive`, generated by wrk (C, event loop): a Python load generator
    needs about as much CPU per request as a cached answer, so it would measure itself."""
    script = OUT / "wrk_report.lua"
    OUT.mkdir(parents=True, exist_ok=True)
    script.write_text(WRK_REPORT)
    cmd = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", "--timeout", "30s", "-s", str(script)]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    if warmup > 0:
        subprocess.run([*cmd, f"-d{max(1, round(warmup))}s", base + path], check=True, capture_output=True)
    before = (resource.getrusage(resource.RUSAGE_CHILDREN), proc_cpu_seconds(server_pid), machine_ticks(), _postgres_cpu())
    out = subprocess.run([*cmd, f"-d{max(1, round(duration))}s", base + path], check=True, capture_output=True, text=True)
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(x for x in out.stdout.splitlines() if x.startswith("WRK "))
    summary = json.loads(line[4:])
    res = Result(path, connections, summary["duration_us"] / 1e6, summary=summary, tool="wrk")
    res.errors, res.bytes = summary["errors"], summary["bytes"]
    res.server_cpu = proc_cpu_seconds(server_pid) - before[1]
    res.client_cpu = (after_children.ru_utime + after_children.ru_stime) - (before[0].ru_utime + before[0].ru_stime)
    res.db_cpu = _postgres_cpu() - before[3]
    busy, total = (b - a for a, b in zip(before[2], machine_ticks()))
    res.machine_busy = busy / total if total else 0.0
    return res


def _postgres_cpu() -> float:
    """user+sys CPU of every process named postgres (the local server's backends)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        head, _, rest = text.rpartition(")")
        if head.endswith("(postgres"):
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def wait_quiet(limit: float = 0.15, patience: float = 10.0) -> float:
    """Wait (up to `patience` s) until other work uses < `limit` of the cores; returns the last share."""
    deadline = time.time() + patience
    while True:
        a = machine_ticks()
        time.sleep(2)
        b = machine_ticks()
        busy = (b[0] - a[0]) / max(1, b[1] - a[1])
        if busy < limit or time.time() > deadline:
            if busy >= limit:
                log(f"machine still {busy:.0%} busy with other work; measuring anyway")
            return busy
        log(f"machine {busy:.0%} busy with other work; waiting")


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


# --------------------------------------------------------------------------- one backend


@dataclass
class BackendRun:
    backend: str
    load_seconds: float
    warehouse_rows: dict
    results: list[Result]
    workers: int


def ensure_indexes(url: str) -> None:
    """Every index of the table contract (finops_pipeline/warehouse/schema.py), created if missing:
    `metadata.create_all` skips tables that exist, so a reused warehouse would miss new ones."""
    from finops_pipeline.warehouse.engine import make_engine
    from finops_pipeline.warehouse.schema import metadata

    engine = make_engine(url)
    for table in metadata.sorted_tables:
        for index in table.indexes:
            index.create(engine, checkfirst=True)
    engine.dispose()


def count_rows(url: str) -> dict:
    from sqlalchemy import text

    from finops_pipeline.warehouse.engine import make_engine

    engine = make_engine(url)
    out = {}
    with engine.connect() as conn:
        for t in ("fct_costs_daily", "fct_costs_monthly"):
            out[t] = conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
    engine.dispose()
    return out


def run_backend(backend: str, csv_path: Path, months: list[str], args) -> BackendRun:
    root = OUT / "api-bench" / backend
    data = root / "data"
    if backend == "postgresql":
        url = f"postgresql://postgres@127.0.0.1:5432/{PG_DB}"
    else:
        url = f"sqlite:///{data / 'warehouse.db'}"
    env = {**os.environ, "FINOPS_DATA_DIR": str(data), "FINOPS_WAREHOUSE_URL": url, "PYTHONUNBUFFERED": "1"}
    for k in ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "FINOPS_API_CORS_ORIGINS"):
        env.pop(k, None)

    load_seconds = float("nan")
    if not (args.reuse_warehouse and root.exists() and (backend != "postgresql" or pg_exists())):
        shutil.rmtree(root, ignore_errors=True)
        landing = data / "landing" / "billing"
        landing.mkdir(parents=True)
        os.link(csv_path, landing / "focus.csv")  # a hard link: no copy of the multi-GiB file
        write_reference(data / "reference", months)
        if backend == "postgresql":
            pg_drop(PG_DB)
            pg_admin(f"CREATE DATABASE {PG_DB}")
        log(f"{backend}: loading the warehouse with `finops run` ...")
        t0 = time.perf_counter()
        finops("run", "--quiet", env=env)
        load_seconds = time.perf_counter() - t0
        log(f"{backend}: loaded in {load_seconds:.0f}s")
    ensure_indexes(url)
    rows = count_rows(url)
    log(f"{backend}: {rows}")
    if args.load_only:
        return BackendRun(backend, load_seconds, rows, [], args.workers or 1)

    token = finops("api-token", "create", "--name", f"bench-{time.time_ns()}", "--role", "admin",
                   env=env, capture=True).stdout.strip().splitlines()[-1]
    first, last = months[0], months[-1]
    shapes = [
        ("costs by month,project (24 months)",
         f"/api/v1/costs?grain=monthly&group_by=month,project&from={first}&to={last}"),
        ("costs by month,service_name, project filter",
         f"/api/v1/costs?grain=monthly&group_by=month,service_name&project=atlas-checkout&from={first}&to={last}"),
        ("kpis (latest month)", "/api/v1/kpis"),
    ]
    results = []
    for cache in ("on", "off") if args.cache == "both" else (args.cache,):
        server_env = {**env, "FINOPS_API_CACHE_MB": "64" if cache == "on" else "0"}
        # Without the cache only the goal's query is measured: the others cost alike, per row.
        for r in serve_and_drive(server_env, shapes if cache == "on" else shapes[:1], token, args):
            r.name = f"{r.name} [cache {cache}]"
            results.append(r)
    return BackendRun(backend, load_seconds, rows, results, args.workers or 1)


def serve_and_drive(env: dict, shapes: list[tuple[str, str]], token: str, args) -> list[Result]:
    """Start `finops api`, drive each query shape at 1 and at --connections, stop it."""
    backend = "postgresql" if env["FINOPS_WAREHOUSE_URL"].startswith("postgresql") else "sqlite"
    use_wrk = shutil.which("wrk") is not None and not args.python_client
    if not use_wrk and not args.python_client:
        log("wrk not found (apt-get install wrk): using the Python load generator, which competes for the cores")
    port = free_port()
    cmd = [str(Path(sys.executable).with_name("finops")), "api", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning"]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    server = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=sys.stderr, stderr=sys.stderr, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    results = []
    try:
        _wait_ready(base, server)
        for name, path in shapes:
            for conns, dur in ((1, args.single_duration), (args.connections, args.duration)):
                wait_quiet()
                if use_wrk:
                    r = drive_wrk(base, path, token, conns, dur, args.warmup, server.pid)
                else:
                    r = asyncio.run(drive(base, path, token, conns, dur, args.warmup, server.pid))
                r.name = name
                results.append(r)
                log(f"{backend} {name} c={conns} ({r.tool}, cache {env['FINOPS_API_CACHE_MB']} MB): {r.rps:,.0f} req/s "
                    f"p50 {r.pct(50):.1f} p99 {r.pct(99):.1f} ms errors {r.errors} {r.statuses}")
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    return results


def _wait_ready(base: str, server: subprocess.Popen) -> None:
    import httpx

    deadline = time.time() + 120
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"finops api exited with {server.returncode}")
        try:
            if httpx.get(base + "/health", timeout=2).status_code in (200, 503):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("finops api did not start within 120 s")


# --------------------------------------------------------------------------- report


def report(runs: list[BackendRun], meta: dict, args, started: datetime) -> str:
    import fastapi
    import sqlalchemy
    import uvicorn

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                           text=True).stdout.strip()
    argv = " ".join(sys.argv[1:])
    lines = [
        f"_`python -m benchmarks.api_benchmark {argv}`".rstrip() + f"_ on {started:%Y-%m-%d %H:%M} UTC "
        f"(commit {commit}{' + local changes' if dirty else ''}).",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}; Python "
        f"{platform.python_version()}, FastAPI {fastapi.__version__}, uvicorn {uvicorn.__version__}, SQLAlchemy "
        f"{sqlalchemy.__version__}. Server, database and load generator share the same cores. CPU columns are "
        "cores (CPU seconds per wall second, measured window): *API* = `finops api` and its workers, *client* = "
        "the load generator (wrk when installed, else asyncio + httpx), "
        "*DB* = PostgreSQL processes (a lower bound: the CPU of backends that exit during the "
        "window, e.g. pool overflow connections, is lost), *others* = the rest of the machine's busy time "
        "(other work on a shared machine; each run first waits up to 10 s for < 15% background load).",
        "",
        f"Data: {meta['rows']:,} generated FOCUS rows ({meta['bytes'] / 2**30:.1f} GiB) over {meta['months']} months "
        f"from {meta['first_month']}, {meta['resources']:,} resources, 50 projects; loaded with `finops run`.",
        "",
    ]
    for run in runs:
        load = f"{run.load_seconds:,.0f} s" if run.load_seconds == run.load_seconds else "reused"
        lines += [
            f"**{run.backend}**: load {load}; fct_costs_daily {run.warehouse_rows['fct_costs_daily']:,} rows, "
            f"fct_costs_monthly {run.warehouse_rows['fct_costs_monthly']:,} rows; `finops api --workers {run.workers}`; "
            f"{args.warmup:g} s warm-up, then {args.single_duration:g} s at 1 connection and {args.duration:g} s at "
            f"{args.connections}.",
            "",
            "| query | conns | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | KiB/resp | API CPU | client CPU | DB CPU | others |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in run.results:
            n = r.count
            lines.append(
                f"| {r.name} | {r.connections} | {r.rps:,.0f} | {r.pct(50):.1f} | {r.pct(90):.1f} | {r.pct(99):.1f} | "
                f"{r.pct(100):.1f} | {r.errors} | "
                f"{(r.bytes / n / 1024) if n else 0:.1f} | {r.server_cpu / r.seconds:.2f} | "
                f"{r.client_cpu / r.seconds:.2f} | {max(0.0, r.db_cpu) / r.seconds:.2f} | {r.others:.2f} |")
        lines.append("")
        for target in [r for r in run.results if r.connections == args.connections and r.name.startswith("costs by month,project")]:
            met = target.pct(50) <= GOAL_P50_MS and target.pct(99) <= GOAL_P99_MS and target.errors == 0
            lines += [f"Goal (p50 <= {GOAL_P50_MS:g} ms, p99 <= {GOAL_P99_MS:g} ms at {args.connections} connections), "
                      f"{target.name}: **{'met' if met else 'not met'}** on {run.backend} "
                      f"(p50 {target.pct(50):.1f} ms, p99 {target.pct(99):.1f} ms, {target.tool}).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--first-month", default="2023-01")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--duration", type=float, default=20.0, help="measured seconds at --connections")
    ap.add_argument("--single-duration", type=float, default=5.0, help="measured seconds at 1 connection")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (0: the CLI's default)")
    ap.add_argument("--reuse-warehouse", action="store_true",
                    help="skip the load when benchmarks/out/api-bench/<backend>/ (and for PostgreSQL the database) exists")
    ap.add_argument("--load-only", action="store_true", help="load the warehouse(s), measure nothing (implies --keep)")
    ap.add_argument("--keep", action="store_true", help="keep the PostgreSQL database and the warehouse files")
    ap.add_argument("--cache", choices=["on", "off", "both"], default="both",
                    help="the API's answer cache (FINOPS_API_CACHE_MB): on, off, or both one after the other")
    ap.add_argument("--python-client", action="store_true", help="drive with the asyncio + httpx generator even if wrk exists")
    args = ap.parse_args(argv)
    started = datetime.now(UTC)
    csv_path, meta = ensure_dataset(args.rows, args.months, args.first_month, args.seed)
    months = month_list(args.first_month, args.months)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    runs = []
    for backend in backends:
        try:
            runs.append(run_backend(backend, csv_path, months, args))
        finally:
            if backend == "postgresql" and not (args.keep or args.load_only):
                pg_drop(PG_DB)
    if args.load_only:
        for run in runs:
            print(f"{run.backend}: loaded in {run.load_seconds:,.0f} s; {run.warehouse_rows}")
        return 0
    text = report(runs, meta, args, started)
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "api_benchmark.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
