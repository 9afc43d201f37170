"""The same pipeline against PostgreSQL (COPY bulk path) gives the same totals as SQLite."""

from __future__ import annotations

import pytest

from tests.conftest import EXPECTED_EFFECTIVE_USD
from tests.helpers import row_counts, run_job, table_totals

pytestmark = pytest.mark.postgres

TABLES = ["stg_billing", "quarantine_billing_rows", "dim_projects", "stg_fx_rates",
          "int_costs_converted", "fct_costs_daily", "fct_costs_monthly"]


def test_postgres_matches_sqlite(data_dir, postgres_url, sqlite_url):
    assert run_job(data_dir, sqlite_url, "2024-09", "2024-10").success
    assert run_job(data_dir, postgres_url, "2024-09", "2024-10").success
    for table in ("stg_billing", "int_costs_converted", "fct_costs_daily", "fct_costs_monthly"):
        for column in ("billed_cost", "effective_cost", "list_cost"):
            assert table_totals(postgres_url, table, column) == pytest.approx(table_totals(sqlite_url, table, column), abs=1e-9)
    assert table_totals(postgres_url, "fct_costs_monthly") == pytest.approx(EXPECTED_EFFECTIVE_USD, abs=1e-9)
    assert row_counts(postgres_url, TABLES) == row_counts(sqlite_url, TABLES)


def test_postgres_rerun_is_idempotent(data_dir, postgres_url):
    assert run_job(data_dir, postgres_url, "2024-09", "2024-10").success
    counts = row_counts(postgres_url, TABLES)
    totals = table_totals(postgres_url, "fct_costs_monthly")
    assert run_job(data_dir, postgres_url, "2024-09", "2024-10").success
    assert row_counts(postgres_url, TABLES) == counts
    assert table_totals(postgres_url, "fct_costs_monthly") == totals


def test_copy_round_trips_exact_values(postgres_url):
    import pandas as pd
    from sqlalchemy import select

    from finops_pipeline.warehouse import schema, writer
    from finops_pipeline.warehouse.engine import ensure_tables, make_engine

    engine = make_engine(postgres_url)
    ensure_tables(engine)
    values = [0.1, 1e-11, 123456789.123456, -0.0000008, 2 / 3]
    frame = pd.DataFrame({
        "billing_month": "2024-09", "source_file": "f.csv", "line_number": range(len(values)), "reason": "x", "source_column": "BilledCost",
        "detail": ['quote " comma , newline \n'] * len(values), "billed_cost": values, "effective_cost": values,
        "billing_currency": "USD", "raw_values": ['{"a": "b,c"}'] * len(values),
    })
    writer.replace_month(engine, "2024-09", {schema.quarantine_billing_rows: frame})
    with engine.connect() as conn:
        got = conn.execute(select(schema.quarantine_billing_rows.c.billed_cost, schema.quarantine_billing_rows.c.detail)
                           .order_by(schema.quarantine_billing_rows.c.line_number)).all()
    assert [r[0] for r in got] == values  # bit-exact floats through COPY
    assert got[0][1] == 'quote " comma , newline \n'
    engine.dispose()
