-- Run by the postgres image's entrypoint when the data volume is first initialised
-- (docker-compose mounts deploy/postgres-init at /docker-entrypoint-initdb.d): psql, as
-- POSTGRES_USER (a superuser), connected to POSTGRES_DB. Needs psql 15+ (\getenv).
-- Safe to run again (it creates only what is missing, and sets the reader's password), e.g. on a
-- volume initialised by an older version, or on a server without Docker (docs/operations.md):
--   WAREHOUSE_READER_PASSWORD='...' psql -v ON_ERROR_STOP=1 -U postgres -f deploy/postgres-init/01-warehouse.sql

-- 0. The read-only role's password (step 3), before anything is created. The compose default is
--    for development only.
\getenv reader_password WAREHOUSE_READER_PASSWORD
\if :{?reader_password}
\else
DO $$ BEGIN RAISE EXCEPTION 'WAREHOUSE_READER_PASSWORD is not set: export the finops_reader password first'; END $$;
\endif

-- 1. The warehouse database that FINOPS_WAREHOUSE_URL points at, owned by the user running this
--    (the pipeline's user). POSTGRES_DB, Dagster's instance storage, is created by the image itself.
SELECT 'CREATE DATABASE finops_warehouse'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'finops_warehouse')\gexec

-- 2. Metabase's own application database (the optional `bi` profile of docker-compose.yml).
--    Empty and harmless when Metabase is not used.
SELECT 'CREATE DATABASE metabase'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'metabase')\gexec

-- 3. finops_reader: the read-only login BI tools (Metabase, Superset, Grafana, Power BI) use to
--    read the warehouse tables directly. Roles are cluster-wide: created only if missing.
--    Its password is WAREHOUSE_READER_PASSWORD, checked first of all (above).
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'finops_reader') THEN
    CREATE ROLE finops_reader LOGIN;
  END IF;
END
$$;
ALTER ROLE finops_reader WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'reader_password';
-- Belt and braces: its sessions start read-only, and a runaway dashboard query cannot hold the
-- lock an upgrade's ALTER TABLE waits for (a session may still raise either setting).
ALTER ROLE finops_reader SET default_transaction_read_only = on;
ALTER ROLE finops_reader SET statement_timeout = '5min';

GRANT CONNECT ON DATABASE finops_warehouse TO finops_reader;

-- 4. Inside the warehouse: the schema, not the tables. They do not exist yet; the pipeline creates
--    them and, with FINOPS_WAREHOUSE_READER_ROLE=finops_reader, grants SELECT on the output tables
--    only, never on api_tokens, alert_outbox or anomaly_feedback (finops_pipeline/warehouse/grants.py).
\connect finops_warehouse
GRANT USAGE ON SCHEMA public TO finops_reader;
