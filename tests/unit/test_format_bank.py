"""Bank and card statements (transforms/staging/formats/bank.py), read through the real path:
landing file -> header detection -> reader (CSV streaming, trailing comma, JSON) -> staging.

Fixtures: tests/fixtures/formats/{chase_card,chase_checking,discover,capital_one,plaid}.csv and
plaid.json, with each bank's real header and rows written for these tests. Expected totals are
computed by hand below (the arithmetic is in the comments).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from finops_pipeline.ingest.errors import InputFileError
from finops_pipeline.ingest.landing import LandingFile, discover_landing_files
from finops_pipeline.ingest.reader import open_billing_file
from finops_pipeline.ingest.scan import FileScan, scan_file
from tests import formats
from tests.formats import BILLED_EFFECTIVE, FIXTURES, fixture_header, landing_file, month_totals
from tests.formats import write_landing_file as write
from transforms.money import exact_total
from transforms.staging.billing import StagingContext
from transforms.staging.formats import FORMATS, detect_format
from transforms.staging.formats.bank import CAPITAL_ONE, CARD_PAYMENT, CHASE_CARD, CHASE_CHECKING, DISCOVER, PLAID
from transforms.staging.parsing import STR, matches

CTX = StagingContext(source_file="", format_name="")


def scan_fixture(name: str, rel: str | None = None) -> FileScan:
    """A statement fixture as landed at ``rel`` (default bank/<name>)."""
    return formats.scan_fixture(name, CTX, rel or f"bank/{name}")


def monthly(scan: FileScan) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """(month, currency) -> (billed, effective), to the cent."""
    return month_totals(scan, amounts=BILLED_EFFECTIVE)


def both(value: str) -> tuple[Decimal, Decimal]:
    return Decimal(value), Decimal(value)  # no effective cost in a statement: billed stands in


def excluded(scan: FileScan) -> list[tuple[int, str, str]]:
    return [(int(n), r, f"{a:.2f}") for n, r, a in scan.excluded[["line_number", "reason", "amount"]].itertuples(index=False)]


def quarantined(scan: FileScan) -> list[tuple[int, str, str]]:
    return [(int(n), r, c) for n, r, c in scan.quarantine[["line_number", "reason", "source_column"]].itertuples(index=False)]


def assert_accounted(scan: FileScan, loaded: int, n_excluded: int, n_quarantined: int) -> None:
    assert int(scan.daily["source_rows"].sum()) == loaded
    assert (len(scan.excluded), len(scan.quarantine)) == (n_excluded, n_quarantined)
    assert scan.rows_read == scan.rows_accounted == loaded + n_excluded + n_quarantined


# ------------------------------------------------------------------------------------------
# Chase credit card


def test_chase_card_monthly_totals_exclusions_and_quarantine():
    scan = scan_fixture("chase_card.csv")
    assert scan.format == "chase_card"
    assert monthly(scan) == {
        # purchases are negative in the file: cost = -Amount
        # Sale 25.35 + Sale 4.50 - Return 10.00 + Fee 23.41 + Fee 95.00 = 138.26
        ("2024-01", "USD"): both("138.26"),
        # Sale 18.20 - Adjustment 12.94 + Sale 7.00 (written 2/14/24) = 12.26
        ("2024-02", "USD"): both("12.26"),
    }
    assert excluded(scan) == [(5, "card_payment", "400.00"), (10, "card_payment", "150.00")]
    assert scan.excluded["description"].tolist() == ["Payment Thank You - Web", "AUTOMATIC PAYMENT - THANK"]
    assert quarantined(scan) == [(11, "unknown_transaction_type", "Type"), (12, "unparseable_amount", "Amount")]
    bad = scan.quarantine.iloc[1]
    assert bad["source_file"] == "bank/chase_card.csv"
    assert bad["detail"].startswith("Amount: ")
    assert_accounted(scan, loaded=8, n_excluded=2, n_quarantined=2)


def test_chase_card_dimensions_and_charge_categories():
    scan = scan_fixture("chase_card.csv", rel="chase/Chase1234_Activity20240101_20240229_20240301.CSV")
    daily = scan.daily.set_index("charge_date")
    assert set(daily["billing_account_id"]) == {"Chase"}
    assert set(daily["sub_account_id"]) == {"1234"}  # no Card column: the digits of the file name
    by_day = daily["charge_category"].to_dict()
    assert by_day[pd.Timestamp("2024-01-03")] == "Purchase"  # Sale
    assert by_day[pd.Timestamp("2024-01-10")] == "Credit"  # Return
    assert by_day[pd.Timestamp("2024-01-31")] == "Purchase"  # Fee
    assert by_day[pd.Timestamp("2024-02-05")] == "Adjustment"
    row = daily.loc[pd.Timestamp("2024-02-02")]
    assert (row["provider"], row["vendor"], row["merchant_category"], row["service_name"]) == (
        "UBER *TRIP, HELP.UBER.COM", "UBER *TRIP, HELP.UBER.COM", "Travel", "Travel")


def test_chase_card_leading_card_column_is_the_sub_account(tmp_path):
    text = (
        "Card,Transaction Date,Post Date,Description,Category,Type,Amount,Memo\n"
        "1111,03/01/2024,03/02/2024,OFFICE DEPOT,Shopping,Sale,-10.00,\n"
        "2222,03/03/2024,03/04/2024,OFFICE DEPOT,Shopping,Sale,-2.50,\n"
        "1111,03/05/2024,03/05/2024,Payment Thank You-Mobile,,Payment,12.50,\n"
    )
    scan = scan_file(write(tmp_path, "Chase9999_Activity_20240310.CSV", text), CTX)
    assert scan.format == "chase_card"
    assert dict(zip(scan.daily["sub_account_id"], scan.daily["billed_cost"])) == {"1111": 10.0, "2222": 2.5}
    assert excluded(scan) == [(4, "card_payment", "12.50")]


# ------------------------------------------------------------------------------------------
# Chase checking (every data row ends with one extra, empty field)


def test_chase_checking_monthly_totals_exclusions_and_quarantine():
    scan = scan_fixture("chase_checking.csv", rel="chase/Chase5678_Activity_20240301.CSV")
    assert scan.format == "chase_checking"
    assert monthly(scan) == {
        # money out is negative: cost = -Amount
        # DEBIT_CARD 5.25 + ACH_DEBIT COMCAST 120.00 + FEE 15.00 - REFUND_TRANSACTION 15.00 + CHECK_PAID 200.00
        ("2024-01", "USD"): both("325.25"),
        # BILLPAY PG&E 80.10 + ACH_DEBIT COMCAST 120.00 (Balance " ") + QUICKPAY_DEBIT 50.00 (no trailing comma)
        ("2024-02", "USD"): both("250.10"),
    }
    assert excluded(scan) == [
        (4, "card_payment", "-400.00"),  # ACH_DEBIT "CHASE CREDIT CRD AUTOPAY"
        (5, "card_payment", "-150.00"),  # LOAN_PMT "Payment to Chase card ending in 1234"
        (6, "transfer", "-500.00"),  # ACCT_XFER out
        (7, "card_payment", "-60.00"),  # ACH_DEBIT "DISCOVER E-PAYMENT"
        (8, "deposit", "2000.00"),  # ACH_CREDIT payroll
        (12, "deposit", "7.76"),  # DSLIP / DEPOSIT
        (13, "transfer", "300.00"),  # ACCT_XFER in
    ]
    # physical lines are kept although the file is read with an extra column
    assert quarantined(scan) == [(17, "unparseable_amount", "Amount"), (18, "unparseable_date", "Posting Date")]
    assert set(scan.quarantine["source_file"]) == {"chase/Chase5678_Activity_20240301.CSV"}
    assert_accounted(scan, loaded=8, n_excluded=7, n_quarantined=2)


def test_chase_checking_dimensions():
    scan = scan_fixture("chase_checking.csv", rel="Chase5678_Activity_20240301.CSV")
    daily = scan.daily.set_index("charge_date")
    # the payee of a long ACH line, not the line with its trace numbers
    assert daily.loc[pd.Timestamp("2024-01-03"), "vendor"] == "COMCAST"
    assert daily.loc[pd.Timestamp("2024-02-02"), "vendor"] == "COMCAST"
    assert daily.loc[pd.Timestamp("2024-02-01"), "vendor"] == "Online Payment 12345678 To PG&E 02/01"
    assert daily.loc[pd.Timestamp("2024-01-03"), "service_name"] == "ACH_DEBIT"
    assert daily.loc[pd.Timestamp("2024-01-15"), "charge_category"] == "Credit"  # REFUND_TRANSACTION
    assert set(daily["sub_account_id"]) == {"5678"}
    assert set(daily["billing_account_id"]) == {"Chase"}


def test_chase_checking_row_without_the_trailing_comma_is_loaded():
    scan = scan_fixture("chase_checking.csv")
    zelle = scan.daily[scan.daily["charge_date"] == pd.Timestamp("2024-02-03")]
    assert zelle["billed_cost"].tolist() == [50.0]
    assert "malformed_row" not in set(scan.quarantine["reason"])


def test_trailing_field_is_recognised_from_the_first_data_line(tmp_path):
    root = tmp_path
    checking = open_billing_file(landing_copy(root, "chase_checking.csv"))
    assert checking.column_names == fixture_header("chase_checking.csv") + ["_trailing_field"]
    # Chase card rows end with a comma too, but that is the empty Memo: as many fields as the header
    assert open_billing_file(landing_copy(root, "chase_card.csv")).column_names is None
    assert open_billing_file(landing_copy(root, "discover.csv")).column_names is None


def landing_copy(root: Path, name: str) -> LandingFile:
    target = root / name
    shutil.copy(FIXTURES / name, target)
    return landing_file(target, root)


def test_trailing_field_file_with_a_too_long_row_quarantines_it_as_malformed(tmp_path):
    header = "Details,Posting Date,Description,Amount,Type,Balance,Check or Slip #\n"
    text = header + (
        "DEBIT,03/01/2024,A,-1.00,DEBIT_CARD,10.00,,\n"
        "DEBIT,03/02/2024,B,-2.00,DEBIT_CARD,8.00,,,extra\n"  # line 3: two fields too many
        "DEBIT,03/03/2024,C,-3.00,DEBIT_CARD,5.00,,\n"
    )
    scan = scan_file(write(tmp_path, "checking.csv", text), CTX)
    assert quarantined(scan) == [(3, "malformed_row", None)]
    assert exact_total(scan.daily["billed_cost"]) == Decimal("4.0")  # 1.00 + 3.00
    assert scan.rows_read == scan.rows_accounted == 3


def test_checking_export_without_trailing_commas_reads_normally(tmp_path):
    with open(FIXTURES / "chase_checking.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([rows[0]] + [r[:7] for r in rows[1:]])
    lf = write(tmp_path, "checking.csv", out.getvalue())
    assert open_billing_file(lf).column_names is None
    scan = scan_file(lf, CTX)
    assert monthly(scan) == {("2024-01", "USD"): both("325.25"), ("2024-02", "USD"): both("250.10")}
    assert_accounted(scan, loaded=8, n_excluded=7, n_quarantined=2)


def test_trailing_field_rows_across_many_blocks_keep_their_lines(tmp_path):
    header = "Details,Posting Date,Description,Amount,Type,Balance,Check or Slip #\n"
    lines = [f"DEBIT,03/{1 + i % 28:02d}/2024,SHOP {i},-1.00,DEBIT_CARD,1.00,," for i in range(3000)]
    lines[1500] = "DEBIT,03/01/2024,SHORT,-2.00,DEBIT_CARD,1.00,"  # line 1502, no trailing comma: loaded
    lines[2500] = "DEBIT,03/01/2024,BAD,-x,DEBIT_CARD,1.00,,"  # line 2502
    scan = scan_file(write(tmp_path, "checking.csv", header + "\n".join(lines) + "\n"), CTX)
    assert quarantined(scan) == [(2502, "unparseable_amount", "Amount")]
    assert exact_total(scan.daily["billed_cost"]) == Decimal("3000.0")  # 2998 x 1.00 + 2.00
    assert scan.rows_read == scan.rows_accounted == 3000


# ------------------------------------------------------------------------------------------
# Discover


def test_discover_monthly_totals_exclusions_and_quarantine():
    scan = scan_fixture("discover.csv")
    assert scan.format == "discover"
    assert monthly(scan) == {
        # purchases are positive: cost = Amount
        # Hulu 14.35 + Safeway 52.10 - Safeway refund 12.10 - cashback 5.00 + interest 3.21 = 52.56
        ("2024-01", "USD"): both("52.56"),
        # Amazon 29.99 + Exxon 30.00 (empty Post Date is fine) = 59.99
        ("2024-02", "USD"): both("59.99"),
    }
    assert excluded(scan) == [
        (4, "card_payment", "-300.00"),  # INTERNET PAYMENT - THANK YOU
        (8, "card_payment", "-57.56"),  # DIRECTPAY FULL BALANCE
        (9, "transfer", "1000.00"),  # Balance Transfers: debt moved, not spent
    ]
    assert quarantined(scan) == [(11, "unparseable_amount", "Amount"), (13, "missing_date", "Trans. Date")]
    categories = scan.daily.set_index("charge_date")["charge_category"]
    assert categories[pd.Timestamp("2024-01-09")] == "Credit"  # refund under Payments and Credits
    assert categories[pd.Timestamp("2024-01-15")] == "Credit"  # cashback
    assert categories[pd.Timestamp("2024-01-20")] == "Purchase"  # interest
    assert set(scan.daily["billing_account_id"]) == {"Discover"}
    assert scan.daily["sub_account_id"].isna().all()
    assert_accounted(scan, loaded=7, n_excluded=3, n_quarantined=2)


# ------------------------------------------------------------------------------------------
# Capital One


def test_capital_one_monthly_totals_exclusions_and_quarantine():
    scan = scan_fixture("capital_one.csv")
    assert scan.format == "capital_one"
    assert monthly(scan) == {
        # cost = Debit - Credit: 6.75 + 21.02 - 21.02 (refund) + 45.00 + 3.10 (interest) = 54.85
        ("2024-01", "USD"): both("54.85"),
        ("2024-02", "USD"): both("-3.10"),  # INTEREST CHARGE CREDIT: a credit, not a payment
        ("2024-08", "USD"): both("12.00"),  # written 8/10/24
    }
    assert excluded(scan) == [(5, "card_payment", "500.00"), (9, "card_payment", "100.00")]
    assert quarantined(scan) == [
        (11, "ambiguous_amount", "Debit"),  # both filled
        (12, "ambiguous_amount", "Debit"),  # neither
        (13, "unparseable_amount", "Debit"),
    ]
    by_account = scan.daily.groupby("sub_account_id")["billed_cost"].sum().round(2).to_dict()
    assert by_account == {"7776": 18.75, "8890": 45.0}  # Card No.: 6.75+21.02-21.02+3.10-3.10+12.00; 45.00
    assert scan.daily.set_index("charge_date").loc[pd.Timestamp("2024-01-09"), "charge_category"] == "Credit"
    assert_accounted(scan, loaded=7, n_excluded=2, n_quarantined=3)


# ------------------------------------------------------------------------------------------
# Plaid: CSV and JSON

# positive = money out: cost = amount
# 2024-01 USD: Starbucks 4.33 + Amazon 89.40 - Amazon refund 20.00 + bank fee 12.00 = 85.73
# 2024-02 EUR: Uber 11.73
PLAID_TOTALS = {("2024-01", "USD"): both("85.73"), ("2024-02", "EUR"): both("11.73")}
PLAID_EXCLUDED = [
    (5, "deposit", "-2500.00"),  # INCOME
    (6, "card_payment", "300.00"),  # LOAN_PAYMENTS, the checking leg
    (7, "card_payment", "-300.00"),  # LOAN_PAYMENTS, the card leg
    (8, "transfer", "1000.00"),  # TRANSFER_OUT
    (11, "pending", "6.50"),
    (12, "transfer", "-200.00"),  # TRANSFER_IN
]
PLAID_QUARANTINED = [(13, "invalid_currency", "iso_currency_code"), (14, "unparseable_date", "date")]


@pytest.mark.parametrize("name", ["plaid.csv", "plaid.json"])
def test_plaid_csv_and_json_give_the_same_result(name):
    scan = scan_fixture(name)
    assert scan.format == "plaid"
    assert monthly(scan) == PLAID_TOTALS
    assert excluded(scan) == PLAID_EXCLUDED
    assert quarantined(scan) == PLAID_QUARANTINED  # JSON: position in the list + 1
    assert_accounted(scan, loaded=5, n_excluded=6, n_quarantined=2)
    daily = scan.daily.set_index("charge_date")
    assert daily.loc[pd.Timestamp("2024-01-03"), "vendor"] == "Starbucks"  # merchant_name
    assert daily.loc[pd.Timestamp("2024-01-31"), "vendor"] == "MONTHLY SERVICE FEE"  # no merchant: name
    assert daily.loc[pd.Timestamp("2024-01-03"), "merchant_category"] == "FOOD_AND_DRINK"
    assert daily.loc[pd.Timestamp("2024-01-09"), "charge_category"] == "Credit"
    assert daily.loc[pd.Timestamp("2024-01-05"), "sub_account_id"] == "acc_card"
    assert daily["billing_account_id"].isna().all()


def plaid_transactions() -> list[dict]:
    return json.loads((FIXTURES / "plaid.json").read_text())["transactions"]


@pytest.mark.parametrize("layout", ["sync", "list", "gzip"])
def test_plaid_json_layouts(tmp_path, layout):
    txs = plaid_transactions()
    if layout == "sync":
        doc = {"added": txs, "modified": [], "removed": [], "next_cursor": "c1", "has_more": False}
        lf = write(tmp_path, "plaid/sync.json", json.dumps(doc))
    elif layout == "list":
        lf = write(tmp_path, "plaid/list.json", json.dumps(txs))
    else:
        lf = write(tmp_path, "plaid/get.json.gz", (FIXTURES / "plaid.json").read_bytes(), compress=True)
    scan = scan_file(lf, CTX)
    assert monthly(scan) == PLAID_TOTALS
    assert excluded(scan) == PLAID_EXCLUDED
    assert quarantined(scan) == PLAID_QUARANTINED


def test_plaid_json_sha256_is_the_hash_of_the_file_bytes(tmp_path):
    import hashlib

    lf = write(tmp_path, "p.json", (FIXTURES / "plaid.json").read_bytes())
    assert scan_file(lf, CTX).sha256 == hashlib.sha256((FIXTURES / "plaid.json").read_bytes()).hexdigest()


def test_plaid_csv_column_spellings(tmp_path):
    """Dotted (pandas.json_normalize) names, the whole category object as text, or only the
    detailed category: all read the same."""
    base = "account_id,date,name,merchant_name,amount,iso_currency_code,pending,"
    rows = [  # (pfc text, amount)
        ("FOOD_AND_DRINK", "4.00"),
        ("LOAN_PAYMENTS", "50.00"),
        ("TRANSFER_IN", "-7.00"),
    ]
    details = {"FOOD_AND_DRINK": "FOOD_AND_DRINK_COFFEE", "LOAN_PAYMENTS": "LOAN_PAYMENTS_CREDIT_CARD_PAYMENT",
               "TRANSFER_IN": "TRANSFER_IN_ACCOUNT_TRANSFER"}
    variants = {
        "personal_finance_category.primary": lambda p: p,
        "personal_finance_category": lambda p: '"' + json.dumps({"primary": p, "detailed": details[p]}).replace('"', '""') + '"',
        "personal_finance_category_detailed": lambda p: details[p],
    }
    for column, value in variants.items():
        text = base + column + "\n" + "".join(
            f"acc,2024-03-0{i + 1},SHOP,Shop,{amount},USD,false,{value(p)}\n" for i, (p, amount) in enumerate(rows))
        scan = scan_file(write(tmp_path, f"{column}.csv", text), CTX)
        assert scan.format == "plaid", column
        assert scan.daily["billed_cost"].tolist() == [4.0], column
        assert scan.daily["merchant_category"].tolist() == ["FOOD_AND_DRINK"], column
        assert excluded(scan) == [(3, "card_payment", "50.00"), (4, "transfer", "-7.00")], column


def test_plaid_csv_python_repr_of_the_category_object(tmp_path):
    text = ("account_id,date,name,amount,personal_finance_category\n"
            "acc,2024-03-01,X,9.50,\"{'primary': 'INCOME', 'detailed': 'INCOME_WAGES'}\"\n"
            "acc,2024-03-02,Y,2.25,\"{'primary': 'TRAVEL', 'detailed': 'TRAVEL_FLIGHTS'}\"\n")
    scan = scan_file(write(tmp_path, "repr.csv", text), CTX)
    assert excluded(scan) == [(2, "deposit", "9.50")]
    assert scan.daily["merchant_category"].tolist() == ["TRAVEL"]
    # no iso_currency_code column: the reporting currency
    assert scan.daily["billing_currency"].tolist() == ["USD"]


def test_plaid_json_null_category_object_in_the_first_transaction(tmp_path):
    txs = plaid_transactions()[:2]
    txs[0]["personal_finance_category"] = None  # keys of later transactions still count
    scan = scan_file(write(tmp_path, "p.json", json.dumps({"transactions": txs})), CTX)
    assert scan.daily["merchant_category"].fillna("-").tolist() == ["-", "GENERAL_MERCHANDISE"]
    assert exact_total(scan.daily["billed_cost"]) == Decimal("93.73")  # 4.33 + 89.40


def test_empty_plaid_page_has_no_rows(tmp_path):
    doc = {"added": [], "modified": [], "removed": [], "next_cursor": "c", "has_more": False}
    scan = scan_file(write(tmp_path, "sync.json", json.dumps(doc)), CTX)
    assert scan.format == "plaid"
    assert (scan.rows_read, scan.rows_accounted, len(scan.daily)) == (0, 0, 0)


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{not json", "not valid JSON"),
        ('{"Version": "1", "reportKeys": []}', "unknown JSON layout (top-level keys: Version, reportKeys)"),
        ('"just text"', "unknown JSON layout"),
        ('[{"date": "2024-01-01"}, 5]', "transaction 2 is not a JSON object"),
        ('[{"foo": "1", "bar": "2"}]', "unknown billing format"),
    ],
)
def test_unusable_json_raises_input_file_error_naming_the_file_and_the_fix(tmp_path, content, problem):
    lf = write(tmp_path, "plaid/bad.json", content)
    with pytest.raises(InputFileError) as err:
        scan_file(lf, CTX)
    assert err.value.path == "plaid/bad.json"
    assert problem in err.value.problem
    assert err.value.fix


def test_discovery_finds_json_and_skips_cur_manifests(tmp_path):
    root = tmp_path / "billing"
    for rel in ["plaid/a.json", "plaid/b.JSON.gz", "cur/20240901-20241001/report-Manifest.json",
                "cur2/metadata/manifest.json", "cur/MANIFEST.JSON.gz", "x.jsonl", "bank/c.csv"]:
        write(root, rel, "[]")
    assert [f.relative for f in discover_landing_files(root)] == ["bank/c.csv", "plaid/a.json", "plaid/b.JSON.gz"]
    assert [f.is_json for f in discover_landing_files(root)] == [False, True, True]


# ------------------------------------------------------------------------------------------
# detection

BANK_FIXTURES = {
    "chase_card.csv": CHASE_CARD, "chase_checking.csv": CHASE_CHECKING, "discover.csv": DISCOVER,
    "capital_one.csv": CAPITAL_ONE, "plaid.csv": PLAID,
}


@pytest.mark.parametrize("name", sorted(BANK_FIXTURES))
def test_each_bank_header_is_detected_as_its_own_format(name):
    fmt, _ = detect_format(fixture_header(name))
    assert fmt is BANK_FIXTURES[name]
    # and no other bank format would claim it, whatever the order
    others = [f for f in BANK_FIXTURES.values() if f is not BANK_FIXTURES[name]]
    assert all(f.resolve(fixture_header(name)) is None for f in others)


def test_bank_formats_are_tried_before_generic():
    names = [f.name for f in FORMATS]
    assert names[-1] == "generic"
    assert {"chase_card", "chase_checking", "discover", "capital_one", "plaid"} <= set(names)


def test_chase_card_and_capital_one_both_start_with_transaction_date():
    chase, capital = fixture_header("chase_card.csv"), fixture_header("capital_one.csv")
    assert chase[0] == capital[0] == "Transaction Date"
    assert detect_format(chase)[0] is CHASE_CARD
    assert detect_format(capital)[0] is CAPITAL_ONE
    assert detect_format(["Card"] + chase)[0] is CHASE_CARD


@pytest.mark.parametrize(
    "name, dropped",
    [
        ("chase_card.csv", "Type"), ("chase_card.csv", "Post Date"),
        ("chase_checking.csv", "Details"), ("chase_checking.csv", "Posting Date"),
        ("discover.csv", "Trans. Date"),
        ("capital_one.csv", "Debit"), ("capital_one.csv", "Posted Date"),
        ("plaid.csv", "personal_finance_category_primary"), ("plaid.csv", "account_id"),
    ],
)
def test_header_missing_a_required_column_is_not_that_format(name, dropped):
    header = [h for h in fixture_header(name) if h != dropped]
    if name == "plaid.csv" and dropped.startswith("personal"):
        header = [h for h in header if not h.startswith("personal_finance_category")]
    assert BANK_FIXTURES[name].resolve(header) is None
    detected = detect_format(header)
    assert detected is None or detected[0] is not BANK_FIXTURES[name]


# ------------------------------------------------------------------------------------------
# the card-payment pattern


@pytest.mark.parametrize("text", [
    "Payment Thank You - Web", "Payment Thank You-Mobile", "AUTOMATIC PAYMENT - THANK", "INTERNET PAYMENT - THANK YOU",
    "DIRECTPAY FULL BALANCE", "CAPITAL ONE MOBILE PYMT", "CAPITAL ONE AUTOPAY PYMT", "CAPITAL ONE ONLINE PYMT",
    "CHASE CREDIT CRD AUTOPAY PPD ID: 4760039224", "Payment to Chase card ending in 1234 09/13",
    "CAPITAL ONE CRCARDPMT 5LBXDRHUQQ7QTQP", "DISCOVER E-PAYMENT 1234", "AMERICAN EXPRESS ACH PMT M1234",
    "APPLECARD GSBANK PAYMENT 1234", "AUTOPAY PAYMENT", "ONLINE PAYMENT", "ELECTRONIC PAYMENT - RECEIVED",
    "ORIG CO NAME:CHASE CREDIT CRD ORIG ID:4760039224 CO ENTRY DESCR:AUTOPAYBUS",
])
def test_card_payment_descriptions_match(text):
    assert matches(pd.Series([text], dtype=STR), CARD_PAYMENT).tolist() == [True]


@pytest.mark.parametrize("text", [
    "Online Payment 12345678 To PG&E 02/01", "ORIG CO NAME:COMCAST ORIG ID:1 CO ENTRY DESCR:PAYMENT SEC:PPD",
    "ZELLE PAYMENT TO JOHN DOE", "INTEREST CHARGE CREDIT", "CAPITAL ONE TRAVEL CREDIT",
    "CASHBACK BONUS REDEMPTION PYMT/STMT CRDT", "SAFEWAY #1234 SAN FRANCISCO CA", "GEICO AUTOPAY",
])
def test_other_descriptions_do_not_match(text):
    assert matches(pd.Series([text], dtype=STR), CARD_PAYMENT).tolist() == [False]


def test_gzip_chase_checking_reads_like_the_plain_file(tmp_path):
    data = (FIXTURES / "chase_checking.csv").read_bytes()
    plain = scan_file(write(tmp_path, "plain/Chase5678_Activity_20240301.CSV", data), CTX)
    packed = scan_file(write(tmp_path, "gz/Chase5678_Activity_20240301.CSV.gz", data, compress=True), CTX)
    assert monthly(packed) == monthly(plain)
    assert excluded(packed) == excluded(plain)
    assert quarantined(packed) == quarantined(plain)
