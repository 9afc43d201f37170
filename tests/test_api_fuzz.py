"""Property-based fuzzing of the read API's OpenAPI document with schemathesis (4.x): every
operation, positive and negative generated requests, against a warehouse built by the monthly job
(with real anomalies, forecasts and budgets so that the response bodies are not empty), once with
an admin token and once with a project-scoped analyst token.

Checks: no 5xx, the status code is documented, the Content-Type and headers are documented, the
body conforms to the schema, negative (schema-invalid) requests are rejected, authentication is
enforced, and — for the scoped token — no row of another project ever shows."""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from jsonschema import Draft202012Validator
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import negated_parameters
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import insert

from finops_pipeline.api import create_app
from finops_pipeline.api.auth import hash_secret
from finops_pipeline.settings import load_settings
from finops_pipeline.warehouse import schema as tables
from finops_pipeline.warehouse.engine import make_engine
from tests import conftest
from tests.helpers import add_spiked_billing, run_job

MONTHS = ("2024-08", "2024-10")
BUDGETS = "project,month,amount\ncheckout,2024-09,30000\ncheckout,2024-10,20000\nsearch,2024-10,5000\n"
SEARCH_ANOMALY = "f0000000000000000001"
SCOPED_PROJECTS = {"search"}

# The OpenAPI document does not depend on the warehouse, so the app is made (and its /openapi.json
# loaded) at collection time: one test item per operation. Its engine is a placeholder until the
# `fuzz_env` fixture has built the warehouse and points the app's state at it.
APP = create_app(load_settings(environ={}, data_dir="/nonexistent", warehouse_url="sqlite://"))
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)

FUZZ_SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])


# A valid request may still be refused with a 400 for a rule the OpenAPI document cannot express
# (docs/api.md, "Rules the OpenAPI schema cannot express"). Schemathesis' built-in
# `positive_data_acceptance` check would report those as "valid data rejected", so it is NOT run;
# this narrower check replaces it: a schema-valid request may be refused with 400 only for one of
# those documented rules, recognised by the parameter the error names and its message.
_BUSINESS_RULES = (
    ("from", "is after to="),                         # from after to (/costs, /anomalies)
    ("from", "is not a date"),                        # an impossible day such as 2024-02-30
    ("to", "is not a date"),
    ("year", "give month or year, not both"),         # /budgets with month and year
    ("project", "project selects project-level rows"),  # /forecasts with level=total and project
    ("cursor", "cursor is not valid for these parameters"),  # a cursor of another request
)


def positive_data_accepted_but_for_documented_rules(ctx, response, case):
    """A schema-valid request with a valid admin / analyst token is answered 2xx, 404 (a month
    without KPIs, an unknown anomaly id), or 400 for one of the documented rules; never 401 / 403."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code < 400 or response.status_code == 404:
        return None
    error = (response.json() or {}).get("error", {}) if response.status_code == 400 else {}
    if any(error.get("parameter") == parameter and fragment in (error.get("message") or "") for parameter, fragment in _BUSINESS_RULES):
        return None
    raise AssertionError(f"a schema-valid request was refused with {response.status_code} for a rule that is not documented: "
                         f"{response.text[:500]}")


def _is_text_list(schema: dict) -> bool:
    return any(option.get("type") == "array" and option.get("items", {}).get("type") == "string" for option in schema.get("anyOf", []))


def _negated_values_are_valid_as_sent(case, response) -> bool:
    """True when every parameter a negative case mutated is a list-of-text query parameter
    (project, team, service, provider, ...) whose values, as actually sent, are valid for it."""
    meta = case.meta
    negated = set(negated_parameters(meta))
    if not negated or any(meta.is_negative_at(location) for location in ParameterLocation if location != ParameterLocation.QUERY):
        return False
    definitions = {p["name"]: p["schema"] for p in SCHEMA.raw_schema["paths"][case.operation.path][case.method.lower()]["parameters"]
                   if p["in"] == "query"}
    sent = parse_qs(urlsplit(response.request.url).query, keep_blank_values=True)
    for name, location in negated:
        schema = definitions.get(name)
        if location != ParameterLocation.QUERY or schema is None or not _is_text_list(schema):
            return False
        if name in sent and not Draft202012Validator(schema).is_valid(sent[name]):
            return False
    return True


def negative_data_rejected_as_sent(ctx, response, case):
    """Schemathesis' `negative_data_rejection`, minus one false positive of its own: a type mutation of
    a `list[str] | None` query parameter (e.g. project=4.8e+16, team=false) reaches the server as
    text, which IS a valid value of such a parameter (schemathesis 4.32 re-reads the text sent only
    for parameters whose schema is `type: string`, not for this anyOf of array and null). Such a
    case is checked against the parameter's schema as sent instead; any other accepted negative
    case still fails."""
    try:
        return negative_data_rejection(ctx, response, case)
    except AcceptedNegativeData:
        if _negated_values_are_valid_as_sent(case, response):
            return None
        raise


def _projects_in(body) -> set:
    """Every project named in a JSON body (rows, heatmap rows, anomalies, KPIs' top project)."""
    found = set()
    if isinstance(body, dict):
        for key, value in body.items():
            if key in ("project", "top_project") and isinstance(value, str):
                found.add(value)
            elif key == "projects" and isinstance(value, list):
                found.update(v for v in value if isinstance(v, str))
            else:
                found |= _projects_in(value)
    elif isinstance(body, list):
        for item in body:
            found |= _projects_in(item)
    return found


def scoped_token_sees_only_its_projects(ctx, response, case):
    """No project outside the token's scope in any 200 answer, JSON or CSV (drivers by project included)."""
    if response.status_code != 200 or not case.path.startswith("/api/v1/") or case.path.endswith("/health"):
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if content_type.startswith("text/csv"):
        rows = list(csv.DictReader(io.StringIO(response.text)))
        seen = {r["project"] for r in rows if r.get("project")}
        if case.path.endswith("/drivers") and (case.query or {}).get("dimension", "project") == "project":
            seen |= {r["member"] for r in rows}
    else:
        body = response.json()
        seen = _projects_in(body)
        if isinstance(body, dict) and body.get("dimension") == "project":
            seen |= {r.get("member") for r in body.get("rows", [])}
    leaked = seen - SCOPED_PROJECTS
    assert not leaked, f"scoped token (projects {sorted(SCOPED_PROJECTS)}) saw {sorted(leaked)}"
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejected_as_sent, ignored_auth,
          positive_data_accepted_but_for_documented_rules]


# The tokens of the run. Schemathesis applies auth already when it builds the explicit examples at
# collection time, so the tokens are drawn here and stored by the `fuzz_env` fixture (as
# `finops api-token create` stores them: the id, the SHA-256 of the secret, the role and the scopes).
TOKENS = {key: f"fo_{secrets.token_hex(6)}.{secrets.token_urlsafe(32)}" for key in ("admin", "scoped")}


class _Bearer:
    """Schemathesis auth provider: `Authorization: Bearer <token>`. Given through schemathesis (not as
    extra headers) so that its negative cases that drop the header are really sent without it."""

    key = ""

    def get(self, case, context):
        return TOKENS[self.key]

    def set(self, case, data, context):
        case.headers["Authorization"] = f"Bearer {data}"


class AdminBearer(_Bearer):
    key = "admin"


class ScopedBearer(_Bearer):
    key = "scoped"


def _plant_anomaly(engine) -> None:
    """A monthly anomaly of `search` (the planted spike of the billing data is checkout's)."""
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        conn.execute(insert(tables.fct_cost_anomalies).values(
            anomaly_id=SEARCH_ANOMALY, grain="monthly", period_start=date(2024, 9, 1), project="search", team="discovery",
            service_name=None, reporting_currency="USD", actual_cost=10703.05, expected_cost=8000.0, impact=2703.05,
            impact_pct=33.79, score=0.5, severity="low", methods="month_over_month",
            root_cause=json.dumps([{"dimension": "service_name", "member": "Amazon EC2", "impact": 2703.05, "share": 1.0}]),
            status="open", status_note=None, first_seen=now, last_seen=now))


def _store_token(engine, token: str, name: str, role: str, scopes: dict | None = None) -> None:
    token_id, secret = token[len("fo_"):].split(".", 1)
    with engine.begin() as conn:
        conn.execute(insert(tables.api_tokens).values(token_id=token_id, name=name, role=role, token_hash=hash_secret(secret),
                                                      scopes=json.dumps(scopes) if scopes else None, created_at=datetime.now(timezone.utc)))


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{root / 'warehouse.db'}"
    data_dir: Path = conftest.data_dir.__wrapped__(root)  # the shared fixture's landing folder
    add_spiked_billing(data_dir)  # three steady months with a spike: real anomalies and forecasts
    (data_dir / "reference" / "budgets.csv").write_text(BUDGETS)
    with pytest.MonkeyPatch.context() as mp:  # module fixtures run before the per-test env isolation
        for var in [v for v in os.environ if v.startswith("FINOPS_") or v == "DAGSTER_HOME"]:
            mp.delenv(var)
        assert run_job(data_dir, url, *MONTHS).success
    engine = make_engine(url)
    _plant_anomaly(engine)
    _store_token(engine, TOKENS["admin"], "fuzz-admin", "admin")
    _store_token(engine, TOKENS["scoped"], "fuzz-search", "analyst", {"projects": sorted(SCOPED_PROJECTS), "teams": []})
    placeholder = (APP.state.settings, APP.state.engine)
    APP.state.settings, APP.state.engine = load_settings(environ={}, data_dir=str(data_dir), warehouse_url=url), engine
    yield
    APP.state.settings, APP.state.engine = placeholder
    engine.dispose()


@SCHEMA.auth.apply(AdminBearer, refresh_interval=None)
@SCHEMA.parametrize()
@FUZZ_SETTINGS
def test_fuzz_with_an_admin_token(case, fuzz_env):
    case.call_and_validate(checks=CHECKS)


@SCHEMA.auth.apply(ScopedBearer, refresh_interval=None)
@SCHEMA.parametrize()
@FUZZ_SETTINGS
def test_fuzz_with_a_project_scoped_token(case, fuzz_env):
    case.call_and_validate(checks=[*CHECKS, scoped_token_sees_only_its_projects])
