"""Acceptance: editing rules.yaml in a running `dagster dev` triggers exactly one re-materialization
of the affected months, and fct_costs_monthly then reflects the new rules.

End to end, as a user would see it: the sample data in a tmp dir, every month materialized with the
CLI, then `dagster dev` (webserver, daemon, code server) on its own DAGSTER_HOME with
reference_change_sensor ticking every 5 s. Moving the start of rule `sandbox-to-ml` from 2026-03-01
to 2026-05-01 can reach 2026-03 .. 2026-11 (the rule has no end): one run over that range, no
second run on later ticks, and the sandbox subscription's cost of 2026-03 and 2026-04 back under
`unallocated`, with every month's total unchanged.

Takes about a minute (most of it the initial 16-month run and dagster dev's start-up).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from finops_pipeline.cli import main
from finops_pipeline.runs import RANGE_END_TAG, RANGE_START_TAG
from tests.dagster_processes import free_port, log_tail

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
SENSOR = "reference_change_sensor"
SANDBOX = "e26c9bdf-b911-5fe3-9d69-fa3444dfb3fa"
AFFECTED = ["2026-03", "2026-04", "2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]
MOVED = ["2026-03", "2026-04"]  # no longer covered by sandbox-to-ml after the edit
INTERVAL = 5  # FINOPS_REFERENCE_SENSOR_INTERVAL_SECONDS
RUN_TIMEOUT = 150


@contextlib.contextmanager
def _dagster_dev(tmp_path: Path, data: Path, warehouse_url: str, log: Path):
    """`dagster dev` in its own process group on a fresh DAGSTER_HOME, output to ``log``;
    yields (DAGSTER_HOME, process). Default storage (SQLite under DAGSTER_HOME)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # Create and stamp the instance's SQLite storage here, in one process: on a fresh home,
    # dagster dev's processes (webserver, daemon, code server) race to create it, and on a busy
    # machine two of them can both stamp it ("alembic_version has more than one head present").
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        instance.upgrade()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "FINOPS_DATA_DIR": str(data),
        "FINOPS_WAREHOUSE_URL": warehouse_url,
        "FINOPS_REFERENCE_SENSOR_INTERVAL_SECONDS": str(INTERVAL),
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [sys.executable, "-m", "dagster", "dev", "-m", "finops_pipeline.definitions",
           "-h", "127.0.0.1", "-p", str(free_port())]
    with open(log, "wb") as out:
        # cwd: not the repository, whose dagster.yaml (the PostgreSQL deployment config) dagster dev
        # would warn about. SIGINT back to default: a pytest started in the background of a
        # non-interactive shell ignores it, and dagster dev maps SIGTERM to the SIGINT handler.
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        yield home, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        # Whatever is left of the group (run workers, code servers) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait(what: str, check, timeout: float, proc: subprocess.Popen, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"dagster dev exited (code {proc.returncode}) while waiting for {what}")
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _sensor_state(instance):
    from dagster._core.scheduler.instigation import InstigatorType

    states = [s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR) if s.name == SENSOR]
    return states[0] if states else None


def _warehouse(db: Path) -> dict:
    """What the assertions compare before and after the edit."""
    con = sqlite3.connect(db)
    try:
        totals = dict(con.execute("SELECT billing_month, SUM(effective_cost) FROM fct_costs_monthly GROUP BY 1"))
        by_project = defaultdict(dict)
        for month, project, cost in con.execute(
            "SELECT billing_month, project, SUM(effective_cost) FROM fct_costs_monthly GROUP BY 1, 2"
        ):
            by_project[month][project] = cost
        rule_rows = defaultdict(int)
        for month, n in con.execute(
            "SELECT billing_month, COUNT(*) FROM fct_costs_monthly WHERE allocation_rule_id = 'sandbox-to-ml' GROUP BY 1"
        ):
            rule_rows[month] = n
        sandbox = dict(con.execute(
            "SELECT billing_month, SUM(effective_cost) FROM fct_costs_daily WHERE sub_account_id = ? GROUP BY 1", (SANDBOX,)
        ))
        sandbox_projects = defaultdict(set)
        for month, project, rule in con.execute(
            "SELECT DISTINCT billing_month, project, allocation_rule_id FROM fct_costs_daily WHERE sub_account_id = ?",
            (SANDBOX,),
        ):
            sandbox_projects[month].add((project, rule))
        loaded_at = dict(con.execute("SELECT billing_month, MAX(loaded_at) FROM fct_costs_monthly GROUP BY 1"))
    finally:
        con.close()
    return {"totals": totals, "by_project": by_project, "rule_rows": rule_rows, "sandbox": sandbox,
            "sandbox_projects": sandbox_projects, "loaded_at": loaded_at}


def _edit_rules(path: Path) -> None:
    text = path.read_text()
    block = text[text.index("  - id: sandbox-to-ml"):text.index("  - id: snowflake-to-data-platform")]
    assert block.count("start: 2026-03-01") == 1, block
    new = text.replace(block, block.replace("start: 2026-03-01", "start: 2026-05-01"))
    tmp = path.with_name(".rules.yaml.tmp")
    tmp.write_text(new)
    os.replace(tmp, path)  # atomic: a tick never reads a half-written file


def test_rules_edit_in_dagster_dev_rematerializes_affected_months_once(tmp_path):
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
    from dagster._core.scheduler.instigation import TickStatus

    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("warehouse.db*", ".finops"))
    db = tmp_path / "warehouse.db"
    url = f"sqlite:///{db}"

    # Every month is materialized before dagster dev starts: the landing sensor's first tick then
    # finds every landing month loaded and requests nothing (it would load months still missing),
    # and the reference sensor's first tick only records the files.
    start = time.monotonic()
    phases = []  # seconds since start, printed (pytest -s, or on failure) to see where the time goes

    def phase(name):
        phases.append(f"{name} {time.monotonic() - start:.0f}s")

    assert main(["run", "--data-dir", str(data), "--warehouse-url", url, "--quiet"]) == 0
    phase("materialized")
    before = _warehouse(db)
    all_months = sorted(before["totals"])
    assert set(AFFECTED) < set(all_months) and all_months[0] < AFFECTED[0]
    for month in AFFECTED:  # the rule as shipped: the sandbox is ml-training's from 2026-03
        assert before["sandbox_projects"][month] == {("ml-training", "sandbox-to-ml")}, month

    log = tmp_path / "dagster_dev.log"
    try:
        with _dagster_dev(tmp_path, data, url, log) as (home, proc):
            # Open the instance only once dagster dev has created its storage.
            _wait("dagster dev's instance storage",
                  lambda: (home / "history" / "runs.db").exists() and (home / "schedules" / "schedules.db").exists(),
                  timeout=60, proc=proc)
            with DagsterInstance.from_config(str(home)) as instance:
                state = _wait("the sensor's first tick (baseline cursor)",
                              lambda: (s := _sensor_state(instance)) and s.instigator_data.cursor and s,
                              timeout=90, proc=proc)
                baseline_ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
                assert all(not t.run_ids for t in baseline_ticks), "a run before any edit"
                assert instance.get_runs() == []

                phase("baseline tick")
                _edit_rules(data / "reference" / "rules.yaml")

                def finished_runs():
                    runs = instance.get_runs(filters=RunsFilter(tags={"dagster/sensor_name": SENSOR}))
                    return runs if runs and all(r.is_finished for r in runs) else None

                runs = _wait("the sensor's run to finish", finished_runs, timeout=RUN_TIMEOUT, proc=proc)
                assert len(runs) == 1, [(r.run_id, r.tags) for r in runs]
                run = runs[0]
                assert run.status == DagsterRunStatus.SUCCESS, (
                    f"run {run.run_id} ended {run.status}: "
                    + " | ".join(e.message for e in instance.all_logs(run.run_id) if e.is_dagster_event
                                 and e.dagster_event.is_failure)
                )
                assert run.tags[RANGE_START_TAG] == AFFECTED[0]
                assert run.tags[RANGE_END_TAG] == AFFECTED[-1]
                assert run.tags.get("finops/trigger") == "rules.yaml changed"
                ended = instance.get_run_record_by_id(run.run_id).end_time
                phase("run finished")

                # Two more completed ticks after the run ended see the same files: no second run.
                def ticks_after_run():
                    ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, after=ended)
                    done = [t for t in ticks if t.status != TickStatus.STARTED]
                    return done if len(done) >= 2 else None

                later = _wait("two sensor ticks after the run", ticks_after_run, timeout=6 * INTERVAL + 30, proc=proc)
                phase("two more ticks")
                assert all(not t.run_ids for t in later), [(t.status, t.run_ids) for t in later]
                assert [r.run_id for r in instance.get_runs()] == [run.run_id]  # nothing else launched either
                ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
                assert [t.run_ids for t in ticks if t.run_ids] == [[run.run_id]]
        phase("dagster dev stopped")
        print(f"phases: {', '.join(phases)}")
        after = _warehouse(db)
        # Only the affected months were rewritten.
        assert sorted(after["totals"]) == all_months
        for month in all_months:
            if month in AFFECTED:
                assert after["loaded_at"][month] > before["loaded_at"][month], month
            else:
                assert after["loaded_at"][month] == before["loaded_at"][month], month
        # Allocation moves cost, never creates or loses it.
        for month in all_months:
            assert after["totals"][month] == pytest.approx(before["totals"][month], abs=1e-6, rel=0), month
        for month in MOVED:
            sandbox = after["sandbox"][month]
            assert sandbox == pytest.approx(before["sandbox"][month], abs=1e-6, rel=0) and sandbox > 0, month
            assert after["sandbox_projects"][month] == {("unallocated", None)}, month
            assert after["rule_rows"][month] == 0, month
            old, new = before["by_project"][month], after["by_project"][month]
            assert new["unallocated"] == pytest.approx(old["unallocated"] + sandbox, abs=1e-6, rel=0), month
            assert new["ml-training"] == pytest.approx(old["ml-training"] - sandbox, abs=1e-6, rel=0), month
            for project in (set(old) | set(new)) - {"unallocated", "ml-training"}:
                assert new.get(project) == pytest.approx(old.get(project), abs=1e-6, rel=0), (month, project)
        for month in AFFECTED[len(MOVED):]:
            assert after["sandbox_projects"][month] == {("ml-training", "sandbox-to-ml")}, month
            assert after["rule_rows"][month] == before["rule_rows"][month] > 0, month
            assert after["by_project"][month] == pytest.approx(before["by_project"][month], abs=1e-6, rel=0), month
    except BaseException:
        print(f"phases: {', '.join(phases)}")
        print(f"--- tail of dagster dev log ({log}) ---\n{log_tail(log, 120)}")
        raise
