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


def local_definitions(finops, **extra) -> Definitions:
    """The code location's assets and jobs with the given ``finops`` resource (and any other
    Definitions argument, e.g. schedules=[...], sensors=[...])."""
    defs = code_location()
    return Definitions(assets=list(defs.assets), jobs=list(defs.jobs), resources={"finops": finops}, **extra)


def run_job(data_dir: Path, warehouse_url: str, first: str, last: str | None = None, instance=None, *,
            tags: dict[str, str] | None = None, asset_selection=None) -> ExecuteInProcessResult:
    """Run the monthly job over first..last in one run, like `finops run`: every asset, or only
    ``asset_selection`` (asset keys) as a sensor's run request asks; ``tags`` are added to the
    range tags (a run request's own tags)."""
    from finops_pipeline.resources import FinopsResource
    from finops_pipeline.runs import range_tags

    resource = FinopsResource(data_dir=str(data_dir), warehouse_url=warehouse_url, state_dir=str(data_dir / ".finops"))
    job = local_definitions(resource).resolve_job_def("monthly_costs_job")
    return job.execute_in_process(
        instance=instance,
        tags={**range_tags(first, last or first), **(tags or {})},
        asset_selection=None if asset_selection is None else list(asset_selection),
        raise_on_error=False,
    )


def is_outside_setting(var: str) -> bool:
    """A developer's setting that must not reach a test: FINOPS_* but the test database, DAGSTER_HOME."""
    return (var.startswith("FINOPS_") and var != "FINOPS_TEST_POSTGRES_URL") or var == "DAGSTER_HOME"


def check_results(result: ExecuteInProcessResult) -> dict[str, tuple[bool, str]]:
    """check name -> (passed, severity value) of every asset check the run evaluated."""
    out = {}
    for ev in result.all_events:
        if ev.event_type_value == "ASSET_CHECK_EVALUATION":
            data = ev.event_specific_data
            out[data.check_name] = (data.passed, data.severity.value)
    return out


def materialized_assets(result: ExecuteInProcessResult) -> set[str]:
    return {ev.asset_key.to_user_string() for ev in result.get_asset_materialization_events()}


def write_steady_billing(data_dir: Path, file_name: str, spike_from: str, spike_to: str = "2024-10-17",
                         spike: float = 5000.0) -> Path:
    """2024-08-01 .. 2024-10-17 of steady AWS spend (checkout EC2 and S3, search EC2) with a weekday
    pattern, and ``spike`` USD a day more of checkout EC2 in its own account (444) from ``spike_from``
    to ``spike_to``: landing/billing/aws/<file_name>. The same seed every time: the same rows."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(11)
    spike_days = pd.date_range(spike_from, spike_to, freq="D")
    rows = []
    for day in pd.date_range("2024-08-01", "2024-10-17", freq="D"):
        weekday = 0.6 if day.day_of_week >= 5 else 1.0
        start, period = day.strftime("%Y-%m-%d 00:00:00"), day.strftime("%Y-%m-01 00:00:00")
        for project, service, level in (("checkout", "Amazon EC2", 800.0), ("checkout", "Amazon S3", 200.0),
                                        ("search", "Amazon EC2", 400.0)):
            cost = round(level * weekday * float(np.exp(0.03 * rng.standard_normal())), 2)
            rows.append(focus_row(start, cost, service=service, tags=f'{{"project": "{project}"}}', period=period))
        if day in spike_days:
            rows.append(focus_row(day.strftime("%Y-%m-%d 06:00:00"), spike, service="Amazon EC2", sub_account="444",
                                  tags='{"project": "checkout"}', period=period))
    return write_csv(data_dir / "landing" / "billing" / "aws" / file_name, FOCUS_HEADER, rows)


SPIKE_DAY = "2024-09-18"  # a Wednesday
SPIKE = 5000.0


def add_spiked_billing(data_dir: Path) -> Path:
    """The steady AWS file with one spike day (SPIKE_DAY, SPIKE USD more of checkout EC2): real
    anomalies and forecasts over 2024-08 .. 2024-10, 2024-10 the open month."""
    return write_steady_billing(data_dir, "focus_spiked.csv", SPIKE_DAY, SPIKE_DAY, spike=SPIKE)


def visible_projects(client, token: str, cost_params: list[dict]) -> set[str]:
    """Every project name that shows in the JSON answers of the API to ``token`` (``client.ok``),
    /costs once per parameter set of ``cost_params``."""
    seen: set = set()
    for params in cost_params:
        seen |= {r["project"] for r in client.ok("/costs", token, **params)["rows"] if "project" in r}
    seen |= {r["project"] for r in client.ok("/heatmap", token)["rows"]}
    seen |= {r["project"] for r in client.ok("/budgets", token, year=2024)["rows"]}
    seen |= {r["project"] for r in client.ok("/forecasts", token)["rows"] if r["project"]}
    seen |= {r["project"] for r in client.ok("/anomalies", token)["rows"]}
    seen |= {r["project"] for r in client.ok("/projects", token)["rows"]}
    seen |= {r["member"] for r in client.ok("/drivers", token, dimension="project")["rows"]}
    seen |= {client.ok("/kpis", token)["top_project"]}
    return seen


def stage_daily(raw_rows: list[dict], source_file: str = "f.csv", **context):
    """stg_billing at daily grain, built by the real staging from raw FOCUS rows (canonical column
    names, text values) that must all stage; ``context``: StagingContext fields (account_projects=...)."""
    import numpy as np
    import pandas as pd

    from transforms.staging.billing import StagingContext, aggregate_daily, stage_billing_chunk

    raw = pd.DataFrame(raw_rows, dtype=object)
    staged, quarantine, _ = stage_billing_chunk(raw, np.arange(2, 2 + len(raw)), StagingContext(source_file, "focus", **context))
    assert quarantine.empty
    return aggregate_daily(staged)


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


def monthly_cost_frame(month: str, cost: float, project: str = "checkout"):
    """One fct_costs_monthly row (every column of the table: the dimensions it does not name are
    null) of ``cost`` in every amount."""
    import pandas as pd

    from finops_pipeline.warehouse import schema

    row = {c.name: None for c in schema.fct_costs_monthly.columns if c.name != "loaded_at"}
    row.update({
        "billing_month": month, "project": project, "team": "payments", "provider": "AWS", "service_name": "EC2",
        "service_category": "Compute", "billing_currency": "USD", "reporting_currency": "USD", "billed_cost": cost,
        "effective_cost": cost, "list_cost": cost, "chargeback_cost": cost, "source_rows": 1, "project_code": "CC-1",
        "project_owner": "ann@example.com", "project_before_rules": project,
    })
    return pd.DataFrame([row])
