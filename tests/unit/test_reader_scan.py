"""Streaming, scanning and caching billing exports (finops_pipeline/ingest/{reader,scan,landing}.py).

All files are small and written to pytest's tmp_path.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from finops_pipeline.ingest.errors import InputFileError
from finops_pipeline.ingest.landing import LandingFile, discover_landing_files
from finops_pipeline.ingest.reader import NeedsLineNumbers, iter_chunks, open_billing_file
from finops_pipeline.ingest.scan import FileScan, scan_file
from tests.formats import landing_file
from tests.formats import write_landing_file as write
from transforms.money import exact_total
from transforms.staging.billing import AMOUNTS, StagingContext

CTX = StagingContext(source_file="", format_name="", account_projects={"acc-2": "mapped"})

FOCUS_HEADER = (
    "BillingPeriodStart,ChargePeriodStart,ProviderName,BillingAccountId,SubAccountId,ServiceName,"
    "BillingCurrency,BilledCost,EffectiveCost,ListCost,Tags"
)
FOCUS_TEXT = "\n".join(
    [
        FOCUS_HEADER,
        '2024-09-01,2024-09-01T00:00:00Z,AWS,ba,acc-1,EC2,USD,1.5,1.25,2,"{""project"": ""web""}"',  # 2
        "2024-09-01,2024-09-01T10:00:00Z,AWS,ba,acc-2,EC2,USD,2.5,NULL,NULL,NULL",  # 3
        "2024-09-01,2024-09-02,AWS,ba,acc-1,S3",  # 4 malformed: too few fields
        "2024-09-01,NULL,AWS,ba,acc-1,S3,EUR,7,7,7,",  # 5 missing date (NULL)
        "2024-09-01,2024-09-03T23:30:00-02:00,AWS,ba,acc-3,S3,eur,4,3.5,5,",  # 6 -> UTC 2024-09-04
        "2024-09-01,2024-09-03,AWS,ba,acc-3,S3,USD,1,234.5,1,1,",  # 7 malformed: too many fields
        "2024-09-01,2024-09-05,AWS,ba,acc-3,S3,USD,NaN,1,1,",  # 8 unparseable amount
        "2024-09-01,2024-09-05,AWS,ba,acc-1,EC2,USD,10,9,11,{broken",  # 9 malformed tags: kept
    ]
) + "\n"


def totals(scan: FileScan) -> dict:
    return {a: exact_total(scan.daily[a]) for a in AMOUNTS} | {
        "source_rows": int(scan.daily["source_rows"].sum()),
        "quarantined": len(scan.quarantine),
        "rows_read": scan.rows_read,
    }


def nulls_as_none(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.astype(object)
    return out.where(out.notna(), None)


# ------------------------------------------------------------------------------------------
# reading and scanning


def test_focus_file_scan(tmp_path):
    scan = scan_file(write(tmp_path, "aws/2024-09/export.csv", FOCUS_TEXT), CTX)
    assert scan.file == "aws/2024-09/export.csv"
    assert scan.format == "focus"
    assert scan.rows_read == 8  # every data line, malformed ones included
    assert int(scan.daily["source_rows"].sum()) + len(scan.quarantine) == scan.rows_read
    q = scan.quarantine.sort_values("line_number")
    assert q["line_number"].astype(int).tolist() == [4, 5, 7, 8]
    assert q["reason"].tolist() == ["malformed_row", "missing_date", "malformed_row", "unparseable_amount"]
    # malformed rows keep the physical line text
    assert json.loads(q["raw_values"].iloc[0]) == {"line": "2024-09-01,2024-09-02,AWS,ba,acc-1,S3"}
    # every quarantined row belongs to a month (its own, or the path's for undated ones)
    assert q["billing_month"].tolist() == ["2024-09"] * 4
    assert exact_total(scan.daily["billed_cost"]) == exact_total([1.5, 2.5, 4.0, 10.0])
    by_day = scan.daily.groupby(scan.daily["charge_date"].dt.strftime("%Y-%m-%d"))["billed_cost"].sum().to_dict()
    assert by_day == {"2024-09-01": 4.0, "2024-09-04": 4.0, "2024-09-05": 10.0}
    projects = dict(zip(scan.daily["billed_cost"], zip(scan.daily["project"], scan.daily["project_source"])))
    assert projects == {
        1.5: ("web", "tag"),
        2.5: ("mapped", "account"),
        4.0: ("unallocated", "unallocated"),
        10.0: ("unallocated", "unallocated"),  # malformed Tags JSON: the row is kept
    }
    assert (scan.daily["source_file"] == "aws/2024-09/export.csv").all()
    assert scan.months == ["2024-09"]


def test_literal_null_is_null(tmp_path):
    scan = scan_file(write(tmp_path, "x.csv", FOCUS_TEXT), CTX)
    row = scan.daily[scan.daily["billed_cost"] == 2.5].iloc[0]
    # EffectiveCost/ListCost NULL fall back to BilledCost; Tags NULL is no tag
    assert (row["effective_cost"], row["list_cost"]) == (2.5, 2.5)
    assert row["project_source"] == "account"
    missing = scan.quarantine[scan.quarantine["reason"] == "missing_date"]
    assert len(missing) == 1 and int(missing["line_number"].iloc[0]) == 5


def test_literal_null_in_generic_project_is_unallocated(tmp_path):
    text = "Date,Project,Service,Cost,Currency\n2024-09-01,NULL,s3,3,EUR\n2024-09-01,web,s3,4,NULL\n"
    scan = scan_file(write(tmp_path, "gen.csv", text), CTX)
    assert scan.format == "generic"
    assert scan.daily[["project", "project_source", "billed_cost"]].values.tolist() == [["unallocated", "unallocated", 3.0]]
    # an explicit currency column with NULL is an invalid currency, not the reporting currency
    assert scan.quarantine[["line_number", "reason"]].values.tolist() == [[3, "invalid_currency"]]


def test_plain_and_gzip_give_identical_scans(tmp_path):
    plain = scan_file(write(tmp_path, "a/2024-09/x.csv", FOCUS_TEXT), CTX)
    packed = scan_file(write(tmp_path, "a/2024-09/x.csv.gz", FOCUS_TEXT, compress=True), CTX)
    assert packed.format == plain.format
    assert totals(packed) == totals(plain)
    pd.testing.assert_frame_equal(plain.daily.drop(columns="source_file"), packed.daily.drop(columns="source_file"))
    pd.testing.assert_frame_equal(
        plain.quarantine.drop(columns="source_file"), packed.quarantine.drop(columns="source_file")
    )
    assert (packed.daily["source_file"] == "a/2024-09/x.csv.gz").all()


@pytest.mark.parametrize("compress", [False, True])
def test_sha256_is_the_hash_of_the_file_bytes(tmp_path, compress):
    lf = write(tmp_path, "x.csv.gz" if compress else "x.csv", FOCUS_TEXT, compress=compress)
    scan = scan_file(lf, CTX)
    assert scan.sha256 == hashlib.sha256(lf.path.read_bytes()).hexdigest()


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_gzip_raises_input_file_error_naming_the_file(tmp_path, cut):
    body = FOCUS_TEXT + "".join(f"2024-09-01,2024-09-02,AWS,ba,acc-1,EC2,USD,{i},{i},{i},\n" for i in range(2000))
    data = gzip.compress(body.encode())
    path = tmp_path / "aws" / "broken.csv.gz"
    path.parent.mkdir()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(InputFileError) as info:
        scan_file(landing_file(path, tmp_path), CTX)
    assert info.value.path == "aws/broken.csv.gz"
    assert str(info.value).startswith("aws/broken.csv.gz: the gzip data is corrupt or truncated")
    assert "download or export the file again" in str(info.value)


def test_not_gzip_at_all_raises_input_file_error(tmp_path):
    lf = write(tmp_path, "fake.csv.gz", FOCUS_TEXT)  # plain text with a .gz name
    with pytest.raises(InputFileError) as info:
        scan_file(lf, CTX)
    assert info.value.path == "fake.csv.gz"
    assert "gzip" in info.value.problem


@pytest.mark.parametrize("header", ["a,b,c", "lineItem/UsageStartDate,lineItem/UnblendedCost", "date,project,cost"])
def test_unknown_header_lists_supported_formats(tmp_path, header):
    lf = write(tmp_path, "odd.csv", header + "\n1,2,3\n")
    with pytest.raises(InputFileError) as info:
        scan_file(lf, CTX)
    err = info.value
    assert err.path == "odd.csv" and err.line == 1
    assert err.problem.startswith("unknown billing format (header: ")
    assert "FOCUS: needs columns ChargePeriodStart, BillingCurrency, BilledCost, EffectiveCost" in err.fix
    assert "generic: needs columns date, project, service, cost" in err.fix
    assert str(err).startswith("odd.csv:1: unknown billing format")


@pytest.mark.parametrize("content", [b"", b"\n", b" , ,\n"])
def test_empty_file_raises_input_file_error(tmp_path, content):
    lf = write(tmp_path, "empty.csv", content)
    with pytest.raises(InputFileError) as info:
        scan_file(lf, CTX)
    assert "empty or has no header" in info.value.problem


def test_non_utf8_header_raises_input_file_error(tmp_path):
    lf = write(tmp_path, "latin.csv", "Date,Project,Service,Co\xfbt\n".encode("latin-1"))
    with pytest.raises(InputFileError) as info:
        scan_file(lf, CTX)
    assert "not UTF-8" in info.value.problem


def test_bom_header_is_read(tmp_path):
    text = "\ufeffChargePeriodStart,BillingCurrency,BilledCost,EffectiveCost\n2024-09-01,USD,5,4\n"
    scan = scan_file(write(tmp_path, "bom.csv", text), CTX)
    assert scan.format == "focus"
    assert scan.daily[["billed_cost", "effective_cost"]].values.tolist() == [[5.0, 4.0]]


@pytest.mark.parametrize(
    "bad_lines",
    [[3], [2, 3], [4, 9], [2, 30, 31, 57]],
)
def test_malformed_rows_keep_their_physical_line_numbers_across_blocks(tmp_path, bad_lines):
    header = "ChargePeriodStart,BillingCurrency,BilledCost,EffectiveCost"
    lines = [header]
    for n in range(2, 61):
        # each good row's amount is its own line number, so the mapping can be checked
        lines.append("2024-09-01,USD,1" if n in bad_lines else f"2024-09-{1 + n % 28:02d},USD,{n},{n}")
    lf = write(tmp_path, "m.csv", "\n".join(lines) + "\n")
    with pytest.raises(NeedsLineNumbers):  # parallel parsing cannot number bad rows: scan retries
        list(iter_chunks(open_billing_file(lf), block_size=256))
    stream = open_billing_file(lf)
    seen = []
    for frame, line_numbers in iter_chunks(stream, block_size=256, parallel=False):  # several blocks
        assert frame["billed_cost"].astype(int).tolist() == line_numbers.tolist()
        seen.extend(line_numbers.tolist())
    assert seen == [n for n in range(2, 61) if n not in bad_lines]
    assert [n for n, _ in stream.malformed] == bad_lines
    scan = scan_file(lf, CTX)
    q = scan.quarantine
    assert q["reason"].tolist() == ["malformed_row"] * len(bad_lines)
    assert q["line_number"].astype(int).tolist() == bad_lines
    assert scan.rows_read == 59


def test_quarantine_raw_values_are_strict_json_without_nulls(tmp_path):
    text = "ChargePeriodStart,BillingCurrency,BilledCost,EffectiveCost,Tags\n,USD,7,NULL,\n"
    scan = scan_file(write(tmp_path, "x.csv", text), CTX)

    def reject(token):
        raise ValueError(f"not JSON: {token}")

    raw = json.loads(scan.quarantine["raw_values"].iloc[0], parse_constant=reject)
    assert raw == {"BillingCurrency": "USD", "BilledCost": "7"}


# ------------------------------------------------------------------------------------------
# cache


def test_cache_returns_an_equal_scan(tmp_path):
    lf = write(tmp_path / "landing", "aws/2024-09/export.csv", FOCUS_TEXT)
    cache = tmp_path / "cache"
    first = scan_file(lf, CTX, cache_dir=cache)
    assert len(list(cache.glob("*.json"))) == 1
    second = scan_file(lf, CTX, cache_dir=cache)
    assert second is not first
    assert (second.file, second.format, second.sha256, second.rows_read) == (
        first.file, first.format, first.sha256, first.rows_read,
    )
    pd.testing.assert_frame_equal(first.daily, second.daily)
    # same values; the parquet round trip may change how a null is spelled (None vs NaN) and the
    # string dtype of all-object columns, so compare with nulls normalised
    pd.testing.assert_frame_equal(nulls_as_none(first.quarantine), nulls_as_none(second.quarantine), check_dtype=False)
    assert second.quarantine["line_number"].astype(int).tolist() == first.quarantine["line_number"].astype(int).tolist()
    assert second.months == first.months


def test_cache_is_used_on_the_second_call(tmp_path):
    """The file is gone but its cache entry (same path, size, mtime) still answers."""
    lf = write(tmp_path / "landing", "x.csv", FOCUS_TEXT)
    cache = tmp_path / "cache"
    first = scan_file(lf, CTX, cache_dir=cache)
    lf.path.unlink()
    second = scan_file(lf, CTX, cache_dir=cache)
    assert totals(second) == totals(first)


def test_cache_is_invalidated_when_the_file_changes(tmp_path):
    root = tmp_path / "landing"
    cache = tmp_path / "cache"
    lf = write(root, "aws/x.csv", FOCUS_TEXT)
    before = scan_file(lf, CTX, cache_dir=cache)
    changed = FOCUS_TEXT + "2024-09-01,2024-09-06,AWS,ba,acc-1,EC2,USD,100,100,100,\n"
    lf.path.write_text(changed)
    os.utime(lf.path, ns=(lf.mtime_ns + 5_000_000_000, lf.mtime_ns + 5_000_000_000))
    (new_lf,) = discover_landing_files(root)
    assert new_lf.mtime_ns != lf.mtime_ns
    after = scan_file(new_lf, CTX, cache_dir=cache)
    assert after.rows_read == before.rows_read + 1
    assert exact_total(after.daily["billed_cost"]) == exact_total(before.daily["billed_cost"]) + 100
    assert after.sha256 == hashlib.sha256(changed.encode()).hexdigest() != before.sha256
    assert len(list(cache.glob("*.json"))) == 2


@pytest.mark.parametrize(
    "change",
    [
        {"account_projects": {"acc-2": "other"}},
        {"project_tag_keys": ("app",)},
        {"first_date": date(2024, 9, 2)},
    ],
)
def test_cache_is_invalidated_when_staging_settings_change(tmp_path, change):
    lf = write(tmp_path / "landing", "x.csv", FOCUS_TEXT)
    cache = tmp_path / "cache"
    scan_file(lf, CTX, cache_dir=cache)
    ctx = StagingContext(**{**CTX.__dict__, **change})
    cached = scan_file(lf, ctx, cache_dir=cache)
    fresh = scan_file(lf, ctx)
    pd.testing.assert_frame_equal(cached.daily, fresh.daily)
    assert len(cached.quarantine) == len(fresh.quarantine)
    assert len(list(cache.glob("*.json"))) == 2


# ------------------------------------------------------------------------------------------
# landing files


def test_discover_landing_files(tmp_path):
    root = tmp_path / "billing"
    for rel in [
        "top.csv",
        "aws/2024-09/a.csv",
        "aws/2024-09/deep/er/b.csv.gz",
        "gcp/UPPER.CSV",
        "azure/c.CSV.GZ",
        ".hidden.csv",
        "aws/.~lock.a.csv",
        ".tmp/x.csv",
        "aws/.cache/y.csv.gz",
        "notes.txt",
        "aws/a.csv.bak",
        "aws/a.csv.zip",
        "aws/a.gz",
        "aws/a.tsv",
    ]:
        write(root, rel, "date,project,service,cost\n")
    (root / "folder.csv").mkdir()  # a directory named like a file is not a file
    found = discover_landing_files(root)
    assert [f.relative for f in found] == [
        "aws/2024-09/a.csv",
        "aws/2024-09/deep/er/b.csv.gz",
        "azure/c.CSV.GZ",
        "gcp/UPPER.CSV",
        "top.csv",
    ]
    for f in found:
        st = f.path.stat()
        assert f.path == root / f.relative
        assert (f.size, f.mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert [f.compressed for f in found] == [False, True, True, False, False]


def test_discover_landing_files_missing_dir(tmp_path):
    assert discover_landing_files(tmp_path / "nope") == []


@pytest.mark.parametrize(
    "relative, month",
    [
        ("aws/2024-09/x.csv", "2024-09"),
        ("billing_month=2024-09/x.csv", "2024-09"),
        ("gcp/2024_09/x.csv", "2024-09"),
        ("azure/export_2024-09-15.csv", "2024-09"),
        ("azure/202409/x.csv", "2024-09"),
        ("x.csv", None),
        ("aws/export/x.csv.gz", None),
        ("aws/2024-13/x.csv", None),  # not a month
        ("aws/2024-09/2024-10.csv", None),  # two different months: ambiguous
        ("aws/2024-09/part-2024-09-01.csv", "2024-09"),  # same month twice is fine
    ],
)
def test_path_month(relative, month):
    assert LandingFile(Path(relative), relative, 0, 0).path_month == month


@pytest.mark.parametrize("relative", ["20240901-20241001/x.csv.gz", "cur/report/20240901-20241001/x-00001.csv.gz"])
def test_path_month_aws_cur_billing_period(relative):
    assert LandingFile(Path(relative), relative, 0, 0).path_month == "2024-09"


def test_undated_quarantine_rows_take_the_path_month(tmp_path):
    text = "ChargePeriodStart,BillingCurrency,BilledCost,EffectiveCost\n,USD,1,1\n2024-08-31,USD,2,2\n"
    scan = scan_file(write(tmp_path, "aws/billing_month=2024-09/x.csv", text), CTX)
    assert scan.quarantine[["reason", "billing_month"]].values.tolist() == [["missing_date", "2024-09"]]
    assert scan.months == ["2024-08", "2024-09"]
    # without a month in the path: the earliest month of the file's rows
    scan = scan_file(write(tmp_path, "plain/x.csv", text), CTX)
    assert scan.quarantine["billing_month"].tolist() == ["2024-08"]
