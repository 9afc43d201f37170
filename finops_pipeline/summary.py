"""The human summary printed at the end of `finops demo`."""

from __future__ import annotations

import textwrap

from sqlalchemy import func, select

from finops_pipeline.settings import Settings
from finops_pipeline.warehouse import schema
from finops_pipeline.warehouse.engine import warehouse_engine
from transforms.money import cents


def print_summary(settings: Settings) -> None:
    engine = warehouse_engine(settings.warehouse_url)
    m, q, s = schema.fct_costs_monthly, schema.quarantine_billing_rows, schema.stg_billing
    with engine.connect() as conn:
        months = conn.execute(select(m.c.billing_month).distinct().order_by(m.c.billing_month)).scalars().all()
        total = conn.execute(select(func.sum(m.c.effective_cost))).scalar() or 0.0
        input_rows = conn.execute(select(func.sum(s.c.source_rows))).scalar() or 0
        stg_rows = conn.execute(select(func.count()).select_from(s)).scalar() or 0
        reasons = conn.execute(select(q.c.reason, func.count()).group_by(q.c.reason).order_by(q.c.reason)).all()
        x = schema.excluded_billing_rows
        excluded = conn.execute(select(x.c.reason, func.count()).group_by(x.c.reason).order_by(x.c.reason)).all()
        top = conn.execute(
            select(m.c.project, func.sum(m.c.effective_cost).label("cost"))
            .group_by(m.c.project).order_by(func.sum(m.c.effective_cost).desc()).limit(3)
        ).all()
        chargeback = conn.execute(select(func.sum(m.c.chargeback_cost))).scalar() or 0.0
        unallocated = conn.execute(select(func.sum(m.c.effective_cost)).where(m.c.project == "unallocated")).scalar() or 0.0
        r = schema.stg_allocation_rules
        rules = conn.execute(select(r.c.active, func.count()).group_by(r.c.active)).all()
        b = schema.fct_budget_vs_actual
        latest_budget_month = conn.execute(select(func.max(b.c.billing_month))).scalar()
        at_risk = conn.execute(
            select(b.c.project, b.c.status).where(b.c.billing_month == latest_budget_month,
                                                   b.c.status.in_(["warning", "over", "projected_over"]))
            .order_by(b.c.project)
        ).all()
        a = schema.fct_cost_anomalies
        anomalies = conn.execute(select(a.c.status, func.count()).group_by(a.c.status)).all()
        top_anomaly = conn.execute(
            select(a.c.period_start, a.c.project, a.c.service_name, a.c.impact, a.c.severity)
            .where(a.c.status == "open").order_by(a.c.impact.desc()).limit(1)
        ).first()
        f = schema.fct_cost_forecasts
        forecast = conn.execute(select(f.c.month, f.c.forecast, f.c.lower_80, f.c.upper_80)
                                .where(f.c.level == "total").order_by(f.c.month)).all()
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
    if excluded:  # statements only: card payments, transfers, deposits
        print(f"Excluded rows       {sum(n for _, n in excluded)}  ({', '.join(f'{r}: {n}' for r, n in excluded)})")
    print(f"Total spend         {cents(float(total))} {cur} (effective cost)")
    for month, cost in latest:
        print(f"  {month}           {cents(float(cost))} {cur}")
    if top:
        print("Top projects        " + ", ".join(f"{p} {cents(float(c))}" for p, c in top))
    active = dict(rules)
    print(f"Allocation rules    {active.get(True, 0)} active, {active.get(False, 0)} inactive; "
          f"still unallocated {cents(float(unallocated))} {cur}")
    print(f"Chargeback total    {cents(float(chargeback))} {cur} (effective cost + pricing.csv markups)")
    if latest_budget_month:
        risk = ", ".join(f"{p} ({s.replace('_', ' ')})" for p, s in at_risk) or "none"
        print(f"Budgets {latest_budget_month}     at risk: {risk}")
    counts = dict(anomalies)
    print(f"Anomalies           {sum(counts.values())} ({', '.join(f'{k}: {v}' for k, v in sorted(counts.items())) or 'none'})")
    if top_anomaly:
        day, project, service, impact, severity = top_anomaly
        print(f"  largest open      {day} {project}{' / ' + service if service else ''}: +{cents(float(impact))} {cur} "
              f"({severity})")
    for month, value, low, high in forecast:
        print(f"Forecast {month}    {cents(float(value))} {cur} (80%: {cents(float(low))} .. {cents(float(high))})")
    print(f"Warehouse           {settings.warehouse_url}")
    print(textwrap.fill(", ".join(schema.metadata.tables), width=72, initial_indent="Tables              ",
                        subsequent_indent=" " * 20))
    print("Dagster UI          make dev  ->  http://127.0.0.1:3000")
    print("Quarantine details  SELECT * FROM quarantine_billing_rows;")
    print("=" * 72)
