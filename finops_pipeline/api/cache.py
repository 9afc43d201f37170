"""Answers of the data endpoints, kept until the warehouse changes.

Dashboards ask the same questions over and over (a Grafana panel refreshes every minute, a
Metabase dashboard re-runs its cards for every viewer), while the warehouse changes a few times a
day. So a GET answer is kept, per token, until the data version moves, and then everything is
forgotten at once. The data version is read on every request (microseconds, no round trip to
the database), so an answer is never older than the last change the API has been told of:

- SQLite: ``PRAGMA data_version`` on a connection of its own, which changes whenever another
  connection commits (the pipeline, an acknowledgement, a token revocation).
- PostgreSQL: a notification that a trigger on every warehouse table sends when a writing
  transaction commits (finops_pipeline/warehouse/change_feed.py), received on a LISTEN connection
  of its own; reading it is a look at the socket, not a round trip. Until every table has its
  trigger (a warehouse the pipeline has not upgraded yet), nothing is kept.

The answer is computed after the version is read, in its own snapshot, so it is at least as new
as the version it is stored under. Answers are keyed by the token and forgotten with every change,
so a revoked token is refused on the next request; after a POST (an acknowledgement) this process
forgets everything at once, without waiting for the notification. Only 200 answers are kept;
errors, /health and POSTs always go to the application.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import anyio
from sqlalchemy import Engine

from finops_pipeline.api.auth import Principal
from finops_pipeline.warehouse.change_feed import CHANNEL, tables_without_trigger

log = logging.getLogger("finops_pipeline.api")
RECHECK_SECONDS = 30.0  # PostgreSQL without every change trigger: how often to look again


class DataVersion:
    """A value that changes whenever a commit becomes visible in the warehouse, or None when
    this kind of warehouse cannot tell (then nothing is cached). A notification reaches the
    listener a moment after the commit is visible, so an answer computed in that moment may be
    kept under the older version: it is the newer data, never older than the version."""

    def __init__(self, engine: Engine):
        self._lock = threading.Lock()
        self._engine = engine
        self._kind = None
        self._raw = None
        self._pooled = None
        self._complete = False
        self._recheck_at = 0.0
        self._seen = None
        self._generation = 0
        database = engine.url.database
        if engine.dialect.name == "sqlite" and database and database != ":memory:" and not database.startswith("file:"):
            self._kind, self._path = "sqlite", database
        elif engine.dialect.name == "postgresql":
            self._kind = "postgresql"

    @property
    def enabled(self) -> bool:
        return self._kind is not None

    def current(self):
        if self._kind is None:
            return None
        with self._lock:
            try:
                return self._read()
            except Exception as exc:  # noqa: BLE001 - the application will report the warehouse error
                log.info("data version unavailable (%s): answering without the cache", type(exc).__name__)
                self._close()
                return None

    def _read(self):
        if self._raw is None:
            self._open()
        if self._kind == "sqlite":
            value = self._raw.execute("PRAGMA data_version").fetchone()[0]
            if value != self._seen:  # a counter of this connection only: number its changes
                self._seen, self._generation = value, self._generation + 1
            return self._generation
        if not self._complete:  # a table would change silently: keep nothing (checked again later)
            if time.monotonic() < self._recheck_at:
                return None
            self._close()
            self._open()
            if not self._complete:
                return None
        self._raw.poll()  # reads what the server sent, without a round trip
        if self._raw.notifies:
            self._raw.notifies.clear()
            self._generation += 1
        return self._generation

    def _open(self):
        # A new connection may have missed changes: what was kept before is forgotten.
        self._generation += 1
        if self._kind == "sqlite":
            # Read-only, autocommit: it never takes a lock that could delay the pipeline.
            self._raw = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, check_same_thread=False,
                                        isolation_level=None)
            return
        # Kept out of the pool for the life of the process, and closed (invalidated) with it.
        self._pooled = self._engine.raw_connection()
        self._raw = self._pooled.driver_connection
        self._raw.autocommit = True
        with self._raw.cursor() as cur:
            cur.execute(f"LISTEN {CHANNEL}")  # before the check: no change can fall between the two
        with self._engine.connect() as conn:
            missing = tables_without_trigger(conn)
        self._complete = not missing
        if missing:
            self._recheck_at = time.monotonic() + RECHECK_SECONDS
            log.warning("read API cache off: tables without change notification: %s (run the pipeline once "
                        "as the tables' owner)", ", ".join(missing))

    def _close(self):
        raw, pooled, self._raw, self._pooled = self._raw, self._pooled, None, None
        try:
            if pooled is not None:
                pooled.invalidate()
            elif raw is not None:
                raw.close()
        except Exception:  # noqa: BLE001 - already broken
            pass

    def close(self):
        with self._lock:
            self._close()


@dataclass
class _Entry:
    principal: Principal
    headers: list[tuple[bytes, bytes]]
    body: bytes


class ResponseCache:
    """ASGI middleware in front of the data endpoints (see the module docstring).

    An answer is keyed by the Authorization header (hashed: the token, hence its scope) and the
    whole URL (a paged answer's Link header repeats it). When many identical requests miss at
    once (the moment after the pipeline committed), one computes and the others wait for it."""

    def __init__(self, app, prefix: str, engine: Engine, version: DataVersion, max_bytes: int):
        self.app, self.prefix, self.engine, self.version, self.max_bytes = app, prefix, engine, version, max_bytes
        self.enabled = max_bytes > 0 and version.enabled
        self._at = None  # the data version the answers below belong to
        self._answers: OrderedDict[tuple, _Entry] = OrderedDict()
        self._computing: dict[tuple, anyio.Event] = {}
        self._writes = 0  # POSTs through this process
        self._bytes = 0

    async def __call__(self, scope, receive, send):
        if not (self.enabled and scope["type"] == "http" and scope["path"].startswith(self.prefix)):
            return await self.app(scope, receive, send)
        if scope["method"] != "GET":  # a write (acknowledge): what was kept may be stale now
            try:
                return await self.app(scope, receive, send)
            finally:
                self._writes += 1  # part of the version: an answer begun before the write is not kept
        if scope["path"].endswith("/health"):
            return await self.app(scope, receive, send)
        authorization = _header(scope, b"authorization")
        if not authorization:
            return await self.app(scope, receive, send)
        version = self.version.current()
        if version is None:
            return await self.app(scope, receive, send)
        version = (version, self._writes)
        if version != self._at:
            self._forget(version)
        key = (hashlib.sha256(authorization).digest(), scope.get("scheme"), _header(scope, b"host"),
               scope.get("root_path", ""), scope["path"], scope["query_string"])
        if key not in self._answers and key in self._computing:
            await self._computing[key].wait()  # the same question is being answered: wait for it
        entry = self._answers.get(key) if version == self._at else None
        if entry is None:
            return await self._answer_and_keep(scope, receive, send, version, key)
        self._answers.move_to_end(key)
        await send({"type": "http.response.start", "status": 200, "headers": [*entry.headers, _HIT]})
        await send({"type": "http.response.body", "body": entry.body})
        usage = _token_usage(scope)
        if usage is not None and usage.note(entry.principal.token_id):
            await anyio.to_thread.run_sync(usage.write, self.engine)

    async def _answer_and_keep(self, scope, receive, send, version, key):
        started: dict = {}
        chunks: list[bytes] = []
        done = self._computing.setdefault(key, anyio.Event())

        async def capture(message):
            if message["type"] == "http.response.start":
                started.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self._keep(scope, version, key, started, b"".join(chunks))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            if self._computing.get(key) is done:
                del self._computing[key]
                done.set()

    def _keep(self, scope, version, key, started, body):
        principal = scope.get("state", {}).get("principal")
        if started.get("status") != 200 or principal is None or version != self._at:
            return
        if len(body) > self.max_bytes // 4:  # one huge page must not evict every other answer
            return
        old = self._answers.pop(key, None)
        if old is not None:
            self._bytes -= len(old.body)
        self._answers[key] = _Entry(principal, list(started.get("headers", [])), body)
        self._bytes += len(body)
        while self._bytes > self.max_bytes and self._answers:
            _, evicted = self._answers.popitem(last=False)
            self._bytes -= len(evicted.body)

    def _forget(self, version):
        self._at = version
        self._answers.clear()
        self._bytes = 0


_HIT = (b"x-finops-cache", b"hit")


def _token_usage(scope):
    app = scope.get("app")
    return getattr(getattr(app, "state", None), "token_usage", None)


def _header(scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return b""
