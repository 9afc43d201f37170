"""GET /drivers: what changed a month's cost compared with the month before, by dimension."""

from __future__ import annotations

from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Query
from sqlalchemy import func, select

from finops_pipeline.api.csv import CSV_CONTENT, csv_response
from finops_pipeline.api.deps import MONTH_PATTERN, Ctx, ReadCtx
from finops_pipeline.api.errors import ACCEPTED, responses
from finops_pipeline.api.models import DriverRow, DriversResponse, money, ratio
from finops_pipeline.warehouse import schema
from transforms.marts.analytics.drivers import DIMENSIONS, build_cost_drivers
from transforms.months import shift_month

router = APIRouter(tags=["drivers"])
ACCEPTED["dimension"] = list(DIMENSIONS)
COLUMNS = list(DriverRow.model_fields)


@router.get("/drivers", response_model=DriversResponse, responses={200: {"content": CSV_CONTENT}, **responses(400, 401, 422, 503, 500)},
            summary="Month-over-month cost change by dimension (waterfall)")
def drivers(
    ctx: ReadCtx,
    month: Annotated[str | None, Query(pattern=MONTH_PATTERN, description="Billing month YYYY-MM; default the latest")] = None,
    dimension: Annotated[Literal[DIMENSIONS], Query(description="Dimension the change is decomposed by")] = "project",
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
):
    """Members' change from the previous month, largest first; the changes add up to the month's
    total change. An unscoped token reads fct_cost_drivers; for a scoped token the same
    decomposition (transforms/marts/analytics/drivers.py) is recomputed over its projects' rows of
    fct_costs_daily, so every dimension is available and sums only what it may see."""
    if ctx.scoped:
        month, rows = _recomputed(ctx, month, dimension)
        source = "fct_costs_daily"
    else:
        d = schema.fct_cost_drivers
        month = month or ctx.conn.execute(select(func.max(d.c.billing_month))).scalar()
        rows = [DriverRow(member=r.member, previous_cost=money(r.previous_cost), current_cost=money(r.current_cost),
                          change=money(r.change), share_of_change=ratio(r.share_of_change, 4), rank=int(r.rank))
                for r in ctx.conn.execute(select(d).where(d.c.billing_month == month, d.c.dimension == dimension).order_by(d.c.rank))]
        source = "fct_cost_drivers"
    if format == "csv":
        return csv_response(COLUMNS, ([getattr(r, c) for c in COLUMNS] for r in rows), f"drivers_{dimension}.csv")
    return DriversResponse(month=month, previous_month=shift_month(month, -1) if month else None, dimension=dimension,
                           currency=ctx.currency(), source=source, total_change=money(sum(r.change or 0.0 for r in rows)), rows=rows)


def _recomputed(ctx: Ctx, month: str | None, dimension: str) -> tuple[str | None, list[DriverRow]]:
    t = schema.fct_costs_daily
    scope = ctx.scope(t.c.project)
    month = month or ctx.conn.execute(select(func.max(t.c.billing_month)).where(*scope)).scalar()
    first = ctx.conn.execute(select(func.min(t.c.billing_month))).scalar()
    if month is None or first is None or month <= first:
        return month, []  # like fct_cost_drivers: from the second month of data on
    previous = shift_month(month, -1)
    column = t.c[dimension]
    found = ctx.conn.execute(select(t.c.billing_month, column.label("member"), func.sum(t.c.effective_cost).label("cost"))
                             .where(t.c.billing_month.in_([previous, month]), *scope).group_by(t.c.billing_month, column)).all()
    # zero rows for both months, so that a month without cost counts as 0 (they add nothing)
    frame = pd.DataFrame([(r.billing_month, r.member, float(r.cost or 0.0)) for r in found]
                         + [(previous, None, 0.0), (month, None, 0.0)], columns=["billing_month", "member", "cost"])
    out = build_cost_drivers(frame.assign(dimension=dimension))
    out = out[out["billing_month"] == month]
    return month, [DriverRow(member=str(r.member), previous_cost=money(r.previous_cost), current_cost=money(r.current_cost),
                             change=money(r.change), share_of_change=ratio(None if pd.isna(r.share_of_change) else r.share_of_change, 4),
                             rank=int(r.rank)) for r in out.itertuples()]
