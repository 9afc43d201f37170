"""The read API (finops_pipeline.api) through FastAPI's TestClient, on a warehouse built once per
module by the monthly job from the `data_dir` fixture's landing folder, plus the steady AWS file
with a planted spike of tests.helpers.add_spiked_billing (so there are real anomalies) and a
budgets.csv. Every figure the API returns is checked against the warehouse tables themselves."""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text, update

from finops_pipeline.api import create_app
from finops_pipeline.api.auth import create_token, revoke_token
from finops_pipeline.settings import load_settings
from finops_pipeline.warehouse import schema
from finops_pipeline.warehouse.engine import make_engine
from tests import conftest
from tests.helpers import add_spiked_billing, run_job, visible_projects

with warnings.catch_warnings():  # starlette asks for httpx2; the locked httpx works (no new dependency)
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

MONTHS = ("2024-08", "2024-09", "2024-10")
BUDGETS = "project,month,amount\ncheckout,2024-09,30000\ncheckout,2024-10,20000\nsearch,2024-10,5000\n"
SEARCH_ANOMALY = "a0000000000000000001"  # a planted monthly anomaly of `search` (the spike is `checkout`'s)
CENT = 0.0051


@dataclasses.dataclass
class Api:
    client: TestClient
    url: str
    engine: object
    data_dir: Path
    tokens: dict[str, str]

    def get(self, path: str, token: str | None = "admin", **params):
        headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        return self.client.get(f"/api/v1{path}", params=params, headers=headers)

    def ok(self, path: str, token: str = "admin", **params):
        response = self.get(path, token, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def sql(self, query: str, **params) -> list:
        with self.engine.connect() as conn:
            return conn.execute(text(query), params).all()


def _build(root: Path, url: str) -> Path:
    data_dir = conftest.data_dir.__wrapped__(root)  # the shared fixture's files, built once for the module
    add_spiked_billing(data_dir)
    (data_dir / "reference" / "budgets.csv").write_text(BUDGETS)
    result = run_job(data_dir, url, MONTHS[0], MONTHS[-1])
    assert result.success
    return data_dir


def _plant_search_anomaly(engine) -> None:
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        conn.execute(insert(schema.fct_cost_anomalies).values(
            anomaly_id=SEARCH_ANOMALY, grain="monthly", period_start=datetime(2024, 9, 1).date(), project="search",
            team="discovery", service_name=None, reporting_currency="USD", actual_cost=10703.05, expected_cost=8000.0,
            impact=2703.05, impact_pct=33.79, score=0.5, severity="low", methods="month_over_month", root_cause="[]",
            status="open", status_note=None, first_seen=now, last_seen=now))


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> Api:
    root = tmp_path_factory.mktemp("api")
    url = f"sqlite:///{root / 'warehouse.db'}"
    with pytest.MonkeyPatch.context() as mp:  # the module is built before the per-test env isolation runs
        for var in [v for v in __import__("os").environ if v.startswith("FINOPS_") and v != "FINOPS_TEST_POSTGRES_URL"]:
            mp.delenv(var)
        data_dir = _build(root, url)
        settings = load_settings(data_dir=str(data_dir), warehouse_url=url)
    engine = make_engine(url)
    _plant_search_anomaly(engine)
    tokens = {
        "admin": create_token(engine, "admin", "admin")[0],
        "viewer": create_token(engine, "viewer", "viewer")[0],
        "analyst": create_token(engine, "ann@example.com", "analyst")[0],
        "search": create_token(engine, "search-only", "viewer", projects=["search"])[0],
        "search_analyst": create_token(engine, "search-analyst", "analyst", projects=["search"])[0],
        "payments": create_token(engine, "payments-team", "viewer", teams=["payments"])[0],
        "everything": create_token(engine, "all-projects", "viewer", projects=["checkout", "search", "unallocated"])[0],
        "revoked": create_token(engine, "gone", "viewer")[0],
    }
    revoke_token(engine, "gone")
    with TestClient(create_app(settings)) as client:
        yield Api(client, url, engine, data_dir, tokens)
    engine.dispose()


def _csv(response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


# --- health, OpenAPI --------------------------------------------------------------------------------

def test_health_needs_no_token_and_reports_freshness(api):
    for path in ("/health", "/api/v1/health"):
        body = api.client.get(path).json()
        assert body["status"] == "ok" and body["warehouse"] == "reachable"
        tables = {t["table"]: t for t in body["tables"]}
        assert {"fct_costs_daily", "fct_costs_monthly", "fct_kpis_monthly", "fct_cost_forecasts", "fct_cost_anomalies",
                "fct_cost_drivers", "fct_budget_vs_actual", "dim_projects"} <= set(tables)
        assert all(tables[t]["last_materialized_at"] for t in ("fct_costs_daily", "fct_cost_forecasts", "fct_cost_anomalies"))
        assert body["data"] == {"first_billing_month": "2024-08", "latest_billing_month": "2024-10",
                                "latest_charge_date": "2024-10-17"}


def test_health_is_a_503_with_a_message_when_the_warehouse_is_down_or_empty(tmp_path):
    down = create_app(load_settings(data_dir=str(tmp_path), warehouse_url="postgresql://nobody@127.0.0.1:1/none"))
    with TestClient(down) as client:
        response = client.get("/health")
        assert response.status_code == 503 and response.json()["status"] == "unavailable"
        assert response.json()["warehouse"] == "unreachable" and "unreachable" in response.json()["message"]
        data = client.get("/api/v1/kpis", headers={"Authorization": "Bearer fo_000000000000." + "x" * 43})
        assert data.status_code == 503 and data.json()["error"]["code"] == "warehouse_unavailable"
    empty = create_app(load_settings(data_dir=str(tmp_path), warehouse_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    with TestClient(empty) as client:
        response = client.get("/health")
        assert response.status_code == 503 and "finops run" in response.json()["message"]


def test_openapi_documents_every_endpoint_with_bearer_auth_and_the_error_shape(api):
    spec = api.client.get("/openapi.json").json()
    for path in ("/health", "/api/v1/kpis", "/api/v1/costs", "/api/v1/heatmap", "/api/v1/budgets", "/api/v1/forecasts",
                 "/api/v1/anomalies", "/api/v1/anomalies/{anomaly_id}/acknowledge", "/api/v1/drivers", "/api/v1/projects"):
        assert path in spec["paths"], path
    costs = spec["paths"]["/api/v1/costs"]["get"]
    assert costs["security"] == [{"HTTPBearer": []}]
    assert set(costs["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert costs["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    for paged in ("/api/v1/costs", "/api/v1/anomalies"):  # how CSV clients page
        assert set(spec["paths"][paged]["get"]["responses"]["200"]["headers"]) == {"X-Next-Cursor", "Link"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert api.client.get("/docs").status_code == 200


# --- KPIs -------------------------------------------------------------------------------------------

def test_kpis_are_the_organisation_row_and_the_total_forecast(api):
    latest = api.ok("/kpis")
    assert latest["month"] == "2024-10" and latest["scope"] == "organisation"
    for month in MONTHS:
        body = api.ok("/kpis", month=month)
        (row,) = api.sql("SELECT total_cost, previous_month_cost, change_pct, avg_monthly_cost_12m, top_project, "
                         "projects_with_spend FROM fct_kpis_monthly WHERE scope = 'organisation' AND billing_month = :m", m=month)
        assert body["total_cost"] == round(row[0], 2) and body["top_project"] == row[4]
        assert body["previous_month_cost"] == (None if row[1] is None else round(row[1], 2))
        assert body["avg_monthly_cost_12m"] == round(row[3], 2) and body["projects_with_spend"] == row[5]
    (forecast,) = api.sql("SELECT forecast FROM fct_cost_forecasts WHERE level = 'total' AND month = '2024-11'")
    assert latest["next_month"] == "2024-11" and latest["next_month_forecast"] == round(forecast[0], 2)
    assert api.get("/kpis", month="2023-01").status_code == 404


def test_scoped_kpis_computed_over_every_project_equal_the_organisation_row(api):
    for month in MONTHS:
        org, scoped = api.ok("/kpis", month=month), api.ok("/kpis", "everything", month=month)
        assert scoped["scope"] == "projects" and scoped["projects"] == ["checkout", "search", "unallocated"]
        for key in ("total_cost", "chargeback_cost", "previous_month_cost", "change_abs", "avg_monthly_cost_12m",
                    "top_project", "top_project_cost", "projects_with_spend", "change_pct"):
            assert scoped[key] == pytest.approx(org[key], abs=0.011), (month, key)
    (forecast,) = api.sql("SELECT SUM(forecast) FROM fct_cost_forecasts WHERE level = 'project' AND month = '2024-11'")
    assert api.ok("/kpis", "everything")["next_month_forecast"] == pytest.approx(forecast[0], abs=CENT)


# --- costs ------------------------------------------------------------------------------------------

def _sums(api, query: str, **params) -> dict:
    return {tuple(r[:-1]): r[-1] for r in api.sql(query, **params)}


def test_costs_monthly_totals_and_groupings_match_the_marts(api):
    body = api.ok("/costs")
    assert body["grain"] == "monthly" and body["group_by"] == ["month"] and body["source_table"] == "fct_costs_monthly"
    expected = _sums(api, "SELECT billing_month, SUM(effective_cost) FROM fct_costs_monthly GROUP BY 1")
    assert {(r["month"],): r["cost"] for r in body["rows"]} == pytest.approx(expected, abs=CENT)
    assert set(body["rows"][0]) == {"month", "cost"}  # only the keys of the grouping

    for metric in ("billed_cost", "chargeback_cost"):
        rows = api.ok("/costs", group_by="project,month", metric=metric)["rows"]
        expected = _sums(api, f"SELECT project, billing_month, SUM({metric}) FROM fct_costs_monthly GROUP BY 1, 2")
        assert {(r["project"], r["month"]): r["cost"] for r in rows} == pytest.approx(expected, abs=CENT)

    rows = api.ok("/costs", group_by=["team", "service_name"], **{"from": "2024-09", "to": "2024-09"})["rows"]
    expected = _sums(api, "SELECT team, service_name, SUM(effective_cost) FROM fct_costs_monthly "
                          "WHERE billing_month = '2024-09' GROUP BY 1, 2")
    assert {(r["team"], r["service_name"]): r["cost"] for r in rows} == pytest.approx(expected, abs=CENT)

    total = api.ok("/costs", group_by="")["rows"]
    (expected_total,) = api.sql("SELECT SUM(effective_cost) FROM fct_costs_monthly")
    assert len(total) == 1 and total[0]["cost"] == pytest.approx(expected_total[0], abs=CENT)


@pytest.mark.parametrize("param, value, column", [
    ("project", "search", "project"), ("team", "payments", "team"), ("service", "Amazon S3,Datadog", "service_name"),
    ("provider", "Microsoft", "provider"),
])
def test_costs_filters(api, param, value, column):
    rows = api.ok("/costs", group_by="month", **{param: value})["rows"]
    values = value.split(",")
    marks = ", ".join(f":v{i}" for i in range(len(values)))
    expected = _sums(api, f"SELECT billing_month, SUM(effective_cost) FROM fct_costs_monthly WHERE {column} IN ({marks}) GROUP BY 1",
                     **{f"v{i}": v for i, v in enumerate(values)})
    assert rows and {(r["month"],): r["cost"] for r in rows} == pytest.approx(expected, abs=CENT)


def test_costs_daily_grain_and_region_grouping_read_the_daily_table(api):
    body = api.ok("/costs", grain="daily", group_by="project", **{"from": "2024-10", "to": "2024-10"})
    assert body["source_table"] == "fct_costs_daily"
    expected = _sums(api, "SELECT charge_date, project, SUM(effective_cost) FROM fct_costs_daily "
                          "WHERE billing_month = '2024-10' GROUP BY 1, 2")
    assert {(r["date"], r["project"]): r["cost"] for r in body["rows"]} == pytest.approx(
        {(str(d), p): v for (d, p), v in expected.items()}, abs=CENT)

    body = api.ok("/costs", group_by="month,region,sub_account_id")  # monthly grain, keys only the daily table has
    assert body["grain"] == "monthly" and body["source_table"] == "fct_costs_daily"
    expected = _sums(api, "SELECT billing_month, region, sub_account_id, SUM(effective_cost) FROM fct_costs_daily GROUP BY 1, 2, 3")
    assert {(r["month"], r["region"], r["sub_account_id"]): r["cost"] for r in body["rows"]} == pytest.approx(expected, abs=CENT)


def test_costs_as_csv_has_a_header_and_the_json_values(api):
    rows = _csv(api.get("/costs", group_by="project,month", format="csv"))
    assert list(rows[0]) == ["project", "month", "effective_cost"]  # the keys in group_by order
    as_json = api.ok("/costs", group_by="project,month")["rows"]
    assert [(r["month"], r["project"], float(r["effective_cost"])) for r in rows] == \
        [(r["month"], r["project"], r["cost"]) for r in as_json]
    daily = _csv(api.get("/costs", grain="daily", format="csv", limit=5))
    assert list(daily[0]) == ["date", "effective_cost"] and daily[0]["date"] == "2024-08-01"


def _all_pages(api, token="admin", csv_format=False, **params) -> tuple[list, int]:
    rows, cursor, pages = [], None, 0
    while True:
        response = api.get("/costs", token, **params, **({"cursor": cursor} if cursor else {}),
                           **({"format": "csv"} if csv_format else {}))
        pages += 1
        if csv_format:
            rows += [tuple(r.values()) for r in _csv(response)]
            cursor = response.headers.get("X-Next-Cursor")
        else:
            assert response.status_code == 200, response.text
            body = response.json()
            rows += [tuple(r.values()) for r in body["rows"]]
            cursor = body["next_cursor"]
            assert (response.headers.get("X-Next-Cursor") == cursor) and (("rel=\"next\"" in response.headers.get("Link", "")) == bool(cursor))
        if not cursor:
            return rows, pages


@pytest.mark.parametrize("csv_format", [False, True])
def test_pagination_walks_every_row_once(api, csv_format):
    params = {"grain": "daily", "group_by": "project,service_name"}
    everything = [tuple(r.values()) for r in api.ok("/costs", limit=10000, **params)["rows"]]
    if csv_format:
        everything = [tuple(str(v) for v in r) for r in everything]
    paged, pages = _all_pages(api, csv_format=csv_format, limit=37, **params)
    assert pages == -(-len(everything) // 37) and pages > 3
    assert len(set(paged)) == len(paged) and paged == everything


def test_a_cursor_is_bound_to_its_parameters_and_cannot_be_altered(api):
    first = api.ok("/costs", grain="daily", limit=10)
    cursor = first["next_cursor"]
    assert api.get("/costs", grain="daily", limit=25, cursor=cursor).status_code == 200  # the page size may change
    for params in ({"grain": "daily", "project": "search"}, {"grain": "monthly"}):
        response = api.get("/costs", cursor=cursor, **params)
        assert response.status_code == 400 and response.json()["error"]["parameter"] == "cursor"
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    forged = base64.urlsafe_b64encode(raw.replace(":10:", ":0:").encode()).decode()
    for bad in (forged, "not-a-cursor", "%%%", "x" * 300):
        response = api.get("/costs", grain="daily", cursor=bad)
        assert response.status_code == 400 and response.json()["error"]["parameter"] == "cursor"


# --- heatmap, budgets, forecasts, drivers, projects -------------------------------------------------

def test_heatmap_is_project_by_month_and_adds_up(api):
    body = api.ok("/heatmap", year=2024)
    assert body["months"] == [f"2024-{m:02d}" for m in range(1, 13)]
    expected = _sums(api, "SELECT project, billing_month, SUM(effective_cost) FROM fct_costs_monthly GROUP BY 1, 2")
    for row in body["rows"]:
        for month, value in zip(body["months"], row["values"]):
            assert value == pytest.approx(expected.get((row["project"], month), 0.0), abs=CENT)
    assert [r["project"] for r in body["rows"]] == ["checkout", "search", "unallocated"]  # largest first
    assert body["total"] == pytest.approx(sum(expected.values()), abs=CENT)
    assert api.ok("/heatmap") == body  # default: the year of the latest month
    rows = _csv(api.get("/heatmap", year=2024, format="csv"))
    assert list(rows[0]) == ["project", "team", *body["months"], "total"] and rows[0]["project"] == "checkout"
    assert api.ok("/heatmap", year=2023)["rows"] == []


def test_budgets_by_month_year_and_status(api):
    latest = api.ok("/budgets")
    assert latest["months"] == ["2024-10"]
    statuses = {r["project"]: r["status"] for r in latest["rows"]}
    assert statuses == {p: s for p, s in api.sql("SELECT project, status FROM fct_budget_vs_actual WHERE billing_month = '2024-10'")}
    assert latest["total_budget"] == 25000.0
    year = api.ok("/budgets", year=2024)
    assert year["months"] == list(MONTHS) and len(year["rows"]) == api.sql("SELECT COUNT(*) FROM fct_budget_vs_actual")[0][0]
    over = api.ok("/budgets", year=2024, status="over")["rows"]
    assert over and {r["status"] for r in over} == {"over"}
    no_budget = api.ok("/budgets", month="2024-08", status="no_budget")["rows"]
    assert no_budget and all(r["budget"] is None and r["status"] is None for r in no_budget)
    assert {r["project"] for r in api.ok("/budgets", year=2024, project="search")["rows"]} == {"search"}
    rows = _csv(api.get("/budgets", month="2024-09", format="csv"))
    assert {"month", "project", "budget", "actual", "status"} <= set(rows[0]) and rows[0]["month"] == "2024-09"


def test_forecasts_levels_and_projects(api):
    body = api.ok("/forecasts")
    assert len(body["rows"]) == api.sql("SELECT COUNT(*) FROM fct_cost_forecasts")[0][0]
    assert body["rows"][0]["level"] == "total" and body["total_is_sum_of_projects"] is False
    assert {r["level"] for r in api.ok("/forecasts", level="total")["rows"]} == {"total"}
    rows = api.ok("/forecasts", project="search")["rows"]
    assert rows and {(r["level"], r["project"]) for r in rows} == {("project", "search")}
    assert all(r["lower_95"] <= r["lower_80"] <= r["forecast"] <= r["upper_80"] <= r["upper_95"] for r in rows)
    assert list(_csv(api.get("/forecasts", format="csv"))[0])[:3] == ["level", "project", "month"]


def test_drivers_from_the_table_and_recomputed_for_a_scoped_token_agree(api):
    for dimension in ("project", "service_name", "sub_account_id", "region", "provider"):
        for month in ("2024-09", "2024-10"):
            table = api.ok("/drivers", month=month, dimension=dimension)
            assert table["source"] == "fct_cost_drivers" and table["rows"]
            recomputed = api.ok("/drivers", "everything", month=month, dimension=dimension)
            assert recomputed["source"] == "fct_costs_daily"
            assert [(r["member"], r["rank"]) for r in recomputed["rows"]] == [(r["member"], r["rank"]) for r in table["rows"]]
            for mine, theirs in zip(recomputed["rows"], table["rows"]):
                assert mine["change"] == pytest.approx(theirs["change"], abs=0.011)
            (change,) = api.sql("SELECT SUM(change) FROM fct_cost_drivers WHERE billing_month = :m AND dimension = :d",
                                m=month, d=dimension)
            assert table["total_change"] == pytest.approx(change[0], abs=CENT)
    assert api.ok("/drivers")["month"] == "2024-10"
    assert api.ok("/drivers", "everything", month="2024-08")["rows"] == []  # the first month has no previous one
    assert list(_csv(api.get("/drivers", format="csv"))[0]) == ["member", "previous_cost", "current_cost", "change",
                                                               "share_of_change", "rank"]


def test_projects_lists_reference_and_cost_projects(api):
    rows = {r["project"]: r for r in api.ok("/projects")["rows"]}
    assert set(rows) == {"checkout", "search", "unallocated"}
    assert rows["checkout"]["team"] == "payments" and rows["checkout"]["in_reference"] and rows["checkout"]["account_ids"] == ["111"]
    assert rows["unallocated"]["in_reference"] is False and rows["unallocated"]["first_month"] == "2024-09"
    assert [r["project"] for r in api.ok("/projects", team="discovery")["rows"]] == ["search"]
    assert _csv(api.get("/projects", format="csv"))[0]["account_ids"] == "111"


# --- anomalies --------------------------------------------------------------------------------------

def test_anomalies_filters_order_csv_and_pages(api):
    body = api.ok("/anomalies")
    ids = [r["anomaly_id"] for r in body["rows"]]
    assert len(ids) == api.sql("SELECT COUNT(*) FROM fct_cost_anomalies")[0][0] >= 3
    starts = [r["period_start"] for r in body["rows"]]
    assert starts == sorted(starts, reverse=True)
    spike = [r for r in body["rows"] if r["project"] == "checkout"]
    assert spike and all(r["period_start"] == "2024-09-18" and r["methods"] and r["root_cause"] for r in spike)
    assert {r["anomaly_id"] for r in api.ok("/anomalies", project="search")["rows"]} == {SEARCH_ANOMALY}
    assert {r["anomaly_id"] for r in api.ok("/anomalies", grain="monthly")["rows"]} == {SEARCH_ANOMALY}
    assert {r["anomaly_id"] for r in api.ok("/anomalies", severity="low,medium")["rows"]} == {SEARCH_ANOMALY}
    assert {r["severity"] for r in api.ok("/anomalies", severity="critical")["rows"]} == {"critical"}
    assert {r["status"] for r in api.ok("/anomalies", status=["open", "acknowledged"])["rows"]} <= {"open", "acknowledged"}
    assert {r["anomaly_id"] for r in api.ok("/anomalies", **{"from": "2024-09-18", "to": "2024-09-18"})["rows"]} == \
        {r["anomaly_id"] for r in spike}
    assert {r["anomaly_id"] for r in api.ok("/anomalies", **{"from": "2024-09", "to": "2024-09"})["rows"]} == set(ids)
    assert api.ok("/anomalies", **{"from": "2024-10"})["rows"] == []
    first = api.ok("/anomalies", limit=1)
    second = api.ok("/anomalies", limit=1, cursor=first["next_cursor"])
    assert [first["rows"][0]["anomaly_id"], second["rows"][0]["anomaly_id"]] == ids[:2]
    rows = _csv(api.get("/anomalies", format="csv"))
    assert [r["anomaly_id"] for r in rows] == ids and "root_cause" in rows[0]


# --- consistency ------------------------------------------------------------------------------------

def test_a_request_reads_one_snapshot_while_the_pipeline_writes(api):
    """What the pipeline's month replacement looks like to a request that is half-way through."""
    from types import SimpleNamespace

    from sqlalchemy import delete, func

    from finops_pipeline.api.auth import Principal
    from finops_pipeline.api.deps import read_context

    m = schema.fct_costs_monthly
    total = select(func.sum(m.c.effective_cost))
    request = SimpleNamespace(app=api.client.app)
    reading = read_context(request, Principal("t", "t", "admin"))
    ctx = next(reading)
    before = ctx.conn.execute(total).scalar()
    try:
        with api.engine.connect().execution_options(writer=True) as conn, conn.begin():  # a run writes a month
            conn.execute(insert(m).values(billing_month="2030-01", project="checkout", reporting_currency="USD",
                                          effective_cost=1000.0, source_rows=1, loaded_at=datetime.now(timezone.utc)))
        assert ctx.conn.execute(total).scalar() == before  # the request still sees its snapshot
        reading.close()
        assert api.ok("/costs", group_by="")["rows"][0]["cost"] == pytest.approx(before + 1000.0, abs=CENT)  # the next one sees it
    finally:
        reading.close()
        with api.engine.begin() as conn:
            conn.execute(delete(m).where(m.c.billing_month == "2030-01"))


# --- auth -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("header", [
    None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-token", "Bearer fo_XYZ.secret",
    "bad secret", "unknown id", "revoked",
])
def test_requests_without_a_valid_token_are_401(api, header):
    admin_id = api.tokens["admin"].split(".")[0]
    header = {"bad secret": f"Bearer {admin_id}.{'A' * 43}", "unknown id": f"Bearer fo_ffffffffffff.{'A' * 43}",
              "revoked": f"Bearer {api.tokens['revoked']}"}.get(header, header)
    response = api.client.get("/api/v1/costs", headers={"Authorization": header} if header else {})
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "unauthorized"
    if header and "revoked" in str(header):
        assert "revoked" in response.json()["error"]["message"]


def test_a_token_with_unreadable_scopes_is_refused_not_widened(api):
    token, row = create_token(api.engine, "corrupted", "viewer", projects=["search"])
    with api.engine.begin() as conn:
        t = schema.api_tokens
        conn.execute(update(t).where(t.c.token_id == row.token_id).values(scopes="{not json"))
    response = api.client.get("/api/v1/projects", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and "scopes" in response.json()["error"]["message"]
    with pytest.raises(ValueError, match="name nothing"):
        create_token(api.engine, "typo", "viewer", projects=[" , "])


def test_the_token_check_comes_before_parameter_checks(api):
    assert api.get("/costs", None, group_by="nonsense").status_code == 401


def test_a_viewer_may_not_acknowledge(api):
    response = api.client.post(f"/api/v1/anomalies/{SEARCH_ANOMALY}/acknowledge",
                               headers={"Authorization": f"Bearer {api.tokens['viewer']}"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert api.sql("SELECT status FROM fct_cost_anomalies WHERE anomaly_id = :a", a=SEARCH_ANOMALY)[0][0] == "open"


def test_last_used_at_is_written_at_most_once_a_minute_for_all_tokens_together(api):
    ids = {role: api.tokens[role].split(".")[0][3:] for role in ("viewer", "analyst")}
    stale = datetime.now(timezone.utc) - timedelta(hours=1)

    def used(role):
        return api.sql("SELECT last_used_at FROM api_tokens WHERE token_id = :t", t=ids[role])[0][0]

    with api.engine.begin() as conn:
        conn.execute(update(schema.api_tokens).where(schema.api_tokens.c.token_id.in_(list(ids.values())))
                     .values(last_used_at=stale))
    usage = api.client.app.state.token_usage
    usage._last_write = -1e18  # a quiet minute has passed: the next use is written at once
    api.ok("/projects", "viewer")
    first = used("viewer")
    assert first is not None and str(first) > str(stale.replace(tzinfo=None))
    api.ok("/projects", "viewer")
    api.ok("/projects", "analyst")
    assert used("viewer") == first  # within the minute: nothing written ...
    assert str(used("analyst")) < str(first)  # still the stale value
    usage._last_write = -1e18  # ... until the next batch, which writes both uses, each with its own time
    api.ok("/projects", "viewer")
    assert str(used("viewer")) > str(first) and str(used("analyst")) > str(first)


# --- scopes -----------------------------------------------------------------------------------------

# /costs parameter sets under which a token's visible projects are collected
VISIBILITY_COSTS = [{}, {"group_by": "project"}, {"group_by": "project,team,service_name,provider,region,sub_account_id"},
                    {"grain": "daily", "group_by": "project"}, {"group_by": "project", "metric": "chargeback_cost"}]


@pytest.mark.parametrize("token, allowed, other", [("search", "search", "checkout"), ("payments", "checkout", "search")])
def test_scoped_tokens_see_only_their_projects_everywhere(api, token, allowed, other):
    assert visible_projects(api, token, VISIBILITY_COSTS) == {allowed}
    # asking for another project explicitly, by any filter, returns nothing
    assert api.ok("/costs", token, project=other)["rows"] == []
    assert api.ok("/costs", token, project=f"{allowed},{other}", group_by="project")["rows"] == \
        api.ok("/costs", token, project=allowed, group_by="project")["rows"]
    other_team = api.sql("SELECT team FROM dim_projects WHERE project = :p", p=other)[0][0]
    assert api.ok("/costs", token, team=other_team)["rows"] == []
    assert api.ok("/costs", token, grain="daily", project=other, group_by="region")["rows"] == []
    assert api.ok("/budgets", token, year=2024, project=other)["rows"] == []
    assert api.ok("/forecasts", token, project=other)["rows"] == []
    assert api.ok("/anomalies", token, project=other)["rows"] == []
    assert api.ok("/projects", token, team=other_team)["rows"] == []
    assert _csv(api.get("/costs", token, project=other, format="csv")) == []

    # totals, KPIs, heatmap and forecasts sum only the allowed project
    expected = _sums(api, "SELECT billing_month, SUM(effective_cost) FROM fct_costs_monthly WHERE project = :p GROUP BY 1", p=allowed)
    assert {(r["month"],): r["cost"] for r in api.ok("/costs", token)["rows"]} == pytest.approx(expected, abs=CENT)
    assert api.ok("/costs", token, group_by="")["rows"][0]["cost"] == pytest.approx(sum(expected.values()), abs=CENT)
    kpis = api.ok("/kpis", token, month="2024-09")
    assert kpis["total_cost"] == pytest.approx(expected[("2024-09",)], abs=CENT)
    assert kpis["previous_month_cost"] == pytest.approx(expected[("2024-08",)], abs=CENT) and kpis["projects_with_spend"] == 1
    heatmap = api.ok("/heatmap", token)
    assert heatmap["total"] == pytest.approx(sum(expected.values()), abs=CENT) and len(heatmap["rows"]) == 1
    forecasts = api.ok("/forecasts", token)
    assert forecasts["total_is_sum_of_projects"] is True
    project_rows = {r["month"]: r["forecast"] for r in forecasts["rows"] if r["level"] == "project"}
    assert {r["month"]: r["forecast"] for r in forecasts["rows"] if r["level"] == "total"} == pytest.approx(project_rows, abs=CENT)
    drivers = api.ok("/drivers", token, dimension="service_name", month="2024-10")
    assert drivers["total_change"] == pytest.approx(expected[("2024-10",)] - expected[("2024-09",)], abs=CENT)


def test_a_scoped_analyst_cannot_acknowledge_another_projects_anomaly(api):
    (checkout,) = api.sql("SELECT anomaly_id FROM fct_cost_anomalies WHERE project = 'checkout' LIMIT 1")
    response = api.client.post(f"/api/v1/anomalies/{checkout[0]}/acknowledge", json={"note": "expected"},
                               headers={"Authorization": f"Bearer {api.tokens['search_analyst']}"})
    assert response.status_code == 404 and response.json()["error"]["parameter"] == "anomaly_id"
    assert api.sql("SELECT COUNT(*) FROM anomaly_feedback WHERE anomaly_id = :a", a=checkout[0])[0][0] == 0


def test_a_scoped_analyst_acknowledges_its_own_anomaly(api):
    response = api.client.post(f"/api/v1/anomalies/{SEARCH_ANOMALY}/acknowledge",
                               headers={"Authorization": f"Bearer {api.tokens['search_analyst']}"})
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["status_note"]) == ("acknowledged", None)
    assert api.ok("/anomalies", "search", status="acknowledged")["rows"][0]["anomaly_id"] == SEARCH_ANOMALY


# --- bad parameters ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path, params, parameter", [
    ("/costs", {"group_by": "month,colour"}, "group_by"),
    ("/costs", {"metric": "list_cost"}, "metric"),
    ("/costs", {"grain": "weekly"}, "grain"),
    ("/costs", {"from": "2024-9"}, "from"),
    ("/costs", {"to": "October"}, "to"),
    ("/costs", {"from": "2024-10", "to": "2024-09"}, "from"),
    ("/costs", {"limit": "0"}, "limit"),
    ("/costs", {"limit": "10001"}, "limit"),
    ("/costs", {"limit": "many"}, "limit"),
    ("/costs", {"format": "xlsx"}, "format"),
    ("/costs", {"projects": "search"}, "projects"),  # a typo is refused, not ignored
    ("/costs", {"project": "a\x00b"}, "project"),
    ("/kpis", {"month": "2024-13"}, "month"),
    ("/kpis", {"month": ["2024-09", "2024-10"]}, "month"),
    ("/heatmap", {"year": "twenty"}, "year"),
    ("/heatmap", {"year": "99999"}, "year"),
    ("/budgets", {"month": "2024-09", "year": "2024"}, "year"),
    ("/budgets", {"status": "fine"}, "status"),
    ("/forecasts", {"level": "team"}, "level"),
    ("/forecasts", {"level": "total", "project": "search"}, "project"),
    ("/anomalies", {"severity": "huge"}, "severity"),
    ("/anomalies", {"status": "closed"}, "status"),
    ("/anomalies", {"from": "2024-02-30"}, "from"),
    ("/anomalies", {"grain": "hourly"}, "grain"),
    ("/drivers", {"dimension": "colour"}, "dimension"),
    ("/projects", {"team": "x" * 400}, "team"),
])
def test_bad_parameters_are_400_naming_the_parameter(api, path, params, parameter):
    response = api.get(path, **params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["parameter"] == parameter and error["code"] == "invalid_parameter"
    assert parameter in error["message"]
    if parameter in ("group_by", "metric", "grain", "status", "severity", "level", "dimension", "format"):
        assert error["accepted"], error


def test_bad_acknowledge_bodies_are_422_and_unknown_ids_404(api):
    headers = {"Authorization": f"Bearer {api.tokens['analyst']}"}
    url = f"/api/v1/anomalies/{SEARCH_ANOMALY}/acknowledge"
    for kwargs, parameter in (({"content": "{not json", "headers": {**headers, "Content-Type": "application/json"}}, "body"),
                              ({"json": {"note": 5}, "headers": headers}, "note"),
                              ({"json": {"note": "x" * 1001}, "headers": headers}, "note"),
                              ({"json": {"note": "ok", "extra": 1}, "headers": headers}, "extra")):
        response = api.client.post(url, **kwargs)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["parameter"] == parameter
    response = api.client.post("/api/v1/anomalies/does-not-exist/acknowledge", headers=headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_odd_inputs_never_cause_a_500(api):
    for path, params in (("/costs", {"project": "ü" * 50, "group_by": "project"}), ("/costs", {"cursor": "djE6MTAwMDAwMDAwMDAwMDAwOmFi"}),
                         ("/anomalies", {"project": "' OR 1=1 --"}), ("/costs", {"service": "%", "provider": "_"}),
                         ("/drivers", {"month": "1900-01"}), ("/kpis", {"month": "9999-12"}), ("/budgets", {"month": "1900-01"}),
                         ("/heatmap", {"year": "9999"}), ("/costs", {"group_by": ",,,"}), ("/costs", {"limit": "-1"})):
        response = api.get(path, **params)
        assert response.status_code < 500, (path, params, response.text)
        assert response.headers["content-type"].startswith("application/json")
    assert api.client.get("/api/v1/nowhere").json()["error"]["code"] == "not_found"
    assert api.client.delete("/api/v1/costs").status_code == 405


# --- settings, CORS, CLI ----------------------------------------------------------------------------

def test_cors_origins_come_from_the_settings(api, monkeypatch):
    monkeypatch.setenv("FINOPS_API_CORS_ORIGINS", "https://bi.example.com, http://localhost:3000")
    settings = load_settings(warehouse_url=api.url)
    assert settings.api_cors_origins == ("https://bi.example.com", "http://localhost:3000")
    with TestClient(create_app(settings)) as client:
        preflight = client.options("/api/v1/costs", headers={"Origin": "https://bi.example.com", "Access-Control-Request-Method": "GET",
                                                             "Access-Control-Request-Headers": "authorization"})
        assert preflight.headers["access-control-allow-origin"] == "https://bi.example.com"
        assert "access-control-allow-origin" not in client.get("/health", headers={"Origin": "https://evil.example"}).headers
    assert "access-control-allow-origin" not in api.client.get("/health", headers={"Origin": "https://bi.example.com"}).headers
    monkeypatch.setenv("FINOPS_API_CORS_ORIGINS", "bi.example.com/path")
    with pytest.raises(ValueError, match="FINOPS_API_CORS_ORIGINS"):
        load_settings()
    monkeypatch.setenv("FINOPS_API_CORS_ORIGINS", "")
    monkeypatch.setenv("FINOPS_API_PORT", "http")
    with pytest.raises(ValueError, match="FINOPS_API_PORT"):
        load_settings()


def test_cli_api_token_create_list_revoke_and_serve(api, capsys, monkeypatch):
    from finops_pipeline.cli import main

    common = ["--warehouse-url", api.url]
    assert main(["api-token", "create", *common, "--name", "grafana", "--role", "viewer", "--projects", "search,checkout"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith("fo_") and api.client.get("/api/v1/projects", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    stored = api.sql("SELECT token_hash, scopes FROM api_tokens WHERE name = 'grafana'")[0]
    assert token.split(".", 1)[1] not in stored[0] and len(stored[0]) == 64 and "search" in stored[1]
    assert main(["api-token", "create", *common, "--name", "grafana", "--role", "viewer"]) == 2  # name taken
    assert main(["api-token", "create", *common, "--name", "root", "--role", "admin", "--teams", "payments"]) == 2
    capsys.readouterr()
    assert main(["api-token", "list", *common]) == 0
    listing = capsys.readouterr().out
    assert "grafana" in listing and "projects search, checkout" in listing and token.split(".")[1] not in listing
    assert main(["api-token", "revoke", *common, "grafana"]) == 0
    assert api.client.get("/api/v1/projects", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert main(["api-token", "revoke", *common, "grafana"]) == 1

    import uvicorn

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(app=app, **kwargs))
    assert main(["api", *common, "--port", "8123"]) == 0
    assert served["port"] == 8123 and served["host"] == "127.0.0.1" and served["app"].openapi()["info"]["title"]


# --- acknowledgement survives a pipeline run (last: it re-runs the pipeline) ------------------------

def test_acknowledge_writes_feedback_and_survives_a_rerun(api):
    (target,) = api.sql("SELECT anomaly_id FROM fct_cost_anomalies WHERE project = 'checkout' AND service_name IS NOT NULL")
    response = api.client.post(f"/api/v1/anomalies/{target[0]}/acknowledge", json={"note": "planned"},
                               headers={"Authorization": f"Bearer {api.tokens['analyst']}"})
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["status_note"]) == ("acknowledged", "planned")
    feedback = api.sql("SELECT status, note, updated_by FROM anomaly_feedback WHERE anomaly_id = :a", a=target[0])
    assert [tuple(r) for r in feedback] == [("acknowledged", "planned", "ann@example.com")]

    assert run_job(api.data_dir, api.url, MONTHS[0], MONTHS[-1]).success
    row = next(r for r in api.ok("/anomalies", status="acknowledged")["rows"] if r["anomaly_id"] == target[0])
    assert (row["status"], row["status_note"]) == ("acknowledged", "planned")
    with api.engine.connect() as conn:
        t = schema.fct_cost_anomalies
        assert conn.execute(select(t.c.status).where(t.c.anomaly_id == target[0])).scalar() == "acknowledged"


# --- PostgreSQL -------------------------------------------------------------------------------------

@pytest.mark.postgres
def test_the_api_on_postgresql(data_dir, postgres_url):
    assert run_job(data_dir, postgres_url, "2024-09", "2024-10").success
    engine = make_engine(postgres_url)
    token, _ = create_token(engine, "pg", "admin")
    scoped, _ = create_token(engine, "pg-search", "viewer", projects=["search"])
    with TestClient(create_app(load_settings(data_dir=str(data_dir), warehouse_url=postgres_url))) as client:
        def get(path, tok=token, **params):
            response = client.get(f"/api/v1{path}", params=params, headers={"Authorization": f"Bearer {tok}"})
            assert response.status_code == 200, response.text
            return response.json()

        assert client.get("/health").json()["status"] == "ok"
        rows = get("/costs")["rows"]
        assert {r["month"]: r["cost"] for r in rows} == pytest.approx(conftest.EXPECTED_EFFECTIVE_USD, abs=CENT)
        paged = get("/costs", grain="daily", group_by="project", limit=2)
        assert paged["next_cursor"] and get("/costs", grain="daily", group_by="project", limit=2, cursor=paged["next_cursor"])["rows"]
        assert get("/kpis")["total_cost"] == pytest.approx(conftest.EXPECTED_EFFECTIVE_USD["2024-10"], abs=CENT)
        assert get("/kpis", scoped)["top_project"] == "search"
        for path in ("/heatmap", "/budgets", "/forecasts", "/anomalies", "/drivers", "/projects"):
            get(path)
            get(path, scoped)
        # a write after read-only transactions on the same pooled connections
        _plant_search_anomaly(engine)
        response = client.post(f"/api/v1/anomalies/{SEARCH_ANOMALY}/acknowledge", json={"note": "expected"},
                               headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        assert get("/anomalies", scoped, status="acknowledged")["rows"][0]["status_note"] == "expected"
    engine.dispose()
