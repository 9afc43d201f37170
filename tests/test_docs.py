"""Documentation that users rely on matches the code."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_tables_doc_is_generated_from_the_schema():
    from finops_pipeline.warehouse.docs import render

    assert (ROOT / "docs" / "tables.md").read_text() == render(), (
        "docs/tables.md is stale: run `python -m finops_pipeline.warehouse.docs > docs/tables.md`"
    )


def test_readme_quickstart_is_the_two_make_commands():
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = [line.strip() for line in quickstart.splitlines() if line.strip().startswith("make ")]
    assert commands == ["make demo", "make test"]


def test_every_documented_env_var_is_read_by_the_settings():
    import re

    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"`(FINOPS_[A-Z_]+)`", readme)) - {"FINOPS_TEST_POSTGRES_URL"}
    code = (ROOT / "finops_pipeline" / "settings.py").read_text()
    assert documented, "README documents no FINOPS_* variables"
    assert {v for v in documented if v not in code} == set()


def test_allocation_doc_is_generated_from_the_sample_data():
    from finops_pipeline.allocation_report import render

    assert (ROOT / "docs" / "allocation.md").read_text() == render(), (
        "docs/allocation.md is stale: run `python -m finops_pipeline.allocation_report > docs/allocation.md`"
    )


def test_accuracy_doc_is_assembled_from_the_benchmark_sections():
    from benchmarks.accuracy_doc import render

    assert (ROOT / "docs" / "accuracy.md").read_text() == render(), (
        "docs/accuracy.md is stale: run `python -m benchmarks.accuracy_doc > docs/accuracy.md`"
    )
