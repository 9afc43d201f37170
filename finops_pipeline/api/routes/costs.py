"""GET /costs (aggregated, paginated) and GET /heatmap (project x month). The database sums;
Python only shapes the rows."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import func, select

from finops_pipeline.api.csv import CSV_CONTENT, PAGING_HEADERS, csv_response
from finops_pipeline.api.deps import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MONTH_PATTERN,
    Cursor,
    ReadCtx,
    check_range,
    names_param,
    page,
    paging_headers,
    split_list,
    text_param,
)
from finops_pipeline.api.errors import ACCEPTED, responses
from finops_pipeline.api.models import CostsResponse, HeatmapResponse, HeatmapRow, money
from finops_pipeline.warehouse import schema
from transforms.months import month_range

router = APIRouter(tags=["costs"])

GROUPS = ("month", "project", "team", "service_name", "provider", "region", "sub_account_id")
_COLUMN = {"month": "billing_month"}  # group name -> column, where they differ
DAILY_ONLY = ("region", "sub_account_id")  # not in fct_costs_monthly: read from fct_costs_daily
METRICS = ("effective_cost", "billed_cost", "chargeback_cost")
FILTERS = {"project": "project", "team": "team", "service": "service_name", "provider": "provider"}
ACCEPTED.update({"metric": list(METRICS), "grain": ["monthly", "daily"], "format": ["json", "csv"]})

Metric = Annotated[Literal["effective_cost", "billed_cost", "chargeback_cost"],
                   Query(description="Amount to sum, reporting currency")]
Format = Annotated[Literal["json", "csv"], Query(description="json, or csv (text/csv with a header row)")]
FromMonth = Annotated[str | None, Query(alias="from", pattern=MONTH_PATTERN, description="First billing month, YYYY-MM",
                                        examples=["2024-09"])]
ToMonth = Annotated[str | None, Query(alias="to", pattern=MONTH_PATTERN, description="Last billing month, YYYY-MM",
                                      examples=["2024-10"])]


@router.get("/costs", response_model=CostsResponse, response_model_exclude_unset=True,
            responses={200: {"content": CSV_CONTENT, "headers": PAGING_HEADERS}, **responses(400, 401, 422, 503, 500)},
            summary="Costs summed by any grouping, monthly or daily")
def costs(
    request: Request,
    ctx: ReadCtx,
    month_from: FromMonth = None,
    month_to: ToMonth = None,
    grain: Annotated[Literal["monthly", "daily"], Query(description="monthly: one row per group; daily: also per charge day")] = "monthly",
    group_by: names_param(GROUPS, f"Any of {', '.join(GROUPS)} (repeat, or comma-separate); default month for "
                                  "grain=monthly, none for daily. Empty (`group_by=`) = one total row") = None,
    project: text_param("Only these projects") = None,
    team: text_param("Only these teams") = None,
    service: text_param("Only these services (service_name)") = None,
    provider: text_param("Only these providers") = None,
    metric: Metric = "effective_cost",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Rows per page (max {MAX_LIMIT})")] = DEFAULT_LIMIT,
    cursor: Cursor = None,
    format: Format = "json",
):
    """Costs from fct_costs_monthly (grain=monthly) or fct_costs_daily (grain=daily, or monthly
    grouped by region / sub_account_id, which only the daily table has: then summed per billing
    month in SQL). Rows are ordered by their keys; page through them with `limit` and `cursor`."""
    check_range(month_from, month_to)
    groups = split_list("group_by", group_by, GROUPS) if group_by is not None else (["month"] if grain == "monthly" else [])
    filters = {name: split_list(name, value) for name, value in
               (("project", project), ("team", team), ("service", service), ("provider", provider))}
    paging = page(request, limit, cursor)

    daily = grain == "daily" or any(g in DAILY_ONLY for g in groups)
    t = schema.fct_costs_daily if daily else schema.fct_costs_monthly
    keys = ([("date", t.c.charge_date)] if grain == "daily" else []) + [(g, t.c[_COLUMN.get(g, g)]) for g in groups]
    conditions = ctx.scope(t.c.project)
    if month_from:
        conditions.append(t.c.billing_month >= month_from)
    if month_to:
        conditions.append(t.c.billing_month <= month_to)
    for name, values in filters.items():
        if values:
            conditions.append(t.c[FILTERS[name]].in_(values))
    stmt = select(*[c.label(label) for label, c in keys], func.sum(t.c[metric]).label("cost")).where(*conditions)
    if keys:
        columns = [c for _, c in keys]
        stmt = stmt.group_by(*columns).order_by(*[c.asc().nulls_first() for c in columns])
    rows = ctx.conn.execute(stmt.limit(paging.limit + 1).offset(paging.offset)).all()
    more = len(rows) > paging.limit
    rows = rows[:paging.limit]
    next_cursor = paging.next_cursor(more)
    labels = [label for label, _ in keys]
    headers = paging_headers(request, next_cursor)

    def amount(value):  # no keys: one total row, 0 when nothing matched
        return money(0.0 if value is None and not keys else value)

    if format == "csv":
        return csv_response([*labels, metric], ([*r[:-1], amount(r[-1])] for r in rows), "costs.csv", headers)
    # Serialized here, not by a pydantic model per row: a page of 1,000 rows spent ~17 of its
    # ~26 ms building CostRow objects (yappi, 2 cores). The shape is CostsResponse's (declared as
    # response_model for the OpenAPI document; the schemathesis fuzz checks every answer against it):
    # only the grouping's keys, then cost; dates ISO 8601.
    dated = grain == "daily"
    out = [{**dict(zip(labels, (r[0].isoformat() if dated and r[0] is not None else r[0], *r[1:-1]))), "cost": amount(r[-1])}
           for r in rows]
    body = {"grain": grain, "metric": metric, "group_by": groups, "from": month_from, "to": month_to,
            "source_table": t.name, "currency": ctx.currency(), "limit": paging.limit, "next_cursor": next_cursor,
            "rows": out}
    return Response(json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(),
                    media_type="application/json", headers=headers)


@router.get("/heatmap", response_model=HeatmapResponse, responses={200: {"content": CSV_CONTENT}, **responses(400, 401, 422, 503, 500)},
            summary="Project x month matrix of a year")
def heatmap(
    ctx: ReadCtx,
    year: Annotated[int | None, Query(ge=1900, le=9999, description="Calendar year; default the year of the latest month")] = None,
    metric: Metric = "effective_cost",
    format: Format = "json",
):
    """One row per project (highest total first) with its cost in each month of the year, from
    fct_costs_monthly; a scoped token sees only its projects, and the totals are theirs."""
    t = schema.fct_costs_monthly
    scope = ctx.scope(t.c.project)
    if year is None:
        latest = ctx.conn.execute(select(func.max(t.c.billing_month)).where(*scope)).scalar()
        year = int(latest[:4]) if latest else date.today().year
    months = month_range(f"{year:04d}-01", f"{year:04d}-12")
    stmt = (select(t.c.project, t.c.billing_month, func.max(t.c.team).label("team"), func.sum(t.c[metric]).label("cost"))
            .where(t.c.billing_month >= months[0], t.c.billing_month <= months[-1], *scope)
            .group_by(t.c.project, t.c.billing_month))
    cells: dict[str | None, dict[str, float]] = {}
    teams: dict[str | None, tuple[str, str | None]] = {}
    for project, month, team, cost in ctx.conn.execute(stmt):
        cells.setdefault(project, {})[month] = float(cost or 0.0)
        if project not in teams or month > teams[project][0]:
            teams[project] = (month, team)
    totals = {p: sum(v.values()) for p, v in cells.items()}
    order = sorted(cells, key=lambda p: (-round(totals[p], 6), p or ""))
    rows = [HeatmapRow(project=p, team=teams[p][1], values=[money(cells[p].get(m, 0.0)) for m in months], total=money(totals[p]))
            for p in order]
    month_totals = [money(sum(cells[p].get(m, 0.0) for p in cells)) for m in months]
    if format == "csv":
        return csv_response(["project", "team", *months, "total"],
                            ([r.project, r.team, *r.values, r.total] for r in rows), f"heatmap_{year}.csv")
    return HeatmapResponse(year=year, metric=metric, currency=ctx.currency(), months=months, rows=rows,
                           month_totals=month_totals, total=money(sum(totals.values())))
