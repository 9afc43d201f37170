"""Shared fixtures: a small, hand-written landing folder whose expected totals are known, and
warehouses (SQLite always; PostgreSQL when FINOPS_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import contextlib
import gzip
import os
from pathlib import Path

import pytest

from tests.helpers import FOCUS_HEADER, focus_row, is_outside_setting, run_job, scratch_databases, write_csv

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(autouse=True)
def _isolated_env():
    """Tests never pick up a developer's FINOPS_* or DAGSTER_HOME settings, and what a test
    (or the CLI it calls) sets is undone afterwards."""
    saved = dict(os.environ)
    for var in list(os.environ):
        if is_outside_setting(var):
            del os.environ[var]
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def isolated_run_job():
    """run_job for module-scoped fixtures, which run before _isolated_env: no developer FINOPS_*,
    SLACK_* or DAGSTER_HOME setting reaches the run."""
    def run(*args, **kwargs):
        with pytest.MonkeyPatch.context() as mp:
            for var in list(os.environ):
                if is_outside_setting(var) or var.startswith("SLACK_"):
                    mp.delenv(var)
            return run_job(*args, **kwargs)

    return run


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Two months of AWS FOCUS billing (2024-09, 2024-10), a gzipped Azure FOCUS 1.3-style file
    with a BOM, a generic EUR finance file, and one bad row of each kind."""
    root = tmp_path / "data"
    landing = root / "landing" / "billing"
    aws_rows = [
        focus_row("2024-09-01 00:00:00", 10.0, tags='{"project": "checkout"}'),
        focus_row("2024-09-01 01:00:00", 5.5, tags='{"project": "checkout"}'),
        focus_row("2024-09-02 00:00:00", 7.25, sub_account="111", tags="NULL"),  # mapped by account
        focus_row("2024-09-03 00:00:00", 3.0, sub_account="999", tags="{}"),  # unallocated
        focus_row("2024-10-01 00:00:00", 20.0, tags='{"app": "search"}'),
        focus_row("2024-10-15 12:00:00", 1.125, tags='{"project": "checkout"}'),
        focus_row("NULL", 4.0),  # missing_date (line 8)
        focus_row("2024-10-16 00:00:00", "n/a"),  # unparseable_amount (line 9)
        focus_row("2024-10-17 00:00:00", 2.0, currency="EURO"),  # invalid_currency (line 10)
    ]
    write_csv(landing / "aws" / "focus_aws.csv", FOCUS_HEADER, aws_rows)
    with open(landing / "aws" / "focus_aws.csv", "a") as fh:
        fh.write("too,few,fields\n")  # malformed_row (line 11)
    azure_header = [("ServiceProviderName" if h == "ProviderName" else h) for h in FOCUS_HEADER]
    azure = [focus_row("2024-09-05T00:00:00Z", 100.0, provider="Microsoft", tags='{"project": "search"}')]
    path = landing / "azure" / "2024-09" / "focus_azure.csv.gz"
    write_csv(path.with_suffix(""), azure_header, azure, bom=True)
    path.write_bytes(gzip.compress(path.with_suffix("").read_bytes()))
    path.with_suffix("").unlink()
    generic = "date,project,service,cost,currency,account\n" \
        "2024-09-10,checkout,Datadog,50.00,EUR,fin-1\n" \
        "2024-10-10,,GitHub,30.00,EUR,fin-1\n" \
        "31/13/2024,search,GitHub,9.00,EUR,fin-1\n"  # unparseable_date (line 4)
    (landing / "finance").mkdir(parents=True)
    (landing / "finance" / "saas_expenses.csv").write_text(generic)
    ref = root / "reference"
    ref.mkdir(parents=True)
    (ref / "projects.csv").write_text(
        "project,code,owner,team,account_id\ncheckout,CC-1,ann@example.com,payments,111\n"
        "search,CC-2,bob@example.com,discovery,222\n"
    )
    # EUR has a rate for 2024-09 only: 2024-10 carries it forward (WARN, not a failure)
    (ref / "fx_rates.csv").write_text("month,currency,rate\n2024-09,EUR,1.10\n")
    return root


# Expected totals of the fixture above, in USD, computed by hand.
EXPECTED_EFFECTIVE_USD = {
    "2024-09": 10.0 + 5.5 + 7.25 + 3.0 + 100.0 + 50.0 * 1.10,
    "2024-10": 20.0 + 1.125 + 30.0 * 1.10,
}
EXPECTED_QUARANTINE_REASONS = {
    "missing_date", "unparseable_amount", "invalid_currency", "malformed_row", "unparseable_date",
}


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'warehouse.db'}"


def postgres_server_url() -> str:
    """The admin URL of the test PostgreSQL server; skips the test when there is none."""
    base = os.environ.get("FINOPS_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("FINOPS_TEST_POSTGRES_URL is not set (CI sets it in .ci/run; locally e.g. "
                    "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres)")
    return base


@contextlib.contextmanager
def postgres_database():
    """A fresh database on the test PostgreSQL server (its URL), dropped afterwards, and with it the
    process's engine for the URL (warehouse_engine): no pool is left holding connections to it."""
    from finops_pipeline.warehouse.engine import forget_warehouse_engine

    with scratch_databases(postgres_server_url(), "") as urls:
        try:
            yield urls[""]
        finally:
            forget_warehouse_engine(urls[""])


@pytest.fixture
def postgres_server() -> str:
    return postgres_server_url()


@pytest.fixture
def postgres_url():
    with postgres_database() as url:
        yield url
