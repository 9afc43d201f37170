"""The read API as it is deployed: a real `finops api` process (uvicorn) over a warehouse built by
the monthly job, spoken to over HTTP with httpx, tokens made by the `finops api-token` CLI.

Per backend (SQLite always; PostgreSQL when FINOPS_TEST_POSTGRES_URL is set): every endpoint
answers an admin token, CSV, 401 (no / bad / revoked-while-running token), 403 (a viewer
acknowledging), scoped tokens seeing only their projects, and reads running concurrently with a
re-materialization of the same warehouse seeing each month before or after the run, never a mix.

The server is always terminated; its log is printed when a test fails."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert, text

from finops_pipeline.cli import main as finops_main
from finops_pipeline.warehouse import schema
from finops_pipeline.warehouse.engine import make_engine
from tests import conftest
from tests.helpers import FOCUS_HEADER, focus_row, run_job, table_totals, visible_projects, write_csv

REPO = Path(__file__).resolve().parents[1]
MONTHS = ("2024-09", "2024-10")
BUDGETS = "project,month,amount\ncheckout,2024-09,100\ncheckout,2024-10,50\nsearch,2024-10,500\n"
SEARCH_ANOMALY, CHECKOUT_ANOMALY = "b0000000000000000001", "b0000000000000000002"
# Added to the landing folder before the re-run of the concurrency test: both months change.
EXTRA_USD = {"2024-09": 1000.0, "2024-10": 2000.0}
CENT = 0.0051
STARTUP_SECONDS = 90
COSTS_BY_MONTH = {"group_by": "month,project", "from": MONTHS[0], "to": MONTHS[-1], "limit": 10000}


@dataclass
class Live:
    backend: str
    base_url: str
    warehouse_url: str
    data_dir: Path
    env: dict[str, str]
    tokens: dict[str, str]
    process: subprocess.Popen
    log_path: Path
    client: httpx.Client
    engine: object

    def get(self, path: str, token: str | None = "admin", **params) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        return self.client.get(f"/api/v1{path}", params=params, headers=headers)

    def ok(self, path: str, token: str = "admin", **params) -> dict:
        response = self.get(path, token, **params)
        assert response.status_code == 200, (path, params, response.status_code, response.text)
        return response.json()

    def post_ack(self, anomaly_id: str, token: str, note: str | None = None) -> httpx.Response:
        return self.client.post(f"/api/v1/anomalies/{anomaly_id}/acknowledge", json={"note": note} if note else None,
                                headers={"Authorization": f"Bearer {self.tokens[token]}"})

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """`finops <args>` as a separate process, with the server's FINOPS_* environment."""
        return subprocess.run([sys.executable, "-m", "finops_pipeline.cli", *args], env=self.env, cwd=REPO,
                              capture_output=True, text=True, timeout=180)

    def sql(self, query: str, **params) -> list:
        with self.engine.connect() as conn:
            return conn.execute(text(query), params).all()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else "<no log>"


# --- the server ---------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def _start_server(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, str]:
    """`finops api --host 127.0.0.1 --port <free port>`, once /health answers 200 (a port taken
    between choosing and binding it is retried)."""
    for _attempt in range(3):
        port = _free_port()
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "finops_pipeline.cli", "api", "--host", "127.0.0.1", "--port", str(port)],
                env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_SECONDS
        try:
            while time.monotonic() < deadline and process.poll() is None:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base_url}/health", timeout=5).status_code == 200:
                        return process, base_url
                time.sleep(0.25)
        except BaseException:
            _stop(process)
            raise
        _stop(process)
        if "address already in use" not in log_path.read_text(errors="replace").lower():
            break
    pytest.fail(f"`finops api` did not answer /health with 200 within {STARTUP_SECONDS}s; its log:\n"
                f"{log_path.read_text(errors='replace')}")


def _plant_anomalies(engine) -> None:
    """Two open monthly anomalies, one per project (the small landing folder has none of its own)."""
    now = datetime.now(timezone.utc)
    rows = [(SEARCH_ANOMALY, "search", "discovery"), (CHECKOUT_ANOMALY, "checkout", "payments")]
    with engine.begin() as conn:
        for anomaly_id, project, team in rows:
            conn.execute(insert(schema.fct_cost_anomalies).values(
                anomaly_id=anomaly_id, grain="monthly", period_start=date(2024, 10, 1), project=project, team=team,
                service_name=None, reporting_currency="USD", actual_cost=900.0, expected_cost=300.0, impact=600.0,
                impact_pct=200.0, score=0.9, severity="high", methods="month_over_month", root_cause="[]", status="open",
                status_note=None, first_seen=now, last_seen=now))


def _cli_token(*args: str) -> str:
    """`finops api-token create ...` in process (the token is the last line it prints)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert finops_main(["api-token", "create", *args]) == 0
    return out.getvalue().strip().splitlines()[-1]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(request, tmp_path_factory):
    backend = request.param
    root = tmp_path_factory.mktemp(f"live_{backend}")
    with contextlib.ExitStack() as stack:
        if backend == "postgres":  # a fresh database, dropped afterwards (skips when the variable is unset)
            warehouse_url = stack.enter_context(conftest.postgres_database())
        else:
            warehouse_url = f"sqlite:///{root / 'warehouse.db'}"
        data_dir = conftest.data_dir.__wrapped__(root)  # the shared fixture's landing folder (2024-09, 2024-10)
        (data_dir / "reference" / "budgets.csv").write_text(BUDGETS)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FINOPS_") and k != "DAGSTER_HOME"}
        env.update(FINOPS_DATA_DIR=str(data_dir), FINOPS_WAREHOUSE_URL=warehouse_url, PYTHONUNBUFFERED="1")

        with pytest.MonkeyPatch.context() as mp:  # module fixtures run before the per-test env isolation
            for var in [v for v in os.environ if v.startswith("FINOPS_") or v == "DAGSTER_HOME"]:
                mp.delenv(var)
            mp.setenv("FINOPS_DATA_DIR", str(data_dir))
            mp.setenv("FINOPS_WAREHOUSE_URL", warehouse_url)
            assert run_job(data_dir, warehouse_url, MONTHS[0], MONTHS[-1]).success
            engine = make_engine(warehouse_url)
            stack.callback(engine.dispose)
            _plant_anomalies(engine)
            tokens = {
                "viewer": _cli_token("--name", "live-viewer", "--role", "viewer"),
                "analyst": _cli_token("--name", "live-analyst", "--role", "analyst"),
                "search": _cli_token("--name", "live-search", "--role", "viewer", "--projects", "search"),
                "search_analyst": _cli_token("--name", "live-search-analyst", "--role", "analyst", "--projects", "search"),
                "payments": _cli_token("--name", "live-payments", "--role", "viewer", "--teams", "payments"),
                "doomed": _cli_token("--name", "live-doomed", "--role", "viewer"),
            }
        # one token through the real command line too
        created = subprocess.run([sys.executable, "-m", "finops_pipeline.cli", "api-token", "create", "--name", "live-admin",
                                  "--role", "admin"], env=env, cwd=REPO, capture_output=True, text=True, timeout=180)
        assert created.returncode == 0, created.stderr
        tokens["admin"] = created.stdout.strip().splitlines()[-1]
        assert all(t.startswith("fo_") for t in tokens.values()), tokens

        log_path = root / "finops-api.log"
        process, base_url = _start_server(env, log_path)
        stack.callback(_stop, process)
        client = stack.enter_context(httpx.Client(base_url=base_url, timeout=60))
        live = Live(backend, base_url, warehouse_url, data_dir, env, tokens, process, log_path, client, engine)
        yield live
        if process.poll() is not None:  # it must still be serving after every test
            sys.__stderr__.write(f"\n`finops api` ({backend}) exited early with {process.returncode}; its log:\n{live.log()}\n")
            pytest.fail(f"`finops api` exited early with {process.returncode}")


@pytest.fixture(autouse=True)
def _server_log_on_failure(request, live):
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed:
        sys.__stderr__.write(f"\n----- `finops api` log ({live.backend}, {live.base_url}) -----\n{live.log()}\n----- end of log -----\n")


# --- every endpoint, JSON and CSV ---------------------------------------------------------------------

ENDPOINTS = [
    ("/kpis", {}), ("/kpis", {"month": "2024-09"}), ("/costs", {}), ("/costs", {"grain": "daily", "group_by": "project,region"}),
    ("/costs", {"group_by": "month,sub_account_id", "metric": "chargeback_cost"}), ("/heatmap", {}), ("/heatmap", {"year": 2024}),
    ("/budgets", {}), ("/budgets", {"year": 2024}), ("/forecasts", {}), ("/forecasts", {"level": "project"}),
    ("/anomalies", {}), ("/anomalies", {"severity": "high", "from": "2024-10"}), ("/drivers", {}),
    ("/drivers", {"dimension": "service_name", "month": "2024-10"}), ("/projects", {}), ("/health", {}),
]


def test_every_endpoint_answers_an_admin_token(live):
    for path in ("/health", "/api/v1/health"):
        response = live.client.get(path)  # no token needed
        assert response.status_code == 200 and response.json()["status"] == "ok", response.text
        assert response.json()["data"]["latest_billing_month"] == "2024-10"
    spec = live.client.get("/openapi.json")
    assert spec.status_code == 200 and "/api/v1/costs" in spec.json()["paths"]
    assert live.client.get("/docs").status_code == 200
    for path, params in ENDPOINTS:
        response = live.get(path, **params)
        assert response.status_code == 200, (path, params, response.text)
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["cache-control"] == "no-store"

    # the figures are the warehouse's
    months = {r["month"]: r["cost"] for r in live.ok("/costs")["rows"]}
    assert months == pytest.approx(conftest.EXPECTED_EFFECTIVE_USD, abs=CENT)
    assert live.ok("/kpis")["total_cost"] == pytest.approx(conftest.EXPECTED_EFFECTIVE_USD["2024-10"], abs=CENT)
    assert {r["project"] for r in live.ok("/projects")["rows"]} == {"checkout", "search", "unallocated"}
    assert {r["anomaly_id"] for r in live.ok("/anomalies")["rows"]} >= {SEARCH_ANOMALY, CHECKOUT_ANOMALY}

    # ... and the one write: an admin acknowledges
    response = live.post_ack(CHECKOUT_ANOMALY, "admin", "planned")
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["status_note"]) == ("acknowledged", "planned")
    assert CHECKOUT_ANOMALY in {r["anomaly_id"] for r in live.ok("/anomalies", status="acknowledged")["rows"]}
    assert live.sql("SELECT updated_by, note FROM anomaly_feedback WHERE anomaly_id = :a", a=CHECKOUT_ANOMALY)[-1] == \
        ("live-admin", "planned")


def _csv(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(response.text)))


@pytest.mark.parametrize("path, params, first_columns", [
    ("/costs", {"group_by": "project,month"}, ["project", "month", "effective_cost"]),
    ("/heatmap", {"year": 2024}, ["project", "team", "2024-01"]),
    ("/budgets", {"year": 2024}, ["month", "project", "team"]),
    ("/forecasts", {}, ["level", "project", "month"]),
    ("/anomalies", {}, ["anomaly_id", "grain", "period_start"]),
    ("/drivers", {"dimension": "project"}, ["member", "previous_cost", "current_cost"]),
    ("/projects", {}, ["project", "code", "owner"]),
])
def test_csv_of_every_tabular_endpoint(live, path, params, first_columns):
    rows = _csv(live.get(path, format="csv", **params))
    assert rows, (path, "no rows")
    assert list(rows[0])[:len(first_columns)] == first_columns


def test_csv_values_and_paging_headers(live):
    rows = _csv(live.get("/costs", group_by="project,month", format="csv"))
    as_json = live.ok("/costs", group_by="project,month")["rows"]
    assert [(r["project"], r["month"], float(r["effective_cost"])) for r in rows] == \
        [(r["project"], r["month"], r["cost"]) for r in as_json]
    # CSV pages through the X-Next-Cursor / Link headers
    seen, url, params = [], "/api/v1/costs", {"grain": "daily", "group_by": "project", "limit": 2, "format": "csv"}
    headers = {"Authorization": f"Bearer {live.tokens['admin']}"}
    while True:
        response = live.client.get(url, params=params, headers=headers)
        seen += [tuple(r.values()) for r in _csv(response)]
        if "x-next-cursor" not in response.headers:
            assert "link" not in response.headers
            break
        assert response.headers["link"].endswith('>; rel="next"')
        url, params = response.headers["link"][1:-len('>; rel="next"')], None  # follow the Link as it is
    everything = _csv(live.get("/costs", grain="daily", group_by="project", format="csv", limit=10000))
    assert seen == [tuple(r.values()) for r in everything] and len(seen) > 2


# --- 401, 403 ------------------------------------------------------------------------------------------

def test_requests_without_a_valid_token_are_401(live):
    token_id = live.tokens["admin"].split(".")[0]
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": f"Bearer {token_id}.{'x' * 43}"},
                    {"Authorization": f"Bearer fo_000000000000.{'x' * 43}"}, {"Authorization": "Basic YWRtaW46YWRtaW4="}):
        for path in ("/api/v1/costs", "/api/v1/kpis", "/api/v1/projects"):
            response = live.client.get(path, headers=headers)
            assert response.status_code == 401, (headers, path, response.text)
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"].startswith("Bearer")
        response = live.client.post(f"/api/v1/anomalies/{SEARCH_ANOMALY}/acknowledge", headers=headers)
        assert response.status_code == 401, (headers, response.text)


def test_a_token_revoked_with_the_cli_while_the_server_runs_is_401_at_the_next_request(live):
    assert live.get("/projects", "doomed").status_code == 200
    revoked = live.cli("api-token", "revoke", "live-doomed")
    assert revoked.returncode == 0, revoked.stderr
    assert "Revoked token" in revoked.stdout
    response = live.get("/projects", "doomed")
    assert response.status_code == 401, response.text
    assert "revoked" in response.json()["error"]["message"]
    assert live.get("/projects", "viewer").status_code == 200  # the others are untouched


def test_a_malformed_acknowledge_body_without_a_token_is_still_401(live):
    for body in (b"{not json", b"\xff"):
        response = live.client.post(f"/api/v1/anomalies/{SEARCH_ANOMALY}/acknowledge", content=body,
                                    headers={"Content-Type": "application/json"})
        assert response.status_code == 401, (body, response.status_code, response.text)


def test_an_acknowledge_body_that_is_not_utf8_is_a_422_validation_error(live):
    response = live.client.post(f"/api/v1/anomalies/{SEARCH_ANOMALY}/acknowledge", content=b'{"note": "\xff"}',
                                headers={"Authorization": f"Bearer {live.tokens['analyst']}", "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error" and response.json()["error"]["parameter"] == "body"


def test_a_viewer_may_not_acknowledge_403(live):
    def status() -> str:
        return next(r["status"] for r in live.ok("/anomalies")["rows"] if r["anomaly_id"] == SEARCH_ANOMALY)

    before = status()
    for token in ("viewer", "search", "payments"):
        response = live.post_ack(SEARCH_ANOMALY, token, "expected")
        assert response.status_code == 403, (token, response.text)
        assert response.json()["error"]["code"] == "forbidden"
    assert status() == before
    assert live.sql("SELECT COUNT(*) FROM anomaly_feedback WHERE anomaly_id = :a", a=SEARCH_ANOMALY)[0][0] == 0
    # an analyst scoped to search: another project's anomaly does not exist for it, its own does
    assert live.post_ack(CHECKOUT_ANOMALY, "search_analyst", "expected").status_code == 404
    response = live.post_ack(SEARCH_ANOMALY, "search_analyst", "expected")
    assert response.status_code == 200, response.text
    assert live.sql("SELECT updated_by FROM anomaly_feedback WHERE anomaly_id = :a", a=SEARCH_ANOMALY)[0][0] == "live-search-analyst"


# --- scopes --------------------------------------------------------------------------------------------

def _visible_projects(live: Live, token: str) -> set:
    """visible_projects of the JSON answers, and of the CSV ones."""
    seen = visible_projects(live, token, [{"group_by": "project"}, {"group_by": "project,team,service_name,provider,region,sub_account_id"},
                                          {"grain": "daily", "group_by": "project"}])
    seen |= {r["project"] for r in _csv(live.get("/costs", token, group_by="project", format="csv"))}
    seen |= {r["project"] for r in _csv(live.get("/projects", token, format="csv"))}
    return seen


@pytest.mark.parametrize("token, allowed, other", [("search", "search", "checkout"), ("payments", "checkout", "search")])
def test_scoped_tokens_see_only_their_projects(live, token, allowed, other):
    assert _visible_projects(live, token) == {allowed}
    assert _visible_projects(live, "admin") == {"checkout", "search", "unallocated"}
    assert live.ok("/costs", token, project=other)["rows"] == []
    assert live.ok("/anomalies", token, project=other)["rows"] == []
    expected = {m: v for m, v in live.sql("SELECT billing_month, SUM(effective_cost) FROM fct_costs_monthly WHERE project = :p "
                                          "GROUP BY billing_month", p=allowed)}
    assert {r["month"]: r["cost"] for r in live.ok("/costs", token)["rows"]} == pytest.approx(expected, abs=CENT)
    assert live.ok("/costs", token, group_by="")["rows"][0]["cost"] == pytest.approx(sum(expected.values()), abs=CENT)
    kpis = live.ok("/kpis", token, month="2024-10")
    assert kpis["scope"] == "projects" and kpis["total_cost"] == pytest.approx(expected["2024-10"], abs=CENT)


# --- concurrent reads during a re-materialization (last: it changes the data) --------------------------

@dataclass
class Read:
    started: float
    ended: float
    status: int
    totals: dict[str, float] | None
    detail: str = ""


def _month_totals(client: httpx.Client, token: str) -> Read:
    started = time.monotonic()
    try:
        response = client.get("/api/v1/costs", params=COSTS_BY_MONTH, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        return Read(started, time.monotonic(), -1, None, repr(exc))
    ended = time.monotonic()
    if response.status_code != 200:
        return Read(started, ended, response.status_code, None, response.text[:300])
    totals: dict[str, float] = {}
    for row in response.json()["rows"]:
        totals[row["month"]] = totals.get(row["month"], 0.0) + row["cost"]
    return Read(started, ended, 200, totals)


def test_concurrent_reads_during_a_rerun_see_each_month_before_or_after_never_a_mix(live):
    old = _month_totals(live.client, live.tokens["admin"]).totals
    assert old == pytest.approx(conftest.EXPECTED_EFFECTIVE_USD, abs=0.03)
    # the re-run changes both months: one more AWS file, for projects of each month
    write_csv(live.data_dir / "landing" / "billing" / "aws" / "focus_more.csv", FOCUS_HEADER, [
        focus_row("2024-09-20 00:00:00", EXTRA_USD["2024-09"], tags='{"project": "search"}'),
        focus_row("2024-10-05 00:00:00", EXTRA_USD["2024-10"] / 2, tags='{"project": "checkout"}', period="2024-10-01 00:00:00"),
        focus_row("2024-10-06 00:00:00", EXTRA_USD["2024-10"] / 2, tags='{"project": "search"}', period="2024-10-01 00:00:00"),
    ])

    reads: list[Read] = []
    lock, stop = threading.Lock(), threading.Event()
    rerun: dict = {}

    def hammer() -> None:
        with httpx.Client(base_url=live.base_url, timeout=120) as client:
            while not stop.is_set():
                read = _month_totals(client, live.tokens["viewer"])
                with lock:
                    reads.append(read)

    def materialize() -> None:
        rerun["started"] = time.monotonic()
        try:
            rerun["success"] = run_job(live.data_dir, live.warehouse_url, MONTHS[0], MONTHS[-1]).success
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            rerun["error"] = repr(exc)
        finally:
            rerun["ended"] = time.monotonic()

    readers = [threading.Thread(target=hammer, name=f"reader-{i}") for i in range(4)]
    writer = threading.Thread(target=materialize, name="rerun")
    for thread in readers:
        thread.start()
    time.sleep(0.5)
    writer.start()
    writer.join(timeout=600)
    time.sleep(1.0)  # a few reads after the run too
    stop.set()
    for thread in readers:
        thread.join(timeout=180)
    assert not writer.is_alive() and not any(t.is_alive() for t in readers), "the re-run or a reader hung"
    assert rerun.get("success") is True, rerun

    new = _month_totals(live.client, live.tokens["admin"]).totals
    assert new == pytest.approx({m: old[m] + EXTRA_USD[m] for m in MONTHS}, abs=0.03)
    assert new == pytest.approx(table_totals(live.warehouse_url, "fct_costs_monthly"), abs=0.03)

    failed = [r for r in reads if r.status != 200]
    assert not failed, f"{len(failed)} of {len(reads)} reads failed during the re-run, e.g. {failed[:3]}"
    during = [r for r in reads if r.started >= rerun["started"] and r.ended <= rerun["ended"]]
    assert len(during) >= 10, f"only {len(during)} reads ran during the re-run ({rerun['ended'] - rerun['started']:.1f}s)"

    def state(read: Read, month: str) -> str | None:
        if month in read.totals and abs(read.totals[month] - old[month]) <= 1e-6:
            return "before"
        if month in read.totals and abs(read.totals[month] - new[month]) <= 1e-6:
            return "after"
        return None  # a partial sum, or the month missing

    mixed = [r.totals for r in reads if set(r.totals) != set(MONTHS) or any(state(r, m) is None for m in MONTHS)]
    assert not mixed, f"{len(mixed)} of {len(reads)} reads saw a month that is neither before ({old}) nor after ({new}): {mixed[:5]}"
    for month in MONTHS:  # both states were seen: the reads did overlap the replacement
        assert {state(r, month) for r in reads} == {"before", "after"}, month
