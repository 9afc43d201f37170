-- Run once by the postgres image's entrypoint, when the data volume is first initialised
-- (docker-compose mounts deploy/postgres-init at /docker-entrypoint-initdb.d).
-- POSTGRES_DB (Dagster's instance storage) is created by the image itself; this adds the
-- warehouse database that FINOPS_WAREHOUSE_URL points at, owned by POSTGRES_USER.
CREATE DATABASE finops_warehouse;
