"""PostgreSQL: a notification on every committed change of a warehouse table, for the read API's
answer cache (finops_pipeline/api/cache.py).

Every table of the contract gets a statement-level trigger that calls ``pg_notify(CHANNEL,
<table>)``. A notification is transactional: it is delivered to listeners when, and only when,
the writing transaction commits — whoever wrote (the pipeline, the API, a DBA by hand in psql) —
and it concerns this database only, not Dagster's storage or other databases on the server.
SQLite needs none of this: ``PRAGMA data_version`` tells a connection that another one committed.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.exc import DBAPIError

from finops_pipeline.warehouse.schema import metadata

log = logging.getLogger(__name__)

CHANNEL = "finops_warehouse_changed"
TRIGGER = "finops_notify_change"
FUNCTION = "finops_notify_change"
_LOCK_KEY = 0x46494E4F50_43  # pg_advisory_xact_lock: two processes installing at once would collide

_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
  RETURN NULL;
END
$$"""

_WITHOUT_TRIGGER = text(
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname IN :names "
    "AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = :trigger) "
    "ORDER BY c.relname"
).bindparams(bindparam("names", expanding=True))

_warned = False


def tables_without_trigger(conn: Connection) -> list[str]:
    """Tables of the contract that exist here but would change without notifying."""
    names = [t.name for t in metadata.sorted_tables]
    return list(conn.execute(_WITHOUT_TRIGGER, {"names": names, "trigger": TRIGGER}).scalars())


def install_change_triggers(engine: Engine) -> None:
    """Give every existing table of the contract its trigger (PostgreSQL only; one catalog query
    when nothing is missing). Never fails the caller: without the triggers the API only keeps no
    answers (it checks them before it caches anything)."""
    global _warned
    if engine.dialect.name != "postgresql":
        return
    try:
        with engine.connect() as conn, conn.begin():
            if not tables_without_trigger(conn):
                return
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            missing = tables_without_trigger(conn)  # again, under the lock
            if not missing:
                return
            conn.exec_driver_sql(_FUNCTION_SQL)
            preparer = conn.dialect.identifier_preparer
            for name in missing:  # identifiers from the table contract, quoted; never from input
                conn.exec_driver_sql(f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                                     f"ON {preparer.quote_identifier(name)} FOR EACH STATEMENT "
                                     f"EXECUTE FUNCTION {FUNCTION}()")
        log.info("warehouse: change notifications installed on %s", ", ".join(missing))
    except DBAPIError as exc:
        if not _warned:
            _warned = True
            log.warning("warehouse: could not install change notifications (%s); the read API will answer "
                        "without its cache until the tables' owner runs the pipeline once", str(exc.orig).strip())
