"""GET /forecasts: monthly forecasts for the organisation and each project."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from finops_pipeline.api.csv import CSV_CONTENT, csv_response
from finops_pipeline.api.deps import ReadCtx, split_list, text_param
from finops_pipeline.api.errors import ACCEPTED, bad_parameter, responses
from finops_pipeline.api.models import ForecastRow, ForecastsResponse, money, ratio, utc
from finops_pipeline.warehouse import schema

router = APIRouter(tags=["forecasts"])
ACCEPTED["level"] = ["total", "project"]
COLUMNS = list(ForecastRow.model_fields)
SUM_OF_PROJECTS = "sum_of_projects"


def _row(r) -> ForecastRow:
    return ForecastRow(level=r.level, project=r.project, month=r.month, forecast=money(r.forecast), lower_80=money(r.lower_80),
                       upper_80=money(r.upper_80), lower_95=money(r.lower_95), upper_95=money(r.upper_95),
                       actual_to_date=money(r.actual_to_date), model=r.model, backtest_smape=ratio(r.backtest_smape),
                       history_months=r.history_months)


@router.get("/forecasts", response_model=ForecastsResponse, responses={200: {"content": CSV_CONTENT}, **responses(400, 401, 422, 503, 500)},
            summary="Monthly cost forecasts with 80 % and 95 % intervals")
def forecasts(
    ctx: ReadCtx,
    level: Annotated[Literal["total", "project"] | None, Query(description="total or project (default both)")] = None,
    project: text_param("Only these projects' rows (project level)") = None,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
):
    """Rows of fct_cost_forecasts, the open month first. For a scoped token: its projects' rows,
    and a total per month that is the sum of those projects' forecasts (no interval)."""
    projects = split_list("project", project)
    if projects and level == "total":
        raise bad_parameter("project", "project selects project-level rows; drop it, or use level=project", ["total", "project"])
    f = schema.fct_cost_forecasts
    project_rows, total_rows = [], []
    if level != "total":
        conditions = [f.c.level == "project", *ctx.scope(f.c.project)] + ([f.c.project.in_(projects)] if projects else [])
        project_rows = [_row(r) for r in ctx.conn.execute(select(f).where(*conditions).order_by(f.c.project, f.c.month))]
    if level != "project" and not projects:
        if ctx.scoped:
            sums = ctx.conn.execute(
                select(f.c.month, func.sum(f.c.forecast), func.sum(f.c.actual_to_date), func.count(f.c.actual_to_date))
                .where(f.c.level == "project", *ctx.scope(f.c.project)).group_by(f.c.month).order_by(f.c.month)).all()
            total_rows = [ForecastRow(level="total", project=None, month=m, forecast=money(fc), lower_80=None, upper_80=None,
                                      lower_95=None, upper_95=None, actual_to_date=money(atd) if n else None, model=SUM_OF_PROJECTS,
                                      backtest_smape=None, history_months=None) for m, fc, atd, n in sums]
        else:
            total_rows = [_row(r) for r in ctx.conn.execute(select(f).where(f.c.level == "total").order_by(f.c.month))]
    rows = total_rows + project_rows
    if format == "csv":
        return csv_response(COLUMNS, ([getattr(r, c) for c in COLUMNS] for r in rows), "forecasts.csv")
    generated = ctx.conn.execute(select(func.max(f.c.generated_at))).scalar()
    return ForecastsResponse(currency=ctx.currency(), generated_at=utc(generated), total_is_sum_of_projects=ctx.scoped, rows=rows)
