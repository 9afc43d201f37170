"""Runs at the same time (a UI backfill, the nightly schedule and a landing-sensor run) leave the
warehouse exactly as one sequential run of the same months: every output table has the same rows
and totals to the cent, and no run fails on lock contention ("database is locked", a unique
violation while two runs create the tables, a deadlock).

Each run is its own OS process (as Dagster launches them), started on a barrier once Dagster is
imported, on a fresh warehouse: two runs write disjoint months and a third writes the same months
as the second at the same moment. The sequential run is on SQLite, once for both backends
(test_postgres.py shows the two agree); the landing folder holds the sample's exports of these
months only, to keep the runs short.

Whether two runs collide at the worst moment is luck, so the three orderings that went wrong are
also forced, in threads: two replacements of one month, two rebuilds of one table, and a KPI
rebuild that read before another run's month was committed."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from dagster import materialize
from sqlalchemy import BigInteger, Float, Integer, create_engine, delete, func, select, text

from finops_pipeline.defs.costs import assets as cost_assets
from finops_pipeline.resources import FinopsResource
from finops_pipeline.warehouse import schema, writer
from finops_pipeline.warehouse.engine import ensure_tables, make_engine
from finops_pipeline.warehouse.locks import rebuild_lock
from tests.helpers import monthly_cost_frame, run_job, scratch_databases

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
REPO = Path(__file__).resolve().parents[1]

MONTHS = ["2026-01", "2026-02", "2026-03"]
CONCURRENT_RANGES = [
    ("2026-01", "2026-01"),  # a backfill of the first month
    ("2026-02", "2026-03"),  # a backfill of the next months, disjoint
    ("2026-02", "2026-03"),  # the same months again at the same moment (nightly + landing sensor)
]
# Written by the API, the alert sensors or `finops run` after the run, never by the monthly job.
NOT_JOB_OUTPUTS = {"alert_outbox", "api_tokens", "anomaly_feedback"}
OUTPUT_TABLES = [t for t in schema.metadata.sorted_tables if t.name not in NOT_JOB_OUTPUTS]

# Imports Dagster and the definitions first, then waits for the start signal, so that the runs
# really overlap; then does what `finops run --from A --to B` does (alerts included).
DRIVER = """
import sys, time
from pathlib import Path
import finops_pipeline.definitions  # noqa: F401
from finops_pipeline.cli import main
first, last, ready, go = sys.argv[1:5]
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.01)
sys.exit(main(["run", "--from", first, "--to", last, "--quiet"]))
"""


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("concurrent") / "data"
    shutil.copytree(SAMPLE / "reference", root / "reference")
    shutil.copytree(SAMPLE / "landing" / "billing" / "finance", root / "landing" / "billing" / "finance")
    for month in MONTHS:
        for export in (SAMPLE / "landing" / "billing").glob(f"*/focus_{month}.csv*"):
            target = root / "landing" / "billing" / export.parent.name / export.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(export, target)
    return root


@pytest.fixture(scope="module")
def sequential(sample_dir, tmp_path_factory) -> dict:
    """Totals of one run of every month into its own warehouse (it also fills the scan cache the
    concurrent runs then share, as runs of one deployment do)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('sequential') / 'warehouse.db'}"
    assert run_job(sample_dir, url, MONTHS[0], MONTHS[-1]).success
    totals = warehouse_totals(url)
    assert sorted(k for k in totals["fct_costs_monthly"] if k != "rows") == MONTHS
    return totals


@pytest.fixture
def scratch_postgres(postgres_server):
    """Fresh PostgreSQL databases, dropped afterwards: `create()` gives the URL of a new one."""
    with contextlib.ExitStack() as stack:
        yield lambda: stack.enter_context(scratch_databases(postgres_server, "", prefix="finops_concurrent_"))[""]


def _run_concurrently(data_dir: Path, warehouse_url: str, tmp_path: Path) -> list[subprocess.CompletedProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINOPS_") and k != "DAGSTER_HOME"}
    env.update(FINOPS_DATA_DIR=str(data_dir), FINOPS_WAREHOUSE_URL=warehouse_url,
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])))
    go = tmp_path / "go"
    procs = []
    for i, (first, last) in enumerate(CONCURRENT_RANGES):
        ready = tmp_path / f"ready-{i}"
        cmd = [sys.executable, "-c", DRIVER, first, last, str(ready), str(go)]
        procs.append((ready, subprocess.Popen(cmd, cwd=tmp_path, env=env, text=True,
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
    deadline = time.monotonic() + 120
    while not all(ready.exists() for ready, _ in procs):
        if time.monotonic() > deadline or any(p.poll() is not None for _, p in procs):
            break
        time.sleep(0.05)
    go.touch()
    results = []
    for _, proc in procs:
        try:
            out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def _groups(table) -> list[str]:
    return [c for c in ("billing_month", "month") if c in table.c][:1]


def warehouse_totals(url: str) -> dict[str, dict]:
    """Per output table: its row count, and per billing month (or month) the row count and the
    sum of every numeric column, rounded to the cent."""
    engine = create_engine(url)
    out = {}
    with engine.connect() as conn:
        for table in OUTPUT_TABLES:
            numeric = [c.name for c in table.columns if isinstance(c.type, Float | Integer | BigInteger)]
            keys = _groups(table)
            select_list = ", ".join([*keys, "COUNT(*)", *[f'SUM("{c}")' for c in numeric]])
            group = f" GROUP BY {keys[0]}" if keys else ""
            rows = conn.execute(text(f"SELECT {select_list} FROM {table.name}{group}")).all()
            out[table.name] = {
                (row[0] if keys else "all"): [row[len(keys)], *[None if v is None else round(float(v), 2)
                                                                 for v in row[len(keys) + 1:]]]
                for row in rows
            }
            out[table.name]["rows"] = sum(v[0] for v in out[table.name].values())
        anomalies = conn.execute(text("SELECT anomaly_id, severity FROM fct_cost_anomalies ORDER BY anomaly_id")).all()
        out["fct_cost_anomalies"]["ids"] = [tuple(r) for r in anomalies]
    engine.dispose()
    return out


def _assert_concurrent_runs_match(expected: dict, data_dir: Path, warehouse_url: str, tmp_path: Path):
    started = time.monotonic()
    results = _run_concurrently(data_dir, warehouse_url, tmp_path)
    elapsed = time.monotonic() - started
    for (first, last), result in zip(CONCURRENT_RANGES, results):
        assert result.returncode == 0, f"run {first}..{last} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    got = warehouse_totals(warehouse_url)
    for table in expected:
        assert got[table] == expected[table], f"{table} differs after concurrent runs ({elapsed:.0f} s)"


def test_concurrent_runs_match_sequential_sqlite(sequential, sample_dir, tmp_path):
    _assert_concurrent_runs_match(sequential, sample_dir, f"sqlite:///{tmp_path / 'concurrent.db'}", tmp_path)


@pytest.mark.postgres
def test_concurrent_runs_match_sequential_postgres(sequential, sample_dir, scratch_postgres, tmp_path):
    _assert_concurrent_runs_match(sequential, sample_dir, scratch_postgres(), tmp_path)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_one_month_replaced_by_two_runs_at_once(backend, request, tmp_path):
    """The second writer waits for the first and then replaces its rows: the month holds one
    copy of its costs, never both (PostgreSQL's READ COMMITTED DELETE cannot see rows another
    transaction inserted after it started)."""
    url = f"sqlite:///{tmp_path / 'w.db'}" if backend == "sqlite" else request.getfixturevalue("scratch_postgres")()
    engine = make_engine(url)
    ensure_tables(engine)
    table = schema.fct_costs_monthly
    writer.replace_month(engine, "2026-03", {table: monthly_cost_frame("2026-03", 5.0)})  # an earlier run's rows
    errors: list[BaseException] = []

    def second_run():
        try:
            writer.replace_month(engine, "2026-03", {table: monthly_cost_frame("2026-03", 7.0)})
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    # The first run's replacement, held open while the second one starts.
    second = threading.Thread(target=second_run)
    with engine.connect().execution_options(writer=True) as conn, conn.begin():
        conn.execute(delete(table).where(table.c.billing_month == "2026-03"))
        conn.execute(table.insert(), [{**r, "loaded_at": datetime.now(timezone.utc)} for r in monthly_cost_frame("2026-03", 7.0).to_dict("records")])
        second.start()
        time.sleep(1.0)  # the second writer is now waiting for this transaction
    second.join(timeout=60)
    assert not errors, errors
    with engine.connect() as conn:
        rows = conn.execute(select(func.count(), func.sum(table.c.effective_cost))
                            .where(table.c.billing_month == "2026-03")).one()
    engine.dispose()
    assert tuple(rows) == (1, 7.0)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_rebuilds_of_one_table_take_turns(backend, request, tmp_path):
    """Two rebuilds of fct_kpis_monthly: the second starts reading only after the first has
    committed; a rebuild of another table does not wait."""
    url = f"sqlite:///{tmp_path / 'w.db'}" if backend == "sqlite" else request.getfixturevalue("scratch_postgres")()
    engine = make_engine(url)
    events: list[str] = []

    def rebuild(table, name):
        with rebuild_lock(engine, table):
            events.append(name)

    with rebuild_lock(engine, schema.fct_kpis_monthly):
        other_table = threading.Thread(target=rebuild, args=(schema.fct_cost_drivers, "drivers"))
        other_table.start()
        other_table.join(timeout=30)
        same_table = threading.Thread(target=rebuild, args=(schema.fct_kpis_monthly, "second kpis"))
        same_table.start()
        time.sleep(0.5)
        events.append("first kpis committed")
    same_table.join(timeout=30)
    engine.dispose()
    assert events == ["drivers", "first kpis committed", "second kpis"]


def test_kpis_rebuild_that_read_first_does_not_commit_last(tmp_path, monkeypatch):
    """Run 1 reads fct_costs_monthly and is slow to compute; run 2 commits a new month and
    rebuilds the KPIs meanwhile. Without the rebuild lock run 1 would commit last and leave KPIs
    without the new month; with it run 2 waits, then reads every month."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = make_engine(url)
    ensure_tables(engine)
    for month in ("2026-01", "2026-02"):
        writer.replace_month(engine, month, {schema.fct_costs_monthly: monthly_cost_frame(month, 100.0)})
    read, release = threading.Event(), threading.Event()
    build = cost_assets.build_kpis_monthly

    def slow_build(monthly):
        if threading.current_thread().name == "run-1":
            read.set()
            release.wait(30)
        return build(monthly)

    monkeypatch.setattr(cost_assets, "build_kpis_monthly", slow_build)
    resources = {"finops": FinopsResource(data_dir=str(tmp_path), warehouse_url=url)}
    results = {}

    def rebuild_kpis():
        name = threading.current_thread().name
        results[name] = materialize([cost_assets.fct_kpis_monthly], resources=resources, raise_on_error=False).success

    first = threading.Thread(target=rebuild_kpis, name="run-1")
    first.start()
    assert read.wait(30)
    writer.replace_month(engine, "2026-03", {schema.fct_costs_monthly: monthly_cost_frame("2026-03", 100.0)})
    second = threading.Thread(target=rebuild_kpis, name="run-2")
    second.start()
    second.join(timeout=3)  # without the lock run 2 commits here, before run 1
    release.set()
    first.join(timeout=60)
    second.join(timeout=60)
    assert results == {"run-1": True, "run-2": True}
    with engine.connect() as conn:
        months = conn.execute(text("SELECT DISTINCT billing_month FROM fct_kpis_monthly ORDER BY 1")).scalars().all()
    engine.dispose()
    assert months == ["2026-01", "2026-02", "2026-03"]
