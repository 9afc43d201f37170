"""The weekly digest: the last seven days of data against the seven before, the projects that
moved most, open anomalies and budgets at risk. Weeks end on the latest charge day in the
warehouse (bills lag by a day or two; a calendar week would compare a partial week)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select

from finops_pipeline.alerts.outbox import Alert
from finops_pipeline.alerts.rules import BUDGET_STATUSES
from finops_pipeline.settings import Settings
from finops_pipeline.warehouse import queries, schema

TOP = 5


def digest_alert(engine: Engine, settings: Settings) -> Alert | None:
    last = queries.last_charge_date(engine)
    if last is None:
        return None
    week_start = last - pd.Timedelta(days=6)
    before_start = week_start - pd.Timedelta(days=7)
    daily = queries.daily_cost_by(engine, "project", since=before_start.strftime("%Y-%m-%d"))
    this_week = daily[daily["charge_date"] >= week_start].groupby("project")["effective_cost"].sum()
    last_week = daily[daily["charge_date"] < week_start].groupby("project")["effective_cost"].sum()
    movers = pd.DataFrame({"previous": last_week, "current": this_week}).fillna(0.0)
    movers["change"] = movers["current"] - movers["previous"]
    movers = movers.reindex(movers["change"].abs().sort_values(ascending=False).index).head(TOP)
    total, previous = float(this_week.sum()), float(last_week.sum())
    with engine.connect() as conn:
        anomalies = pd.read_sql(select(schema.fct_cost_anomalies).where(schema.fct_cost_anomalies.c.status == "open"),
                                conn)
        budgets = pd.read_sql(select(schema.fct_budget_vs_actual), conn)
    anomalies = anomalies.sort_values("impact", ascending=False).head(TOP)
    if len(budgets):
        budgets = budgets[(budgets["billing_month"] == budgets["billing_month"].max())
                          & budgets["status"].isin(BUDGET_STATUSES)]
    payload = {
        "week_start": week_start.strftime("%Y-%m-%d"), "week_end": last.strftime("%Y-%m-%d"),
        "currency": settings.reporting_currency, "total": round(total, 2), "previous_total": round(previous, 2),
        "change": round(total - previous, 2),
        "change_pct": round((total - previous) / previous * 100, 1) if abs(previous) >= 0.005 else None,
        "top_movers": [{"project": p, "previous": round(r.previous, 2), "current": round(r.current, 2),
                        "change": round(r.change, 2)} for p, r in movers.iterrows()],
        "open_anomalies": [{"project": r.project, "service_name": r.service_name if isinstance(r.service_name, str) else None,
                            "period_start": pd.Timestamp(r.period_start).strftime("%Y-%m-%d"),
                            "impact": round(float(r.impact), 2), "severity": r.severity} for r in anomalies.itertuples()],
        "budgets_at_risk": [{"project": r.project, "billing_month": r.billing_month, "status": r.status,
                             "pct_used": None if pd.isna(r.pct_used) else round(float(r.pct_used), 1),
                             "projected_month_end": round(float(r.projected_month_end), 2),
                             "budget": round(float(r.budget), 2)} for r in budgets.itertuples()],
    }
    return Alert(kind="digest", dedup_key=f"digest:{payload['week_end']}", payload=payload)
