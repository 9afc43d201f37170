"""Plumbing shared by the billing-format tests (tests/unit/test_format_*.py, test_reader_scan.py):
landing files, scanning the fixtures in tests/fixtures/formats, and totals to compare with
the expected values each test file computes by hand."""

from __future__ import annotations

import csv
import gzip
from decimal import Decimal
from pathlib import Path

from finops_pipeline.ingest.landing import LandingFile
from finops_pipeline.ingest.scan import FileScan, scan_file
from transforms.money import exact_total
from transforms.staging.billing import StagingContext

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "formats"
CENT = Decimal("0.01")
ALL_AMOUNTS = ("billed_cost", "effective_cost", "list_cost")
BILLED_EFFECTIVE = ("billed_cost", "effective_cost")


def landing_file(path: Path, root_or_relative: Path | str) -> LandingFile:
    """``path`` as a landing file: named ``root_or_relative`` when that is a str, else by its
    place under that folder (posix)."""
    if isinstance(root_or_relative, str):
        relative = root_or_relative
    else:
        relative = path.relative_to(root_or_relative).as_posix()
    st = path.stat()
    return LandingFile(path, relative, st.st_size, st.st_mtime_ns)


def write_landing_file(root: Path, rel: str, data: str | bytes, compress: bool = False) -> LandingFile:
    """``data`` (gzipped if ``compress``) written to ``root / rel``, as a landing file under ``root``."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return landing_file(path, root)


def scan_fixture(name: str | Path, ctx: StagingContext | None = None, relative: str | None = None,
                 fmt: str | None = None) -> FileScan:
    """The fixture ``name`` scanned as landed at ``relative`` (default: its file name), with ``ctx``
    (default: an empty context). Asserts every row read is accounted for and, given ``fmt``,
    that the file was read as that format."""
    path = FIXTURES / name
    scan = scan_file(landing_file(path, relative or path.name), ctx or StagingContext(source_file="", format_name=""))
    if fmt is not None:
        assert scan.format == fmt
    assert scan.rows_read == scan.rows_accounted
    return scan


def fixture_header(name: str | Path) -> list[str]:
    """The header row of a fixture (a name in FIXTURES, or a path), without a byte-order mark."""
    with open(FIXTURES / name, encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh))


def cents(value: Decimal | str) -> Decimal:
    return Decimal(value).quantize(CENT)


def month_totals(scan: FileScan, *by: str, exact: bool = False,
                 amounts: tuple[str, ...] = ALL_AMOUNTS) -> dict[tuple, tuple[Decimal, ...]]:
    """(month, currency, *by) -> the ``amounts`` (billed, effective, list), summed exactly, to the
    cent unless ``exact``."""
    out = {}
    for key, group in scan.daily.groupby(["billing_month", "billing_currency", *by]):
        out[key] = tuple(exact_total(group[a]) if exact else cents(exact_total(group[a])) for a in amounts)
    return out
