"""GET /projects: the projects a token may see, from dim_projects and the cost data."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from finops_pipeline.api.csv import CSV_CONTENT, csv_response
from finops_pipeline.api.deps import ReadCtx, split_list, text_param
from finops_pipeline.api.errors import responses
from finops_pipeline.api.models import ProjectRow, ProjectsResponse
from finops_pipeline.warehouse import schema

router = APIRouter(tags=["projects"])
COLUMNS = list(ProjectRow.model_fields)


@router.get("/projects", response_model=ProjectsResponse, responses={200: {"content": CSV_CONTENT}, **responses(400, 401, 422, 503, 500)},
            summary="Projects with their team, owner, code and months with cost")
def projects(
    ctx: ReadCtx,
    team: text_param("Only projects of these teams") = None,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
):
    """Every project of reference/projects.csv (dim_projects) and every project with cost in
    fct_costs_monthly (e.g. `unallocated`, in_reference false), ordered by name."""
    teams = split_list("team", team)
    d, m = schema.dim_projects, schema.fct_costs_monthly
    out: dict[str, dict] = {}
    for r in ctx.conn.execute(select(d).where(*ctx.scope(d.c.project)).order_by(d.c.project)):
        ids = [a.strip() for a in (r.account_ids or "").split(",") if a.strip()]
        out[r.project] = {"project": r.project, "code": r.code, "owner": r.owner, "team": r.team, "account_ids": ids,
                          "in_reference": True, "first_month": None, "last_month": None}
    spans = select(m.c.project, func.min(m.c.billing_month), func.max(m.c.billing_month), func.max(m.c.team),
                   func.max(m.c.project_code), func.max(m.c.project_owner))
    for project, first, last, team_, code, owner in ctx.conn.execute(
            spans.where(m.c.project.is_not(None), *ctx.scope(m.c.project)).group_by(m.c.project)):
        row = out.setdefault(project, {"project": project, "code": code, "owner": owner, "team": team_, "account_ids": [],
                                       "in_reference": False})
        row.update(first_month=first, last_month=last)
    rows = [ProjectRow(**out[p]) for p in sorted(out) if not teams or out[p]["team"] in teams]
    if format == "csv":
        return csv_response(COLUMNS, ([",".join(v) if c == "account_ids" else v for c, v in ((c, getattr(r, c)) for c in COLUMNS)]
                                      for r in rows), "projects.csv")
    return ProjectsResponse(rows=rows)
