"""Finding billing exports under landing/billing/ and what their paths say about their month."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SUFFIXES = (".csv", ".csv.gz", ".json", ".json.gz")
JSON_SUFFIXES = (".json", ".json.gz")
# AWS CUR delivers a manifest beside its CSVs (<report>-Manifest.json, or manifest.json for
# CUR 2.0): it describes the export and holds no cost, so discovery skips it
_MANIFEST = re.compile(r"manifest\.json(?:\.gz)?$", re.IGNORECASE)
# AWS CUR billing-period folders name the start and the (exclusive) end: 20240901-20241001
_CUR_PERIOD = re.compile(r"(?<!\d)(20\d{2})(0[1-9]|1[0-2])01-20\d{2}(?:0[1-9]|1[0-2])01(?!\d)")
# 2024-09, 2024_09, billing_month=2024-09, 20240901
_MONTH_IN_PATH = re.compile(r"(?<!\d)(20\d{2})[-_]?(0[1-9]|1[0-2])(?:[-_]?\d{2})?(?!\d)")


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relative: str  # posix path under landing/billing/, the lineage key stored in source_file
    size: int
    mtime_ns: int

    @property
    def compressed(self) -> bool:
        return self.path.name.lower().endswith(".gz")

    @property
    def is_json(self) -> bool:
        """A JSON document (Plaid transactions), read whole; everything else is CSV, streamed."""
        return self.path.name.lower().endswith(JSON_SUFFIXES)

    @property
    def path_month(self) -> str | None:
        """The billing month the file's path names, if exactly one; used only to decide which
        partition an unreadable file blocks."""
        text = _CUR_PERIOD.sub(lambda m: f"{m.group(1)}-{m.group(2)}", self.relative)
        months = {f"{y}-{m}" for y, m in _MONTH_IN_PATH.findall(text)}
        return months.pop() if len(months) == 1 else None


def discover_landing_files(landing_dir: Path) -> list[LandingFile]:
    """Every *.csv, *.csv.gz, *.json and *.json.gz under ``landing_dir`` at any depth, in a stable
    order. Hidden files and folders (e.g. editors' temp files) and AWS CUR manifests
    (*manifest.json, any case) are ignored."""
    if not landing_dir.exists():
        return []
    found = []
    for path in sorted(landing_dir.rglob("*")):
        rel = path.relative_to(landing_dir).as_posix()
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        if path.is_file() and path.name.lower().endswith(SUFFIXES) and not _MANIFEST.search(path.name):
            st = path.stat()
            found.append(LandingFile(path, rel, st.st_size, st.st_mtime_ns))
    return found
