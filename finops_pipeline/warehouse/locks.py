"""Cross-process locks for runs that overlap (nightly schedule, landing sensor, UI backfills).

Month writes need none beyond their transaction (see engine.py). What needs one is the rebuild of
a table computed from every month (fct_kpis_monthly and the analytics): it reads the warehouse,
computes, then replaces the table. Two runs rebuilding at once could commit in the wrong order:
the rebuild that read before the other run's months were committed would win, and its stale
table would stay. Holding a lock per table from the read to the commit makes the rebuilds take
turns, so the last one to commit has read every month committed by then; each run rebuilds only
after its own months are committed, so the last rebuild has seen every run's months.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, Table, text
from sqlalchemy.exc import DBAPIError


def advisory_key(name: str) -> int:
    """A stable signed 64-bit PostgreSQL advisory lock key for a FinOps lock name."""
    digest = hashlib.blake2b(f"finops_pipeline:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def rebuild_lock(engine: Engine, table: Table) -> Iterator[None]:
    """Held while a whole-warehouse table is read, computed and replaced (one holder per table).

    PostgreSQL: a session advisory lock on a connection of its own (released on unlock or when
    the session ends, even if the run's process dies). SQLite: an exclusive flock on a file beside
    the warehouse (released by the OS if the process dies); SQLite's own lock cannot be used, as it
    would also stop the replacement's BEGIN IMMEDIATE. Waits as long as the other rebuild takes."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, f"rebuild:{table.name}"):
            yield
    elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        with _file_lock(Path(f"{engine.url.database}-locks") / f"{table.name}.lock"):
            yield
    else:  # in-memory SQLite lives in one process; other dialects: no lock of ours
        yield


@contextmanager
def _advisory_lock(engine: Engine, name: str) -> Iterator[None]:
    key = advisory_key(name)
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        conn.commit()  # no transaction stays open (and holds back vacuum) while the rebuild runs
        try:
            yield
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()
            except DBAPIError:  # the session is gone, and its lock with it: never reuse it
                conn.invalidate()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows has no flock: there overlapping rebuilds are not serialized
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
