"""SQLAlchemy engines for the warehouse: SQLite (embedded default) or PostgreSQL.

Production code gets its engine from ``warehouse_engine`` (one per process and URL, its tables
ensured when made); ``make_engine`` is the raw constructor, whose caller ensures the tables."""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

from finops_pipeline.warehouse.change_feed import install_change_triggers
from finops_pipeline.warehouse.grants import grant_reader_access
from finops_pipeline.warehouse.locks import advisory_key
from finops_pipeline.warehouse.schema import metadata

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 120_000  # concurrent partition runs wait for the single writer


def make_engine(url: str) -> Engine:
    """A new engine for ``url``; its tables are not looked at."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    if parsed.drivername == "postgresql":
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the lock installs psycopg2,
        # whose COPY support the bulk loader uses.
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return create_engine(parsed, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy, not the driver, open transactions (see "begin" below).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # WAL: readers keep seeing the last committed month while a run replaces it.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout instead
        # of failing with "database is locked" when both try to upgrade a read lock.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("writer") else "BEGIN")


def ensure_tables(engine: Engine) -> None:
    """Create missing warehouse tables and add the columns and indexes a newer contract introduced.

    Never drops or rewrites: a warehouse from an earlier version keeps its rows, and the new
    columns stay null in months written before the upgrade until those months are re-run.

    Runs started together on a fresh warehouse all find the tables missing: the changes are made
    by one writer at a time (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock) and looked up
    again under that lock, so a later run finds them made instead of failing with "table already
    exists" (or a unique violation on pg_type)."""
    existing = inspect(engine)
    if _missing_columns(existing) or _missing_indexes(existing):
        with engine.connect().execution_options(writer=True) as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({advisory_key('schema')})")
            metadata.create_all(conn, checkfirst=True)
            _add_missing_columns(conn)
            _add_missing_indexes(conn)
    grant_reader_access(engine)  # PostgreSQL + FINOPS_WAREHOUSE_READER_ROLE only (grants.py)
    install_change_triggers(engine)  # PostgreSQL: tells the read API's cache of every commit (change_feed.py)


# The engines warehouse_engine made, by process and URL. Bounded as the Dagster resource's cache
# was: a deployment uses one warehouse, a test session makes one per test and lets the oldest go.
_ENGINES: OrderedDict[tuple[int, str], Engine] = OrderedDict()
_ENGINES_MAX = 8
_ENGINES_LOCK = threading.Lock()


def warehouse_engine(url: str) -> Engine:
    """The engine of this process for the warehouse at ``url``, its tables ensured
    (``ensure_tables``) when it is first made; later calls return the same engine unchecked.

    ensure_tables inspects every table of the contract (~20 catalog queries); a run over 12 months
    writes and reads ~100 times, and the tables cannot go missing in between except by hand. When it
    fails (warehouse down, no privilege) nothing is kept: the next call tries again. A test that
    drops a database and creates another under the same URL calls ``forget_warehouse_engine`` in
    between. Keyed by process too: a forked child never shares its parent's connection pool."""
    key = (os.getpid(), url)
    with _ENGINES_LOCK:  # two threads asking at once (sensors, run workers) make and check it once
        engine = _ENGINES.get(key)
        if engine is None:
            engine = make_engine(url)
            try:
                ensure_tables(engine)
            except BaseException:  # nothing kept: the next call tries again
                engine.dispose()
                raise
            _ENGINES[key] = engine
            while len(_ENGINES) > _ENGINES_MAX:
                _ENGINES.popitem(last=False)  # not disposed: a caller may still hold it
        _ENGINES.move_to_end(key)
        return engine


def forget_warehouse_engine(url: str) -> None:
    """Drop this process's engine for ``url`` (its pooled connections closed): the next
    ``warehouse_engine(url)`` makes a new one and ensures the tables again."""
    with _ENGINES_LOCK:
        engine = _ENGINES.pop((os.getpid(), url), None)
    if engine is not None:
        engine.dispose()


def _missing_columns(existing) -> list:
    """(table, column) pairs of the contract the warehouse lacks (every column of a missing table)."""
    names = set(existing.get_table_names())
    present = {t: {c["name"] for c in existing.get_columns(t)} if t in names else set() for t in metadata.tables}
    return [(table, column) for table in metadata.sorted_tables for column in table.columns
            if column.name not in present[table.name]]


def _add_missing_columns(conn: Connection) -> None:
    preparer = conn.dialect.identifier_preparer
    for table, column in _missing_columns(inspect(conn)):
        # Identifiers and types come from the table contract, never from input.
        ddl = (f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {preparer.format_column(column)} "
               f"{column.type.compile(dialect=conn.dialect)}")
        conn.exec_driver_sql(ddl)
        log.warning("warehouse: added column %s.%s (re-run older months to fill it)", table.name, column.name)


def _missing_indexes(existing) -> list:
    """Indexes of the contract missing on tables that exist (create_all only indexes new tables),
    leaving out those the contract makes for another dialect only (`ddl_if`)."""
    names = set(existing.get_table_names())
    dialect = existing.dialect.name
    return [index for table in metadata.sorted_tables if table.name in names
            for index in table.indexes if _for_dialect(index, dialect)
            and index.name not in {i["name"] for i in existing.get_indexes(table.name)}]


def _for_dialect(index, dialect: str) -> bool:
    only = getattr(getattr(index, "_ddl_if", None), "dialect", None)
    return only is None or (dialect == only if isinstance(only, str) else dialect in only)


def _add_missing_indexes(conn: Connection) -> None:
    for index in _missing_indexes(inspect(conn)):
        index.create(conn)  # from the table contract; may take a while on a large table, once
        log.warning("warehouse: created index %s on %s (a newer version's query shape)", index.name, index.table.name)
