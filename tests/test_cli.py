"""`finops run`, `finops validate` and `finops demo` as a user calls them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from finops_pipeline.cli import main
from tests.conftest import EXPECTED_EFFECTIVE_USD
from tests.helpers import table_totals


def test_run_materializes_every_landing_month_and_rerun_changes_nothing(data_dir, sqlite_url, capsys):
    args = ["run", "--data-dir", str(data_dir), "--warehouse-url", sqlite_url, "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2024-09 .. 2024-10" in out and "succeeded" in out
    first = table_totals(sqlite_url, "fct_costs_monthly")
    assert first == pytest.approx(EXPECTED_EFFECTIVE_USD, abs=1e-9)
    assert main(args) == 0
    assert table_totals(sqlite_url, "fct_costs_monthly") == first


def test_run_reports_failure_with_file_name(data_dir, sqlite_url, capsys):
    (data_dir / "landing" / "billing" / "bad.csv").write_text("foo,bar\n1,2\n")
    assert main(["run", "--data-dir", str(data_dir), "--warehouse-url", sqlite_url, "--quiet"]) == 2
    assert "bad.csv" in capsys.readouterr().err


def test_validate_passes_with_warnings_for_quarantined_rows(data_dir, capsys):
    assert main(["validate", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "aws/focus_aws.csv: 1 row(s) will be quarantined (unparseable_amount; lines 9)" in out
    assert "carried forward" in out


@pytest.mark.parametrize(
    "file, content, expected",
    [
        ("fx_rates.csv", "month,currency,rate\n2024-9,EUR,1.1\n", "fx_rates.csv:2: month '2024-9' is not YYYY-MM"),
        ("fx_rates.csv", "month,currency,rate\n2024-09,EUR,-1\n", "fx_rates.csv:2: rate '-1' must be a positive number"),
        ("projects.csv", "project,team,account_id\na,t,1\nb,t,1\n", "projects.csv:3: account_id 1 is already mapped to project a"),
        ("rules.yaml", "rules:\n  - id: x\n   type: y\n", "rules.yaml:3: YAML syntax error"),
    ],
)
def test_validate_names_file_line_and_fix(data_dir, capsys, file, content, expected):
    (data_dir / "reference" / file).write_text(content)
    assert main(["validate", "--data-dir", str(data_dir)]) == 1
    assert expected in capsys.readouterr().err


def test_validate_reports_missing_fx_rate_and_unreadable_file(data_dir, capsys):
    (data_dir / "reference" / "fx_rates.csv").write_text("month,currency,rate\n")
    (data_dir / "landing" / "billing" / "broken.csv.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert main(["validate", "--data-dir", str(data_dir)]) == 1
    err = capsys.readouterr().err
    assert "no FX rate for EUR in 2024-09" in err
    assert "broken.csv.gz" in err


def test_console_entry_point_runs_as_a_program(data_dir):
    proc = subprocess.run([sys.executable, "-m", "finops_pipeline.cli", "validate", "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Inputs are valid." in proc.stdout
