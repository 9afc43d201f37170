"""Aggregating reads of the warehouse for the analytics assets and the alerts: the database sums,
pandas gets small frames. Column names come from the table contracts, never from input."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, func, select, union

from finops_pipeline.warehouse import schema


def _read(engine: Engine, stmt) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(stmt, conn)


def monthly_cost_by(engine: Engine, *columns: str) -> pd.DataFrame:
    """billing_month, *columns, effective_cost summed from fct_costs_monthly."""
    t = schema.fct_costs_monthly
    keys = [t.c.billing_month, *[t.c[c] for c in columns]]
    return _read(engine, select(*keys, func.sum(t.c.effective_cost).label("effective_cost")).group_by(*keys))


def daily_cost_by(engine: Engine, *columns: str, since: str | None = None) -> pd.DataFrame:
    """charge_date, billing_month, *columns, effective_cost summed from fct_costs_daily."""
    t = schema.fct_costs_daily
    keys = [t.c.charge_date, t.c.billing_month, *[t.c[c] for c in columns]]
    stmt = select(*keys, func.sum(t.c.effective_cost).label("effective_cost")).group_by(*keys)
    if since is not None:
        stmt = stmt.where(t.c.charge_date >= pd.Timestamp(since).date())
    frame = _read(engine, stmt)
    frame["charge_date"] = pd.to_datetime(frame["charge_date"])
    return frame


def last_charge_date(engine: Engine) -> pd.Timestamp | None:
    t = schema.fct_costs_daily
    with engine.connect() as conn:
        value = conn.execute(select(func.max(t.c.charge_date))).scalar()
    return pd.Timestamp(value) if value is not None else None


def member_costs(engine: Engine, dimensions: tuple[str, ...]) -> pd.DataFrame:
    """billing_month, dimension, member, cost: fct_costs_monthly (fct_costs_daily for the
    dimensions only it has: region, sub_account_id) summed per month and member of each dimension
    (one GROUP BY per dimension)."""
    parts = []
    for dimension in dimensions:
        t = schema.fct_costs_monthly if dimension in schema.fct_costs_monthly.c else schema.fct_costs_daily
        column = t.c[dimension]
        frame = _read(engine, select(t.c.billing_month, column.label("member"),
                                     func.sum(t.c.effective_cost).label("cost")).group_by(t.c.billing_month, column))
        parts.append(frame.assign(dimension=dimension))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["billing_month", "member", "cost", "dimension"])


def first_charge_date_by_project(engine: Engine) -> pd.Series:
    """Each project's first charge day in fct_costs_daily (a project is new from then on)."""
    t = schema.fct_costs_daily
    frame = _read(engine, select(t.c.project, func.min(t.c.charge_date).label("first")).group_by(t.c.project))
    return pd.to_datetime(frame.set_index("project")["first"]) if len(frame) else pd.Series(dtype="datetime64[ns]")


def loaded_months(engine: Engine) -> set[str]:
    """Billing months the warehouse holds: rows in stg_billing, quarantine_billing_rows or
    excluded_billing_rows (a month whose rows were all quarantined, or all card payments, was
    still loaded)."""
    query = union(*(select(t.c.billing_month) for t in (schema.stg_billing, schema.quarantine_billing_rows,
                                                          schema.excluded_billing_rows)))
    with engine.connect() as conn:
        return {m for (m,) in conn.execute(query) if m}
