"""One landing folder holding every supported export format, run by `finops run` and by Dagster.

Each file has the real header of its format (read from tests/fixtures/formats/) and a few rows
written here, with the expected totals per month worked out by hand beside them: they come from
the rules of docs/formats.md, not from the adapters. Each file also has one malformed row, which
must be quarantined naming the file, the line and the column.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from finops_pipeline.cli import main
from tests.helpers import check_results, run_job

with warnings.catch_warnings():  # starlette asks for httpx2; the locked httpx works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

FIXTURES = Path(__file__).parent / "fixtures" / "formats"
D = Decimal


@dataclass
class Case:
    path: str  # under landing/billing/
    header_of: str  # fixture whose header the file uses
    rows: list[dict]  # column -> text; the columns a row does not name are empty
    totals: dict[str, tuple[Decimal, Decimal]]  # billing month -> (billed, effective)
    bad_line: int  # line of the malformed row (header = 1)
    bad_column: str
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> rows
    trailing_comma: bool = False  # Chase checking writes one more (empty) field on every row


def _cur(kind, day, unblended, **more):
    return {"lineItem/LineItemType": kind, "lineItem/UsageStartDate": f"{day}T10:00:00Z", "lineItem/UnblendedCost": unblended,
            "lineItem/CurrencyCode": "USD", "bill/PayerAccountId": "111111111111", "lineItem/UsageAccountId": "222222222222",
            "lineItem/ProductCode": "AmazonEC2", "bill/BillingPeriodStartDate": f"{day[:8]}01T00:00:00Z", **more}


def _cur2(kind, day, unblended, **more):
    return {"line_item_line_item_type": kind, "line_item_usage_start_date": f"{day}T10:00:00Z",
            "line_item_unblended_cost": unblended, "line_item_currency_code": "USD", "bill_payer_account_id": "111111111111",
            "line_item_usage_account_id": "333333333333", "line_item_product_code": "AmazonRDS", **more}


def _ea(day, cost, charge="Usage", **more):
    return {"Date": day, "Cost": cost, "BillingCurrency": "USD", "ChargeType": charge, "MeterCategory": "Virtual Machines",
            "SubscriptionId": "11111111-aaaa-4aaa-8aaa-000000000001", "AccountOwnerId": "owner@example.com",
            "BillingAccountId": "8600001", "CostCenter": "CC200", **more}


def _gl(period, value, ind, **more):
    return {"general_ledger_fiscal_year": "2024", "posting_period": period, "company_code_currency_value": value,
            "debit_credit_ind": ind, "cost_center_id": "CC100", "cost_center_name": "Platform Engineering",
            "directorate": "Technology", "general_ledger_account": "610000", "general_ledger_account_name": "Cloud hosting",
            "supplier": "Amazon Web Services EMEA SARL", "entity": "GB01", **more}


CASES = [
    Case("focus/2024-05/focus.csv", None, [
        {"ChargePeriodStart": "2024-05-02T00:00:00Z", "BillingCurrency": "USD", "BilledCost": "8.00", "EffectiveCost": "6.00"},
        {"ChargePeriodStart": "2024-05-32T00:00:00Z", "BillingCurrency": "USD", "BilledCost": "1.00", "EffectiveCost": "1.00"},
    ], {"2024-05": (D("8.00"), D("6.00"))}, 3, "ChargePeriodStart"),
    Case("finance/saas.csv", None, [
        {"date": "2024-05-15", "project": "web", "service": "Datadog", "cost": "30.00"},
        {"date": "2024-06-15", "project": "web", "service": "Datadog", "cost": "thirty"},
    ], {"2024-05": (D("30.00"), D("30.00"))}, 3, "cost"),
    # billed = every unblended cost: 10 + 4 - 4 + 3 + 1 = 14 (May), -2 + 5 = 3 (June)
    # effective: 9.50 (net) + 2.50 (SP effective) + 0 (negation) + (3.00 - 2.50 unused commitment) + 1 = 13.50;
    # June -2 + 5 = 3
    Case("aws/legacy/cur-00001.csv", "aws_cur_legacy.csv", [
        _cur("Usage", "2024-05-03", "10.00", **{"lineItem/NetUnblendedCost": "9.50", "resourceTags/user:project": "web"}),
        _cur("SavingsPlanCoveredUsage", "2024-05-04", "4.00", **{"savingsPlan/SavingsPlanEffectiveCost": "2.50"}),
        _cur("SavingsPlanNegation", "2024-05-04", "-4.00"),
        _cur("SavingsPlanRecurringFee", "2024-05-01", "3.00",
             **{"savingsPlan/TotalCommitmentToDate": "3.00", "savingsPlan/UsedCommitment": "2.50"}),
        _cur("Tax", "2024-05-31", "1.00", **{"lineItem/NetUnblendedCost": "1.00"}),
        _cur("Credit", "2024-06-02", "-2.00", **{"lineItem/NetUnblendedCost": "-2.00"}),
        _cur("Usage", "2024-06-03", "5.00", **{"lineItem/NetUnblendedCost": "5.00"}),
        _cur("Usage", "2024-06-04", "12,5", **{"lineItem/NetUnblendedCost": "12.50"}),
    ], {"2024-05": (D("14.00"), D("13.50")), "2024-06": (D("3.00"), D("3.00"))}, 9, "lineItem/UnblendedCost"),
    # billed 7.25 + 0 + 2.00 = 9.25; effective 7.25 + 1.20 (RI effective) + (0.30 + 0.20 unused RI) = 8.95
    Case("aws/cur2/data/part-0.csv", "aws_cur2.csv", [
        _cur2("Usage", "2024-05-10", "7.25", line_item_net_unblended_cost="7.25"),
        _cur2("DiscountedUsage", "2024-05-11", "0", reservation_effective_cost="1.20",
              reservation_reservation_a_r_n="arn:aws:ec2:us-east-1:1:reserved-instances/r1"),
        _cur2("RIFee", "2024-05-01", "2.00", reservation_unused_amortized_upfront_fee_for_billing_period="0.30",
              reservation_unused_recurring_fee="0.20", reservation_reservation_a_r_n="arn:aws:ec2:us-east-1:1:reserved-instances/r1"),
        _cur2("Mystery", "2024-05-12", "3.00", line_item_net_unblended_cost="3.00"),
    ], {"2024-05": (D("9.25"), D("8.95"))}, 5, "line_item_line_item_type"),
    Case("azure/ea/actual.csv", "azure_ea_actual.csv", [  # 20 + 50 = 70, actual cost: billed = effective
        _ea("05/06/2024", "20.00"), _ea("05/20/2024", "50.00", "Purchase", PricingModel="Reservation"),
        _ea("2024-13-45", "1.00"),
    ], {"2024-05": (D("70.00"), D("70.00"))}, 4, "Date"),
    Case("azure/mca/costs.csv", "azure_mca_actual.csv", [
        {"date": "06/07/2024", "costInBillingCurrency": "12.34", "billingCurrency": "USD", "pricingCurrency": "USD",
         "meterCategory": "Storage", "SubscriptionId": "33333333-cccc-4ccc-8ccc-000000000003",
         "billingProfileId": "AB12-CD34-EF5-GH6", "chargeType": "Usage"},
        {"date": "06/08/2024", "costInBillingCurrency": "abc", "billingCurrency": "USD", "pricingCurrency": "USD",
         "meterCategory": "Storage", "SubscriptionId": "33333333-cccc-4ccc-8ccc-000000000003",
         "billingProfileId": "AB12-CD34-EF5-GH6", "chargeType": "Usage"},
    ], {"2024-06": (D("12.34"), D("12.34"))}, 3, "costInBillingCurrency"),
    # net = cost + credits: 10.00 - 2.50 = 7.50 (May), 3.00 (June)
    Case("gcp/export.csv", "gcp_billing_export.csv", [
        {"billing_account_id": "01A2B3-C4D5E6-F7G8H9", "service.description": "Compute Engine", "project.id": "proj-a",
         "usage_start_time": "2024-05-08 08:00:00 UTC", "cost": "10.00", "currency": "USD",
         "credits": '[{"name": "SUD", "amount": -2.5, "type": "SUSTAINED_USAGE_DISCOUNT"}]'},
        {"billing_account_id": "01A2B3-C4D5E6-F7G8H9", "service.description": "Cloud Storage", "project.id": "proj-b",
         "usage_start_time": "2024-06-01 00:00:00 UTC", "cost": "3.00", "currency": "USD", "credits": "[]"},
        {"billing_account_id": "01A2B3-C4D5E6-F7G8H9", "service.description": "Cloud Storage", "project.id": "proj-b",
         "usage_start_time": "2024-06-02 00:00:00 UTC", "cost": "1.00", "currency": "USD", "credits": "[{broken"},
    ], {"2024-05": (D("7.50"), D("7.50")), "2024-06": (D("3.00"), D("3.00"))}, 4, "credits"),
    # S adds, H subtracts: May 1000.00 - 250.50 = 749.50; June 99.99
    Case("ledger/gl_2024.csv", "general_ledger.csv", [
        _gl("5", "1000.00", "S", document_header_text="INV-1"), _gl("05", "250.50", "H", document_header_text="CN-1"),
        _gl("6", "99.99", "S", cost_center_id="CC300", cost_center_name="Data", directorate="Finance",
            supplier="Snowflake Inc"),
        _gl("17", "5.00", "S"),
    ], {"2024-05": (D("749.50"), D("749.50")), "2024-06": (D("99.99"), D("99.99"))}, 5, "posting_period"),
    # purchases are negative: 25.35 - 10.00 (a return) = 15.35; the payment is not a cost
    Case("cards/Chase1234_Activity20240501_20240531_20240601.CSV", "chase_card.csv", [
        {"Transaction Date": "05/03/2024", "Post Date": "05/04/2024", "Description": "AMAZON WEB SERVICES",
         "Category": "Shopping", "Type": "Sale", "Amount": "-25.35"},
        {"Transaction Date": "05/04/2024", "Post Date": "05/05/2024", "Description": "AMAZON WEB SERVICES",
         "Category": "Shopping", "Type": "Return", "Amount": "10.00"},
        {"Transaction Date": "05/05/2024", "Post Date": "05/05/2024", "Description": "Payment Thank You - Web",
         "Type": "Payment", "Amount": "500.00"},
        {"Transaction Date": "05/06/2024", "Post Date": "05/07/2024", "Description": "GITHUB", "Category": "Shopping",
         "Type": "Sale", "Amount": "$5"},
    ], {"2024-05": (D("15.35"), D("15.35"))}, 5, "Amount", {"card_payment": 1}),
    Case("bank/checking.csv", "chase_checking.csv", [  # money out is negative: 5.25
        {"Details": "DEBIT", "Posting Date": "05/06/2024", "Description": "STARBUCKS", "Amount": "-5.25", "Type": "DEBIT_CARD"},
        {"Details": "DEBIT", "Posting Date": "05/07/2024", "Description": "Payment to Chase card ending in 1234 05/07",
         "Amount": "-500.00", "Type": "LOAN_PMT"},
        {"Details": "CREDIT", "Posting Date": "05/08/2024", "Description": "CUSTOMER INVOICE 42", "Amount": "1000.00",
         "Type": "ACH_CREDIT"},
        {"Details": "DEBIT", "Posting Date": "13/45/2024", "Description": "STARBUCKS", "Amount": "-1.00", "Type": "DEBIT_CARD"},
    ], {"2024-05": (D("5.25"), D("5.25"))}, 5, "Posting Date", {"card_payment": 1, "deposit": 1}, trailing_comma=True),
    Case("cards/discover.csv", "discover.csv", [  # purchases positive: 14.35
        {"Trans. Date": "06/02/2024", "Post Date": "06/02/2024", "Description": "HULU", "Amount": "14.35", "Category": "Services"},
        {"Trans. Date": "06/03/2024", "Post Date": "06/03/2024", "Description": "INTERNET PAYMENT - THANK YOU",
         "Amount": "-100.00", "Category": "Payments and Credits"},
        {"Trans. Date": "", "Post Date": "06/04/2024", "Description": "HULU", "Amount": "1.00", "Category": "Services"},
    ], {"2024-06": (D("14.35"), D("14.35"))}, 4, "Trans. Date", {"card_payment": 1}),
    Case("cards/capital_one.csv", "capital_one.csv", [  # 6.75 - 2.00 (a refund) = 4.75
        {"Transaction Date": "2024-06-03", "Posted Date": "2024-06-04", "Card No.": "7776", "Description": "STARBUCKS",
         "Category": "Dining", "Debit": "6.75"},
        {"Transaction Date": "2024-06-04", "Posted Date": "2024-06-05", "Card No.": "7776", "Description": "STARBUCKS",
         "Category": "Dining", "Credit": "2.00"},
        {"Transaction Date": "2024-06-05", "Posted Date": "2024-06-05", "Card No.": "7776",
         "Description": "CAPITAL ONE AUTOPAY PYMT", "Category": "Payment/Credit", "Credit": "300.00"},
        {"Transaction Date": "2024-06-06", "Posted Date": "2024-06-07", "Card No.": "7776", "Description": "STARBUCKS",
         "Category": "Dining", "Debit": "1.00", "Credit": "1.00"},
    ], {"2024-06": (D("4.75"), D("4.75"))}, 5, "Debit", {"card_payment": 1}),
    Case("plaid/transactions.csv", "plaid.csv", [  # amount positive = money out: 4.33
        {"account_id": "acc_chk", "transaction_id": "t1", "date": "2024-06-05", "merchant_name": "Starbucks", "amount": "4.33",
         "iso_currency_code": "USD", "pending": "false", "personal_finance_category_primary": "FOOD_AND_DRINK"},
        {"account_id": "acc_chk", "transaction_id": "t2", "date": "2024-06-06", "name": "TRANSFER FROM SAVINGS",
         "amount": "-50.00", "iso_currency_code": "USD", "pending": "false", "personal_finance_category_primary": "TRANSFER_IN"},
        {"account_id": "acc_chk", "transaction_id": "t3", "date": "2024-06-07", "merchant_name": "Uber", "amount": "9.99",
         "iso_currency_code": "USD", "pending": "true", "personal_finance_category_primary": "TRANSPORTATION"},
        {"account_id": "acc_chk", "transaction_id": "t4", "date": "2024-06-08", "merchant_name": "Uber", "amount": "x",
         "iso_currency_code": "USD", "pending": "false", "personal_finance_category_primary": "TRANSPORTATION"},
    ], {"2024-06": (D("4.33"), D("4.33"))}, 5, "amount", {"transfer": 1, "pending": 1}),
]
# A Plaid /transactions/get response: 20.00 is a cost; the card payment is not; the third has no date.
PLAID_JSON = {"accounts": [], "total_transactions": 3, "transactions": [
    {"account_id": "acc_card", "transaction_id": "j1", "date": "2024-05-09", "amount": 20.0, "iso_currency_code": "USD",
     "merchant_name": "Amazon", "pending": False, "personal_finance_category": {"primary": "GENERAL_MERCHANDISE"}},
    {"account_id": "acc_chk", "transaction_id": "j2", "date": "2024-05-10", "amount": 100.0, "iso_currency_code": "USD",
     "name": "CREDIT CARD PAYMENT", "pending": False,
     "personal_finance_category": {"primary": "LOAN_PAYMENTS", "detailed": "LOAN_PAYMENTS_CREDIT_CARD_PAYMENT"}},
    {"account_id": "acc_card", "transaction_id": "j3", "date": "not-a-date", "amount": 1.0, "iso_currency_code": "USD",
     "merchant_name": "Amazon", "pending": False, "personal_finance_category": {"primary": "GENERAL_MERCHANDISE"}},
]}
PLAID_JSON_CASE = Case("plaid/transactions_get.json", None, [], {"2024-05": (D("20.00"), D("20.00"))}, 4, "date",
                       {"card_payment": 1})
ALL_CASES = [*CASES, PLAID_JSON_CASE]
GENERIC_HEADER = ["date", "project", "service", "cost"]
FOCUS_MINIMAL = ["ChargePeriodStart", "BillingCurrency", "BilledCost", "EffectiveCost"]
PROJECTS = "project,code,owner,team,account_id,cost_center\nplatform,P1,ann,infra,,CC100\nweb,W1,bob,frontend,,\n"


def _header(case: Case) -> list[str]:
    if case.header_of is None:
        return GENERIC_HEADER if case.path.startswith("finance/") else FOCUS_MINIMAL
    with open(FIXTURES / case.header_of, newline="", encoding="utf-8-sig") as fh:
        return next(csv.reader(fh))


def _write(landing: Path, case: Case) -> None:
    path = landing / case.path
    path.parent.mkdir(parents=True, exist_ok=True)
    header = _header(case)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in case.rows:
        assert set(row) <= set(header), set(row) - set(header)
        writer.writerow([row.get(c, "") for c in header] + ([""] if case.trailing_comma else []))
    path.write_text(out.getvalue(), encoding="utf-8")


@pytest.fixture(scope="module")
def all_formats_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("all_formats")
    landing = root / "landing" / "billing"
    for case in CASES:
        _write(landing, case)
    (landing / PLAID_JSON_CASE.path).write_text(json.dumps(PLAID_JSON))
    (root / "reference").mkdir()
    (root / "reference" / "projects.csv").write_text(PROJECTS)
    return root


def _cents(value) -> Decimal:
    return D(str(value)).quantize(D("0.01"))


def _snapshot(url: str) -> dict:
    """What a re-run must leave unchanged: per file and month totals and row counts of each table."""
    engine = create_engine(url)
    out = {}
    with engine.connect() as conn:
        out["stg"] = {(f, m): (_cents(b), _cents(e), int(n)) for f, m, b, e, n in conn.execute(text(
            "SELECT source_file, billing_month, SUM(billed_cost), SUM(effective_cost), SUM(source_rows) "
            "FROM stg_billing GROUP BY source_file, billing_month"))}
        out["quarantine"] = sorted(tuple(r) for r in conn.execute(text(
            "SELECT source_file, line_number, reason, source_column, detail FROM quarantine_billing_rows")))
        out["excluded"] = sorted(tuple(r) for r in conn.execute(text(
            "SELECT source_file, line_number, reason, amount FROM excluded_billing_rows")))
        out["monthly"] = {m: (_cents(e), int(n)) for m, e, n in conn.execute(text(
            "SELECT billing_month, SUM(effective_cost), SUM(source_rows) FROM fct_costs_monthly GROUP BY billing_month"))}
        out["rows"] = {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in (
            "stg_billing", "quarantine_billing_rows", "excluded_billing_rows", "fct_costs_daily", "fct_costs_monthly")}
    engine.dispose()
    return out


def _check_every_format(snapshot: dict) -> None:
    for case in ALL_CASES:
        got = {m: (b, e) for (f, m), (b, e, _) in snapshot["stg"].items() if f == case.path}
        assert got == case.totals, case.path
        bad = [q for q in snapshot["quarantine"] if q[0] == case.path]
        assert len(bad) == 1, (case.path, bad)
        _, line, _, column, detail = bad[0]
        assert (line, column) == (case.bad_line, case.bad_column), case.path
        assert detail.startswith(f"{column}: "), detail
        excluded = {}
        for f, _, reason, _ in snapshot["excluded"]:
            if f == case.path:
                excluded[reason] = excluded.get(reason, 0) + 1
        assert excluded == case.excluded, case.path
    total = sum((e for (_, m), (_, e, _) in snapshot["stg"].items()), D(0))
    assert sum((e for e, _ in snapshot["monthly"].values()), D(0)) == total  # allocation and marts conserve it


@pytest.fixture(scope="module")
def cli_warehouse(all_formats_dir, tmp_path_factory) -> tuple[str, dict]:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'warehouse.db'}"
    args = ["run", "--data-dir", str(all_formats_dir), "--warehouse-url", url, "--quiet"]
    assert main(args) == 0
    return url, _snapshot(url)


def test_finops_run_loads_every_format_exactly(cli_warehouse):
    _, snapshot = cli_warehouse
    _check_every_format(snapshot)
    assert {m for _, m in snapshot["stg"]} == {"2024-05", "2024-06"}


def test_second_finops_run_changes_nothing(all_formats_dir, cli_warehouse):
    url, first = cli_warehouse
    assert main(["run", "--data-dir", str(all_formats_dir), "--warehouse-url", url, "--quiet"]) == 0
    assert _snapshot(url) == first


def test_dagster_run_gives_the_same_tables_and_passes_every_check(all_formats_dir, cli_warehouse, tmp_path):
    url = f"sqlite:///{tmp_path / 'dagster.db'}"
    result = run_job(all_formats_dir, url, "2024-05", "2024-06")
    assert result.success
    checks = check_results(result)
    assert checks["rows_conserved"] == (True, "ERROR")  # input = loaded + excluded + quarantined, per file
    assert all(passed for passed, severity in checks.values() if severity == "ERROR"), checks
    snapshot = _snapshot(url)
    _check_every_format(snapshot)
    assert snapshot == cli_warehouse[1]


def test_projects_from_cost_centers_tags_and_finance_dimensions_reach_the_marts(cli_warehouse):
    url, _ = cli_warehouse
    engine = create_engine(url)
    with engine.connect() as conn:
        gl = conn.execute(text(
            "SELECT project, cost_center, directorate, vendor, gl_account_name, SUM(effective_cost) FROM fct_costs_monthly "
            "WHERE source_rows > 0 AND gl_account IS NOT NULL GROUP BY 1, 2, 3, 4, 5 ORDER BY 1")).all()
        tagged = conn.execute(text("SELECT DISTINCT project FROM stg_billing WHERE source_file = 'aws/legacy/cur-00001.csv' "
                                   "AND project_source = 'tag'")).scalars().all()
        card = conn.execute(text("SELECT DISTINCT vendor, merchant_category FROM stg_billing "
                                 "WHERE source_file LIKE 'cards/Chase%'")).all()
    engine.dispose()
    # CC100 is the platform project's cost center (projects.csv); CC300 is mapped to none
    assert [(p, cc, d, v, a, _cents(c)) for p, cc, d, v, a, c in gl] == [
        ("platform", "CC100", "Technology", "Amazon Web Services EMEA SARL", "Cloud hosting", D("749.50")),
        ("unallocated", "CC300", "Finance", "Snowflake Inc", "Cloud hosting", D("99.99")),
    ]
    assert tagged == ["web"]
    assert card == [("AMAZON WEB SERVICES", "Shopping")]


def test_the_api_groups_filters_and_decomposes_by_finance_dimensions(cli_warehouse, all_formats_dir):
    from finops_pipeline.api import create_app
    from finops_pipeline.api.auth import create_token
    from finops_pipeline.settings import load_settings
    from finops_pipeline.warehouse.engine import make_engine

    url, _ = cli_warehouse
    engine = make_engine(url)
    token = create_token(engine, "controller", "viewer")[0]
    settings = load_settings({}, data_dir=str(all_formats_dir), warehouse_url=url)
    with TestClient(create_app(settings, engine)) as client:
        def get(path, **params):
            response = client.get(f"/api/v1{path}", params=params, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            return response.json()

        rows = get("/costs", group_by="month,directorate,vendor", directorate="Technology,Finance")["rows"]
        assert [(r["month"], r["directorate"], r["vendor"], r["cost"]) for r in rows] == [
            ("2024-05", "Technology", "Amazon Web Services EMEA SARL", 749.5),
            ("2024-06", "Finance", "Snowflake Inc", 99.99),
        ]
        by_cc = get("/costs", group_by="cost_center", cost_center="CC100")["rows"]
        assert by_cc == [{"cost_center": "CC100", "cost": 749.5}]
        drivers = get("/drivers", month="2024-06", dimension="directorate")
        members = {r["member"]: r["change"] for r in drivers["rows"]}
        assert members["Technology"] == -749.5 and members["Finance"] == 99.99
        assert sum(members.values()) == pytest.approx(drivers["total_change"], abs=0.005)
        heat = get("/heatmap", year=2024, dimension="merchant_category")
        assert {r["member"]: r["total"] for r in heat["rows"]}["Shopping"] == 15.35
        assert all(r["project"] is None for r in heat["rows"])
    engine.dispose()
