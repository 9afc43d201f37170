"""Azure EA and MCA cost exports (transforms/staging/formats/azure.py), driven through scan_file.

tests/fixtures/formats/azure_ea_actual.csv has the real 55-column EA header (as in the finops-toolkit
sample), UTF-8 with BOM, and these data lines (line: Date, ChargeType, Cost, Quantity x PayGPrice):
   2  09/04/2023  Usage               1.00   10 x 0.12 = 1.20  tags without braces, "project": "alpha"
   3  09/15/2023  Purchase           50.00   PayGPrice 0: no list price, billed stands in
   4  09/20/2023  Refund             -5.00   -> Credit
   5  9/30/2023   UnusedReservation   2.50   unpadded M/D/YYYY; subscription B (-> project platform)
   6  2023-10-02  Usage               0.75   3 x 0.25 = 0.75; ISO date; tags with braces, "Project": "beta"
   7  10/31/2023  RoundingAdjustment  0.01   no PayGPrice; cost center CC300 (-> project finance)
   8  10/15/2023  Tax                 1.20   cost center CC300
   9  10/16/2023  Marketplace         3.00   unknown ChargeType -> Adjustment; subscription B
  10  10/17/2023  Usage          "1,234.00"  quarantined: unparseable Cost
  11  31/10/2023  Usage               9.00   quarantined: DD/MM date (never accepted); period 10/01/2023
  12  10/18/2023  (empty)             0.40   2 x 0.2 = 0.40; empty ChargeType -> Usage
azure_mca_actual.csv has the MCA 2023-12-01-preview header (camelCase with PascalCase exceptions):
   2  2024-01-05  Usage              10.00 EUR  payg 12.00     tags {"project": "web"}
   3  01/10/2024  Purchase          100.00      payg empty
   4  2024-01-31  UnusedSavingsPlan   4.00      payg 0 -> billed stands in
   5  2024-02-01  Refund            -20.00      -> Credit
   6  2024-02-02  Usage               2.50 eur  payg 3.00      lower-case currency; tags "project": "api"
   7  2024-02-02  Usage               7.00 EURO               quarantined: invalid billingCurrency
   8  2024-02-03T00:00:00.0000000Z  Tax  0.50
   9  2024-02-29  RoundingAdjustment -0.01
azure_ea_finops_toolkit_{actual,amortized}.csv are the real EA samples (see SOURCE.md there).
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from finops_pipeline.ingest.scan import FileScan
from tests import formats
from tests.formats import CENT, FIXTURES, cents
from tests.formats import fixture_header as header_of
from tests.formats import month_totals as monthly
from transforms.money import exact_total
from transforms.staging.billing import StagingContext
from transforms.staging.formats import AZURE_EA, AZURE_MCA, detect_format
from transforms.staging.formats.azure import azure_days, charge_categories
from transforms.staging.parsing import STR

SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "focus" / "finops-toolkit" / "azure-ea-cost-exports"
REAL = {"actual": "azure_ea_finops_toolkit_actual.csv", "amortized": "azure_ea_finops_toolkit_amortized.csv"}
SUB_B = "22222222-bbbb-4bbb-8bbb-000000000002"
D = Decimal


def context(**extra) -> StagingContext:
    return StagingContext(source_file="", format_name="", account_projects={SUB_B: "platform"},
                          cost_center_projects={"CC300": "finance"}, **extra)


def scan_fixture(name: str, ctx: StagingContext | None = None) -> FileScan:
    return formats.scan_fixture(name, ctx or context(), f"azure/{name}")


def amounts(billed: str, listed: str | None = None) -> tuple[Decimal, Decimal, Decimal]:
    return D(billed), D(billed), D(listed or billed)


# ------------------------------------------------------------------------------------------
# EA


def test_ea_monthly_totals():
    scan = scan_fixture("azure_ea_actual.csv")
    assert scan.format == "azure_ea"
    assert scan.rows_read == 11 and len(scan.quarantine) == 2
    assert monthly(scan) == {
        # billed = effective: 1.00 + 50.00 - 5.00 + 2.50 = 48.50; list: 1.20 + 50.00 - 5.00 + 2.50 = 48.70
        ("2023-09", "USD"): amounts("48.50", "48.70"),
        # 0.75 + 0.01 + 1.20 + 3.00 + 0.40 = 5.36 (list = billed: 0.75 and 0.40 are priced at PayG)
        ("2023-10", "USD"): amounts("5.36"),
    }


def test_ea_charge_categories():
    totals = {k: v[0] for k, v in monthly(scan_fixture("azure_ea_actual.csv"), "charge_category").items()}
    assert totals == {
        ("2023-09", "USD", "Usage"): D("3.50"),  # 1.00 + 2.50 (UnusedReservation)
        ("2023-09", "USD", "Purchase"): D("50.00"),
        ("2023-09", "USD", "Credit"): D("-5.00"),  # Refund
        ("2023-10", "USD", "Usage"): D("1.15"),  # 0.75 + 0.40 (empty ChargeType)
        ("2023-10", "USD", "Adjustment"): D("3.01"),  # RoundingAdjustment 0.01 + unknown 'Marketplace' 3.00
        ("2023-10", "USD", "Tax"): D("1.20"),
    }


def test_ea_dimensions_and_projects():
    daily = scan_fixture("azure_ea_actual.csv").daily
    assert set(daily["provider"]) == {"Microsoft"}
    assert set(daily["billing_account_id"]) == {"8600001"}
    assert set(daily["region"].dropna()) == {"eastus2", "westeurope"}  # 'WestEurope' lower-cased
    assert set(daily["service_category"].dropna()) == {"Compute", "Storage"}
    assert set(daily["cost_center"]) == {"CC100", "CC300"}
    by_project = {p: (cents(exact_total(g["billed_cost"])), set(g["project_source"])) for p, g in daily.groupby("project")}
    assert by_project == {
        "alpha": (D("1.00"), {"tag"}),  # "project": "alpha" (no braces)
        "beta": (D("0.75"), {"tag"}),  # {"Project": "beta"} (braces)
        "platform": (D("5.50"), {"account"}),  # subscription B: 2.50 + 3.00
        "finance": (D("1.21"), {"cost_center"}),  # CC300: 0.01 + 1.20
        "unallocated": (D("45.40"), {"unallocated"}),  # 50.00 - 5.00 + 0.40
    }


def test_ea_bad_rows_quarantined_with_file_line_and_column():
    q = scan_fixture("azure_ea_actual.csv").quarantine.sort_values("line_number")
    assert q["source_file"].tolist() == ["azure/azure_ea_actual.csv"] * 2
    assert q["line_number"].tolist() == [10, 11]
    assert q["reason"].tolist() == ["unparseable_amount", "unparseable_date"]
    assert q["source_column"].tolist() == ["Cost", "Date"]
    assert q["detail"].str.startswith("Cost: ").iloc[0] and q["detail"].str.startswith("Date: ").iloc[1]
    assert q["billing_month"].iloc[0] == "2023-10"  # the date of line 10 is fine


def test_ea_undated_row_is_filed_under_its_billing_period():
    q = scan_fixture("azure_ea_actual.csv").quarantine
    assert q.loc[q["line_number"] == 11, "billing_month"].tolist() == ["2023-10"]  # BillingPeriodStartDate 10/01/2023


# ------------------------------------------------------------------------------------------
# the real EA samples: totals computed here from the file with csv and Decimal


def expected_from_csv(name: str) -> tuple[dict, dict]:
    """(month, currency) -> (cost, list) and ChargeType -> row count, from the CSV text."""
    totals: dict[tuple[str, str], list[Decimal]] = {}
    types: dict[str, int] = {}
    with open(FIXTURES / name, encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            month_, day_, year_ = row["Date"].split("/")
            cost = D(row["Cost"])
            price = D(row["PayGPrice"] or "0")
            listed = price * D(row["Quantity"]) if price != 0 else cost
            entry = totals.setdefault((f"{year_}-{month_}", row["BillingCurrency"]), [D(0), D(0)])
            entry[0] += cost
            entry[1] += listed
            types[row["ChargeType"]] = types.get(row["ChargeType"], 0) + 1
    return {k: tuple(v) for k, v in totals.items()}, types


@pytest.mark.parametrize("export", ["actual", "amortized"])
def test_real_ea_sample_totals_to_the_cent(export):
    scan = scan_fixture(REAL[export], StagingContext(source_file="", format_name=""))
    assert scan.format == "azure_ea"
    assert scan.quarantine.empty
    expected, types = expected_from_csv(REAL[export])
    assert scan.rows_read == sum(types.values()) == {"actual": 11, "amortized": 28}[export]
    got = monthly(scan, exact=True)
    assert got.keys() == expected.keys() == {("2023-09", "USD")}
    for key, (cost, listed) in expected.items():
        billed, effective, list_cost = got[key]
        assert billed.quantize(CENT) == effective.quantize(CENT) == cost.quantize(CENT)
        assert abs(billed - cost) < D("1e-9") and abs(list_cost - listed) < D("1e-9")
    categories = scan.daily.groupby("charge_category")["source_rows"].sum().to_dict()
    assert categories == types == {"actual": {"Usage": 10, "Purchase": 1}, "amortized": {"Usage": 28}}[export]


def test_real_amortized_sample_project_tag():
    daily = scan_fixture(REAL["amortized"], StagingContext(source_file="", format_name="")).daily
    tagged = daily[daily["project"] != "unallocated"]
    # the one row tagged "Project": "Demo" (Bandwidth, 09/20/2023, Cost 0.00034686)
    assert tagged["project"].tolist() == ["Demo"] and tagged["source_rows"].tolist() == [1]
    assert exact_total(tagged["billed_cost"]) == D("0.00034686")


def test_actual_and_amortized_exports_repeat_uncommitted_rows():
    """Why only one of the two exports of a scope may be loaded: every on-demand usage row of the
    actual export is in the amortized export too, with the same cost."""

    def rows(name):
        with open(FIXTURES / name, encoding="utf-8-sig", newline="") as f:
            return list(csv.DictReader(f))

    key = ("Date", "SubscriptionId", "MeterId", "ResourceId", "Quantity", "Cost")
    amortized = {tuple(r[k] for k in key) for r in rows(REAL["amortized"])}
    usage = [r for r in rows(REAL["actual"]) if r["ChargeType"] == "Usage"]
    assert len(usage) == 10 and all(tuple(r[k] for k in key) in amortized for r in usage)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared is not available")
@pytest.mark.parametrize("export", ["actual", "amortized"])
def test_real_samples_are_unmodified_copies(export):
    upstream = SHARED / {"actual": "EA_ActualCost_Small.csv", "amortized": "EA_AmortizedCost_Small.csv"}[export]
    assert (FIXTURES / REAL[export]).read_bytes() == upstream.read_bytes()


# ------------------------------------------------------------------------------------------
# MCA


def test_mca_monthly_totals():
    scan = scan_fixture("azure_mca_actual.csv")
    assert scan.format == "azure_mca"
    assert scan.rows_read == 8 and len(scan.quarantine) == 1
    assert monthly(scan) == {
        # 10.00 + 100.00 + 4.00 = 114.00; list: 12.00 + 100.00 (no payg) + 4.00 (payg 0) = 116.00
        ("2024-01", "EUR"): amounts("114.00", "116.00"),
        # -20.00 + 2.50 + 0.50 - 0.01 = -17.01; list: -20.00 + 3.00 + 0.50 - 0.01 = -16.51
        ("2024-02", "EUR"): amounts("-17.01", "-16.51"),
    }
    categories = {k[2]: v[0] for k, v in monthly(scan, "charge_category").items() if k[0] == "2024-02"}
    assert categories == {"Credit": D("-20.00"), "Usage": D("2.50"), "Tax": D("0.50"), "Adjustment": D("-0.01")}


def test_mca_dimensions_projects_and_quarantine():
    scan = scan_fixture("azure_mca_actual.csv")
    daily = scan.daily
    assert set(daily["provider"]) == {"Microsoft"}
    assert set(daily["sub_account_id"]) == {"33333333-cccc-4ccc-8ccc-000000000003"}
    assert set(daily["cost_center"]) == {"CC1"} and set(daily["region"]) == {"westeurope"}
    projects = {p: cents(exact_total(g["billed_cost"])) for p, g in daily.groupby("project")}
    assert projects == {"web": D("10.00"), "api": D("2.50"), "unallocated": D("84.49")}  # 100 + 4 - 20 + 0.5 - 0.01
    q = scan.quarantine
    assert q[["source_file", "line_number", "reason", "source_column", "billing_month"]].values.tolist() == [
        ["azure/azure_mca_actual.csv", 7, "invalid_currency", "billingCurrency", "2024-02"]
    ]
    assert q["detail"].iloc[0].startswith("billingCurrency: ")


# ------------------------------------------------------------------------------------------
# detection

EA_SAMPLE = header_of(REAL["actual"])
# EA schema 2024-08-01 (MicrosoftDocs cost-usage-details-ea.md): CostInBillingCurrency, BillingCurrencyCode
EA_2024 = [
    "InvoiceSectionName", "AccountName", "AccountOwnerId", "SubscriptionId", "SubscriptionName", "ResourceGroup",
    "ResourceLocation", "Date", "ProductName", "MeterCategory", "MeterSubCategory", "MeterId", "MeterName", "MeterRegion",
    "UnitOfMeasure", "Quantity", "EffectivePrice", "CostInBillingCurrency", "CostCenter", "ConsumedService", "ResourceId",
    "Tags", "OfferId", "AdditionalInfo", "ServiceInfo1", "ServiceInfo2", "ResourceName", "ReservationId",
    "ReservationName", "UnitPrice", "ProductOrderId", "ProductOrderName", "Term", "PublisherType", "PublisherName",
    "ChargeType", "Frequency", "PricingModel", "AvailabilityZone", "BillingAccountId", "BillingAccountName",
    "BillingCurrencyCode", "BillingPeriodStartDate", "BillingPeriodEndDate", "BillingProfileId", "BillingProfileName",
    "InvoiceSectionId", "IsAzureCreditEligible", "PartNumber", "PayGPrice", "PlanName", "ServiceFamily",
    "CostAllocationRuleName", "benefitId", "benefitName", "AccountId", "ResourceLocationNormalized",
]
MCA = header_of("azure_mca_actual.csv")


@pytest.mark.parametrize("header, expected, cost, currency", [
    (EA_SAMPLE, AZURE_EA, "Cost", "BillingCurrency"),
    (EA_2024, AZURE_EA, "CostInBillingCurrency", "BillingCurrencyCode"),
    (MCA, AZURE_MCA, "costInBillingCurrency", "billingCurrency"),
    # an MCA export written in PascalCase throughout is still MCA (names match case-insensitively)
    ([h[0].upper() + h[1:] for h in MCA], AZURE_MCA, "CostInBillingCurrency", "BillingCurrency"),
], ids=["ea-sample", "ea-2024-08-01", "mca-2023-12-01", "mca-pascal-case"])
def test_each_header_is_its_own_format(header, expected, cost, currency):
    fmt, columns = detect_format(header)
    assert fmt is expected
    assert columns["cost"] == cost and columns["billing_currency"] == currency
    assert AZURE_EA.resolve(header) is None or expected is AZURE_EA
    assert AZURE_MCA.resolve(header) is None or expected is AZURE_MCA


def test_ea_sample_header_with_bom_maps_the_raw_column():
    fmt, columns = detect_format(["\ufeff" + EA_SAMPLE[0], *EA_SAMPLE[1:]])
    assert fmt is AZURE_EA and columns["billing_account_id"] == "\ufeffBillingAccountId"


@pytest.mark.parametrize("header, missing", [
    (EA_SAMPLE, "AccountOwnerId"), (EA_SAMPLE, "Cost"), (EA_SAMPLE, "MeterCategory"),
    (MCA, "pricingCurrency"), (MCA, "billingProfileId"), (MCA, "billingCurrency"),
])
def test_header_missing_a_required_column_is_not_azure(header, missing):
    found = detect_format([h for h in header if h != missing])
    assert found is None or found[0] not in (AZURE_EA, AZURE_MCA)


def test_other_fixture_headers_are_not_azure():
    for path in FIXTURES.glob("*.csv"):
        if path.name.startswith("azure_"):
            continue
        found = detect_format(header_of(path.name))
        assert found is None or found[0] not in (AZURE_EA, AZURE_MCA), path.name


# ------------------------------------------------------------------------------------------
# helpers


def test_dates_us_then_iso_keep_their_rows():
    text = pd.Series(["09/21/2023", "9/1/2023", "2023-09-21", "2023-09-21T23:30:00-02:00", "21/09/2023", None],
                     index=[7, 8, 9, 10, 11, 12], dtype=STR)
    days = azure_days(text)
    assert days.index.tolist() == text.index.tolist()
    assert days.dt.strftime("%Y-%m-%d").tolist()[:4] == ["2023-09-21", "2023-09-01", "2023-09-21", "2023-09-22"]
    assert days.iloc[4:].isna().all()  # DD/MM is never read; empty is empty
    subset = azure_days(text[[9, 10]])  # a subset (not at positions 0..n-1) keeps its days
    assert subset.notna().all()


def test_charge_type_mapping():
    text = pd.Series(["Usage", "usage", "Purchase", "Tax", "Refund", "UnusedReservation", "UnusedSavingsPlan",
                      "RoundingAdjustment", "Credit", None], dtype=STR)
    assert charge_categories(text).tolist() == [
        "Usage", "Usage", "Purchase", "Tax", "Credit", "Usage", "Usage", "Adjustment", "Adjustment", "Usage",
    ]
