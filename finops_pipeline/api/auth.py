"""Bearer tokens: creation (shown once, only a SHA-256 hash of the secret is stored), lookup with a
timing-safe comparison, roles and project / team scopes.

A token reads ``fo_<token_id>.<secret>``: ``token_id`` (12 hex characters) is public and finds the
row; ``secret`` (43 URL-safe characters, 256 bits) is what proves possession. Roles: viewer (read),
analyst (read + acknowledge anomalies), admin (everything, never scoped)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from finops_pipeline.api.errors import ApiError
from finops_pipeline.warehouse import schema

log = logging.getLogger("finops_pipeline.api")

PREFIX = "fo_"
ROLES = ("viewer", "analyst", "admin")
_RANK = {role: i for i, role in enumerate(ROLES)}
_TOKEN = re.compile(r"^fo_([0-9a-f]{12})\.([A-Za-z0-9_-]{32,128})$")
_DUMMY_HASH = hashlib.sha256(b"no such token").hexdigest()
TOUCH_INTERVAL_SECONDS = 60  # last_used_at is written at most this often per API process
TOUCH_BUSY_TIMEOUT_MS = 250  # SQLite: never wait long for the write lock just to record a use


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    token_id: str
    name: str
    role: str
    projects: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()

    @property
    def scoped(self) -> bool:
        return self.role != "admin" and bool(self.projects or self.teams)

    def may(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]


@dataclass
class TokenRow:
    token_id: str
    name: str
    role: str
    projects: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class ScopeError(ValueError):
    """The stored scopes cannot be read: the token is refused (fail closed), never widened."""


def _scopes(text: str | None) -> tuple[list[str], list[str]]:
    """(projects, teams) of the api_tokens.scopes JSON; empty = every project (the contract)."""
    if not text:
        return [], []
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ScopeError("scopes are not JSON") from exc
    if not isinstance(data, dict):
        raise ScopeError("scopes are not an object")
    out = []
    for key in ("projects", "teams"):
        value = data.get(key) or []
        if not isinstance(value, list):
            raise ScopeError(f"scopes.{key} is not a list")
        out.append([str(v) for v in value])
    return out[0], out[1]


def _scopes_for_display(text: str | None) -> tuple[list[str], list[str]]:
    try:
        return _scopes(text)
    except ScopeError:
        return ["<unreadable: refused>"], []


def _clean(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        for part in str(value).split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


def create_token(engine: Engine, name: str, role: str, projects: list[str] | None = None,
                 teams: list[str] | None = None) -> tuple[str, TokenRow]:
    """Store a new token and return (the token to show once, its row). ValueError on bad input."""
    name = (name or "").strip()
    if not name:
        raise ValueError("--name must not be empty (who or what the token is for)")
    if role not in ROLES:
        raise ValueError(f"--role {role!r} is not a role; use one of {', '.join(ROLES)}")
    asked = bool(projects or teams)
    projects, teams = _clean(projects), _clean(teams)
    if asked and not (projects or teams):
        raise ValueError("--projects / --teams name nothing; give project or team names (or neither for every project)")
    if role == "admin" and (projects or teams):
        raise ValueError("admin tokens see everything and cannot be scoped; use --role viewer or analyst with --projects/--teams")
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    now = datetime.now(timezone.utc)
    scopes = json.dumps({"projects": projects, "teams": teams}) if (projects or teams) else None
    with engine.connect().execution_options(writer=True) as conn, conn.begin():
        t = schema.api_tokens
        taken = conn.execute(select(t.c.token_id).where(t.c.name == name, t.c.revoked_at.is_(None))).first()
        if taken:
            raise ValueError(f"an active token named {name!r} exists ({taken.token_id}); revoke it first or choose another name")
        conn.execute(insert(t).values(token_id=token_id, name=name, role=role, scopes=scopes,
                                      token_hash=hash_secret(secret), created_at=now))
    return f"{PREFIX}{token_id}.{secret}", TokenRow(token_id, name, role, projects, teams, now)


def list_tokens(engine: Engine) -> list[TokenRow]:
    t = schema.api_tokens
    with engine.connect() as conn:
        rows = conn.execute(select(t).order_by(t.c.created_at, t.c.token_id)).all()
    out = []
    for r in rows:
        projects, teams = _scopes_for_display(r.scopes)
        out.append(TokenRow(r.token_id, r.name, r.role, projects, teams, r.created_at, r.last_used_at, r.revoked_at))
    return out


def revoke_token(engine: Engine, ref: str) -> list[TokenRow]:
    """Revoke by token id (with or without the fo_ prefix, or a whole token) or by name; returns
    the tokens revoked now (empty when none matched an active token)."""
    ref = (ref or "").strip()
    token_id = ref[len(PREFIX):] if ref.startswith(PREFIX) else ref
    token_id = token_id.split(".", 1)[0]
    t = schema.api_tokens
    now = datetime.now(timezone.utc)
    with engine.connect().execution_options(writer=True) as conn, conn.begin():
        rows = conn.execute(select(t).where((t.c.token_id == token_id) | (t.c.name == ref), t.c.revoked_at.is_(None))).all()
        if rows:
            conn.execute(update(t).where(t.c.token_id.in_([r.token_id for r in rows])).values(revoked_at=now))
    return [TokenRow(r.token_id, r.name, r.role, *_scopes_for_display(r.scopes), r.created_at, r.last_used_at, now) for r in rows]


# --- authentication of a request -----------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, bearerFormat="fo_<token_id>.<secret>",
                     description="A token from `finops api-token create`")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="finops"'}


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers=_CHALLENGE)


def verify(conn: Connection, token: str) -> Principal:
    """The principal of a token, or ApiError 401. The secret's hash is always compared, against a
    dummy for an unknown id, so that timing tells nothing about which ids exist."""
    match = _TOKEN.match(token or "")
    if not match:
        raise _unauthorized("malformed token: expected `Authorization: Bearer fo_<token_id>.<secret>`")
    token_id, secret = match.groups()
    t = schema.api_tokens
    row = conn.execute(select(t).where(t.c.token_id == token_id)).first()
    ok = hmac.compare_digest(hash_secret(secret), row.token_hash if row is not None else _DUMMY_HASH)
    if row is None or not ok:
        raise _unauthorized("invalid token")
    if row.revoked_at is not None:
        raise _unauthorized("token revoked; ask an admin for a new one (finops api-token create)")
    if row.role not in ROLES:
        raise _unauthorized("token has an unknown role; recreate it")
    try:
        projects, teams = _scopes(row.scopes)
    except ScopeError:
        log.warning("token %s refused: its stored scopes cannot be read", row.token_id)
        raise _unauthorized("token scopes are unreadable; recreate the token") from None
    return Principal(row.token_id, row.name, row.role, tuple(projects), tuple(teams))


class UsageRecorder:
    """Writes api_tokens.last_used_at for every token used, in one transaction at most once per
    TOUCH_INTERVAL_SECONDS per API process (the first use of a quiet period is written at once).
    Batching matters beyond the write itself: any commit moves the warehouse's data version and
    so empties the response cache (api/cache.py); one write a minute per process, however many
    tokens are in use, keeps that rare. A use is recorded with its own time, at the latest when
    the next batch is due or when the API stops."""

    def __init__(self, interval: float = TOUCH_INTERVAL_SECONDS):
        self.interval = interval
        self._lock = threading.Lock()
        self._pending: dict[str, datetime] = {}
        self._last_write = -1e18

    def note(self, token_id: str) -> bool:
        """Record a use; True when a batch is due now (call write() after the response)."""
        now = time.monotonic()
        with self._lock:
            self._pending[token_id] = datetime.now(timezone.utc)
            if now - self._last_write < self.interval:
                return False
            self._last_write = now
            return True

    def write(self, engine: Engine) -> None:
        """Write the pending uses. Never fails the request: a locked or read-only warehouse only
        means last_used_at is a little older."""
        from finops_pipeline.warehouse.engine import SQLITE_BUSY_TIMEOUT_MS

        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        t = schema.api_tokens
        stmt = (update(t).where(t.c.token_id == bindparam("tid"))
                .where((t.c.last_used_at.is_(None)) | (t.c.last_used_at < bindparam("used")))
                .values(last_used_at=bindparam("used")))
        try:
            with engine.connect().execution_options(writer=True) as conn:
                raw = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
                if raw is not None:  # before BEGIN IMMEDIATE, which is what waits for the lock
                    raw.execute(f"PRAGMA busy_timeout={TOUCH_BUSY_TIMEOUT_MS}")
                try:
                    with conn.begin():
                        conn.execute(stmt, [{"tid": k, "used": v} for k, v in pending.items()])
                finally:
                    if raw is not None:
                        raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        except Exception as exc:  # noqa: BLE001 - bookkeeping only
            log.info("could not record the use of %d token(s): %s", len(pending), type(exc).__name__)


def authenticate(request: Request, background: BackgroundTasks,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    if credentials is None:
        header = request.headers.get("authorization")
        raise _unauthorized("missing bearer token: send `Authorization: Bearer fo_<token_id>.<secret>`" if not header
                            else "malformed Authorization header: expected `Bearer fo_<token_id>.<secret>`")
    engine: Engine = request.app.state.engine
    with engine.connect() as conn:
        principal = verify(conn, credentials.credentials)
    usage: UsageRecorder = request.app.state.token_usage
    if usage.note(principal.token_id):
        background.add_task(usage.write, engine)
    request.state.principal = principal  # the response cache keys answers by it
    return principal


def require(role: str):
    """Dependency: the request's token must have at least `role`, else 403."""
    def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.may(role):
            allowed = [r for r in ROLES if _RANK[r] >= _RANK[role]]
            raise ApiError(403, "forbidden", f"a {principal.role} token may not do this; it needs role {' or '.join(allowed)}")
        return principal
    return check
