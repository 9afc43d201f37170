"""The code location loads, and every job, schedule and sensor resolves."""

from __future__ import annotations

from dagster import AssetKey

from tests.helpers import code_location

CONTRACT_ASSETS = {"stg_billing", "quarantine_billing_rows", "dim_projects", "stg_fx_rates",
                   "int_costs_converted", "fct_costs_daily", "fct_costs_monthly"}


def test_definitions_load_and_resolve():
    defs = code_location()

    repo = defs.get_repository_def()
    for job in repo.get_all_jobs():
        assert job.name
    for schedule in repo.schedule_defs:
        assert schedule.job_name in {j.name for j in repo.get_all_jobs()}
    for sensor in repo.sensor_defs:
        assert sensor.name
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert keys >= CONTRACT_ASSETS


def test_monthly_tables_share_one_partitioning():
    defs = code_location()
    from finops_pipeline.defs.partitions import billing_month_partitions

    graph = defs.get_repository_def().asset_graph
    for name in CONTRACT_ASSETS - {"dim_projects", "stg_fx_rates"}:
        assert graph.get(AssetKey(name)).partitions_def == billing_month_partitions
    keys = billing_month_partitions.get_partition_keys()
    assert keys[0] == "2000-01" and all(len(k) == 7 for k in keys[:3])


def test_every_asset_has_a_docstring_and_group():
    defs = code_location()

    graph = defs.get_repository_def().asset_graph
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and len(node.description) > 40, key
        assert node.group_name in {"billing", "reference", "costs", "analytics"}, key


def test_the_defs_folder_is_loaded_whole():
    """definitions.py names nothing: every asset, job, schedule and sensor under defs/ is found by
    Dagster's autoloading, each once, with the resources and executor of defs/resources.py."""
    defs = code_location()
    repo = defs.get_repository_def()
    assets = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert assets == {
        "stg_billing", "quarantine_billing_rows", "excluded_billing_rows", "dim_projects", "stg_fx_rates", "stg_allocation_rules",
        "stg_pricing", "stg_budgets", "int_costs_converted", "int_costs_allocated", "fct_costs_daily",
        "fct_costs_monthly", "fct_kpis_monthly", "fct_budget_vs_actual", "fct_cost_drivers", "fct_cost_anomalies",
        "fct_cost_forecasts",
    }
    assert {s.name for s in repo.sensor_defs} == {
        "landing_sensor", "reference_change_sensor", "alert_outbox_sensor", "alert_delivery_sensor",
        "run_failure_alert_sensor",
    }
    assert {s.name for s in repo.schedule_defs} == {"nightly_schedule", "weekly_digest_schedule"}
    assert {j.name for j in repo.get_all_jobs()} >= {"monthly_costs_job", "weekly_digest_job"}
    assert "finops" in defs.resources
    assert defs.executor.name == "in_process"


def test_dagster_definitions_validate_passes(tmp_path):
    """What `dagster dev` and the code server load, checked by Dagster's own validator, run in the
    project folder as a user would (pyproject.toml's [tool.dagster] names the location)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("")
    proc = subprocess.run([str(Path(sys.executable).with_name("dagster")), "definitions", "validate"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Validation successful for code location finops_pipeline" in output, output
    assert "does not match" not in output, output  # the location's name is the one pyproject.toml gives
