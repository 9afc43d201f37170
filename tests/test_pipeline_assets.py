"""The monthly job materialized in process against SQLite: money adds up, re-runs are
idempotent, bad input is quarantined or fails only the months it can affect."""

from __future__ import annotations

import gzip
import json

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import EXPECTED_EFFECTIVE_USD, EXPECTED_QUARANTINE_REASONS
from tests.helpers import FOCUS_HEADER, check_results, focus_row, row_counts, run_job, table_totals, write_csv

ALL_TABLES = ["stg_billing", "quarantine_billing_rows", "dim_projects", "stg_fx_rates", "stg_allocation_rules",
              "stg_pricing", "int_costs_converted", "int_costs_allocated", "fct_costs_daily", "fct_costs_monthly",
              "fct_kpis_monthly"]


def test_fct_costs_monthly_equals_converted_input_minus_quarantined(data_dir, sqlite_url):
    result = run_job(data_dir, sqlite_url, "2024-09", "2024-10")
    assert result.success
    totals = table_totals(sqlite_url, "fct_costs_monthly")
    assert totals == pytest.approx(EXPECTED_EFFECTIVE_USD, abs=1e-9)
    # every layer carries the same money
    for table in ("int_costs_converted", "int_costs_allocated", "fct_costs_daily"):
        assert table_totals(sqlite_url, table) == pytest.approx(EXPECTED_EFFECTIVE_USD, abs=1e-9)


def test_checks_pass_and_carried_forward_fx_rate_is_a_warning(data_dir, sqlite_url):
    result = run_job(data_dir, sqlite_url, "2024-09", "2024-10")
    checks = check_results(result)
    for blocking in ("rows_conserved", "great_expectations", "amounts_conserved", "allocation_conserved",
                     "totals_match_allocated", "totals_match_daily", "kpis_match_monthly"):
        assert checks[blocking] == (True, "ERROR"), blocking
    assert checks["fx_rates_exact"] == (False, "WARN")
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        sources = dict(conn.execute(text(
            "SELECT billing_month, fx_rate_source FROM int_costs_converted WHERE billing_currency = 'EUR'"
        )).all())
    assert sources == {"2024-09": "exact", "2024-10": "carried_forward:2024-09"}


def test_quarantine_has_each_bad_row_with_file_line_and_reason(data_dir, sqlite_url):
    assert run_job(data_dir, sqlite_url, "2024-09", "2024-10").success
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT source_file, line_number, reason, billing_month, raw_values FROM quarantine_billing_rows"
        )).all()
    by_reason = {r.reason: r for r in rows}
    assert set(by_reason) == EXPECTED_QUARANTINE_REASONS
    assert (by_reason["missing_date"].source_file, by_reason["missing_date"].line_number) == ("aws/focus_aws.csv", 8)
    assert by_reason["unparseable_amount"].line_number == 9
    assert by_reason["invalid_currency"].line_number == 10
    assert by_reason["malformed_row"].line_number == 11
    assert (by_reason["unparseable_date"].source_file, by_reason["unparseable_date"].line_number) == ("finance/saas_expenses.csv", 4)
    assert json.loads(by_reason["unparseable_amount"].raw_values)["BilledCost"] == "n/a"
    # undated rows are filed under a month so that re-runs replace them (billing period here)
    assert by_reason["missing_date"].billing_month == "2024-09"


def test_input_rows_equal_loaded_plus_quarantined(data_dir, sqlite_url):
    assert run_job(data_dir, sqlite_url, "2024-09", "2024-10").success
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        loaded = conn.execute(text("SELECT SUM(source_rows) FROM stg_billing")).scalar()
        quarantined = conn.execute(text("SELECT COUNT(*) FROM quarantine_billing_rows")).scalar()
    input_rows = 10 + 1 + 3  # aws (9 + 1 malformed), azure, generic
    assert loaded + quarantined == input_rows
    assert quarantined == len(EXPECTED_QUARANTINE_REASONS)


def test_rerun_is_idempotent(data_dir, sqlite_url):
    assert run_job(data_dir, sqlite_url, "2024-09", "2024-10").success
    first = {t: table_totals(sqlite_url, t) for t in ("stg_billing", "fct_costs_daily", "fct_costs_monthly")}
    counts = row_counts(sqlite_url, ALL_TABLES)
    assert run_job(data_dir, sqlite_url, "2024-09", "2024-10").success
    assert run_job(data_dir, sqlite_url, "2024-10").success  # a single month again
    assert {t: table_totals(sqlite_url, t) for t in first} == first
    assert row_counts(sqlite_url, ALL_TABLES) == counts


def test_broken_gzip_fails_only_its_month_and_leaves_tables_untouched(data_dir, sqlite_url):
    assert run_job(data_dir, sqlite_url, "2024-09", "2024-10").success
    before = table_totals(sqlite_url, "fct_costs_monthly")
    line = ",".join(str(v) for v in focus_row("2024-10-02 00:00:00", 1.0)) + "\n"
    good = gzip.compress((",".join(FOCUS_HEADER) + "\n" + line * 5000).encode())
    broken = data_dir / "landing" / "billing" / "aws" / "2024-10" / "restated.csv.gz"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(good[: len(good) // 2])

    failed = run_job(data_dir, sqlite_url, "2024-10")
    assert not failed.success
    message = " ".join(str(e.step_failure_data.error.message) for e in failed.all_events if e.is_step_failure)
    assert "aws/2024-10/restated.csv.gz" in message and "gzip" in message
    assert table_totals(sqlite_url, "fct_costs_monthly") == before  # 2024-10 untouched

    assert run_job(data_dir, sqlite_url, "2024-09").success  # another month still loads
    assert table_totals(sqlite_url, "fct_costs_monthly") == before


def test_unknown_header_names_the_file_and_the_formats(data_dir, sqlite_url):
    (data_dir / "landing" / "billing" / "mystery.csv").write_text("when,what,how_much\n2024-09-01,x,1\n")
    result = run_job(data_dir, sqlite_url, "2024-09")
    assert not result.success
    message = " ".join(str(e.step_failure_data.error.message) for e in result.all_events if e.is_step_failure)
    assert "mystery.csv" in message and "unknown billing format" in message and "generic" in message


def test_missing_fx_rate_fails_the_partition_with_the_fix(data_dir, sqlite_url):
    write_csv(data_dir / "landing" / "billing" / "gbp.csv", FOCUS_HEADER, [focus_row("2024-09-20 00:00:00", 8.0, currency="GBP")])
    result = run_job(data_dir, sqlite_url, "2024-09")
    assert not result.success
    message = " ".join(str(e.step_failure_data.error.message) for e in result.all_events if e.is_step_failure)
    assert "GBP in 2024-09" in message and "fx_rates.csv" in message
    # staging succeeded; nothing downstream was written for the month
    assert table_totals(sqlite_url, "fct_costs_monthly") == {}


def test_open_month_is_reloaded_when_the_file_is_restated(data_dir, sqlite_url):
    assert run_job(data_dir, sqlite_url, "2024-09", "2024-10").success
    path = data_dir / "landing" / "billing" / "finance" / "saas_expenses.csv"
    path.write_text(path.read_text().replace("2024-10-10,,GitHub,30.00", "2024-10-10,,GitHub,40.00"))
    assert run_job(data_dir, sqlite_url, "2024-10").success
    assert table_totals(sqlite_url, "fct_costs_monthly")["2024-10"] == pytest.approx(20.0 + 1.125 + 40.0 * 1.10)
