"""One JSON error shape for every failure the API reports:

    {"error": {"status": 400, "code": "invalid_parameter", "parameter": "group_by",
               "message": "...", "accepted": ["month", "project", ...]}}

Bad parameters are 400 (query and path) or 422 (the JSON body); FastAPI's own validation errors
are converted to the same shape. The warehouse being down or not yet built is a 503; only a genuine
fault of the server is a 500, and it is logged with its traceback."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("finops_pipeline.api")


class ErrorBody(BaseModel):
    status: int = Field(description="HTTP status code, repeated for clients that only keep the body")
    code: str = Field(description="Machine-readable code: invalid_parameter, validation_error, unauthorized, "
                                  "forbidden, not_found, method_not_allowed, warehouse_unavailable, internal_error")
    message: str = Field(description="What is wrong and how to fix it")
    parameter: str | None = Field(None, description="The request parameter at fault, if any")
    accepted: list[str] | None = Field(None, description="Accepted values or format of that parameter, if it has a closed set")


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    """Raised anywhere in a request; rendered by the handler below."""

    def __init__(self, status: int, code: str, message: str, parameter: str | None = None,
                 accepted: Sequence[str] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.parameter = parameter
        self.accepted = list(accepted) if accepted is not None else None
        self.headers = headers


def bad_parameter(parameter: str, message: str, accepted: Sequence[str] | None = None) -> ApiError:
    return ApiError(400, "invalid_parameter", message, parameter=parameter, accepted=accepted)


def not_found(message: str, parameter: str | None = None) -> ApiError:
    return ApiError(404, "not_found", message, parameter=parameter)


def error_json(status: int, code: str, message: str, parameter: str | None = None,
               accepted: Sequence[str] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(status=status, code=code, message=message, parameter=parameter,
                                         accepted=list(accepted) if accepted is not None else None))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


# What a parameter accepts, for messages about FastAPI-level validation (type, pattern, range).
# Closed sets are listed by value; formats by their shape.
ACCEPTED: dict[str, list[str]] = {}

_FORMAT_HINTS = {
    "year": "a year from 1900 to 9999, e.g. 2024",
    "limit": "a whole number from 1 to 10000",
}
# Accepted names of the list parameters over closed sets, by their pattern (deps.names_param).
PATTERN_ACCEPTED: dict[str, list[str]] = {}
# Formats of the date patterns the routes declare, by pattern (deps.MONTH_PATTERN, ...).
PATTERN_FORMATS: dict[str, list[str]] = {}


def _describe(err: dict[str, Any]) -> tuple[str, str | None, str]:
    """(location, parameter, message) of one pydantic error; loc is e.g. ("query", "month"),
    ("query", "group_by", 0), ("path", "anomaly_id"), ("body",) or ("body", "note")."""
    loc = [str(p) for p in err.get("loc", ())]
    where, rest = (loc[0], loc[1:]) if loc else ("request", [])
    if where == "body":
        name = ".".join(p for p in rest if not p.isdigit()) or "body"
    else:
        name = rest[0] if rest else None
    msg = err.get("msg", "is not valid")
    if err.get("type") == "json_invalid":
        msg = "the request body is not valid JSON; send an object such as {\"note\": \"expected\"}, or no body"
    elif err.get("type") == "missing":
        msg = "is required"
    return where, name, msg


def _on_validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {}
    where, name, msg = _describe(first)
    status = 422 if where == "body" else 400
    accepted = ACCEPTED.get(name or "") or ([_FORMAT_HINTS[name]] if name in _FORMAT_HINTS else None)
    if first.get("type") == "string_pattern_mismatch":
        pattern = str((first.get("ctx") or {}).get("pattern"))
        if pattern in PATTERN_FORMATS:
            accepted = PATTERN_FORMATS[pattern]
            msg = f"use the format {' or '.join(accepted)}, e.g. 2024-09"
        elif pattern in PATTERN_ACCEPTED:
            accepted = PATTERN_ACCEPTED[pattern]
            msg = f"use one or more of {', '.join(accepted)} (comma-separated or repeated)"
        elif "x00" in pattern:
            msg = "must not contain a NUL character"
        elif name == "cursor":
            msg = "is not a cursor; pass next_cursor of the previous page as it is"
    shown = f"{name}" if name else "request"
    value = first.get("input")
    if where != "body" and isinstance(value, str | int | float) and first.get("type") != "missing":
        message = f"{shown}={str(value)[:100]!r}: {msg}"
    else:
        message = f"{shown}: {msg}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem(s))"
    return error_json(status, "invalid_parameter" if status == 400 else "validation_error", message,
                      parameter=name, accepted=accepted)


def _on_api_error(_request: Request, exc: ApiError) -> JSONResponse:
    return error_json(exc.status, exc.code, exc.message, exc.parameter, exc.accepted, exc.headers)


_HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}


def _on_http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = "no such endpoint; see /docs for the API (every data endpoint is under /api/v1)"
    return error_json(exc.status_code, code, message, headers=getattr(exc, "headers", None))


_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError)


def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, _UNAVAILABLE):
        # The warehouse is down, locked for longer than the busy timeout, or not built yet.
        log.warning("warehouse unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return error_json(503, "warehouse_unavailable",
                          "the warehouse is unreachable or not built yet (run `finops run`); retry later",
                          headers={"Retry-After": "30"})
    return _on_unexpected(request, exc)


def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_json(500, "internal_error", "internal server error; it has been logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(sa_exc.SQLAlchemyError, _on_database_error)
    app.add_exception_handler(Exception, _on_unexpected)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can return, all with ErrorResponse."""
    text = {400: "A query or path parameter is invalid", 401: "No, malformed, unknown or revoked bearer token",
            403: "The token's role may not do this", 404: "Not found (or not visible to the token)",
            422: "The JSON body is invalid", 503: "The warehouse is unreachable or not built yet",
            500: "Internal error (logged)"}
    return {s: {"model": ErrorResponse, "description": text[s]} for s in statuses}
