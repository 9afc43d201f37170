"""Acceptance on the bundled sample: for every month, fct_costs_monthly.effective_cost equals
the converted input total minus the quarantined rows, computed here independently of the
pipeline (stdlib csv + gzip, its own FX lookup); and a re-run changes nothing."""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from finops_pipeline.cli import main
from tests.helpers import row_counts, table_totals

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _rows(path: Path):
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    yield from csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))


def _usable_amount(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _expected_effective_usd() -> dict[str, float]:
    rates = defaultdict(dict)
    for r in _rows(SAMPLE / "reference" / "fx_rates.csv"):
        rates[r["currency"]][r["month"]] = float(r["rate"])

    def rate(currency, month):
        if currency == "USD":
            return 1.0
        earlier = [m for m in rates[currency] if m <= month]
        return rates[currency][max(earlier)]

    parts = defaultdict(list)
    for path in sorted((SAMPLE / "landing" / "billing").rglob("*.csv*")):
        for r in _rows(path):
            if None in r or None in r.values():  # wrong number of fields
                continue
            if "ChargePeriodStart" in r:  # FOCUS
                day, currency = r["ChargePeriodStart"], r["BillingCurrency"]
                billed, effective = r["BilledCost"], r["EffectiveCost"]
                effective = billed if effective in ("", "NULL") else effective
            else:  # generic
                day, currency, billed = r["date"], r["currency"], r["cost"]
                effective = billed
            if not day or day == "NULL" or len(day) < 10 or day[4] != "-" or not day[:4].isdigit():
                continue
            if currency not in ("USD", "EUR", "GBP") or _usable_amount(billed) is None:
                continue
            month = day[:7]
            parts[month].append(_usable_amount(effective) * rate(currency, month))
    return {m: math.fsum(v) for m, v in parts.items()}


def test_sample_months_add_up_and_rerun_changes_nothing(tmp_path):
    data = tmp_path / "sample"
    shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("warehouse.db*", ".finops"))
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    args = ["run", "--data-dir", str(data), "--warehouse-url", url, "--quiet"]
    assert main(args) == 0
    expected = _expected_effective_usd()
    actual = table_totals(url, "fct_costs_monthly")
    assert sorted(actual) == sorted(expected)
    for month in expected:
        assert actual[month] == pytest.approx(expected[month], abs=0.005), month  # to the cent
    quarantined = row_counts(url, ["quarantine_billing_rows"])["quarantine_billing_rows"]
    assert quarantined == 6  # the bad rows documented in data/sample/README.md

    tables = ["stg_billing", "quarantine_billing_rows", "int_costs_converted", "fct_costs_daily", "fct_costs_monthly"]
    before = {t: table_totals(url, t, "billed_cost") for t in tables}
    counts = row_counts(url, tables + ["dim_projects", "stg_fx_rates"])
    assert main(args) == 0
    assert {t: table_totals(url, t, "billed_cost") for t in tables} == before
    assert row_counts(url, tables + ["dim_projects", "stg_fx_rates"]) == counts
    assert json.dumps(actual, sort_keys=True) == json.dumps(table_totals(url, "fct_costs_monthly"), sort_keys=True)
