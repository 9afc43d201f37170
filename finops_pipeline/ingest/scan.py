"""Scanning a billing export once into daily aggregates and quarantined rows, with a cache.

A file is read in full once per content version: the result (small: daily grain) is cached
under the state directory, keyed by the file's path, size, mtime and the staging settings, so
that materializing one month does not re-parse every export of every other month.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from finops_pipeline.ingest.landing import LandingFile
from finops_pipeline.ingest.reader import NeedsLineNumbers, iter_chunks, open_billing_file
from transforms.grouping import sum_by
from transforms.staging.billing import (
    AMOUNTS,
    REASONS,
    StagingContext,
    aggregate_daily,
    attribute_undated,
    empty_excluded,
    empty_quarantine,
    stage_billing_chunk,
)

SCAN_VERSION = 2  # bump when staging logic changes, to invalidate cached scans
# Re-aggregate the partial daily sums when this many rows are pending, keeping memory flat.
COMPACT_ROWS = 500_000


@dataclass
class FileScan:
    file: str
    format: str
    sha256: str
    rows_read: int
    daily: pd.DataFrame  # canonical daily grain, all months of the file
    quarantine: pd.DataFrame
    excluded: pd.DataFrame  # readable rows that are not costs (card payments, transfers, ...)

    @property
    def months(self) -> list[str]:
        found = set(self.daily["billing_month"].dropna()) | set(self.quarantine["billing_month"].dropna())
        return sorted(found | set(self.excluded["billing_month"].dropna()))

    @property
    def rows_accounted(self) -> int:
        """Input rows found again: loaded (summed into daily rows) + quarantined + excluded."""
        return int(self.daily["source_rows"].sum()) + len(self.quarantine) + len(self.excluded)


def scan_file(file: LandingFile, ctx_template: StagingContext, cache_dir: Path | None = None) -> FileScan:
    """Scan (or load from cache) one export. Raises InputFileError when it cannot be read."""
    key = _cache_key(file, ctx_template)
    if cache_dir is not None:
        cached = _load_cached(cache_dir, key)
        if cached is not None:
            return cached
    scan = _scan(file, ctx_template)
    if cache_dir is not None:
        _store(cache_dir, key, scan)
    return scan


def _scan(file: LandingFile, ctx_template: StagingContext) -> FileScan:
    try:
        return _scan_once(file, ctx_template, parallel=True)
    except NeedsLineNumbers:
        return _scan_once(file, ctx_template, parallel=False)


def _scan_once(file: LandingFile, ctx_template: StagingContext, parallel: bool) -> FileScan:
    stream = open_billing_file(file)
    ctx = replace(ctx_template, source_file=file.relative, format_name=stream.fmt.name, source_columns=stream.columns)
    partials: list[pd.DataFrame] = []
    pending, compacted = 0, 0
    quarantined: list[pd.DataFrame] = []
    excluded: list[pd.DataFrame] = []
    rows_read = 0
    for chunk, lines in iter_chunks(stream, parallel=parallel):
        rows_read += len(chunk)
        staged, bad, not_costs = stage_billing_chunk(chunk, lines, ctx)
        partials.append(aggregate_daily(staged))
        pending += len(partials[-1])
        if not bad.empty:
            quarantined.append(bad)
        if not not_costs.empty:
            excluded.append(not_costs)
        # Geometric threshold: re-aggregating only once the pending rows double keeps the total
        # work linear even when the file has hundreds of thousands of distinct daily keys.
        if pending > max(COMPACT_ROWS, 2 * compacted):
            partials = [_combine(partials)]
            pending = compacted = len(partials[0])
    rows_read += len(stream.malformed)
    if stream.malformed:
        quarantined.append(_malformed_rows(file.relative, stream.malformed))
    daily = _combine(partials)
    quarantine = pd.concat(quarantined, ignore_index=True) if quarantined else empty_quarantine()
    fallback = file.path_month or (daily["billing_month"].min() if not daily.empty else None)
    quarantine = attribute_undated(quarantine, fallback)
    not_costs = pd.concat(excluded, ignore_index=True) if excluded else empty_excluded()
    return FileScan(file.relative, stream.fmt.name, stream.sha256, rows_read, daily, quarantine, not_costs)


def _combine(partials: list[pd.DataFrame]) -> pd.DataFrame:
    """Re-aggregate partial daily sums: summing is associative, so the result is the same as
    aggregating the whole file at once."""
    frames = [p for p in partials if not p.empty]
    if not frames:
        return aggregate_daily(pd.DataFrame())
    if len(frames) == 1:
        return frames[0]
    both = pd.concat(frames, ignore_index=True)
    keys = [c for c in both.columns if c not in AMOUNTS and c != "source_rows"]
    return sum_by(both, keys, [*AMOUNTS, "source_rows"])[list(both.columns)]


def _malformed_rows(source_file: str, malformed: list[tuple[int | None, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source_file": source_file,
            "line_number": pd.array([n for n, _ in malformed], dtype="Int64"),
            "billing_month": None,
            "reason": "malformed_row",
            "source_column": None,
            "detail": REASONS["malformed_row"],
            "billed_cost": np.nan,
            "effective_cost": np.nan,
            "billing_currency": None,
            "raw_values": [json.dumps({"line": text}, ensure_ascii=False) for _, text in malformed],
        }
    )


def _cache_key(file: LandingFile, ctx: StagingContext) -> str:
    ident = json.dumps(
        [SCAN_VERSION, file.relative, file.size, file.mtime_ns, ctx.reporting_currency, list(ctx.project_tag_keys),
         sorted(ctx.account_projects.items()), sorted(ctx.cost_center_projects.items()), str(ctx.first_date),
         str(ctx.last_date), ctx.fiscal_year_start_month, ctx.fiscal_year_named_by],
        default=str,
    )
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def _load_cached(cache_dir: Path, key: str) -> FileScan | None:
    meta_path = cache_dir / f"{key}.json"
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        daily = pd.read_parquet(cache_dir / f"{key}.daily.parquet")
        quarantine = pd.read_parquet(cache_dir / f"{key}.quarantine.parquet")
        excluded = pd.read_parquet(cache_dir / f"{key}.excluded.parquet")
    except (OSError, ValueError):
        return None  # a damaged cache entry is simply re-scanned
    daily["charge_date"] = pd.to_datetime(daily["charge_date"])
    excluded["charge_date"] = pd.to_datetime(excluded["charge_date"])
    return FileScan(meta["file"], meta["format"], meta["sha256"], meta["rows_read"], daily, quarantine, excluded)


def _store(cache_dir: Path, key: str, scan: FileScan) -> None:
    """Write the entry atomically (temp file + rename), meta last: concurrent runs scanning the
    same file both write identical content, and a reader never sees half an entry."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(cache_dir / f"{key}.daily.parquet", lambda p: scan.daily.to_parquet(p, index=False))
    _atomic_write(cache_dir / f"{key}.quarantine.parquet", lambda p: scan.quarantine.to_parquet(p, index=False))
    _atomic_write(cache_dir / f"{key}.excluded.parquet", lambda p: scan.excluded.to_parquet(p, index=False))
    meta = {"file": scan.file, "format": scan.format, "sha256": scan.sha256, "rows_read": scan.rows_read}
    _atomic_write(cache_dir / f"{key}.json", lambda p: Path(p).write_text(json.dumps(meta)))


def _atomic_write(target: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
