"""GET /anomalies and POST /anomalies/{anomaly_id}/acknowledge."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy import Connection, insert, select, update

from finops_pipeline.api.auth import Principal, require
from finops_pipeline.api.csv import CSV_CONTENT, PAGING_HEADERS, csv_response
from finops_pipeline.api.deps import (
    DAY_OR_MONTH_PATTERN,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Ctx,
    Cursor,
    ReadCtx,
    check_range,
    day_or_month,
    names_param,
    page,
    paging_headers,
    split_list,
    text_param,
)
from finops_pipeline.api.errors import ACCEPTED, ApiError, bad_parameter, not_found, responses
from finops_pipeline.api.models import AcknowledgeRequest, AnomaliesResponse, Anomaly, RootCause, money, ratio, utc
from finops_pipeline.warehouse import schema

router = APIRouter(tags=["anomalies"])

STATUSES = ("open", "acknowledged", "resolved")
SEVERITIES = ("low", "medium", "high", "critical")
ACCEPTED.update({"grain": ["monthly", "daily"]})
CSV_COLUMNS = [c for c in Anomaly.model_fields]


def _root_causes(text: str | None) -> list[RootCause]:
    try:
        items = json.loads(text) if text else []
    except ValueError:
        return []
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("dimension"), str):
            member = item.get("member")
            out.append(RootCause(dimension=item["dimension"], member=None if member is None else str(member),
                                 impact=money(item.get("impact")) if isinstance(item.get("impact"), int | float) else None,
                                 share=ratio(item.get("share"), 4) if isinstance(item.get("share"), int | float) else None))
    return out


def _anomaly(r) -> Anomaly:
    return Anomaly(
        anomaly_id=r.anomaly_id, grain=r.grain, period_start=r.period_start, project=r.project, team=r.team,
        service_name=r.service_name, currency=r.reporting_currency, actual_cost=money(r.actual_cost),
        expected_cost=money(r.expected_cost), impact=money(r.impact), impact_pct=ratio(r.impact_pct), score=ratio(r.score, 4),
        severity=r.severity, methods=[m.strip() for m in (r.methods or "").split(",") if m.strip()],
        root_cause=_root_causes(r.root_cause), status=r.status, status_note=r.status_note,
        first_seen=utc(r.first_seen), last_seen=utc(r.last_seen),
    )


def _csv_value(row: Anomaly, column: str):
    value = getattr(row, column)
    if column == "methods":
        return ",".join(value)
    if column == "root_cause":
        return json.dumps([c.model_dump() for c in value])
    return value


@router.get("/anomalies", response_model=AnomaliesResponse,
            responses={200: {"content": CSV_CONTENT, "headers": PAGING_HEADERS}, **responses(400, 401, 422, 503, 500)},
            summary="Cost anomalies, newest first")
def anomalies(
    request: Request,
    response: Response,
    ctx: ReadCtx,
    status: names_param(STATUSES, f"Any of {', '.join(STATUSES)}") = None,
    severity: names_param(SEVERITIES, f"Any of {', '.join(SEVERITIES)}") = None,
    project: text_param("Only these projects") = None,
    service: text_param("Only these services (project x service anomalies)") = None,
    grain: Annotated[Literal["daily", "monthly"] | None, Query(description="daily or monthly (default both)")] = None,
    date_from: Annotated[str | None, Query(alias="from", pattern=DAY_OR_MONTH_PATTERN,
                                           description="First period_start, YYYY-MM-DD or YYYY-MM (its first day)")] = None,
    date_to: Annotated[str | None, Query(alias="to", pattern=DAY_OR_MONTH_PATTERN,
                                         description="Last period_start, YYYY-MM-DD or YYYY-MM (its last day)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Rows per page (max {MAX_LIMIT})")] = DEFAULT_LIMIT,
    cursor: Cursor = None,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
):
    """Rows of fct_cost_anomalies ordered by period_start (newest first), then anomaly_id."""
    statuses = split_list("status", status, STATUSES)
    severities = split_list("severity", severity, SEVERITIES)
    projects, services = split_list("project", project), split_list("service", service)
    first, last = day_or_month("from", date_from, end=False), day_or_month("to", date_to, end=True)
    check_range(first.isoformat() if first else None, last.isoformat() if last else None)
    paging = page(request, limit, cursor)
    a = schema.fct_cost_anomalies
    conditions = ctx.scope(a.c.project)
    for column, values in ((a.c.status, statuses), (a.c.severity, severities), (a.c.project, projects), (a.c.service_name, services)):
        if values:
            conditions.append(column.in_(values))
    if grain:
        conditions.append(a.c.grain == grain)
    if first:
        conditions.append(a.c.period_start >= first)
    if last:
        conditions.append(a.c.period_start <= last)
    stmt = (select(a).where(*conditions).order_by(a.c.period_start.desc(), a.c.anomaly_id)
            .limit(paging.limit + 1).offset(paging.offset))
    rows = ctx.conn.execute(stmt).all()
    more = len(rows) > paging.limit
    items = [_anomaly(r) for r in rows[:paging.limit]]
    next_cursor = paging.next_cursor(more)
    headers = paging_headers(request, next_cursor)
    if format == "csv":
        return csv_response(CSV_COLUMNS, ([_csv_value(r, c) for c in CSV_COLUMNS] for r in items), "anomalies.csv", headers)
    response.headers.update(headers)
    return AnomaliesResponse(limit=paging.limit, next_cursor=next_cursor, rows=items)


def _visible(conn: Connection, ctx: Ctx, anomaly_id: str):
    a = schema.fct_cost_anomalies
    return conn.execute(select(a).where(a.c.anomaly_id == anomaly_id, *ctx.scope(a.c.project))).first()


async def _acknowledge_body(request: Request, principal: Annotated[Principal, Depends(require("analyst"))]
                            ) -> AcknowledgeRequest | None:
    """The optional JSON body, read only once the token is known to be allowed to act: a Body()
    parameter would make FastAPI parse it before authenticating, so a request without a token
    would learn about body errors instead of getting its 401."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ApiError(422, "validation_error", 'the body must be UTF-8 JSON like {"note": "expected"}',
                       parameter="body") from exc
    try:
        return None if data is None else AcknowledgeRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else "body"
        raise ApiError(422, "validation_error", f"{field}: {first['msg']} (the body is {{\"note\": text of at most "
                       "1000 characters}})", parameter=field) from exc


@router.post("/anomalies/{anomaly_id}/acknowledge", response_model=Anomaly,
             responses=responses(400, 401, 403, 404, 422, 503, 500), summary="Acknowledge an anomaly (analyst, admin)",
             openapi_extra={"requestBody": {
                 "required": False, "description": 'Optional: {"note": "expected" | "planned" | free text}',
                 "content": {"application/json": {"schema": AcknowledgeRequest.model_json_schema()}}}})
def acknowledge(
    request: Request,
    anomaly_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,128}$", description="anomaly_id from GET /anomalies")],
    principal: Annotated[Principal, Depends(require("analyst"))],
    body: Annotated[AcknowledgeRequest | None, Depends(_acknowledge_body)],
):
    """Records the acknowledgement in anomaly_feedback (kept across every pipeline run) and sets
    the anomaly's status and status_note in fct_cost_anomalies at once, in one transaction. Alerts
    stop for it. 404 for an unknown anomaly or one outside the token's projects."""
    if "\x00" in anomaly_id:
        raise bad_parameter("anomaly_id", "anomaly_id contains a NUL character")
    note = (body.note.strip() or None) if body and body.note else None
    if note and "\x00" in note:
        raise ApiError(422, "validation_error", "note contains a NUL character", parameter="note")
    engine = request.app.state.engine
    a, fb = schema.fct_cost_anomalies, schema.anomaly_feedback
    with engine.connect().execution_options(writer=True) as conn, conn.begin():
        ctx = Ctx(conn, principal, request.app.state.settings)
        if _visible(conn, ctx, anomaly_id) is None:
            raise not_found(f"no anomaly {anomaly_id[:128]!r} visible to this token", parameter="anomaly_id")
        now = datetime.now(timezone.utc)
        conn.execute(insert(fb).values(anomaly_id=anomaly_id, status="acknowledged", note=note,
                                       updated_by=principal.name, updated_at=now))
        conn.execute(update(a).where(a.c.anomaly_id == anomaly_id).values(status="acknowledged", status_note=note))
        row = _visible(conn, ctx, anomaly_id)
    return _anomaly(row)
