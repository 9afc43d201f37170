"""Acceptance (production deployment): a backfill launched through the Dagster API on a real
Dagster instance backed by PostgreSQL, as the docker-compose stack runs it.

The repository's own dagster.yaml (PostgreSQL storage from the DAGSTER_PG_* variables, the
QueuedRunCoordinator) in a fresh DAGSTER_HOME over a scratch database; a workspace.yaml like the
repository's pointing at a local port; the code server (`dagster api grpc -m
finops_pipeline.definitions`), `dagster-webserver` and `dagster-daemon run` as three processes; the
FinOps warehouse in a second scratch database; no Slack configured.

A backfill of three billing months is launched with the `launchPartitionBackfill` mutation the UI
sends from the job's page. The test checks that the daemon submitted it as one run (the
partitioned assets have a single-run backfill policy), that the run went through the
QueuedRunCoordinator's queue, succeeded and is in PostgreSQL run storage, that the backfill ends
COMPLETED_SUCCESS, and that fct_costs_monthly holds, to the cent, what a direct `finops run` of the
same months writes into a separate SQLite warehouse. It also checks that every schedule and sensor
is registered, that those defaulting to RUNNING run and that no sensor tick fails, and that the
three processes stop on SIGTERM leaving nothing behind.

Deterministic by construction:
- the landing folder holds exactly the backfilled months, loaded into the warehouse (`finops run`,
  as an operator would) before the daemon starts: the landing sensor's first tick finds nothing
  missing and launches no run (on an empty warehouse it would load the months itself, racing the
  backfill over the same months);
- the nightly schedule is moved to twelve hours from now (FINOPS_NIGHTLY_CRON), so no tick falls
  inside the test;
- the backfill is launched before the daemon starts, so the daemon's first backfill iteration
  submits it (it looks every 30 s).

The backfill carries no launchpad config: the code location's executor (in-process, defs/resources.py)
runs it as one process, as a deployment would. About a minute on two busy cores.
"""

from __future__ import annotations

import csv
import math
import os
import re
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from finops_pipeline.cli import main
from finops_pipeline.runs import RANGE_END_TAG, RANGE_START_TAG
from tests.dagster_processes import Deployment, GraphQL, free_port, postgres_admin_url, scratch_databases, wait_for
from tests.helpers import code_location

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
BIN = Path(sys.executable).parent  # dagster, dagster-webserver, dagster-daemon of this environment
MONTHS = ["2026-08", "2026-09", "2026-10"]  # closed sample months; data-platform is over budget in two
JOB = "monthly_costs_job"
SCHEDULES = {"nightly_schedule", "weekly_digest_schedule"}
SENSORS = {"landing_sensor", "reference_change_sensor", "alert_outbox_sensor", "alert_delivery_sensor",
           "run_failure_alert_sensor"}
START_TIMEOUT = 120  # one process start-up on a loaded machine
BACKFILL_TIMEOUT = 240  # daemon iteration (30 s) + queue + run + the iteration that marks it complete


# --------------------------------------------------------------------------------------------
# Set-up


def _copy_sample(dest: Path, months: list[str]) -> None:
    """The sample's reference files, and its landing files restricted to ``months``: the monthly
    exports of those months, and the rows of those months of the finance file that spans them all."""
    shutil.copytree(SAMPLE / "reference", dest / "reference")
    billing = SAMPLE / "landing" / "billing"
    for src in sorted(p for p in billing.rglob("*") if p.is_file()):
        target = dest / "landing" / "billing" / src.relative_to(billing)
        named = re.search(r"\d{4}-\d{2}", src.name)
        if named:
            if named.group(0) in months:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, target)
            continue
        with open(src, newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows and "date" in rows[0], f"{src}: expected a generic file with a date column"
        at = rows[0].index("date")
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "w", newline="") as fh:
            csv.writer(fh).writerows([rows[0], *(r for r in rows[1:] if len(r) > at and r[at][:7] in months)])


def _write_workspace(path: Path, port: int) -> str:
    """The repository's workspace.yaml with its gRPC server moved to 127.0.0.1:port; returns the
    code location's name."""
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    servers = [entry["grpc_server"] for entry in workspace["load_from"] if "grpc_server" in entry]
    assert len(servers) == len(workspace["load_from"]) == 1, f"expected one grpc_server entry: {workspace}"
    servers[0].update(host="127.0.0.1", port=port)
    path.write_text(yaml.safe_dump(workspace))
    return servers[0]["location_name"]


def _service_env(home: Path, dagster_db_url: str, data: Path, warehouse_url: str) -> dict[str, str]:
    """What docker-compose gives the three Dagster services, for local processes."""
    from sqlalchemy.engine import make_url

    pg = make_url(dagster_db_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINOPS_", "SLACK_", "DAGSTER_"))}
    far_hour = (datetime.now(timezone.utc).hour + 12) % 24
    env.update({
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": pg.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(pg.port or 5432),
        "DAGSTER_PG_USER": pg.username or "postgres",
        "DAGSTER_PG_PASSWORD": pg.password or "",
        "DAGSTER_PG_DB": pg.database,
        "FINOPS_DATA_DIR": str(data),
        "FINOPS_WAREHOUSE_URL": warehouse_url,
        "FINOPS_NIGHTLY_CRON": f"0 {far_hour} * * *",  # no nightly run can start during the test
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _code_server_serving(port: int) -> bool:
    from dagster._core.errors import DagsterUserCodeUnreachableError
    from dagster._grpc.client import DagsterGrpcClient

    try:
        DagsterGrpcClient(port=port, host="127.0.0.1").ping("ready?")
    except DagsterUserCodeUnreachableError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# GraphQL (the webserver's API, as the UI uses it)

WORKSPACE = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on RepositoryLocation { repositories { name } } ... on PythonError { message } } } }
  ... on PythonError { message } } }"""

JOB_ASSETS = """query ($job: PipelineSelector!) { assetNodes(pipeline: $job) { assetKey { path } } }"""

LAUNCH_BACKFILL = """mutation ($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message } } }"""

BACKFILL = """query ($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
  ... on PartitionBackfill { id status partitionNames partitionSetName error { message }
    runs { runId jobName status tags { key value } } }
  ... on Error { message } } }"""

RUN_EVENTS = """query ($runId: ID!) { logsForRun(runId: $runId, limit: 10000) { __typename
  ... on EventConnection { events { __typename ... on MessageEvent { eventType message } } } ... on Error { message } } }"""

RUNS = """{ runsOrError { __typename ... on Runs { results { runId jobName status tags { key value } } } } }"""

INSTIGATORS = """query ($repo: RepositorySelector!) {
  sensorsOrError(repositorySelector: $repo) { __typename ... on Sensors { results { name defaultStatus
    sensorState { status ticks(limit: 20) { status runIds skipReason error { message } } } } } }
  schedulesOrError(repositorySelector: $repo) { __typename ... on Schedules { results { name cronSchedule
    executionTimezone defaultStatus scheduleState { status } } } } }"""

INSTANCE = """{ instance { runQueuingSupported runLauncher { name }
  runQueueConfig { maxConcurrentRuns tagConcurrencyLimitsYaml }
  daemonHealth { allDaemonStatuses { daemonType required healthy lastHeartbeatErrors { message } } } } }"""

FINISHED_TICK = {"SUCCESS", "SKIPPED", "FAILURE"}


def _location_loaded(gql: GraphQL, location: str):
    if not gql.reachable():
        return None
    workspace = gql(WORKSPACE)["workspaceOrError"]
    assert workspace["__typename"] == "Workspace", workspace
    entries = {e["name"]: e for e in workspace["locationEntries"]}
    entry = entries.get(location)
    if entry is None or entry["loadStatus"] != "LOADED":
        return None
    loaded = entry["locationOrLoadError"]
    assert loaded["__typename"] == "RepositoryLocation", f"code location {location} failed to load: {loaded}"
    return loaded


def _backfill(gql: GraphQL, backfill_id: str) -> dict:
    answer = gql(BACKFILL, id=backfill_id)["partitionBackfillOrError"]
    assert answer["__typename"] == "PartitionBackfill", answer
    return answer


def _run_failure_messages(gql: GraphQL, run_id: str) -> str:
    events = gql(RUN_EVENTS, runId=run_id)["logsForRun"].get("events", [])
    return " | ".join(e.get("message", "") for e in events if "Failure" in e["__typename"])[:3000]


def _instigators(gql: GraphQL, repo: dict) -> tuple[dict, dict]:
    answer = gql(INSTIGATORS, repo=repo)
    sensors, schedules = answer["sensorsOrError"], answer["schedulesOrError"]
    assert sensors["__typename"] == "Sensors" and schedules["__typename"] == "Schedules", answer
    return ({s["name"]: s for s in sensors["results"]}, {s["name"]: s for s in schedules["results"]})


def _running_sensors_ticked(gql: GraphQL, repo: dict):
    """Every RUNNING sensor has a finished tick (the daemon evaluates each on its first iteration)."""
    sensors, _ = _instigators(gql, repo)
    running = {n: s for n, s in sensors.items() if s["sensorState"]["status"] == "RUNNING"}
    ticked = all(any(t["status"] in FINISHED_TICK for t in s["sensorState"]["ticks"]) for s in running.values())
    return sensors if running and ticked else None


# --------------------------------------------------------------------------------------------
# Warehouse


def _monthly_totals(url: str) -> dict[tuple[str, str], tuple[float, float, float, int]]:
    """fct_costs_monthly per (billing month, project): billed, effective and list cost, and the input
    rows summed into them."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT billing_month, project, SUM(billed_cost), SUM(effective_cost), SUM(list_cost), SUM(source_rows) "
                "FROM fct_costs_monthly GROUP BY billing_month, project")).all()
    finally:
        engine.dispose()
    return {(m, p): (float(b), float(e), float(li), int(n)) for m, p, b, e, li, n in rows}


def _differences_over_a_cent(expected: dict, actual: dict) -> list:
    """Keys whose amounts differ by half a cent or more, or whose row counts differ. (Amounts are
    float64 sums, added in a different order by SQLite and PostgreSQL: equal to far below a cent,
    not to the last bit.)"""
    out = []
    for key in sorted(set(expected) | set(actual)):
        want, got = expected.get(key), actual.get(key)
        if want is None or got is None or want[3] != got[3] or any(abs(w - g) >= 0.005 for w, g in zip(want[:3], got[:3])):
            out.append((key, want, got))
    return out


def _loaded_at(url: str) -> dict[str, tuple[datetime, datetime]]:
    """(first, last) loaded_at of fct_costs_monthly per billing month."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT billing_month, MIN(loaded_at), MAX(loaded_at) FROM fct_costs_monthly GROUP BY billing_month")).all()
    finally:
        engine.dispose()
    return {m: (lo, hi) for m, lo, hi in rows}


def _rows(url: str, sql: str, **params) -> list:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).all()
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------
# Checks


def _check_backfill_run(gql: GraphQL, backfill: dict, backfill_id: str) -> dict:
    """One run over the whole range (single-run backfill policy), queued by the QueuedRunCoordinator
    and launched from the queue by the daemon, successful. Returns the run."""
    runs = backfill["runs"]
    assert len(runs) == 1, runs
    run = runs[0]
    if run["status"] != "SUCCESS":
        raise AssertionError(f"run {run['runId']} ended {run['status']}: {_run_failure_messages(gql, run['runId'])}")
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert run["jobName"] == JOB, run
    assert tags["dagster/backfill"] == backfill_id, tags
    assert (tags[RANGE_START_TAG], tags[RANGE_END_TAG]) == (MONTHS[0], MONTHS[-1]), tags
    # RUN_ENQUEUED is written only by the QueuedRunCoordinator; RUN_STARTING by the daemon when it
    # takes the run off the queue and hands it to the run launcher.
    events = [e.get("eventType") or "" for e in gql(RUN_EVENTS, runId=run["runId"])["logsForRun"]["events"]]
    lifecycle = [e.replace("PIPELINE_", "RUN_") for e in events if e.startswith(("RUN_", "PIPELINE_"))]
    assert lifecycle == ["RUN_ENQUEUED", "RUN_STARTING", "RUN_START", "RUN_SUCCESS"], events
    return run


def _check_run_storage(instance, dagster_db_url: str, run_id: str, backfill_id: str) -> None:
    """The run is in PostgreSQL run storage: through an instance opened on the same dagster.yaml,
    and in Dagster's own tables."""
    record = instance.get_run_record_by_id(run_id)
    assert record is not None and record.dagster_run.status.value == "SUCCESS", record
    assert [tuple(r) for r in _rows(dagster_db_url, "SELECT status FROM runs WHERE run_id = :id", id=run_id)] == [("SUCCESS",)]
    tag = _rows(dagster_db_url, "SELECT value FROM run_tags WHERE run_id = :id AND key = 'dagster/backfill'", id=run_id)
    assert [tuple(r) for r in tag] == [(backfill_id,)], tag


def _check_instance(gql: GraphQL, config: dict) -> None:
    """The instance as the UI reports it: runs are queued, the required daemons are healthy."""
    info = gql(INSTANCE)["instance"]
    assert info["runQueuingSupported"] is True, info
    queue = config["run_coordinator"].get("config") or {}
    if "max_concurrent_runs" in queue:
        assert info["runQueueConfig"]["maxConcurrentRuns"] == queue["max_concurrent_runs"], info
    daemons = info["daemonHealth"]["allDaemonStatuses"]
    assert not [d for d in daemons if d["required"] and not d["healthy"]], daemons
    required = {d["daemonType"] for d in daemons if d["required"]}
    assert {"SENSOR", "SCHEDULER", "BACKFILL", "QUEUED_RUN_COORDINATOR"} <= required, daemons


def _check_instigators(sensors: dict, schedules: dict, defs, nightly_cron: str) -> None:
    """Every schedule and sensor of the definitions is registered with its default status; those
    that default to RUNNING run, and no sensor tick failed."""
    assert set(sensors) >= SENSORS, sorted(sensors)
    assert set(schedules) >= SCHEDULES, sorted(schedules)
    for sensor in defs.sensors:
        found = sensors[sensor.name]
        assert found["defaultStatus"] == sensor.default_status.value, sensor.name
        if sensor.default_status.value == "RUNNING":
            assert found["sensorState"]["status"] == "RUNNING", (sensor.name, found["sensorState"]["status"])
        failed = [t["error"] for t in found["sensorState"]["ticks"] if t["status"] == "FAILURE"]
        assert not failed, (sensor.name, failed)
    for schedule in defs.schedules:
        found = schedules[schedule.name]
        assert found["defaultStatus"] == schedule.default_status.value, schedule.name
        if schedule.default_status.value == "RUNNING":
            assert found["scheduleState"]["status"] == "RUNNING", (schedule.name, found["scheduleState"]["status"])
    assert schedules["nightly_schedule"]["cronSchedule"] == nightly_cron  # the services' environment reached the code
    # The landing sensor's first tick recorded the files and found every month already loaded.
    finished = [t for t in sensors["landing_sensor"]["sensorState"]["ticks"] if t["status"] in FINISHED_TICK]
    first = finished[-1]  # ticks come newest first
    assert first["status"] == "SKIPPED" and not first["runIds"], first
    assert "warehouse already holds" in (first["skipReason"] or ""), first


def _check_warehouse(warehouse_url: str, direct_url: str, loaded_before: dict) -> None:
    """Every row of the backfilled months rewritten by the backfill run, and the same money, to the
    cent, as the direct run into SQLite; alerts recorded as skipped (no Slack)."""
    loaded_after = _loaded_at(warehouse_url)
    for month in MONTHS:
        assert loaded_after[month][0] > loaded_before[month][1], (month, loaded_before[month], loaded_after[month])
    expected, actual = _monthly_totals(direct_url), _monthly_totals(warehouse_url)
    assert sorted({m for m, _ in actual}) == MONTHS
    assert not _differences_over_a_cent(expected, actual), _differences_over_a_cent(expected, actual)
    for month in MONTHS:  # and each month's total, the number a finance user reconciles
        want, got = (math.fsum(v[1] for (m, _), v in totals.items() if m == month) for totals in (expected, actual))
        assert abs(want - got) < 0.005, (month, want, got)
    statuses = {s for (s,) in _rows(warehouse_url, "SELECT DISTINCT status FROM alert_outbox")}
    assert "skipped" in statuses and not statuses & {"sent", "sending"}, statuses


# --------------------------------------------------------------------------------------------
# The test


@pytest.fixture
def admin_url() -> str:
    url = os.environ.get("FINOPS_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("FINOPS_TEST_POSTGRES_URL is not set: this test needs a PostgreSQL server for the Dagster "
                    "instance and the warehouse (CI sets it in .ci/run; locally e.g. "
                    "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres)")
    return postgres_admin_url(url)


def test_ui_backfill_on_a_postgres_dagster_instance(tmp_path, admin_url, monkeypatch):
    from dagster import DagsterInstance
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresRunStorage

    defs = code_location()

    start = time.monotonic()
    phases: list[str] = []

    def phase(name: str) -> None:
        phases.append(f"{name} {time.monotonic() - start:.0f}s")

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")  # unchanged: whatever the deployment uses
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator", config.get("run_coordinator")
    assert "postgres" in config["storage"], config.get("storage")
    grpc_port, web_port = free_port(), free_port()
    location = _write_workspace(home / "workspace.yaml", grpc_port)
    data, direct = tmp_path / "data", tmp_path / "direct"
    _copy_sample(data, MONTHS)
    _copy_sample(direct, MONTHS)  # its own copy: the direct run shares no scan cache with the deployment
    direct_url = f"sqlite:///{tmp_path / 'direct.db'}"
    months_args = ["--from", MONTHS[0], "--to", MONTHS[-1], "--quiet"]

    with scratch_databases(admin_url, "dagster", "warehouse") as dbs:
        warehouse_url = dbs["warehouse"]
        env = _service_env(home, dbs["dagster"], data, warehouse_url)
        for var in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
            monkeypatch.setenv(var, env[var])  # for the instance this process opens on the same dagster.yaml
        deployment = Deployment(home, env)
        gql = GraphQL(f"http://127.0.0.1:{web_port}")
        try:
            # Opening the instance here creates Dagster's tables once, before three processes race to.
            with DagsterInstance.from_config(str(home)) as instance, deployment:
                assert isinstance(instance.run_coordinator, QueuedRunCoordinator), type(instance.run_coordinator)
                assert isinstance(instance.run_storage, PostgresRunStorage), type(instance.run_storage)
                deployment.start("code_server", [str(BIN / "dagster"), "api", "grpc", "-h", "127.0.0.1",
                                                 "-p", str(grpc_port), "-m", "finops_pipeline.definitions",
                                                 "--location-name", "finops_pipeline"])
                # While the code server and the webserver start: the months loaded into the deployment's
                # warehouse, as an operator would, so that the landing sensor has nothing to load.
                with ThreadPoolExecutor(max_workers=1) as pool:
                    preload = pool.submit(main, ["run", "--data-dir", str(data), "--warehouse-url", warehouse_url,
                                                 *months_args])
                    wait_for("the code server", lambda: _code_server_serving(grpc_port), START_TIMEOUT, deployment)
                    deployment.start("webserver", [str(BIN / "dagster-webserver"), "-h", "127.0.0.1",
                                                   "-p", str(web_port), "-w", "workspace.yaml"])
                    loaded = wait_for("the webserver and its code location", lambda: _location_loaded(gql, location),
                                      START_TIMEOUT, deployment)
                    phase("code server and webserver up")
                    assert preload.result(timeout=START_TIMEOUT) == 0
                loaded_before = _loaded_at(warehouse_url)
                assert sorted(loaded_before) == MONTHS
                phase("warehouse loaded")
                repo = {"repositoryLocationName": location, "repositoryName": loaded["repositories"][0]["name"]}

                # What the UI sends when a range is selected on the job's page and backfilled.
                assets = gql(JOB_ASSETS, job={"pipelineName": JOB, **repo})["assetNodes"]
                assert assets, f"{JOB} has no assets in the UI"
                params = {"selector": {"partitionSetName": f"{JOB}_partition_set", "repositorySelector": repo},
                          "assetSelection": [a["assetKey"] for a in assets], "partitionNames": MONTHS,
                          "fromFailure": False, "tags": []}
                launched = gql(LAUNCH_BACKFILL, params=params)["launchPartitionBackfill"]
                assert launched["__typename"] == "LaunchBackfillSuccess", launched
                backfill_id = launched["backfillId"]
                assert _backfill(gql, backfill_id)["status"] == "REQUESTED"  # nothing submits it but the daemon
                # Started after the backfill exists, so that its first backfill iteration submits it.
                deployment.start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"])

                def backfill_runs_finished():
                    b = _backfill(gql, backfill_id)
                    return b if b["runs"] and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in b["runs"]) else None

                backfill = wait_for(f"the runs of backfill {backfill_id}", backfill_runs_finished, BACKFILL_TIMEOUT,
                                    deployment, every=1.0)
                phase("backfill run finished")
                run = _check_backfill_run(gql, backfill, backfill_id)
                # Nothing else ran: the landing sensor found every month loaded, the nightly is hours away.
                # (A weekly digest run could start if the test spans Monday 08:00 UTC; it writes only the outbox.)
                all_runs = gql(RUNS)["runsOrError"]["results"]
                assert [r["runId"] for r in all_runs if r["jobName"] != "weekly_digest_job"] == [run["runId"]], all_runs
                _check_run_storage(instance, dbs["dagster"], run["runId"], backfill_id)
                _check_instance(gql, config)
                sensors = wait_for("a first tick of every running sensor", lambda: _running_sensors_ticked(gql, repo),
                                   START_TIMEOUT, deployment, every=1.0)
                _check_instigators(sensors, _instigators(gql, repo)[1], defs, env["FINOPS_NIGHTLY_CRON"])

                # While the daemon gets round to marking the backfill complete (its backfill iteration
                # runs every 30 s): the reference result, a direct run into a separate SQLite warehouse.
                assert main(["run", "--data-dir", str(direct), "--warehouse-url", direct_url, *months_args]) == 0
                _check_warehouse(warehouse_url, direct_url, loaded_before)
                phase("direct run and warehouse compared")
                backfill = wait_for(f"backfill {backfill_id} to be marked complete",
                                    lambda: (b := _backfill(gql, backfill_id))["status"] != "REQUESTED" and b,
                                    BACKFILL_TIMEOUT, deployment, every=1.0)
                assert backfill["status"] == "COMPLETED_SUCCESS", (backfill["status"], backfill["error"])
                assert backfill["partitionNames"] == MONTHS, backfill
                phase("backfill complete")

            phase("deployment stopped")
            # Each process ended on SIGTERM, with nothing left behind in its process group.
            report = deployment.stop_report
            assert len(report) == 3 and all("exited on SIGTERM" in line for line in report), report
            print(f"phases: {', '.join(phases)}")
        except BaseException:
            deployment.stop()
            print(f"phases: {', '.join(phases)}")
            print(f"process shutdown: {deployment.stop_report}")
            print(deployment.log_tails())
            raise
