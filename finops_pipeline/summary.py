"""The human summary printed at the end of `finops demo`."""

from __future__ import annotations

import textwrap

from sqlalchemy import func, select

from finops_pipeline.settings import Settings
from finops_pipeline.warehouse import schema
from finops_pipeline.warehouse.engine import make_engine
from transforms.money import cents


def print_summary(settings: Settings) -> None:
    engine = make_engine(settings.warehouse_url)
    m, q, s = schema.fct_costs_monthly, schema.quarantine_billing_rows, schema.stg_billing
    with engine.connect() as conn:
        months = conn.execute(select(m.c.billing_month).distinct().order_by(m.c.billing_month)).scalars().all()
        total = conn.execute(select(func.sum(m.c.effective_cost))).scalar() or 0.0
        input_rows = conn.execute(select(func.sum(s.c.source_rows))).scalar() or 0
        stg_rows = conn.execute(select(func.count()).select_from(s)).scalar() or 0
        reasons = conn.execute(select(q.c.reason, func.count()).group_by(q.c.reason).order_by(q.c.reason)).all()
        top = conn.execute(
            select(m.c.project, func.sum(m.c.effective_cost).label("cost"))
            .group_by(m.c.project).order_by(func.sum(m.c.effective_cost).desc()).limit(3)
        ).all()
        chargeback = conn.execute(select(func.sum(m.c.chargeback_cost))).scalar() or 0.0
        unallocated = conn.execute(select(func.sum(m.c.effective_cost)).where(m.c.project == "unallocated")).scalar() or 0.0
        r = schema.stg_allocation_rules
        rules = conn.execute(select(r.c.active, func.count()).group_by(r.c.active)).all()
        latest = conn.execute(
            select(m.c.billing_month, func.sum(m.c.effective_cost)).group_by(m.c.billing_month)
            .order_by(m.c.billing_month.desc()).limit(2)
        ).all()
    quarantined = sum(n for _, n in reasons)
    cur = settings.reporting_currency
    print("\n" + "=" * 72)
    print("finops-pipeline demo: summary")
    print("=" * 72)
    if months:
        print(f"Billing months      {months[0]} .. {months[-1]} ({len(months)} months)")
    print(f"Input rows loaded   {input_rows:,} (aggregated to {stg_rows:,} daily rows)")
    print(f"Quarantined rows    {quarantined}" + (f"  ({', '.join(f'{r}: {n}' for r, n in reasons)})" if reasons else ""))
    print(f"Total spend         {cents(float(total))} {cur} (effective cost)")
    for month, cost in latest:
        print(f"  {month}           {cents(float(cost))} {cur}")
    if top:
        print("Top projects        " + ", ".join(f"{p} {cents(float(c))}" for p, c in top))
    active = dict(rules)
    print(f"Allocation rules    {active.get(True, 0)} active, {active.get(False, 0)} inactive; "
          f"still unallocated {cents(float(unallocated))} {cur}")
    print(f"Chargeback total    {cents(float(chargeback))} {cur} (effective cost + pricing.csv markups)")
    print(f"Warehouse           {settings.warehouse_url}")
    print(textwrap.fill(", ".join(schema.metadata.tables), width=72, initial_indent="Tables              ",
                        subsequent_indent=" " * 20))
    print("Dagster UI          make dev  ->  http://127.0.0.1:3000")
    print("Quarantine details  SELECT * FROM quarantine_billing_rows;")
    print("=" * 72)
