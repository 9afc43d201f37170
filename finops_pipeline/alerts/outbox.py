"""The alert outbox: alerts are written first, delivered second.

Writing is idempotent (one row per `dedup_key`, insert-if-absent), so re-running the pipeline
over the same data writes nothing new. Delivery claims a row before sending it (a conditional
UPDATE, so two deliverers — the sensor and `finops run` — never send the same alert), then records
the outcome. A deliverer that dies mid-send leaves a `sending` row whose claim goes stale and is
retried: an alert is never lost; it can be sent twice only if the process dies after Slack
accepted it and before the row was updated (a window of milliseconds).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from finops_pipeline.warehouse import schema

T = schema.alert_outbox
CLAIM_LEASE = timedelta(minutes=10)  # a `sending` row older than this was abandoned by a dead deliverer
MAX_ATTEMPTS = 20  # then the alert stays `failed` for a person to look at (last_error says why)


@dataclass(frozen=True)
class Alert:
    kind: str
    dedup_key: str
    payload: dict
    thread_key: str | None = None

    @property
    def alert_id(self) -> str:
        return hashlib.sha256(self.dedup_key.encode()).hexdigest()[:20]


def _insert_ignoring_duplicates(engine: Engine):
    """INSERT … ON CONFLICT (dedup_key) DO NOTHING, in the warehouse's dialect."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(T).on_conflict_do_nothing(index_elements=["dedup_key"])


def write(engine: Engine, alerts: list[Alert], now: datetime) -> int:
    """Write the alerts not yet in the outbox; returns how many were new."""
    if not alerts:
        return 0
    rows = [{
        "alert_id": a.alert_id, "kind": a.kind, "dedup_key": a.dedup_key, "thread_key": a.thread_key,
        "payload": json.dumps(a.payload, sort_keys=True, default=str), "status": "pending", "attempts": 0,
        "created_at": now,
    } for a in alerts]
    with engine.connect().execution_options(writer=True) as conn, conn.begin():
        before = conn.execute(select(func.count()).select_from(T)).scalar()
        conn.execute(_insert_ignoring_duplicates(engine), rows)
        after = conn.execute(select(func.count()).select_from(T)).scalar()
    return after - before


def existing_keys(engine: Engine, kind: str) -> dict[str, str]:
    """dedup_key -> thread_key of the alerts of a kind already written."""
    with engine.connect() as conn:
        return dict(conn.execute(select(T.c.dedup_key, T.c.thread_key).where(T.c.kind == kind)).all())


def due(engine: Engine, now: datetime) -> list[dict]:
    """Alerts to (re)try: pending, failed (under the attempt cap) or abandoned while sending."""
    stale = now - CLAIM_LEASE
    stmt = select(T).where(or_(
        T.c.status == "pending",
        and_(T.c.status == "failed", T.c.attempts < MAX_ATTEMPTS),
        and_(T.c.status == "sending", T.c.claimed_at < stale),
    )).order_by(T.c.created_at, T.c.alert_id)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def claim(engine: Engine, row: dict, now: datetime) -> bool:
    """Take the alert for sending; False when another deliverer took it first."""
    condition = and_(T.c.alert_id == row["alert_id"], T.c.status == row["status"], T.c.attempts == row["attempts"])
    with engine.connect().execution_options(writer=True) as conn, conn.begin():
        result = conn.execute(update(T).where(condition).values(
            status="sending", claimed_at=now, attempts=row["attempts"] + 1))
        return result.rowcount == 1


def finish(engine: Engine, alert_id: str, status: str, now: datetime, error: str | None = None,
           slack_ts: str | None = None, give_up: bool = False) -> None:
    """Record an attempt's outcome; `give_up` (a permanent error such as invalid_auth) stops the
    retries: the alert stays `failed` with the reason until a person looks."""
    values = {"status": status, "last_error": error}
    if give_up:
        values["attempts"] = MAX_ATTEMPTS
    if status == "sent":
        values.update(sent_at=now, slack_ts=slack_ts)
    with engine.connect().execution_options(writer=True) as conn, conn.begin():
        conn.execute(update(T).where(T.c.alert_id == alert_id).values(**values))


def skip_all_due(engine: Engine, reason: str, now: datetime) -> int:
    """No Slack configured: every due alert becomes `skipped` with the reason (kept, visible)."""
    ids = [r["alert_id"] for r in due(engine, now)]
    if ids:
        with engine.connect().execution_options(writer=True) as conn, conn.begin():
            conn.execute(update(T).where(T.c.alert_id.in_(ids)).values(status="skipped", last_error=reason))
    return len(ids)


def thread_ts(engine: Engine, thread_key: str | None) -> str | None:
    """The Slack ts of the first sent alert of a thread (follow-ups are posted under it)."""
    if not thread_key:
        return None
    with engine.connect() as conn:
        return conn.execute(
            select(T.c.slack_ts).where(T.c.thread_key == thread_key, T.c.status == "sent", T.c.slack_ts.is_not(None))
            .order_by(T.c.sent_at).limit(1)
        ).scalar()
