"""GET /kpis: the KPI cards of a month."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from finops_pipeline.api.deps import MONTH_PATTERN, Ctx, ReadCtx
from finops_pipeline.api.errors import not_found, responses
from finops_pipeline.api.models import KpisResponse, money, ratio
from finops_pipeline.warehouse import schema
from transforms.marts.kpis import RANK_DECIMALS, TRAILING_MONTHS, ZERO_SPEND
from transforms.months import shift_month
from transforms.staging.billing import UNALLOCATED

router = APIRouter(tags=["kpis"])


@router.get("/kpis", response_model=KpisResponse, responses=responses(400, 401, 404, 422, 503, 500),
            summary="KPI cards of a month")
def kpis(
    ctx: ReadCtx,
    month: Annotated[str | None, Query(pattern=MONTH_PATTERN, description="Billing month YYYY-MM; default the latest",
                                       examples=["2024-10"])] = None,
):
    """Total, change vs the previous calendar month, trailing-12-month average, top project,
    projects with spend and the next month's forecast. An unscoped token reads the organisation
    row of fct_kpis_monthly and the total forecast; a scoped token gets the same figures computed
    from its projects' rows of fct_costs_monthly and the sum of its projects' forecasts."""
    if ctx.scoped:
        return _scoped(ctx, month)
    k = schema.fct_kpis_monthly
    org = k.c.scope == "organisation"
    if month is None:
        month = ctx.conn.execute(select(func.max(k.c.billing_month)).where(org)).scalar()
        if month is None:
            raise not_found("no KPIs yet: the warehouse has no cost data (run `finops run`)")
    row = ctx.conn.execute(select(k).where(org, k.c.billing_month == month)).first()
    if row is None:
        first, last = ctx.conn.execute(select(func.min(k.c.billing_month), func.max(k.c.billing_month)).where(org)).one()
        raise not_found(f"no KPIs for month={month}; months with data: {first} .. {last}" if first
                        else "no KPIs yet: the warehouse has no cost data (run `finops run`)", parameter="month")
    nxt = shift_month(month, 1)
    f = schema.fct_cost_forecasts
    forecast = ctx.conn.execute(select(f.c.forecast).where(f.c.level == "total", f.c.month == nxt)).scalar()
    return KpisResponse(
        month=month, currency=row.reporting_currency or ctx.currency(), scope="organisation", projects=None,
        total_cost=money(row.total_cost), chargeback_cost=money(row.chargeback_cost), previous_month=shift_month(month, -1),
        previous_month_cost=money(row.previous_month_cost), change_abs=money(row.change_abs), change_pct=ratio(row.change_pct),
        avg_monthly_cost_12m=money(row.avg_monthly_cost_12m), top_project=row.top_project,
        top_project_cost=money(row.top_project_cost), projects_with_spend=int(row.projects_with_spend or 0),
        next_month=nxt, next_month_forecast=money(forecast),
    )


def _scoped(ctx: Ctx, month: str | None) -> KpisResponse:
    """The rules of transforms/marts/kpis.py over the token's projects: calendar months from the
    organisation's first month of data (months without cost count as 0), the previous month null
    only before that first month, ties of the top project broken alphabetically."""
    m = schema.fct_costs_monthly
    scope = ctx.scope(m.c.project)
    first = ctx.conn.execute(select(func.min(m.c.billing_month))).scalar()
    last = ctx.conn.execute(select(func.max(m.c.billing_month)).where(*scope)).scalar()
    if first is None or last is None:
        raise not_found("no cost data for this token's projects")
    month = month or last
    if not first <= month <= last:
        raise not_found(f"no KPIs for month={month}; months with data: {first} .. {last}", parameter="month")
    window_start = max(first, shift_month(month, -(TRAILING_MONTHS - 1)))
    previous = shift_month(month, -1)
    rows = ctx.conn.execute(
        select(m.c.billing_month, m.c.project, func.sum(m.c.effective_cost), func.sum(m.c.chargeback_cost))
        .where(m.c.billing_month >= min(window_start, previous), m.c.billing_month <= month, *scope)
        .group_by(m.c.billing_month, m.c.project)
    ).all()
    totals: dict[str, float] = {}
    chargeback = 0.0
    projects: dict[str, float] = {}
    for billing_month, project, effective, cb in rows:
        totals[billing_month] = totals.get(billing_month, 0.0) + float(effective or 0.0)
        if billing_month == month:
            chargeback += float(cb or 0.0)
            label = project if project is not None else UNALLOCATED
            projects[label] = projects.get(label, 0.0) + float(effective or 0.0)
    total = totals.get(month, 0.0)
    previous_cost = totals.get(previous, 0.0) if previous >= first else None
    change = total - previous_cost if previous_cost is not None else None
    change_pct = change / previous_cost * 100 if previous_cost is not None and abs(previous_cost) > ZERO_SPEND else None
    window, cursor = [], window_start
    while cursor <= month:
        window.append(cursor)
        cursor = shift_month(cursor, 1)
    average = sum(totals.get(w, 0.0) for w in window) / len(window)
    top = min(projects.items(), key=lambda kv: (-round(kv[1], RANK_DECIMALS), kv[0])) if projects else (None, None)
    nxt = shift_month(month, 1)
    f = schema.fct_cost_forecasts
    forecast = ctx.conn.execute(select(func.sum(f.c.forecast), func.count())
                                .where(f.c.level == "project", f.c.month == nxt, *ctx.scope(f.c.project))).one()
    return KpisResponse(
        month=month, currency=ctx.currency(), scope="projects", projects=sorted(ctx.allowed() or ()),
        total_cost=money(total), chargeback_cost=money(chargeback), previous_month=previous,
        previous_month_cost=money(previous_cost), change_abs=money(change), change_pct=ratio(change_pct),
        avg_monthly_cost_12m=money(average), top_project=top[0], top_project_cost=money(top[1]),
        projects_with_spend=sum(1 for v in projects.values() if abs(v) > ZERO_SPEND),
        next_month=nxt, next_month_forecast=money(forecast[0]) if forecast[1] else None,
    )
