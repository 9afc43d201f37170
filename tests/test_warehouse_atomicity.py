"""A month is replaced in one transaction: a failure half-way leaves the old rows visible."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from finops_pipeline.warehouse import schema, writer
from finops_pipeline.warehouse.engine import ensure_tables, make_engine
from tests.helpers import monthly_cost_frame


def test_failed_replacement_keeps_previous_month(tmp_path, monkeypatch):
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    ensure_tables(engine)
    writer.replace_month(engine, "2024-09", {schema.fct_costs_monthly: monthly_cost_frame("2024-09", 5.0)})

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer, "_insert", explode)
    with pytest.raises(RuntimeError):
        writer.replace_month(engine, "2024-09", {schema.fct_costs_monthly: monthly_cost_frame("2024-09", 7.0)})
    with engine.connect() as conn:
        costs = conn.execute(select(schema.fct_costs_monthly.c.effective_cost)).scalars().all()
    assert costs == [5.0]


def test_replacing_one_month_leaves_other_months(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    ensure_tables(engine)
    writer.replace_month(engine, "2024-09", {schema.fct_costs_monthly: monthly_cost_frame("2024-09", 5.0)})
    writer.replace_month(engine, "2024-10", {schema.fct_costs_monthly: monthly_cost_frame("2024-10", 6.0)})
    writer.replace_month(engine, "2024-10", {schema.fct_costs_monthly: monthly_cost_frame("2024-10", 8.0)})
    with engine.connect() as conn:
        rows = conn.execute(select(schema.fct_costs_monthly.c.billing_month, schema.fct_costs_monthly.c.effective_cost)
                            .order_by(schema.fct_costs_monthly.c.billing_month)).all()
    assert [tuple(r) for r in rows] == [("2024-09", 5.0), ("2024-10", 8.0)]


def test_sqlite_uses_wal(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
