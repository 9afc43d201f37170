"""reference_change_sensor evaluated in process, against a warehouse holding 2026-01 .. 2026-04 of
the sample data: what a change of each reference file requests (months, assets, run key, cursor),
and that executing the requested run makes fct_costs_monthly reflect an edited rule."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import DagsterInstance, RunRequest, SensorResult, SkipReason, build_sensor_context

from finops_pipeline.defs.reference.changes import snapshot
from finops_pipeline.defs.reference.sensors import reference_change_sensor
from finops_pipeline.resources import FinopsResource
from finops_pipeline.runs import RANGE_END_TAG, RANGE_START_TAG
from tests.helpers import code_location, materialized_assets, run_job

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
DATA_MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04"]
SANDBOX = "e26c9bdf-b911-5fe3-9d69-fa3444dfb3fa"
SANDBOX_START = "    start: 2026-03-01\n"  # the one dated start in the sample rules (rule sandbox-to-ml)

ANALYTICS = {"fct_budget_vs_actual", "fct_cost_drivers", "fct_cost_anomalies", "fct_cost_forecasts"}
COSTS = {"fct_costs_daily", "fct_costs_monthly", "fct_kpis_monthly"} | ANALYTICS
RULE_ASSETS = {"stg_allocation_rules", "int_costs_allocated"} | COSTS
PRICING_ASSETS = {"stg_pricing"} | COSTS
FX_ASSETS = {"stg_fx_rates", "int_costs_converted", "int_costs_allocated"} | COSTS
PROJECT_ASSETS = {"dim_projects", "stg_billing", "quarantine_billing_rows", "int_costs_converted", "int_costs_allocated"} | COSTS


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, isolated_run_job) -> tuple[Path, Path]:
    """The sample copied to a tmp dir and 2026-01 .. 2026-04 materialized once for the module
    (the sensor only reads the billing months of stg_billing)."""
    root = tmp_path_factory.mktemp("reference_sensor")
    data = root / "sample"
    shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("warehouse.db*", ".finops"))
    db = root / "warehouse.db"
    result = isolated_run_job(data, f"sqlite:///{db}", DATA_MONTHS[0], DATA_MONTHS[-1])
    assert result.success
    return data, db


@dataclass
class Tick:
    requests: list[RunRequest]
    skip: str | None
    cursor: str | None  # the cursor after the tick (unchanged when the sensor sets none)


@dataclass
class Env:
    data: Path
    url: str

    @property
    def ref(self) -> Path:
        return self.data / "reference"

    def tick(self, cursor: str | None) -> Tick:
        resource = FinopsResource(data_dir=str(self.data), warehouse_url=self.url)
        with DagsterInstance.ephemeral() as instance:
            context = build_sensor_context(cursor=cursor, repository_def=code_location().get_repository_def(),
                                           resources={"finops": resource}, instance=instance)
            out = reference_change_sensor(context)
        if isinstance(out, SkipReason):
            return Tick([], out.skip_message, cursor)
        assert isinstance(out, SensorResult), out
        skip = out.skip_reason.skip_message if out.skip_reason else None
        return Tick(list(out.run_requests or []), skip, out.cursor if out.cursor is not None else cursor)

    def edit(self, name: str, old: str, new: str, count: int = 1) -> None:
        """Replace ``old`` (found ``count`` times) by ``new`` in the reference file ``name``."""
        path = self.ref / name
        text = path.read_text()
        assert text.count(old) == count, (name, old)
        path.write_text(text.replace(old, new))


@pytest.fixture
def env(tmp_path, warehouse) -> Env:
    """A fresh copy of the sample reference folder next to the shared warehouse."""
    data, db = warehouse
    shutil.copytree(data / "reference", tmp_path / "data" / "reference")
    return Env(tmp_path / "data", f"sqlite:///{db}")


def keys(request: RunRequest) -> set[str]:
    return {k.to_user_string() for k in request.asset_selection}


def ranges(tick: Tick) -> list[tuple[str, str]]:
    return [(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in tick.requests]


def move_sandbox_start(env: Env, day: str = "2026-04-01") -> None:
    env.edit("rules.yaml", SANDBOX_START, f"    start: {day}\n")


def test_first_tick_records_the_files_and_an_unchanged_folder_skips(env):
    first = env.tick(None)
    assert first.requests == []
    assert first.skip.startswith("first tick")
    assert json.loads(first.cursor) == json.loads(json.dumps(snapshot(env.ref)))
    second = env.tick(first.cursor)
    assert second.requests == []
    assert second.skip == "no reference file changed"
    assert second.cursor == first.cursor


def test_moving_a_rules_start_requests_one_run_over_the_affected_months_with_data(env):
    base = env.tick(None).cursor
    move_sandbox_start(env)
    tick = env.tick(base)
    assert tick.skip is None
    assert len(tick.requests) == 1
    request = tick.requests[0]
    # old window 2026-03-01.., new 2026-04-01..: only 2026-03 and 2026-04 hold data
    assert request.tags[RANGE_START_TAG] == "2026-03"
    assert request.tags[RANGE_END_TAG] == "2026-04"
    assert request.tags["finops/trigger"] == "rules.yaml changed"
    assert keys(request) == RULE_ASSETS
    assert not keys(request) & {"stg_billing", "int_costs_converted", "quarantine_billing_rows"}
    prefix, generation, content, months = request.run_key.split(":")
    assert (prefix, generation, months) == ("reference", "1", "2026-03..2026-04") and len(content) == 16
    rules = {r[0]: r for r in json.loads(tick.cursor)["rules"]}
    assert rules["sandbox-to-ml"][2:4] == ["2026-04-01", None]

    again = env.tick(base)  # e.g. a tick that failed to commit its cursor, evaluated again
    assert [(r.run_key, r.tags, keys(r)) for r in again.requests] == [(request.run_key, request.tags, keys(request))]
    assert again.cursor == tick.cursor
    assert env.tick(tick.cursor).requests == []  # the next tick sees nothing new


def test_a_description_only_edit_requests_nothing(env):
    base = env.tick(None).cursor
    env.edit("rules.yaml", "the ML team's experiment space.", "the ML team's sandbox for experiments.")
    tick = env.tick(base)
    assert tick.requests == []
    assert "no month with data is affected" in tick.skip
    assert json.loads(tick.cursor)["digests"] != json.loads(base)["digests"]


def test_a_yaml_syntax_error_requests_nothing_and_keeps_the_last_valid_rules(env):
    base = env.tick(None).cursor
    valid = env.ref.joinpath("rules.yaml").read_text()
    env.ref.joinpath("rules.yaml").write_text(valid + "  - id: broken\n    description: [unclosed\n")
    broken = env.tick(base)
    assert broken.requests == []
    assert "no month with data is affected" in broken.skip
    cursor = json.loads(broken.cursor)
    assert cursor["rules"] == json.loads(base)["rules"]
    assert cursor["digests"]["rules.yaml"] != json.loads(base)["digests"]["rules.yaml"]
    assert any("YAML syntax error" in p for p in cursor["rule_problems"])
    assert env.tick(broken.cursor).requests == []  # still broken: nothing on later ticks either

    # Fixed to a changed version: compared with the last valid rules, not "every month".
    env.ref.joinpath("rules.yaml").write_text(valid)
    move_sandbox_start(env)
    fixed = env.tick(broken.cursor)
    assert ranges(fixed) == [("2026-03", "2026-04")]
    assert keys(fixed.requests[0]) == RULE_ASSETS

    # Fixed back to exactly the last valid version: nothing to recompute.
    env.ref.joinpath("rules.yaml").write_text(valid)
    restored = env.tick(broken.cursor)
    assert restored.requests == []
    assert json.loads(restored.cursor)["rules"] == json.loads(base)["rules"]


def test_a_broken_rules_file_keeps_the_last_valid_rules_while_other_files_change(env):
    base = env.tick(None).cursor
    valid = env.ref.joinpath("rules.yaml").read_text()
    env.ref.joinpath("rules.yaml").write_text(valid + "  - id: broken\n    description: [unclosed\n")
    broken = env.tick(base)
    env.edit("budgets.csv", "checkout,2025-08,24500,USD", "checkout,2025-08,25500,USD")
    other = env.tick(broken.cursor)
    assert other.requests == []
    env.ref.joinpath("rules.yaml").write_text(valid)
    move_sandbox_start(env)
    fixed = env.tick(other.cursor)
    assert json.loads(other.cursor)["rules"] == json.loads(base)["rules"]
    assert ranges(fixed) == [("2026-03", "2026-04")]


@pytest.mark.parametrize(("name", "old", "new"), [
    pytest.param("rules.yaml", "    active: false\n", "    active: true\n", id="switch-on-rule-ending-2025"),
    pytest.param("rules.yaml", "rules:\n",
                 "rules:\n  - id: summer-2026\n    type: rename_project\n    from: analytics\n    to: search\n"
                 "    start: 2026-06-01\n    end: 2026-08-31\n", id="new-rule-after-the-data"),
    pytest.param("pricing.csv", "Tax,0,,\n", "Tax,0,,\nAmazon Simple Storage Service,3,2025-01-01,2025-12-31\n",
                 id="pricing-row-before-the-data"),
    pytest.param("budgets.csv", "checkout,2025-08,24500,USD", "checkout,2025-08,25500,USD", id="budgets"),
])
def test_a_change_outside_the_data_months_skips_and_moves_the_cursor(env, name, old, new):
    base = env.tick(None).cursor
    env.edit(name, old, new)
    tick = env.tick(base)
    assert tick.requests == []
    assert tick.skip == f"{name} changed; no month with data is affected"
    assert tick.cursor != base
    assert json.loads(tick.cursor) == {**json.loads(json.dumps(snapshot(env.ref))), "generation": 1}
    assert env.tick(tick.cursor).skip == "no reference file changed"


@pytest.mark.parametrize(("name", "old", "new", "count", "months", "assets"), [
    pytest.param("pricing.csv", "Amazon Elastic Compute Cloud,8,2026-01-01,", "Amazon Elastic Compute Cloud,10,2026-01-01,",
                 1, [("2026-01", "2026-04")], PRICING_ASSETS, id="pricing-from-stg-pricing-down"),
    pytest.param("fx_rates.csv", "2026-02,EUR,1.1776", "2026-02,EUR,1.1800", 1, [("2026-02", "2026-04")], FX_ASSETS,
                 id="fx-rate-its-month-and-later-ones-from-conversion"),
    pytest.param("projects.csv", "chen.wei@acme.example,ml,", "chen.wei@acme.example,machine-learning,", 2,
                 [("2026-01", "2026-04")], PROJECT_ASSETS, id="projects-every-month-from-stg-billing"),
])
def test_a_reference_change_recomputes_its_months_from_the_first_asset_it_feeds(env, name, old, new, count, months,
                                                                              assets):
    base = env.tick(None).cursor
    env.edit(name, old, new, count)
    tick = env.tick(base)
    assert ranges(tick) == months
    assert keys(tick.requests[0]) == assets
    assert tick.requests[0].tags["finops/trigger"] == f"{name} changed"


def test_pricing_rows_in_separate_months_request_one_run_per_range(env):
    base = env.tick(None).cursor
    env.edit("pricing.csv", "Tax,0,,\n", "Tax,0,,\nAmazon Simple Storage Service,3,2026-01-01,2026-01-31\n"
             "Amazon Simple Storage Service,4,2026-04-10,2026-04-20\n")
    tick = env.tick(base)
    assert ranges(tick) == [("2026-01", "2026-01"), ("2026-04", "2026-04")]
    assert all(keys(r) == PRICING_ASSETS for r in tick.requests)
    run_keys = [r.run_key for r in tick.requests]
    assert len(set(run_keys)) == 2
    assert {k.rsplit(":", 1)[0] for k in run_keys} == {run_keys[0].rsplit(":", 1)[0]}  # one content key


def test_two_files_changed_in_one_tick_share_one_selection(env):
    base = env.tick(None).cursor
    move_sandbox_start(env)
    env.edit("pricing.csv", "Tax,0,,\n", "Tax,0,,\nAmazon Simple Storage Service,3,2026-01-01,2026-01-31\n")
    tick = env.tick(base)
    assert ranges(tick) == [("2026-01", "2026-01"), ("2026-03", "2026-04")]
    assert all(keys(r) == RULE_ASSETS | PRICING_ASSETS for r in tick.requests)
    assert all(r.tags["finops/trigger"] == "rules.yaml, pricing.csv changed" for r in tick.requests)


def test_re_applying_a_reverted_edit_gets_a_new_run_key(env):
    original = env.ref.joinpath("rules.yaml").read_text()
    a = env.tick(None).cursor
    move_sandbox_start(env)
    first_b = env.tick(a)
    env.ref.joinpath("rules.yaml").write_text(original)
    back_to_a = env.tick(first_b.cursor)
    move_sandbox_start(env)
    second_b = env.tick(back_to_a.cursor)
    assert ranges(first_b) == ranges(back_to_a) == ranges(second_b) == [("2026-03", "2026-04")]
    assert back_to_a.requests[0].run_key != first_b.requests[0].run_key
    assert second_b.requests[0].run_key != first_b.requests[0].run_key


def _read(db: Path) -> dict:
    con = sqlite3.connect(db)
    try:
        totals = dict(con.execute("SELECT billing_month, SUM(effective_cost) FROM fct_costs_monthly GROUP BY 1"))
        by_project: dict[str, dict[str, float]] = defaultdict(dict)
        for month, project, cost in con.execute(
            "SELECT billing_month, project, SUM(effective_cost) FROM fct_costs_monthly GROUP BY 1, 2"
        ):
            by_project[month][project] = cost
        rule_rows = dict(con.execute(
            "SELECT billing_month, COUNT(*) FROM fct_costs_monthly WHERE allocation_rule_id = 'sandbox-to-ml' GROUP BY 1"
        ))
        sandbox = dict(con.execute(
            "SELECT billing_month, SUM(effective_cost) FROM fct_costs_daily WHERE sub_account_id = ? GROUP BY 1", (SANDBOX,)
        ))
        sandbox_projects: dict[str, set] = defaultdict(set)
        for month, project in con.execute(
            "SELECT DISTINCT billing_month, project FROM fct_costs_daily WHERE sub_account_id = ?", (SANDBOX,)
        ):
            sandbox_projects[month].add(project)
        loaded_at = {
            table: dict(con.execute(f"SELECT billing_month, MAX(loaded_at) FROM {table} GROUP BY 1"))
            for table in ("stg_billing", "fct_costs_monthly")
        }
    finally:
        con.close()
    return {"totals": totals, "by_project": by_project, "rule_rows": rule_rows, "sandbox": sandbox,
            "sandbox_projects": sandbox_projects, "loaded_at": loaded_at}


def test_executing_the_requested_run_moves_the_sandbox_cost_back_to_unallocated(env, warehouse, tmp_path):
    data, shared_db = warehouse
    db = tmp_path / "warehouse.db"
    with sqlite3.connect(shared_db) as src, sqlite3.connect(db) as dst:
        src.backup(dst)  # this test writes; the module's warehouse stays as the other tests read it
    src.close()
    dst.close()
    shutil.copytree(data / "landing", env.data / "landing")
    env.url = f"sqlite:///{db}"
    before = _read(db)
    assert sorted(before["totals"]) == DATA_MONTHS
    for month in ("2026-03", "2026-04"):  # the rule as shipped: the sandbox is ml-training's from 2026-03
        assert before["sandbox_projects"][month] == {"ml-training"}, month
        assert before["rule_rows"].get(month, 0) > 0
    assert before["sandbox"]["2026-03"] > 0

    base = env.tick(None).cursor
    move_sandbox_start(env)
    tick = env.tick(base)
    assert len(tick.requests) == 1
    request = tick.requests[0]

    # Run the request as the daemon would: monthly_costs_job over its range tags and its assets.
    with DagsterInstance.ephemeral() as instance:
        result = run_job(env.data, env.url, request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG], instance,
                         tags=request.tags, asset_selection=request.asset_selection)
    assert result.success
    assert materialized_assets(result) == keys(request)

    after = _read(db)
    assert sorted(after["totals"]) == DATA_MONTHS
    for month in DATA_MONTHS:  # allocation moves cost between projects; it never changes a month's total
        assert after["totals"][month] == pytest.approx(before["totals"][month], abs=0.005), month
    moved = before["sandbox"]["2026-03"]
    assert after["sandbox_projects"]["2026-03"] == {"unallocated"}
    assert after["rule_rows"].get("2026-03", 0) == 0
    assert after["by_project"]["2026-03"]["unallocated"] == pytest.approx(
        before["by_project"]["2026-03"].get("unallocated", 0.0) + moved, abs=0.005)
    assert after["by_project"]["2026-03"]["ml-training"] == pytest.approx(
        before["by_project"]["2026-03"]["ml-training"] - moved, abs=0.005)
    # 2026-04 is still covered by the rule; 2026-01 and 2026-02 were not recomputed at all.
    assert after["sandbox_projects"]["2026-04"] == {"ml-training"}
    assert after["rule_rows"]["2026-04"] == before["rule_rows"]["2026-04"]
    for month in ("2026-01", "2026-02", "2026-04"):
        assert after["by_project"][month] == pytest.approx(before["by_project"][month], abs=0.005), month
    for month in ("2026-01", "2026-02"):
        assert after["loaded_at"]["fct_costs_monthly"][month] == before["loaded_at"]["fct_costs_monthly"][month]
    for month in ("2026-03", "2026-04"):
        assert after["loaded_at"]["fct_costs_monthly"][month] != before["loaded_at"]["fct_costs_monthly"][month]
    assert after["loaded_at"]["stg_billing"] == before["loaded_at"]["stg_billing"]  # not in the selection


def test_a_budget_change_in_a_data_month_recomputes_only_the_budget_tables(env):
    base = env.tick(None).cursor
    line = next(row for row in env.ref.joinpath("budgets.csv").read_text().splitlines() if row.startswith("checkout,2026-02,"))
    env.edit("budgets.csv", line, line.replace(",USD", "0,USD"))
    tick = env.tick(base)
    assert ranges(tick) == [("2026-02", "2026-02")]
    assert keys(tick.requests[0]) == {"stg_budgets", "fct_budget_vs_actual"}
