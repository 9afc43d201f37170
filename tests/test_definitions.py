"""The code location loads, and every job, schedule and sensor resolves."""

from __future__ import annotations

from dagster import AssetKey

CONTRACT_ASSETS = {"stg_billing", "quarantine_billing_rows", "dim_projects", "stg_fx_rates",
                   "int_costs_converted", "fct_costs_daily", "fct_costs_monthly"}


def test_definitions_load_and_resolve():
    from finops_pipeline.definitions import defs

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
    from finops_pipeline.definitions import defs
    from finops_pipeline.defs.partitions import billing_month_partitions

    graph = defs.get_repository_def().asset_graph
    for name in CONTRACT_ASSETS - {"dim_projects", "stg_fx_rates"}:
        assert graph.get(AssetKey(name)).partitions_def == billing_month_partitions
    keys = billing_month_partitions.get_partition_keys()
    assert keys[0] == "2000-01" and all(len(k) == 7 for k in keys[:3])


def test_every_asset_has_a_docstring_and_group():
    from finops_pipeline.definitions import defs

    graph = defs.get_repository_def().asset_graph
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and len(node.description) > 40, key
        assert node.group_name in {"billing", "reference", "costs", "analytics"}, key
