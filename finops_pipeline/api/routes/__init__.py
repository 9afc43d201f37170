"""The /api/v1 routers. Every data route needs a bearer token and rejects unknown parameters."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from finops_pipeline.api.auth import authenticate
from finops_pipeline.api.deps import check_query
from finops_pipeline.api.routes import anomalies, budgets, costs, drivers, forecasts, health, kpis, projects


def data_router() -> APIRouter:
    # authenticate first: a request without a valid token learns nothing, not even about its parameters
    router = APIRouter(dependencies=[Depends(authenticate), Depends(check_query)])
    for module in (kpis, costs, budgets, forecasts, anomalies, drivers, projects):
        router.include_router(module.router)
    return router


health_router = health.router
