"""Google Cloud billing export CSV (transforms/staging/formats/gcp.py), driven through scan_file.

tests/fixtures/formats/gcp_billing_export.csv has the export's columns with their dotted names
(service.description, project.id, location.region, invoice.month) and these data lines
(line: usage_start_time, cost, credits -> net = cost + credits; cost_type; cost_at_list):
   2  2024-01-01 08:00:00 UTC         10.00  -2.00            = 8.00  regular  list 12.00  label project=alpha
   3  2024-01-15T10:00:00Z (ISO)       1.50  []               = 1.50  regular  no list    no region: location "us"
   4  2024-01-31 23:00:00 UTC          0.95  []               = 0.95  tax      no project
   5  2024-01-20 12:00:00.123456 UTC   5.00  -1.25 - 0.50     = 3.25  regular  list 6.00   label app=bi
   6  2024-02-01 00:00:00 UTC          0.30  -0.3 (free tier) = 0.00  regular
   7  2024-02-05 00:00:00 UTC          0.70  truncated JSON: quarantined (unparseable_credits)
   8  2024-02-10 05:00:00 UTC         -2.00  []               = -2.00 adjustment
   9  2024-02-28 00:00:00 UTC          0.01  []               = 0.01  rounding_error
  10  2024-02-15 00:00:00 UTC          4.00  (empty)          = 4.00  (empty cost_type) project proj-c
  11  15/02/2024 00:00                 3.00  quarantined: unparseable usage_start_time; invoice.month 202402
gcp_billing_export_flat.csv has the underscored spellings (service_description, project_id, ...), EUR:
   2  2024-03-01  3.00 - 0.75 = 2.25  label project=gamma     3  2024-03-02  1.25     4  2024-04-01  2.00
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from finops_pipeline.ingest.scan import FileScan
from tests import formats
from tests.formats import FIXTURES, cents
from tests.formats import fixture_header as header_of
from tests.formats import month_totals as monthly
from transforms.money import exact_total
from transforms.staging.billing import StagingContext, aggregate_daily, stage_billing_chunk
from transforms.staging.formats import GCP, detect_format
from transforms.staging.formats.gcp import credits_total

D = Decimal


def scan_fixture(name: str) -> FileScan:
    ctx = StagingContext(source_file="", format_name="", account_projects={"proj-c": "db"})
    return formats.scan_fixture(name, ctx, f"gcp/{name}", fmt="gcp")


def amounts(net: str, listed: str) -> tuple[Decimal, Decimal, Decimal]:
    return D(net), D(net), D(listed)


def test_monthly_totals_net_of_credits():
    scan = scan_fixture("gcp_billing_export.csv")
    assert scan.rows_read == 10 and len(scan.quarantine) == 2
    assert monthly(scan) == {
        # net 8.00 + 1.50 + 0.95 + 3.25 = 13.70; list 12.00 + 1.50 + 0.95 + 6.00 = 20.45 (cost where no cost_at_list)
        ("2024-01", "USD"): amounts("13.70", "20.45"),
        # net 0.00 - 2.00 + 0.01 + 4.00 = 2.01; list 0.30 - 2.00 + 0.01 + 4.00 = 2.31
        ("2024-02", "USD"): amounts("2.01", "2.31"),
    }


def test_charge_categories_from_cost_type():
    totals = {k: v[0] for k, v in monthly(scan_fixture("gcp_billing_export.csv"), "charge_category").items()}
    assert totals == {
        ("2024-01", "USD", "Usage"): D("12.75"),  # 8.00 + 1.50 + 3.25
        ("2024-01", "USD", "Tax"): D("0.95"),
        ("2024-02", "USD", "Usage"): D("4.00"),  # 0.00 + 4.00 (empty cost_type)
        ("2024-02", "USD", "Adjustment"): D("-1.99"),  # adjustment -2.00 + rounding_error 0.01
    }


def test_dimensions_and_projects():
    daily = scan_fixture("gcp_billing_export.csv").daily
    assert set(daily["provider"]) == {"Google Cloud"}
    assert set(daily["billing_account_id"]) == {"01A2B3-C4D5E6-F7G8H9"}
    assert set(daily["sub_account_id"].dropna()) == {"proj-a", "proj-b", "proj-c"}
    assert set(daily["region"].dropna()) == {"us-central1", "us"}  # location.location stands in for no region
    assert set(daily["service_name"]) == {"Compute Engine", "Cloud Storage", "Invoice", "BigQuery", "Cloud Run", "Cloud SQL"}
    by_project = {p: (cents(exact_total(g["billed_cost"])), set(g["project_source"])) for p, g in daily.groupby("project")}
    assert by_project == {
        "alpha": (D("8.00"), {"tag"}),  # label project=alpha
        "bi": (D("3.25"), {"tag"}),  # label app=bi
        "db": (D("4.00"), {"account"}),  # projects.csv proj-c
        "unallocated": (D("0.46"), {"unallocated"}),  # 1.50 + 0.95 + 0.00 - 2.00 + 0.01
    }


def test_bad_rows_quarantined_with_file_line_and_column():
    q = scan_fixture("gcp_billing_export.csv").quarantine.sort_values("line_number")
    assert q[["source_file", "line_number", "reason", "source_column"]].values.tolist() == [
        ["gcp/gcp_billing_export.csv", 7, "unparseable_credits", "credits"],
        ["gcp/gcp_billing_export.csv", 11, "unparseable_date", "usage_start_time"],
    ]
    assert q["detail"].iloc[0].startswith("credits: ") and q["detail"].iloc[1].startswith("usage_start_time: ")
    assert q["billing_month"].iloc[0] == "2024-02"


def test_undated_row_is_filed_under_its_invoice_month():
    q = scan_fixture("gcp_billing_export.csv").quarantine
    assert q.loc[q["line_number"] == 11, "billing_month"].tolist() == ["2024-02"]  # invoice.month 202402


def test_underscored_column_names():
    scan = scan_fixture("gcp_billing_export_flat.csv")
    assert scan.quarantine.empty
    assert monthly(scan) == {
        ("2024-03", "EUR"): amounts("3.50", "4.25"),  # net 2.25 + 1.25; list (no cost_at_list: cost) 3.00 + 1.25
        ("2024-04", "EUR"): amounts("2.00", "2.00"),
    }
    daily = scan.daily
    assert set(daily["region"]) == {"europe-west1"} and set(daily["service_name"]) == {"Compute Engine"}
    assert daily.loc[daily["sub_account_id"] == "proj-x", "project"].tolist() == ["gamma"]


def test_credits_parsed_once_per_distinct_text_at_volume():
    n = 200_000
    credits = np.where(np.arange(n) % 100 == 0, '[{"name":"SUD","amount":-0.25}]', "[]")
    raw = pd.DataFrame({
        "billing_account_id": "B", "usage_start_time": "2024-05-01 00:00:00 UTC", "cost": "1.00", "currency": "USD",
        "credits": credits, "cost_type": "regular",
    }, index=pd.RangeIndex(n))
    staged, quarantine, _ = stage_billing_chunk(raw, np.arange(2, n + 2), StagingContext("f.csv", "gcp"))
    daily = aggregate_daily(staged)
    assert quarantine.empty
    assert exact_total(daily["billed_cost"]) == D("199500")  # 200000 x 1.00 - 2000 x 0.25
    assert exact_total(daily["list_cost"]) == D("200000")


@pytest.mark.parametrize("text, total", [
    ("[]", 0.0),
    ('[{"name":"a","amount":-1.5,"type":"PROMOTION"}]', -1.5),
    ('[{"amount":-1},{"amount":-0.25,"id":"x"}]', -1.25),
    ('[{"name":"x","amount":', None),  # truncated
    ("{}", None),  # not a list
    ('[{"name":"no amount"}]', None),
    ('[{"amount":"-1"}]', None),  # a string is not a number
    ('[{"amount":true}]', None),
    ('[{"amount":NaN}]', None),
    ("[1]", None),
])
def test_credits_total(text, total):
    assert credits_total(text) == total


# ------------------------------------------------------------------------------------------
# detection


DOTTED = header_of("gcp_billing_export.csv")
FLAT = header_of("gcp_billing_export_flat.csv")


@pytest.mark.parametrize("header, service, project", [
    (DOTTED, "service.description", "project.id"),
    (FLAT, "service_description", "project_id"),
], ids=["dotted", "underscored"])
def test_header_is_gcp(header, service, project):
    fmt, columns = detect_format(header)
    assert fmt is GCP
    assert columns["service_name"] == service and columns["sub_account_id"] == project


@pytest.mark.parametrize("missing", ["billing_account_id", "usage_start_time", "cost", "currency"])
def test_header_missing_a_required_column_is_not_gcp(missing):
    found = detect_format([h for h in DOTTED if h != missing])
    assert found is None or found[0] is not GCP


def test_other_fixture_headers_are_not_gcp():
    for path in FIXTURES.glob("*.csv"):
        if path.name.startswith("gcp_"):
            continue
        found = detect_format(header_of(path.name))
        assert found is None or found[0] is not GCP, path.name
