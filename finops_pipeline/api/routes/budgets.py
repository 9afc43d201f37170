"""GET /budgets: budget against actual per project and month."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import func, or_, select

from finops_pipeline.api.csv import CSV_CONTENT, csv_response
from finops_pipeline.api.deps import MONTH_PATTERN, ReadCtx, names_param, split_list, text_param
from finops_pipeline.api.errors import bad_parameter, responses
from finops_pipeline.api.models import BudgetRow, BudgetsResponse, money, ratio
from finops_pipeline.warehouse import schema

router = APIRouter(tags=["budgets"])

STATUSES = ("under", "warning", "over", "projected_over", "no_budget")
COLUMNS = list(BudgetRow.model_fields)


@router.get("/budgets", response_model=BudgetsResponse, responses={200: {"content": CSV_CONTENT}, **responses(400, 401, 422, 503, 500)},
            summary="Budget vs actual per project and month")
def budgets(
    ctx: ReadCtx,
    month: Annotated[str | None, Query(pattern=MONTH_PATTERN, description="One billing month YYYY-MM (default: the latest)")] = None,
    year: Annotated[int | None, Query(ge=1900, le=9999, description="Every month of a year (instead of month)")] = None,
    status: names_param(STATUSES, f"Any of {', '.join(STATUSES)} (no_budget = spend without a budget)") = None,
    project: text_param("Only these projects") = None,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
):
    """Rows of fct_budget_vs_actual: budget, actual (month to date in the open month), remaining,
    % used, month-end projection and status."""
    if month is not None and year is not None:
        raise bad_parameter("year", "give month or year, not both")
    statuses = split_list("status", status, STATUSES)
    projects = split_list("project", project)
    b = schema.fct_budget_vs_actual
    conditions = ctx.scope(b.c.project)
    if projects:
        conditions.append(b.c.project.in_(projects))
    if year is not None:
        conditions += [b.c.billing_month >= f"{year:04d}-01", b.c.billing_month <= f"{year:04d}-12"]
    else:
        month = month or ctx.conn.execute(select(func.max(b.c.billing_month)).where(*conditions)).scalar()
        conditions.append(b.c.billing_month == month)
    if statuses:
        named = [s for s in statuses if s != "no_budget"]
        conditions.append(or_(b.c.status.in_(named), *([b.c.status.is_(None)] if "no_budget" in statuses else [])))
    rows = [
        BudgetRow(month=r.billing_month, project=r.project, team=r.team, budget=money(r.budget), budget_currency=r.budget_currency,
                  budget_original=money(r.budget_original), actual=money(r.actual), remaining=money(r.remaining),
                  pct_used=ratio(r.pct_used), is_open_month=bool(r.is_open_month), projected_month_end=money(r.projected_month_end),
                  status=r.status)
        for r in ctx.conn.execute(select(b).where(*conditions).order_by(b.c.billing_month, b.c.project))
    ]
    if format == "csv":
        return csv_response(COLUMNS, ([getattr(r, c) for c in COLUMNS] for r in rows), "budgets.csv")
    return BudgetsResponse(
        months=sorted({r.month for r in rows}), currency=ctx.currency(),
        total_budget=money(sum(r.budget for r in rows if r.budget is not None)),
        total_actual=money(sum(r.actual for r in rows if r.actual is not None)), rows=rows,
    )
