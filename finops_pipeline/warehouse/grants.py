"""Read-only access for BI tools: one PostgreSQL role may SELECT the output tables, and nothing else.

When FINOPS_WAREHOUSE_READER_ROLE names an existing role, every `ensure_tables` (once per process
and warehouse, when `warehouse_engine` makes the engine: each run, the sensors' code server,
`finops api` at start) makes sure that role can SELECT exactly OUTPUT_TABLES (also tables a newer
version adds) and cannot SELECT the internal tables: API token hashes, the alert outbox, users'
anomaly feedback. The pipeline does it,
not the database's init script, because the tables are created later, by the pipeline; and not with
ALTER DEFAULT PRIVILEGES, which would cover the internal tables too.

The role itself (LOGIN, password, CONNECT, schema USAGE) is the DBA's: deploy/postgres-init/.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.exc import ProgrammingError

from finops_pipeline.settings import warehouse_reader_role
from finops_pipeline.warehouse.schema import metadata

log = logging.getLogger(__name__)

# What BI tools may read: the dbt layers and the quarantine (docs/tables.md).
OUTPUT_TABLES = (
    "stg_billing", "quarantine_billing_rows", "excluded_billing_rows", "stg_fx_rates", "stg_allocation_rules", "stg_pricing", "stg_budgets",
    "int_costs_converted", "int_costs_allocated",
    "dim_projects", "fct_costs_daily", "fct_costs_monthly", "fct_kpis_monthly", "fct_budget_vs_actual",
    "fct_cost_forecasts", "fct_cost_anomalies", "fct_cost_drivers",
)
# Application state: token hashes, Slack payloads and delivery state, who acknowledged what (the
# status and note of an anomaly are in fct_cost_anomalies). A new table is internal until listed above.
INTERNAL_TABLES = ("api_tokens", "alert_outbox", "anomaly_feedback")

# pg_advisory_xact_lock key: concurrent GRANTs on one table fail with "tuple concurrently updated".
_LOCK_KEY = 0x46494E4F5053  # "FINOPS"

_PRIVILEGES = text(
    "SELECT c.relname, has_table_privilege(:role, c.oid, 'SELECT') AS can_select "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname IN :names"
).bindparams(bindparam("names", expanding=True))

_warned: set[tuple[str, str, str]] = set()


def grant_reader_access(engine: Engine, role: str | None = None) -> None:
    """GRANT SELECT on the output tables to `role` (default: FINOPS_WAREHOUSE_READER_ROLE) and
    REVOKE it on the internal ones. PostgreSQL only; a no-op when nothing is missing (one catalog
    query), when no role is set, or when the role does not exist (logged once)."""
    if engine.dialect.name != "postgresql":
        return
    role = role or warehouse_reader_role()
    if not role:
        return
    try:
        with engine.connect() as conn, conn.begin():
            if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}).first() is None:
                _warn_once(engine, role, f"role {role!r} (FINOPS_WAREHOUSE_READER_ROLE) does not exist; create it "
                           "as in deploy/postgres-init/01-warehouse.sql, or unset the variable")
                return
            if _pending(conn, role) == ([], []):
                return
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            to_grant, to_revoke = _pending(conn, role)  # again: another process may have done it meanwhile
            quoted_role = conn.dialect.identifier_preparer.quote_identifier(role)
            for table in to_grant:
                conn.exec_driver_sql(f"GRANT SELECT ON TABLE {_quoted(conn, table)} TO {quoted_role}")
            for table in to_revoke:
                conn.exec_driver_sql(f"REVOKE ALL ON TABLE {_quoted(conn, table)} FROM {quoted_role}")
            left = _pending(conn, role)
        if to_grant or to_revoke:
            log.info("warehouse: role %s may now SELECT %s; revoked on %s", role, _names(to_grant), _names(to_revoke))
        if left != ([], []):
            # GRANT without ownership or grant option only warns; REVOKE cannot take away access
            # through PUBLIC, another role or superuser.
            _warn_once(engine, role, f"role {role!r} still cannot SELECT {_names(left[0])}, or still can SELECT "
                       f"{_names(left[1])}; run the pipeline as the tables' owner, and check that the role is not "
                       "a superuser and that PUBLIC has no SELECT on those tables")
    except ProgrammingError as exc:  # e.g. insufficient privilege: BI access must not stop the pipeline
        _warn_once(engine, role, f"could not grant SELECT to role {role!r}: {exc.orig}")


def _pending(conn: Connection, role: str) -> tuple[list[str], list[str]]:
    """(output tables the role cannot SELECT, internal tables it can), among the existing tables."""
    rows = conn.execute(_PRIVILEGES, {"role": role, "names": [*OUTPUT_TABLES, *INTERNAL_TABLES]}).all()
    to_grant = sorted(name for name, can_select in rows if name in OUTPUT_TABLES and not can_select)
    to_revoke = sorted(name for name, can_select in rows if name in INTERNAL_TABLES and can_select)
    return to_grant, to_revoke


def _quoted(conn: Connection, name: str) -> str:
    # Table names come from the schema contract, and are quoted by the dialect all the same.
    return conn.dialect.identifier_preparer.format_table(metadata.tables[name])


def _names(tables: list[str]) -> str:
    return ", ".join(tables) or "-"


def _warn_once(engine: Engine, role: str, message: str) -> None:
    # ensure_tables runs again in one process (warehouse_engine once per warehouse, then `finops`
    # commands and tests call it): say it once per process, not at every call.
    key = (engine.url.render_as_string(), role, message)
    if key not in _warned:
        _warned.add(key)
        log.warning("warehouse: %s", message)
