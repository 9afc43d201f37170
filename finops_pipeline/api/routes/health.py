"""GET /health (and /api/v1/health): no token needed; never a 500."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, func, inspect, select

from finops_pipeline.api.models import DataFreshness, Health, TableFreshness, utc
from finops_pipeline.warehouse import schema

log = logging.getLogger("finops_pipeline.api")
router = APIRouter(tags=["health"])

# The tables the API reads, and the column that says when each was last written.
FRESHNESS = (
    (schema.dim_projects, "loaded_at", True),
    (schema.fct_costs_daily, "loaded_at", False),
    (schema.fct_costs_monthly, "loaded_at", False),
    (schema.fct_kpis_monthly, "loaded_at", True),
    (schema.fct_budget_vs_actual, "loaded_at", True),
    (schema.fct_cost_forecasts, "generated_at", True),
    (schema.fct_cost_anomalies, "last_seen", True),
    (schema.fct_cost_drivers, "loaded_at", True),
    (schema.anomaly_feedback, "updated_at", True),
)


def _check(engine: Engine) -> Health:
    now = datetime.now(timezone.utc)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            present = set(inspect(conn).get_table_names())
            tables = []
            for table, column, count in FRESHNESS:
                if table.name not in present:
                    tables.append(TableFreshness(table=table.name, last_materialized_at=None, rows=None))
                    continue
                cols = [func.max(table.c[column])] + ([func.count()] if count else [])
                row = conn.execute(select(*cols).select_from(table)).one()
                tables.append(TableFreshness(table=table.name, last_materialized_at=utc(row[0]),
                                             rows=int(row[1]) if count else None))
            data = None
            missing = [t.name for t, _, _ in FRESHNESS if t.name not in present]
            if "fct_costs_daily" in present:
                d = schema.fct_costs_daily
                first, last = conn.execute(select(func.min(d.c.billing_month), func.max(d.c.billing_month))).one()
                latest = None
                if last is not None:  # the billing_month index narrows this to one month
                    latest = conn.execute(select(func.max(d.c.charge_date)).where(d.c.billing_month == last)).scalar()
                data = DataFreshness(first_billing_month=first, latest_billing_month=last, latest_charge_date=latest)
    if missing:
        return Health(status="unavailable", warehouse="reachable", dialect=engine.dialect.name, checked_at=now,
                      message=f"the warehouse has no {', '.join(missing)} yet: run `finops run`", tables=tables, data=data)
    return Health(status="ok", warehouse="reachable", dialect=engine.dialect.name, checked_at=now, tables=tables, data=data)


@router.get("/health", response_model=Health, summary="Warehouse reachability and freshness",
            responses={503: {"model": Health, "description": "The warehouse is unreachable or not built yet"}})
def health(request: Request):
    """Whether the warehouse answers, when each table the API reads was last materialized, and the
    latest charge day in the data. 503 (same body, `status: unavailable`) when the warehouse is
    down or its tables do not exist yet. No token needed."""
    engine: Engine = request.app.state.engine
    try:
        result = _check(engine)
    except Exception as exc:  # noqa: BLE001 - health must answer, whatever the warehouse does
        log.warning("health: warehouse unreachable: %s: %s", type(exc).__name__, exc)
        result = Health(status="unavailable", warehouse="unreachable", dialect=engine.dialect.name,
                        checked_at=datetime.now(timezone.utc),
                        message=f"the warehouse is unreachable ({type(exc).__name__}); see the API log", tables=[], data=None)
    if result.status != "ok":
        return JSONResponse(result.model_dump(mode="json"), status_code=503, headers={"Retry-After": "30"})
    return result
