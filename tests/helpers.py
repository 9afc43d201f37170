"""Builders for test inputs and a way to run the monthly job in process."""

from __future__ import annotations

import contextlib
import csv
import functools
import uuid
from collections.abc import Iterator
from pathlib import Path

from dagster import Definitions, ExecuteInProcessResult

FOCUS_HEADER = [
    "BilledCost", "BillingAccountId", "BillingCurrency", "BillingPeriodStart", "ChargeCategory",
    "ChargePeriodStart", "EffectiveCost", "ListCost", "ProviderName", "RegionId", "ServiceCategory",
    "ServiceName", "SubAccountId", "Tags",
]


def focus_row(start, billed, *, effective=None, listed=None, currency="USD", provider="AWS",
              sub_account="333", service="Amazon EC2", tags="NULL", period="2024-09-01 00:00:00"):
    effective = billed if effective is None else effective
    listed = billed if listed is None else listed
    return [billed, "acct-1", currency, period, "Usage", start, effective, listed, provider,
            "us-east-1", "Compute", service, sub_account, tags]


def write_csv(path: Path, header: list[str], rows: list[list], bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@functools.cache
def code_location() -> Definitions:
    """The code location as Dagster loads it (definitions.py autoloads defs/), once per test process."""
    from finops_pipeline.definitions import defs

    return defs()


def run_job(data_dir: Path, warehouse_url: str, first: str, last: str | None = None, instance=None) -> ExecuteInProcessResult:
    """Run the monthly job over first..last in one run, like `finops run`."""
    from finops_pipeline.resources import FinopsResource

    defs = code_location()
    resource = FinopsResource(data_dir=str(data_dir), warehouse_url=warehouse_url, state_dir=str(data_dir / ".finops"))
    local = Definitions(assets=list(defs.assets), jobs=list(defs.jobs), resources={"finops": resource})
    job = local.resolve_job_def("monthly_costs_job")
    return job.execute_in_process(
        instance=instance,
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last or first},
        raise_on_error=False,
    )


def table_totals(url: str, table: str, column: str = "effective_cost") -> dict[str, float]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT billing_month, SUM({column}) FROM {table} GROUP BY billing_month")).all()
    engine.dispose()
    return {m: (None if v is None else float(v)) for m, v in rows}


def row_counts(url: str, tables: list[str]) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in tables}
    engine.dispose()
    return counts


def read_whole_table(url: str, table: str):
    """A warehouse table as a DataFrame (its own engine, disposed after)."""
    import pandas as pd
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        return pd.read_sql_table(table, engine)
    finally:
        engine.dispose()


@contextlib.contextmanager
def scratch_databases(admin_url: str, *labels: str, prefix: str = "finops_test_") -> Iterator[dict[str, str]]:
    """One new database per label on the PostgreSQL server of ``admin_url`` (label -> URL), dropped
    on exit after terminating the connections still open to it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    token = uuid.uuid4().hex[:10]
    names = {label: f"{prefix}{label}_{token}" if label else f"{prefix}{token}" for label in labels}
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    created = []
    try:
        with admin.connect() as conn:
            for name in names.values():
                conn.execute(text(f'CREATE DATABASE "{name}"'))
                created.append(name)
        base = make_url(admin_url)
        yield {label: base.set(database=name).render_as_string(hide_password=False) for label, name in names.items()}
    finally:
        with admin.connect() as conn:
            for name in created:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
