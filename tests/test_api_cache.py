"""The read API's answer cache (finops_pipeline/api/cache.py): a repeated question is answered
from memory, and never after the warehouse changed — a pipeline write, an acknowledgement, a
revoked token — on SQLite and on PostgreSQL; answers are never shared between tokens."""

from __future__ import annotations

import time
import warnings

import pytest
from sqlalchemy import text

from finops_pipeline.api import create_app
from finops_pipeline.api.auth import create_token, revoke_token
from finops_pipeline.settings import load_settings
from finops_pipeline.warehouse.engine import make_engine
from tests import conftest
from tests.helpers import run_job

with warnings.catch_warnings():  # starlette asks for httpx2; the locked httpx works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CENT = 0.0051
# A token's first use is written right after its answer (api_tokens.last_used_at): on PostgreSQL
# the notification of that write may arrive one request later, costing one more miss.
TRIES = {"sqlite": 1, "postgresql": 3}
# How long a change may take to reach the cache: none on SQLite (the version is read from the
# database file); on PostgreSQL the notification arrives a moment after the commit.
SEEN_WITHIN = {"sqlite": 0.0, "postgresql": 2.0}


def _eventually(backend, answer, accept):
    """`answer()` until `accept(response)`, for up to SEEN_WITHIN[backend] seconds (once on SQLite)."""
    deadline = time.monotonic() + SEEN_WITHIN[backend]
    while True:
        response = answer()
        if accept(response) or time.monotonic() >= deadline:
            return response
        time.sleep(0.005)


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse(request, data_dir, tmp_path):
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    assert run_job(data_dir, url, "2024-09", "2024-10").success
    engine = make_engine(url)
    yield request.param, url, engine
    engine.dispose()


def _client(data_dir, url, environ=None):
    return TestClient(create_app(load_settings(environ, data_dir=str(data_dir), warehouse_url=url)))


def _get(client, token, path="/costs", **params):
    return client.get(f"/api/v1{path}", params=params, headers={"Authorization": f"Bearer {token}"})


def _hit_within(client, token, tries, path="/costs", **params):
    """The answer of the first cached response within `tries` requests (None if none was)."""
    for _ in range(tries):
        response = _get(client, token, path, **params)
        assert response.status_code == 200, response.text
        if response.headers.get("x-finops-cache") == "hit":
            return response
    return None


def test_a_repeated_question_is_answered_from_the_cache_until_the_warehouse_changes(warehouse, data_dir):
    backend, url, engine = warehouse
    admin, _ = create_token(engine, "admin", "admin")
    with _client(data_dir, url) as client:
        _get(client, admin, "/projects")  # the token's first use is written now (a commit)
        first = _get(client, admin)
        assert first.status_code == 200 and "x-finops-cache" not in first.headers
        hit = _hit_within(client, admin, TRIES[backend])
        assert hit is not None and hit.content == first.content
        assert hit.headers["cache-control"] == "no-store"  # browsers and proxies still must not keep it

        # The pipeline (any other connection) commits: the very next answer is the new one.
        with engine.begin() as conn:
            conn.execute(text("UPDATE fct_costs_monthly SET effective_cost = effective_cost + 100 "
                              "WHERE billing_month = '2024-10' AND project = 'checkout'"))
        after = _eventually(backend, lambda: _get(client, admin), lambda r: "x-finops-cache" not in r.headers)
        assert "x-finops-cache" not in after.headers
        totals = {r["month"]: r["cost"] for r in after.json()["rows"]}
        assert totals["2024-10"] == pytest.approx(conftest.EXPECTED_EFFECTIVE_USD["2024-10"] + 100, abs=CENT)
        assert totals["2024-09"] == pytest.approx(conftest.EXPECTED_EFFECTIVE_USD["2024-09"], abs=CENT)


def test_answers_are_never_shared_between_tokens_and_a_revoked_token_is_refused_at_once(warehouse, data_dir):
    backend, url, engine = warehouse
    admin, _ = create_token(engine, "admin", "admin")
    search, _ = create_token(engine, "search-only", "viewer", projects=["search"])
    with _client(data_dir, url) as client:
        for token in (admin, search):
            _get(client, token, "/projects")
        everything = _hit_within(client, admin, TRIES[backend] + 1, group_by="project")
        assert everything is not None
        projects = {r["project"] for r in everything.json()["rows"]}
        assert {"search", "checkout"} <= projects

        mine = _get(client, search, group_by="project")  # same URL, other token: its own answer
        assert {r["project"] for r in mine.json()["rows"]} == {"search"}
        assert _hit_within(client, search, TRIES[backend], group_by="project").content == mine.content

        revoke_token(engine, "search-only")
        refused = _eventually(backend, lambda: _get(client, search, group_by="project"), lambda r: r.status_code == 401)
        assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]


def test_an_acknowledgement_is_seen_by_the_next_read(warehouse, data_dir):
    backend, url, engine = warehouse
    analyst, _ = create_token(engine, "ann", "analyst")
    from tests.test_api import SEARCH_ANOMALY, _plant_search_anomaly

    _plant_search_anomaly(engine)
    with _client(data_dir, url) as client:
        _get(client, analyst, "/projects")
        assert _hit_within(client, analyst, TRIES[backend] + 1, "/anomalies", project="search") is not None
        response = client.post(f"/api/v1/anomalies/{SEARCH_ANOMALY}/acknowledge", json={"note": "planned"},
                               headers={"Authorization": f"Bearer {analyst}"})
        assert response.status_code == 200, response.text
        rows = _get(client, analyst, "/anomalies", project="search").json()["rows"]
        assert [(r["status"], r["status_note"]) for r in rows if r["anomaly_id"] == SEARCH_ANOMALY] == [("acknowledged", "planned")]


def test_the_cache_can_be_turned_off(data_dir, sqlite_url):
    assert run_job(data_dir, sqlite_url, "2024-10").success
    engine = make_engine(sqlite_url)
    admin, _ = create_token(engine, "admin", "admin")
    with _client(data_dir, sqlite_url, {"FINOPS_API_CACHE_MB": "0"}) as client:
        for _ in range(3):
            response = _get(client, admin)
            assert response.status_code == 200 and "x-finops-cache" not in response.headers
    engine.dispose()


@pytest.mark.postgres
def test_postgresql_keeps_nothing_until_every_table_notifies_its_changes(data_dir, postgres_url):
    from finops_pipeline.warehouse.change_feed import TRIGGER, install_change_triggers, tables_without_trigger

    assert run_job(data_dir, postgres_url, "2024-10").success
    engine = make_engine(postgres_url)
    with engine.connect() as conn:
        assert tables_without_trigger(conn) == []  # the pipeline installed them with the tables
    with engine.begin() as conn:  # a warehouse where one table changes silently (e.g. restored without triggers)
        conn.exec_driver_sql(f"DROP TRIGGER {TRIGGER} ON fct_costs_monthly")
    admin, _ = create_token(engine, "admin", "admin")
    with _client(data_dir, postgres_url) as client:
        for _ in range(3):
            response = _get(client, admin)
            assert response.status_code == 200 and "x-finops-cache" not in response.headers
    install_change_triggers(engine)  # what the next pipeline run (ensure_tables) does
    with engine.connect() as conn:
        assert tables_without_trigger(conn) == []
    with _client(data_dir, postgres_url) as client:
        _get(client, admin, "/projects")
        assert _hit_within(client, admin, TRIES["postgresql"] + 1) is not None
    engine.dispose()
