"""Real anonymised FOCUS 1.0 billing data (FinOps Foundation sample, CC BY 4.0) loads completely
and to the same totals as an independent reading of the file."""

from __future__ import annotations

import csv
import math
import shutil

import pytest

from tests.conftest import SHARED_DATASETS
from tests.helpers import run_job, table_totals

FOCUS_SAMPLE = SHARED_DATASETS / "focus" / "focus-sample-data" / "FOCUS-1.0" / "focus_sample.csv"
pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not FOCUS_SAMPLE.exists(), reason=f"{FOCUS_SAMPLE} not present (../shared is not beside this clone)"),
]


def _independent_totals():
    with open(FOCUS_SAMPLE, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    months = {}
    for r in rows:
        month = r["ChargePeriodStart"][:7]
        months.setdefault(month, []).append(float(r["EffectiveCost"]))
    return len(rows), {m: math.fsum(v) for m, v in months.items()}


def test_focus_sample_loads_every_row_to_the_cent(tmp_path, sqlite_url):
    landing = tmp_path / "landing" / "billing"
    landing.mkdir(parents=True)
    shutil.copy(FOCUS_SAMPLE, landing / "focus_sample.csv")
    rows, expected = _independent_totals()
    months = sorted(expected)
    assert run_job(tmp_path, sqlite_url, months[0], months[-1]).success
    assert table_totals(sqlite_url, "fct_costs_monthly") == pytest.approx(expected, abs=1e-9)
    assert sum(table_totals(sqlite_url, "stg_billing", "source_rows").values()) == rows
    assert table_totals(sqlite_url, "quarantine_billing_rows", "billed_cost") == {}
