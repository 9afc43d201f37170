"""SQLAlchemy engines for the warehouse: SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

from finops_pipeline.warehouse.change_feed import install_change_triggers
from finops_pipeline.warehouse.grants import grant_reader_access
from finops_pipeline.warehouse.schema import metadata

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 120_000  # concurrent partition runs wait for the single writer


def make_engine(url: str) -> Engine:
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
    """Create missing warehouse tables and add columns a newer contract introduced.

    Never drops or rewrites: a warehouse from an earlier version keeps its rows, and the new
    columns stay null in months written before the upgrade until those months are re-run."""
    metadata.create_all(engine, checkfirst=True)
    _add_missing_columns(engine)
    grant_reader_access(engine)  # PostgreSQL + FINOPS_WAREHOUSE_READER_ROLE only (grants.py)
    install_change_triggers(engine)  # PostgreSQL: tells the read API's cache of every commit (change_feed.py)


def _add_missing_columns(engine: Engine) -> None:
    existing = inspect(engine)
    missing = [
        (table, column)
        for table in metadata.sorted_tables
        for column in table.columns
        if column.name not in {c["name"] for c in existing.get_columns(table.name)}
    ]
    if not missing:
        return
    preparer = engine.dialect.identifier_preparer
    with engine.connect().execution_options(writer=True) as conn, conn.begin():
        for table, column in missing:
            # Identifiers and types come from the table contract, never from input.
            ddl = (f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {preparer.format_column(column)} "
                   f"{column.type.compile(dialect=engine.dialect)}")
            conn.exec_driver_sql(ddl)
            log.warning("warehouse: added column %s.%s (re-run older months to fill it)", table.name, column.name)
