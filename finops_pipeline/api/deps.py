"""What every data request shares: one read transaction (a consistent snapshot of the warehouse),
the token's scope resolved to a set of projects, parameter parsing with messages that name the
parameter, unknown-parameter rejection and opaque pagination cursors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import StringConstraints
from sqlalchemy import Connection, Engine, select
from sqlalchemy.sql.elements import ColumnElement

from finops_pipeline.api.auth import Principal, authenticate
from finops_pipeline.api.errors import PATTERN_ACCEPTED, PATTERN_FORMATS, bad_parameter
from finops_pipeline.settings import Settings
from finops_pipeline.warehouse import schema
from transforms.months import first_day, last_day

MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
DAY_OR_MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])(-[0-9]{2})?$"
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10000
MAX_LIST_VALUES = 200
MAX_VALUE_LENGTH = 300
TEXT_PATTERN = r"^[^\x00]*$"  # any text but NUL (PostgreSQL refuses it)
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,200}$"
PATTERN_FORMATS.update({MONTH_PATTERN: ["YYYY-MM"], DAY_OR_MONTH_PATTERN: ["YYYY-MM-DD", "YYYY-MM"]})


@dataclass
class Ctx:
    """One request's view of the warehouse: a connection inside one read transaction, the token,
    and (lazily) the projects the token may see."""

    conn: Connection
    principal: Principal
    settings: Settings
    _allowed: frozenset[str] | None = field(default=None, init=False)
    _resolved: bool = field(default=False, init=False)
    _currency: str | None = field(default=None, init=False)

    @property
    def scoped(self) -> bool:
        return self.principal.scoped

    def allowed(self) -> frozenset[str] | None:
        """None = every project; else the token's projects plus the projects of its teams
        (dim_projects.team), read in this request's snapshot."""
        if not self._resolved:
            p = self.principal
            if p.scoped:
                projects = set(p.projects)
                if p.teams:
                    d = schema.dim_projects
                    projects.update(self.conn.execute(select(d.c.project).where(d.c.team.in_(list(p.teams)))).scalars())
                self._allowed = frozenset(projects)
            self._resolved = True
        return self._allowed

    def scope(self, column) -> list[ColumnElement]:
        """WHERE conditions that keep only the rows of allowed projects (none for an unscoped token)."""
        allowed = self.allowed()
        return [] if allowed is None else [column.in_(sorted(allowed))]

    def may_see(self, project: str | None) -> bool:
        allowed = self.allowed()
        return allowed is None or project in allowed

    def currency(self) -> str:
        if self._currency is None:
            t = schema.fct_costs_monthly
            value = self.conn.execute(select(t.c.reporting_currency).where(t.c.reporting_currency.is_not(None)).limit(1)).scalar()
            self._currency = value or self.settings.reporting_currency
        return self._currency


def read_context(request: Request, principal: Annotated[Principal, Depends(authenticate)]) -> Iterator[Ctx]:
    """All queries of a request run in ONE read transaction: SQLite (WAL) keeps the snapshot of its
    first read until the end, PostgreSQL runs it REPEATABLE READ and read-only, so a request sees a
    month before or after the pipeline replaced it, never a mix."""
    engine: Engine = request.app.state.engine
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            yield Ctx(conn, principal, request.app.state.settings)


ReadCtx = Annotated[Ctx, Depends(read_context)]


# --- parameters ------------------------------------------------------------------------------------

def names_pattern(accepted: Sequence[str]) -> str:
    """A pattern for one value of a list parameter: accepted names, comma-separated (blanks allowed)."""
    name = "(" + "|".join(re.escape(a) for a in accepted) + ")"
    return rf"^ *{name}? *(, *{name}? *)*$"


def names_param(accepted: Sequence[str], description: str):
    """A list parameter over a closed set: repeated and/or comma-separated, each value checked by
    the schema (so it is in the OpenAPI document) and again by split_list."""
    pattern = names_pattern(accepted)
    PATTERN_ACCEPTED[pattern] = list(accepted)
    item = Annotated[str, StringConstraints(pattern=pattern, max_length=MAX_VALUE_LENGTH)]
    return Annotated[list[item] | None, Query(description=description, max_length=MAX_LIST_VALUES)]


def text_param(description: str):
    """A list parameter of free values (project, team, service, provider names)."""
    item = Annotated[str, StringConstraints(pattern=TEXT_PATTERN, max_length=MAX_VALUE_LENGTH)]
    return Annotated[list[item] | None, Query(description=f"{description} (repeat, or comma-separate)", max_length=MAX_LIST_VALUES)]


Cursor = Annotated[str | None, Query(pattern=CURSOR_PATTERN, description="next_cursor of the previous page (opaque)")]


def _reject_unsafe(name: str, value: str) -> None:
    if "\x00" in value:
        raise bad_parameter(name, f"{name} contains a NUL character")
    if len(value) > MAX_VALUE_LENGTH:
        raise bad_parameter(name, f"{name} is longer than {MAX_VALUE_LENGTH} characters")


def split_list(name: str, values: Sequence[str] | None, accepted: Sequence[str] | None = None) -> list[str]:
    """Values of a list parameter given repeated (?p=a&p=b) and/or comma-separated (?p=a,b), in
    order, without duplicates or blanks; checked against `accepted` when it is a closed set."""
    out: list[str] = []
    for value in values or []:
        _reject_unsafe(name, value)
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if accepted is not None and part not in accepted:
                raise bad_parameter(name, f"{name}: {part[:100]!r} is not accepted; use one or more of "
                                          f"{', '.join(accepted)} (comma-separated or repeated)", accepted)
            if part not in out:
                out.append(part)
    if len(out) > MAX_LIST_VALUES:
        raise bad_parameter(name, f"{name}: at most {MAX_LIST_VALUES} values")
    return out


def check_range(first: str | None, last: str | None, first_name: str = "from", last_name: str = "to") -> None:
    if first and last and first > last:
        raise bad_parameter(first_name, f"{first_name}={first} is after {last_name}={last}; give {first_name} <= {last_name}")


def day_or_month(name: str, value: str | None, end: bool) -> date | None:
    """YYYY-MM-DD, or YYYY-MM = its first day (from) / last day (to)."""
    if value is None:
        return None
    try:
        if len(value) == 7:
            return last_day(value) if end else first_day(value)
        return date.fromisoformat(value)
    except ValueError:
        raise bad_parameter(name, f"{name}={value[:40]!r} is not a date; use YYYY-MM-DD or YYYY-MM",
                            ["YYYY-MM-DD", "YYYY-MM"]) from None


# --- unknown and repeated parameters ------------------------------------------------------------------

_SPEC_ATTRIBUTE = "_finops_query_spec"  # (names, list-valued names), kept on the route itself


def _is_list(annotation) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(a) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _is_list(typing.get_args(annotation)[0])
    return origin in (list, tuple, set, frozenset, Sequence)


def _spec(route) -> tuple[frozenset[str], frozenset[str]]:
    spec = getattr(route, _SPEC_ATTRIBUTE, None)
    if spec is None:
        names, lists = set(), set()
        stack = [route.dependant]
        while stack:
            dependant = stack.pop()
            for f in dependant.query_params:
                names.add(f.alias)
                if _is_list(f.field_info.annotation):
                    lists.add(f.alias)
            stack.extend(dependant.dependencies)
        spec = (frozenset(names), frozenset(lists))
        setattr(route, _SPEC_ATTRIBUTE, spec)
    return spec


def check_query(request: Request) -> None:
    """400 for a query parameter the endpoint does not know (a typo such as `?projet=` would
    otherwise silently widen the answer) or a single-valued one given twice."""
    route = request.scope.get("route")
    if route is None or not hasattr(route, "dependant"):
        return
    names, lists = _spec(route)
    seen: dict[str, int] = {}
    for key, value in request.query_params.multi_items():
        if key not in names:
            raise bad_parameter(key, f"unknown parameter {key[:60]!r}; this endpoint accepts {', '.join(sorted(names)) or 'none'}",
                                sorted(names))
        _reject_unsafe(key, value)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1 and key not in lists:
            raise bad_parameter(key, f"{key} is given more than once; give it once")


# --- pagination ----------------------------------------------------------------------------------------

_CURSOR = re.compile(r"^v1:([0-9]{1,15}):([0-9a-f]{24})$")
_NOT_BOUND = {"cursor", "limit", "format"}


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int
    binding: str  # what the cursor is bound to: the endpoint and every other parameter

    def digest(self, offset: int) -> str:
        return hashlib.sha256(f"{self.binding}\x1f{offset}".encode()).hexdigest()[:24]

    def next_cursor(self, has_more: bool) -> str | None:
        if not has_more:
            return None
        offset = self.offset + self.limit
        return base64.urlsafe_b64encode(f"v1:{offset}:{self.digest(offset)}".encode()).decode().rstrip("=")


def paging_headers(request: Request, cursor: str | None) -> dict[str, str]:
    """X-Next-Cursor and an RFC 8288 Link to the next page (how CSV clients page)."""
    if not cursor:
        return {}
    return {"X-Next-Cursor": cursor, "Link": f'<{request.url.include_query_params(cursor=cursor)}>; rel="next"'}


def page(request: Request, limit: int, cursor: str | None) -> Page:
    """Offset pagination with an opaque cursor bound to the other parameters: a cursor used with
    other parameters, or altered, is a 400. The limit may change from page to page."""
    items = sorted((k, v) for k, v in request.query_params.multi_items() if k not in _NOT_BOUND)
    binding = request.url.path + "?" + "&".join(f"{k}={v}" for k, v in items)
    probe = Page(0, limit, binding)
    if not cursor:
        return probe
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        text = ""
    match = _CURSOR.match(text)
    if not match or not hmac.compare_digest(match.group(2), probe.digest(int(match.group(1)))):
        raise bad_parameter("cursor", "cursor is not valid for these parameters (altered, or from a request with other "
                                      "parameters); repeat the request without cursor to start again")
    return Page(int(match.group(1)), limit, binding)
