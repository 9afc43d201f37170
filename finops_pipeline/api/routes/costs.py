"""GET /costs (aggregated, paginated) and GET /heatmap (project x month). The database sums;
Python only shapes the rows."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
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
from transforms.marts.analytics.drivers import DIMENSIONS as DRIVER_DIMENSIONS
from transforms.months import month_range
from transforms.staging.billing import FINANCE_DIMENSIONS

router = APIRouter(tags=["costs"])

GROUPS = ("month", "project", "team", "service_name", "provider", "region", "sub_account_id", *FINANCE_DIMENSIONS)
_COLUMN = {"month": "billing_month"}  # group name -> column, where they differ
DAILY_ONLY = ("region", "sub_account_id")  # not in fct_costs_monthly: read from fct_costs_daily
METRICS = ("effective_cost", "billed_cost", "chargeback_cost")
# filter parameter -> column; the finance dimensions filter by their own names (?cost_center=CC-4100)
FILTERS = {"project": "project", "team": "team", "service": "service_name", "provider": "provider",
           **{d: d for d in FINANCE_DIMENSIONS}}
# the heatmap's rows: the drivers' dimensions (one list, so `dimension` means the same everywhere)
HEATMAP_DIMENSIONS = DRIVER_DIMENSIONS
ACCEPTED.update({"metric": list(METRICS), "grain": ["monthly", "daily"], "format": ["json", "csv"],
                 "dimension": list(HEATMAP_DIMENSIONS)})


def finance_filters(
    cost_center: text_param("Only these cost centers (ids)") = None,
    cost_center_name: text_param("Only these cost center names") = None,
    profit_center: text_param("Only these profit centers (ids)") = None,
    profit_center_name: text_param("Only these profit center names") = None,
    directorate: text_param("Only these directorates") = None,
    functional_area: text_param("Only these functional areas (ids)") = None,
    functional_area_name: text_param("Only these functional area names") = None,
    gl_account: text_param("Only these general-ledger accounts (numbers)") = None,
    gl_account_name: text_param("Only these general-ledger account names") = None,
    vendor: text_param("Only these vendors / suppliers / merchants") = None,
    merchant_category: text_param("Only these merchant categories") = None,
) -> dict[str, list[str]]:
    """The finance-dimension filters of /costs and /heatmap, by parameter name."""
    given = locals()
    return {name: split_list(name, given[name]) for name in FINANCE_DIMENSIONS}


FinanceFilters = Annotated[dict[str, list[str]], Depends(finance_filters)]


def _filter_conditions(t, filters: dict[str, list[str]]) -> list:
    return [t.c[FILTERS[name]].in_(values) for name, values in filters.items() if values]

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
    finance: FinanceFilters = None,
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
    filters.update(finance)
    paging = page(request, limit, cursor)

    daily = grain == "daily" or any(g in DAILY_ONLY for g in groups)
    t = schema.fct_costs_daily if daily else schema.fct_costs_monthly
    keys = ([("date", t.c.charge_date)] if grain == "daily" else []) + [(g, t.c[_COLUMN.get(g, g)]) for g in groups]
    conditions = ctx.scope(t.c.project)
    if month_from:
        conditions.append(t.c.billing_month >= month_from)
    if month_to:
        conditions.append(t.c.billing_month <= month_to)
    conditions += _filter_conditions(t, filters)
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
            summary="Project (or cost center, vendor, ...) x month matrix of a year")
def heatmap(
    ctx: ReadCtx,
    year: Annotated[int | None, Query(ge=1900, le=9999, description="Calendar year; default the year of the latest month")] = None,
    dimension: Annotated[Literal[HEATMAP_DIMENSIONS], Query(description="What the rows are: project (default), or "
                                                                         "any dimension /drivers decomposes by")] = "project",
    metric: Metric = "effective_cost",
    finance: FinanceFilters = None,
    format: Format = "json",
):
    """One row per member of `dimension` (highest total first; default project) with its cost in
    each month of the year, from fct_costs_monthly (fct_costs_daily for region and
    sub_account_id); a scoped token sees only its projects, and the totals are theirs. `member`
    names the row; `project` and `team` are filled when the rows are projects."""
    t = schema.fct_costs_daily if dimension in DAILY_ONLY else schema.fct_costs_monthly
    scope = ctx.scope(t.c.project) + _filter_conditions(t, finance)
    if year is None:
        latest = ctx.conn.execute(select(func.max(t.c.billing_month)).where(*scope)).scalar()
        year = int(latest[:4]) if latest else date.today().year
    months = month_range(f"{year:04d}-01", f"{year:04d}-12")
    member = t.c[dimension]
    stmt = (select(member, t.c.billing_month, func.max(t.c.team).label("team"), func.sum(t.c[metric]).label("cost"))
            .where(t.c.billing_month >= months[0], t.c.billing_month <= months[-1], *scope)
            .group_by(member, t.c.billing_month))
    by_project = dimension == "project"
    cells: dict[str | None, dict[str, float]] = {}
    teams: dict[str | None, tuple[str, str | None]] = {}
    for key, month, team, cost in ctx.conn.execute(stmt):
        cells.setdefault(key, {})[month] = float(cost or 0.0)
        if key not in teams or month > teams[key][0]:
            teams[key] = (month, team)
    totals = {k: sum(v.values()) for k, v in cells.items()}
    order = sorted(cells, key=lambda k: (-round(totals[k], 6), k or ""))
    rows = [HeatmapRow(member=k, project=k if by_project else None, team=teams[k][1] if by_project else None,
                       values=[money(cells[k].get(m, 0.0)) for m in months], total=money(totals[k]))
            for k in order]
    month_totals = [money(sum(cells[k].get(m, 0.0) for k in cells)) for m in months]
    if format == "csv":
        head = ["project", "team"] if by_project else [dimension]
        return csv_response([*head, *months, "total"],
                            ([*([r.project, r.team] if by_project else [r.member]), *r.values, r.total] for r in rows),
                            f"heatmap_{year}.csv" if by_project else f"heatmap_{dimension}_{year}.csv")
    return HeatmapResponse(year=year, dimension=dimension, metric=metric, currency=ctx.currency(), months=months, rows=rows,
                           month_totals=month_totals, total=money(sum(totals.values())))
