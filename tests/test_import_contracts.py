"""The import contracts of pyproject.toml ([tool.importlinter]) hold: transforms/ is pure, nothing
outside defs/ imports defs/, each layer imports only the layers below it, and no two sibling modules
or packages import each other."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_import_contracts_are_kept():
    # lint-imports beside this interpreter: the one `make test` installed with the project.
    lint_imports = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint_imports), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert f"{len(contracts)} kept, 0 broken" in proc.stdout, proc.stdout

