"""General-ledger expense export (transforms/staging/formats/ledger.py), driven through scan_file.

The fixture tests/fixtures/formats/general_ledger.csv has the SAP-style header and these data lines
(line number: fiscal year, period, value, indicator, cost center -> what it tests):
  2  2024  1     1000.00   S  CC100  debit adds
  3  2024  01     250.50   H  CC100  unsigned credit (BSEG style) subtracts
  4  2024  001    -40.25   H  CC200  signed credit (ACDOCA style) subtracts once, not twice
  5  2024  2      -15.00   S  CC200  negative posting (a signed debit reversal) keeps its minus
  6  2024  3       10.00   s  CC200  indicator is case-insensitive and trimmed
  7  2024  10     300      S  CC200  no account name: service_name is the account number
  8  2024  12     500.00   S  CC300  cost center without a project
  9  2024  13      75.00   S  CC100  special period -> month of period 12
 10  2024  16     -20.00   H  CC100  special period, signed credit
 11  2025  1      120.00   S  CC100  next fiscal year
 12-17 quarantined: period 17, indicator X, amount "1.234,56", year "24", empty amount, year 1999.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pandas as pd
import pytest

from finops_pipeline.ingest.scan import FileScan, scan_file
from tests import formats
from tests.formats import BILLED_EFFECTIVE, landing_file, month_totals
from transforms.money import exact_total
from transforms.months import fiscal_period_month
from transforms.staging.billing import FINANCE_DIMENSIONS, StagingContext
from transforms.staging.formats import detect_format

FIXTURE = formats.FIXTURES / "general_ledger.csv"
PROJECTS = {"CC100": "platform", "CC200": "ml"}  # projects.csv cost_center -> project
D = Decimal


def context(start_month: int = 1, named_by: str = "start", **extra) -> StagingContext:
    return StagingContext(source_file="", format_name="", cost_center_projects=PROJECTS,
                          fiscal_year_start_month=start_month, fiscal_year_named_by=named_by, **extra)


def scan_fixture(ctx: StagingContext) -> FileScan:
    scan = formats.scan_fixture(FIXTURE.name, ctx, "finance/general_ledger.csv", fmt="general_ledger")
    assert scan.rows_read == 16
    return scan


def monthly(scan: FileScan) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """(month, currency) -> (billed, effective), summed exactly."""
    return month_totals(scan, exact=True, amounts=BILLED_EFFECTIVE)


def both(total: str) -> tuple[Decimal, Decimal]:
    return D(total), D(total)  # billed = effective (= list) for a GL line


# Per fiscal period, hand-computed from the fixture lines above (USD: no currency column):
#   P1 FY2024: 1000.00 - 250.50 - 40.25 = 709.25     P2: -15.00     P3: 10.00     P10: 300.00
#   P12 + P13 + P16 FY2024: 500.00 + 75.00 - 20.00 = 555.00           P1 FY2025: 120.00
def test_calendar_fiscal_year():
    scan = scan_fixture(context())
    assert monthly(scan) == {
        ("2024-01", "USD"): both("709.25"),
        ("2024-02", "USD"): both("-15.00"),
        ("2024-03", "USD"): both("10.00"),
        ("2024-10", "USD"): both("300.00"),
        ("2024-12", "USD"): both("555.00"),
        ("2025-01", "USD"): both("120.00"),
    }
    # the first of the month: a GL line has no day
    assert sorted(scan.daily["charge_date"].dt.strftime("%Y-%m-%d").unique()) == [
        "2024-01-01", "2024-02-01", "2024-03-01", "2024-10-01", "2024-12-01", "2025-01-01"]
    assert (scan.daily["list_cost"] == scan.daily["billed_cost"]).all()


def test_fiscal_year_from_april_named_by_start():
    # SAP V3 / Japan: FY2024 = Apr 2024 - Mar 2025; P1 = 2024-04, P10 = 2025-01, P12-P16 = 2025-03
    scan = scan_fixture(context(4, "start"))
    assert monthly(scan) == {
        ("2024-04", "USD"): both("709.25"),
        ("2024-05", "USD"): both("-15.00"),
        ("2024-06", "USD"): both("10.00"),
        ("2025-01", "USD"): both("300.00"),
        ("2025-03", "USD"): both("555.00"),
        ("2025-04", "USD"): both("120.00"),  # FY2025 P1
    }


def test_fiscal_year_from_april_named_by_end():
    # FY2025 = Apr 2024 - Mar 2025, so FY2025 P1 = 2024-04 and FY2024 P1 = 2023-04
    scan = scan_fixture(context(4, "end"))
    assert monthly(scan) == {
        ("2023-04", "USD"): both("709.25"),
        ("2023-05", "USD"): both("-15.00"),
        ("2023-06", "USD"): both("10.00"),
        ("2024-01", "USD"): both("300.00"),
        ("2024-03", "USD"): both("555.00"),
        ("2024-04", "USD"): both("120.00"),
    }


@pytest.mark.parametrize(("year", "period", "start", "named_by", "expected"), [
    (2024, 1, 1, "start", "2024-01"), (2024, 12, 1, "end", "2024-12"), (2024, 13, 1, "start", "2024-12"),
    (2024, 1, 4, "start", "2024-04"), (2024, 10, 4, "start", "2025-01"), (2024, 13, 4, "start", "2025-03"),
    (2025, 1, 4, "end", "2024-04"), (2025, 12, 4, "end", "2025-03"), (2025, 16, 4, "end", "2025-03"),
    (2024, 1, 10, "end", "2023-10"), (2024, 12, 10, "end", "2024-09"),  # US federal FY2024
    (2024, 6, 7, "start", "2024-12"), (2024, 7, 7, "start", "2025-01"),  # V6, July - June
])
def test_fiscal_period_month(year, period, start, named_by, expected):
    assert fiscal_period_month(year, period, start, named_by) == expected


@pytest.mark.parametrize("args", [(2024, 0, 1, "start"), (2024, 17, 1, "start"), (2024, 1, 13, "start"),
                                  (2024, 1, 4, "middle")])
def test_fiscal_period_month_rejects(args):
    with pytest.raises(ValueError):
        fiscal_period_month(*args)


def test_debit_credit_signs_and_categories():
    scan = scan_fixture(context())
    january = scan.daily[scan.daily["billing_month"] == "2024-01"]
    lines = sorted(zip(january["cost_center"], january["charge_category"], january["billed_cost"]))
    assert lines == [
        ("CC100", "Credit", -250.50),  # H 250.50 unsigned -> -250.50
        ("CC100", "Purchase", 1000.00),  # S 1000.00 -> +1000.00
        ("CC200", "Credit", -40.25),  # H -40.25 already signed -> -40.25, not +40.25
    ]
    february = scan.daily[scan.daily["billing_month"] == "2024-02"]
    assert february[["charge_category", "billed_cost"]].values.tolist() == [["Credit", -15.00]]  # S -15.00
    march = scan.daily[scan.daily["billing_month"] == "2024-03"]
    assert march[["charge_category", "billed_cost"]].values.tolist() == [["Purchase", 10.00]]  # " s " = S


def test_special_periods_fall_in_period_12_as_adjustments():
    scan = scan_fixture(context())
    december = scan.daily[scan.daily["billing_month"] == "2024-12"]
    by_category = {c: exact_total(g["billed_cost"]) for c, g in december.groupby("charge_category")}
    assert by_category == {"Purchase": D("500.00"), "Adjustment": D("55.00")}  # P13 75.00 + P16 (H -20.00)
    assert set(december["charge_date"].dt.strftime("%Y-%m-%d")) == {"2024-12-01"}


def test_malformed_rows_quarantined_naming_file_line_and_column():
    scan = scan_fixture(context())
    q = scan.quarantine.sort_values("line_number")
    assert q[["line_number", "reason", "source_column"]].values.tolist() == [
        [12, "invalid_fiscal_period", "posting_period"],  # 17
        [13, "invalid_debit_credit", "debit_credit_ind"],  # X
        [14, "unparseable_amount", "company_code_currency_value"],  # 1.234,56
        [15, "invalid_fiscal_period", "general_ledger_fiscal_year"],  # 24
        [16, "missing_amount", "company_code_currency_value"],
        [17, "date_out_of_range", "general_ledger_fiscal_year"],  # 1999-06, before 2000-01
    ]
    assert set(q["source_file"]) == {"finance/general_ledger.csv"}
    assert q["detail"].iloc[1].startswith("debit_credit_ind: ")
    assert q["detail"].iloc[2].startswith("company_code_currency_value: ")
    # the document header text, not kept at the daily grain, is in the quarantined row
    raw = json.loads(q["raw_values"].iloc[2])
    assert raw["company_code_currency_value"] == "1.234,56"
    assert raw["document_header_text"] == "BAD amount with decimal comma"
    # rows with a readable period keep their month (line 13/14: P3, line 16: P4)
    assert q["billing_month"].tolist()[1:3] == ["2024-03", "2024-03"] and q["billing_month"].iloc[4] == "2024-04"
    assert scan.excluded.empty


def test_cost_center_projects():
    scan = scan_fixture(context())
    by_project = {}
    for (project, source), group in scan.daily.groupby(["project", "project_source"]):
        by_project[(project, source)] = exact_total(group["billed_cost"])
    assert by_project == {
        # CC100: 1000.00 - 250.50 + 75.00 - 20.00 + 120.00 = 924.50
        ("platform", "cost_center"): D("924.50"),
        # CC200: -40.25 - 15.00 + 10.00 + 300 = 254.75
        ("ml", "cost_center"): D("254.75"),
        ("unallocated", "unallocated"): D("500.00"),  # CC300 is in no project
    }


def test_finance_dimensions_in_daily():
    scan = scan_fixture(context())
    daily = scan.daily
    for column in FINANCE_DIMENSIONS:
        if column not in ("merchant_category", "gl_account_name"):  # card statements only; line 7 has no name
            assert daily[column].notna().all(), column
    assert daily["merchant_category"].isna().all()
    row = daily[(daily["billing_month"] == "2024-01") & (daily["charge_category"] == "Purchase")].iloc[0]
    assert row[["cost_center", "cost_center_name", "profit_center", "profit_center_name", "directorate",
                "functional_area", "functional_area_name", "gl_account", "gl_account_name", "vendor"]].tolist() == [
        "CC100", "Platform Engineering", "PC10", "Digital Services", "Technology", "FA01",
        "Research and Development", "610000", "Cloud hosting", "Amazon Web Services EMEA SARL"]
    assert row[["provider", "billing_account_id", "region", "service_name", "billing_currency"]].tolist() == [
        "Amazon Web Services EMEA SARL", "GB01", "EMEA", "Cloud hosting", "USD"]
    snowflake = daily[daily["vendor"] == "Snowflake Computing"].iloc[0]
    assert snowflake["service_name"] == "620500" and pd.isna(snowflake["gl_account_name"])  # no account name
    assert "document_header_text" not in daily.columns


def test_currency_column_and_case_insensitive_header(tmp_path):
    text = (
        "GENERAL_LEDGER_FISCAL_YEAR,Posting_Period,Company_Code_Currency_Value,Debit_Credit_Ind,"
        "Company_Code_Currency_Key,Cost_Center_ID,General_Ledger_Account\n"
        "2024,6,100.00,S,EUR,CC100,610000\n"  # 2
        "2024,6,30.10,H,eur,CC100,610000\n"  # 3
        "2024,6,200.00,S,GBP,CC200,610000\n"  # 4
        "2024,6,5.00,S,EURO,CC200,610000\n"  # 5 invalid currency
    )
    path = tmp_path / "gl_eur.csv"
    path.write_text(text)
    scan = scan_file(landing_file(path, "gl_eur.csv"), context())
    assert scan.format == "general_ledger" and scan.rows_read == 4 == scan.rows_accounted
    assert monthly(scan) == {
        ("2024-06", "EUR"): both("69.90"),  # 100.00 - 30.10
        ("2024-06", "GBP"): both("200.00"),
    }
    assert scan.quarantine[["line_number", "reason", "source_column"]].values.tolist() == [
        [5, "invalid_currency", "Company_Code_Currency_Key"]]
    assert set(scan.daily["service_name"]) == {"610000"}  # no account name column: the account number


def test_detection():
    header = FIXTURE.read_text().splitlines()[0].split(",")
    found = detect_format(header)
    assert found is not None and found[0].name == "general_ledger"
    assert found[1]["debit_credit"] == "debit_credit_ind"
    assert detect_format([h.upper() for h in header])[0].name == "general_ledger"
    for required in ("general_ledger_fiscal_year", "posting_period", "company_code_currency_value", "debit_credit_ind"):
        missing = [h for h in header if h != required]
        other = detect_format(missing)
        assert other is None or other[0].name != "general_ledger", required
