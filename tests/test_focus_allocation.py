"""Allocation rules on real anonymised FOCUS 1.0 billing data (FinOps Foundation sample, CC BY 4.0):
one rule of each type that matches rows of the file, and the money still adds up to an independent
reading of the csv."""

from __future__ import annotations

import csv
import math
import shutil
import textwrap

import pandas as pd
import pytest
from sqlalchemy import create_engine

from tests.conftest import SHARED_DATASETS
from tests.helpers import check_results, run_job, table_totals

FOCUS_SAMPLE = SHARED_DATASETS / "focus" / "focus-sample-data" / "FOCUS-1.0" / "focus_sample.csv"
pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not FOCUS_SAMPLE.exists(), reason=f"{FOCUS_SAMPLE} not present (../shared is not beside this clone)"),
]

# The sample's only tagged project is Foo (Azure storage accounts, tag "Project": "Foo"); every
# other row is unallocated. The rules below each match rows of the file (checked in the test).
RULES = textwrap.dedent(
    """
    rules:
      - id: rename-foo
        description: the Foo tag is the storage team's
        type: rename_project
        from: Foo
        to: storage

      - id: ec2-us-east-1-to-compute
        type: transfer_cost
        from: unallocated
        to: compute
        match:
          service: Amazon Elastic Compute Cloud
          region: [us-east-1]

      - id: account-to-finance
        type: transfer_cost
        from: unallocated
        to: finance
        match:
          account: 11353890204
        start: 2024-09-01
        end: 2024-09-30

      - id: elb-to-network
        type: move_service
        service: Elastic Load Balancing
        from: unallocated
        to: network
        end: 2024-09-20

      - id: network-even
        type: distribute_cost
        from: network
        to: [compute, storage]
        method: even
        start: 2024-09-10

      - id: cloudwatch-to-monitoring
        type: transfer_cost
        from: unallocated
        to: monitoring
        match:
          service: AmazonCloudWatch

      - id: monitoring-fixed
        type: distribute_cost
        from: monitoring
        to: [network, compute]
        method: fixed
        weights: {network: 0.4, compute: 0.6}
        start: 2024-09-15

      - id: switched-off
        active: false
        type: rename_project
        from: compute
        to: nobody

      - id: rest-proportional
        type: distribute_cost
        from: unallocated
        to: [compute, storage, finance]
        method: proportional
        start: 2024-09-05
        end: 2024-09-25
    """
).lstrip()
APPLIED = ["rename-foo", "ec2-us-east-1-to-compute", "account-to-finance", "elb-to-network", "network-even",
           "cloudwatch-to-monitoring", "monitoring-fixed", "rest-proportional"]
PROJECTS = "project,code,owner,team,account_id\n" + "".join(
    f"{p},C-{i},owner@example.com,team-{p},\n" for i, p in enumerate(["storage", "compute", "finance", "network", "monitoring"])
)
AMOUNT_COLUMNS = {"billed_cost": "BilledCost", "effective_cost": "EffectiveCost", "list_cost": "ListCost"}


def _independent_totals() -> tuple[int, dict[str, dict[str, float]]]:
    """Rows and per-month totals of each amount column, read with the csv module."""
    with open(FOCUS_SAMPLE, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    totals: dict[str, dict[str, list[float]]] = {col: {} for col in AMOUNT_COLUMNS}
    for r in rows:
        month = r["ChargePeriodStart"][:7]
        for col, source in AMOUNT_COLUMNS.items():
            totals[col].setdefault(month, []).append(float(r[source]))
    return len(rows), {col: {m: math.fsum(v) for m, v in by_month.items()} for col, by_month in totals.items()}


@pytest.fixture(scope="module")
def allocated_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("focus_allocation") / "data"
    landing = root / "landing" / "billing"
    landing.mkdir(parents=True)
    shutil.copy(FOCUS_SAMPLE, landing / "focus_sample.csv")
    reference = root / "reference"
    reference.mkdir(parents=True)
    (reference / "rules.yaml").write_text(RULES)
    (reference / "projects.csv").write_text(PROJECTS)
    url = f"sqlite:///{root / 'warehouse.db'}"
    rows, expected = _independent_totals()
    months = sorted(expected["effective_cost"])
    result = run_job(root, url, months[0], months[-1])
    return result, url, rows, expected


def _read(url: str, table: str) -> pd.DataFrame:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return pd.read_sql(f"SELECT * FROM {table}", conn)
    finally:
        engine.dispose()


def test_monthly_totals_equal_the_csv_after_allocation(allocated_run):
    result, url, rows, expected = allocated_run
    assert result.success
    for col in AMOUNT_COLUMNS:
        assert table_totals(url, "fct_costs_monthly", col) == pytest.approx(expected[col], abs=1e-9), col
        assert table_totals(url, "int_costs_allocated", col) == pytest.approx(expected[col], abs=1e-9), col
    assert sum(table_totals(url, "fct_costs_monthly", "source_rows").values()) == rows
    assert sum(table_totals(url, "int_costs_allocated", "source_rows").values()) == rows
    assert table_totals(url, "quarantine_billing_rows", "billed_cost") == {}


def test_allocation_checks_pass(allocated_run):
    result, *_ = allocated_run
    checks = {name: passed for name, (passed, _) in check_results(result).items()}
    assert checks["allocation_conserved"] is True
    assert checks["rules_name_known_projects"] is True  # every target is in projects.csv or the data
    assert all(checks.values()), {k: v for k, v in checks.items() if not v}


def test_every_active_rule_left_rows_with_its_id(allocated_run):
    result, url, *_ = allocated_run
    allocated = _read(url, "int_costs_allocated")
    ids = set(allocated["allocation_rule_id"].dropna())
    assert ids == set(APPLIED)
    assert "switched-off" not in ids and "nobody" not in set(allocated["project"])
    rules = _read(url, "stg_allocation_rules").sort_values("rule_order")
    assert rules["rule_id"].tolist() == APPLIED[:7] + ["switched-off", "rest-proportional"]


def test_lineage_on_the_real_data(allocated_run):
    _, url, *_ = allocated_run
    allocated = _read(url, "int_costs_allocated")
    renamed = allocated[allocated["allocation_rule_id"] == "rename-foo"]
    assert len(renamed) == 19 and set(renamed["project"]) == {"storage"} and set(renamed["project_before_rules"]) == {"Foo"}
    assert "Foo" not in set(allocated["project"])
    moved = allocated[allocated["allocation_rule_id"] == "elb-to-network"]
    assert set(moved["service_name"]) == {"Elastic Load Balancing"} and set(moved["project"]) == {"network"}
    assert pd.to_datetime(moved["charge_date"]).max() < pd.Timestamp("2024-09-10")  # later days were split evenly
    for rule_id, method in (("network-even", "even"), ("monitoring-fixed", "fixed"), ("rest-proportional", "proportional")):
        split = allocated[allocated["allocation_rule_id"] == rule_id]
        assert set(split["allocation_method"]) == {method}, rule_id
        assert split["allocated_ratio"].between(0, 1).all(), rule_id
    unsplit = allocated[allocated["allocation_method"].isna()]
    assert unsplit["allocated_ratio"].isna().all()
    # unallocated cost is left only outside the proportional rule's window
    left = pd.to_datetime(allocated.loc[allocated["project"] == "unallocated", "charge_date"])
    assert ((left < pd.Timestamp("2024-09-05")) | (left > pd.Timestamp("2024-09-25"))).all()
    # monitoring keeps only its days before the fixed split's window
    monitoring = pd.to_datetime(allocated.loc[allocated["project"] == "monitoring", "charge_date"])
    assert len(monitoring) and (monitoring < pd.Timestamp("2024-09-15")).all()
