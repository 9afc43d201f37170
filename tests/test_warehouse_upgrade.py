"""A warehouse written by an earlier version gains the columns and indexes of the current table
contract on the next `ensure_tables` (when a process first gets its engine from `warehouse_engine`,
and at `finops api` start), and keeps its rows; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import inspect, text

from finops_pipeline.warehouse import schema
from finops_pipeline.warehouse.engine import ensure_tables, make_engine

# The read API's covering index for costs by month and project (SQLite only), and the month index.
INDEXES = {"sqlite": "ix_fct_costs_monthly_month_project", "postgresql": "ix_fct_costs_monthly_billing_month"}


def _row() -> dict:
    """A monthly row: every NOT NULL column filled, effective_cost 12.5."""
    row = {"billing_month": "2024-10", "project": "checkout", "effective_cost": 12.5}
    for column in schema.fct_costs_monthly.columns:
        if not column.nullable and column.name not in row:
            kind = column.type.python_type
            row[column.name] = 0 if kind in (int, float) else datetime.now(timezone.utc) if kind is datetime else "x"
    return row


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'warehouse.db'}"


def test_an_older_warehouse_gains_new_columns_and_indexes_and_keeps_its_rows(url):
    engine = make_engine(url)
    INDEX = INDEXES[engine.dialect.name]
    ensure_tables(engine)
    if engine.dialect.name == "postgresql":  # the SQLite-only index is never made here
        assert INDEXES["sqlite"] not in {i["name"] for i in inspect(engine).get_indexes("fct_costs_monthly")}
    with engine.begin() as conn:  # what an earlier version left: no covering index, no chargeback column
        conn.execute(schema.fct_costs_monthly.insert().values(_row()))
        conn.exec_driver_sql(f"DROP INDEX {INDEX}")
        conn.exec_driver_sql("ALTER TABLE fct_costs_monthly DROP COLUMN chargeback_cost")
    assert INDEX not in {i["name"] for i in inspect(engine).get_indexes("fct_costs_monthly")}

    ensure_tables(engine)

    existing = inspect(engine)
    assert INDEX in {i["name"] for i in existing.get_indexes("fct_costs_monthly")}
    assert "chargeback_cost" in {c["name"] for c in existing.get_columns("fct_costs_monthly")}
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT project, effective_cost, chargeback_cost FROM fct_costs_monthly")).all()
    assert [tuple(r) for r in rows] == [("checkout", 12.5, None)]  # kept; the new column null until re-run
    ensure_tables(engine)  # nothing left to do: no error, no change
    engine.dispose()
