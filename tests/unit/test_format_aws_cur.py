"""AWS Cost and Usage Report, legacy CSV and CUR 2.0 (transforms/staging/formats/aws_cur.py).

The two fixtures hold the same 18 line items (values made up for these tests), one per case the
adapter distinguishes, for September 2024 in USD, payer 111111111111:

line  type                       account       day    unblended  net    other amounts
 2    Usage                      222222222222  09-01   10.00     9.50   public 10.00, tag project=web
 3    SavingsPlanCoveredUsage    222222222222  09-02    4.00     4.00   public 4.00, SP effective 2.50, tag web
 4    SavingsPlanNegation        222222222222  09-02   -4.00    -4.00   tag web
 5    SavingsPlanRecurringFee    111111111111  09-01    3.00     3.00   commitment to date 3.00, used 2.50
 6    DiscountedUsage            333333333333  09-03    0.00     0.00   public 2.00, RI effective 1.20, tag db
 7    RIFee                      111111111111  09-01    1.50     1.50   unused upfront 0.10, unused recurring 0.20
 8    Fee (with ReservationARN)  111111111111  09-01   12.00    12.00   an RI upfront purchase
 9    Fee (no ARN)               111111111111  09-01    5.00     5.00   support
10    SavingsPlanUpfrontFee      111111111111  09-01   20.00    20.00
11    Tax                        222222222222  09-01    2.00     2.00
12    Credit                     222222222222  09-01   -3.00    -3.00
13    Refund                     333333333333  09-01   -1.00    -1.00
14    EdpDiscount                222222222222  09-01   -0.50     0.00   (the discount is in line 2's net)
15    Usage                      444444444444  09-04    0.75     0.75   public 0.75, no tag (projects.csv: data)
16    BogusType                  -> quarantined unknown_line_item_type
17    Usage, unblended "12,5"    -> quarantined unparseable_amount
18    SavingsPlanCoveredUsage without an SP effective cost -> quarantined missing_amount
19    (empty type)               -> quarantined unknown_line_item_type
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest

from finops_pipeline.ingest.scan import FileScan, scan_file
from tests.formats import FIXTURES, cents, landing_file
from tests.formats import fixture_header as header_of
from tests.formats import month_totals as monthly
from transforms.money import exact_total
from transforms.staging.billing import StagingContext
from transforms.staging.formats import detect_format
from transforms.staging.formats.aws_cur import AWS_CUR, AWS_CUR2

LEGACY = FIXTURES / "aws_cur_legacy.csv"
CUR2 = FIXTURES / "aws_cur2.csv"
CTX = StagingContext(source_file="", format_name="", account_projects={"444444444444": "data"})

# the invoice: every unblended cost of the 14 loaded rows
BILLED = Decimal("10.00") + 4 - 4 + 3 + 0 + Decimal("1.50") + 12 + 5 + 20 + 2 - 3 - 1 - Decimal("0.50") + Decimal("0.75")
# amortized, commitments counted once:
#   on-demand usage after discounts 9.50 + 0.75, SP effective 2.50, unused SP commitment 3.00 - 2.50,
#   RI effective 1.20, unused RI 0.10 + 0.20, the support fee 5.00, tax 2.00, credit and refund -3.00 - 1.00;
#   the negation, both upfront purchases and the EDP discount line (already in line 2's net) are 0
EFFECTIVE = (Decimal("9.50") + Decimal("0.75") + Decimal("2.50") + (Decimal("3.00") - Decimal("2.50")) + Decimal("1.20")
             + (Decimal("0.10") + Decimal("0.20")) + 5 + 2 - 3 - 1)
# public on-demand cost where the row has one (10 + 4 + 2 + 0.75, the negation 0), else the billed amount
LISTED = (Decimal("10.00") + 4 + 0 + 2 + Decimal("0.75")
          + 3 + Decimal("1.50") + 12 + 5 + 20 + 2 - 3 - 1 - Decimal("0.50"))


def scan(path: Path, ctx: StagingContext = CTX) -> FileScan:
    return scan_file(landing_file(path, path.name), ctx)


def by(result: FileScan, column: str, amount: str) -> dict:
    keys = result.daily[column]
    if column == "charge_date":
        keys = keys.dt.strftime("%Y-%m-%d")
    return {k: cents(exact_total(g)) for k, g in result.daily[amount].groupby(keys)}


def rewrite(src: Path, dst: Path, drop: tuple[str, ...] = (), edit=None) -> Path:
    """A copy of a fixture without the columns ``drop``; ``edit(line, row)`` may change rows."""
    with open(src, newline="") as fh:
        rows = list(csv.DictReader(fh))
    header = [c for c in rows[0] if c not in drop]
    with open(dst, "w", newline="") as fh:
        writer = csv.DictWriter(fh, header, extrasaction="ignore")
        writer.writeheader()
        for line, row in enumerate(rows, start=2):
            if edit is not None:
                edit(line, row)
            writer.writerow(row)
    return dst


# ------------------------------------------------------------------------------------------
# detection


@pytest.mark.parametrize(("path", "fmt"), [(LEGACY, AWS_CUR), (CUR2, AWS_CUR2)])
def test_fixture_headers_are_detected_as_their_format(path, fmt):
    found, columns = detect_format(header_of(path))
    assert found is fmt
    assert scan(path).format == fmt.name


def test_legacy_columns_map_to_roles_and_tag_columns():
    _, columns = detect_format(header_of(LEGACY))
    assert columns["unblended_cost"] == "lineItem/UnblendedCost"
    assert columns["region_code"] == "product/regionCode" and columns["region"] == "product/region"
    assert columns["tag:project"] == "resourceTags/user:project" and columns["tag:env"] == "resourceTags/user:env"


def test_legacy_header_is_matched_case_insensitively():
    header = [h.lower() for h in header_of(LEGACY)]
    found, columns = detect_format(header)
    assert found is AWS_CUR
    assert columns["ri_unused_recurring"] == "reservation/unusedrecurringfee"


@pytest.mark.parametrize("path", [LEGACY, CUR2])
@pytest.mark.parametrize("role", ["line_item_type", "unblended_cost", "billing_currency", "usage_start"])
def test_header_without_a_required_column_is_not_aws(path, role):
    fmt = AWS_CUR if path is LEGACY else AWS_CUR2
    header = [h for h in header_of(path) if h not in fmt.columns[role]]
    found = detect_format(header)
    assert found is None or found[0] not in (AWS_CUR, AWS_CUR2)


def test_other_formats_do_not_claim_aws_headers():
    from transforms.staging.formats import FORMATS

    for path, mine in ((LEGACY, AWS_CUR), (CUR2, AWS_CUR2)):
        claimed = [f.name for f in FORMATS if f.resolve(header_of(path)) is not None]
        assert claimed == [mine.name]


# ------------------------------------------------------------------------------------------
# amounts


@pytest.mark.parametrize("path", [LEGACY, CUR2])
def test_monthly_totals_billed_is_the_invoice_effective_is_amortized(path):
    result = scan(path)
    assert result.rows_read == 18 and result.rows_read == result.rows_accounted
    assert int(result.daily["source_rows"].sum()) == 14 and len(result.quarantine) == 4
    assert result.excluded.empty
    assert monthly(result) == {("2024-09", "USD"): (cents(BILLED), cents(EFFECTIVE), cents(LISTED))}
    assert (cents(BILLED), cents(EFFECTIVE), cents(LISTED)) == (Decimal("49.75"), Decimal("17.75"), Decimal("55.75"))


def test_legacy_and_cur2_give_the_same_daily_totals():
    legacy, cur2 = scan(LEGACY), scan(CUR2)
    for amount in ("billed_cost", "effective_cost", "list_cost"):
        assert by(legacy, "charge_date", amount) == by(cur2, "charge_date", amount)
    assert by(legacy, "charge_date", "billed_cost") == {
        "2024-09-01": cents("49.00"),  # 10 + 3 + 1.50 + 12 + 5 + 20 + 2 - 3 - 1 - 0.50
        "2024-09-02": cents("0.00"),  # 4 - 4: the SP-covered on-demand cost and its negation
        "2024-09-03": cents("0.00"),  # RI-covered usage is 0 on the invoice
        "2024-09-04": cents("0.75"),
    }
    assert by(legacy, "charge_date", "effective_cost") == {
        "2024-09-01": cents("13.30"),  # 9.50 + 0.50 + 0.30 + 0 + 5 + 0 + 2 - 3 - 1 + 0
        "2024-09-02": cents("2.50"),  # SP effective cost, negation 0
        "2024-09-03": cents("1.20"),  # RI effective cost
        "2024-09-04": cents("0.75"),
    }
    keys = ["charge_date", "billing_account_id", "sub_account_id", "service_name", "region", "charge_category", "project"]
    rows = [frame.sort_values(keys)[keys + ["billed_cost", "effective_cost"]].astype(str).values.tolist()
            for frame in (legacy.daily, cur2.daily)]
    assert rows[0] == rows[1]


@pytest.mark.parametrize("path", [LEGACY, CUR2])
def test_charge_categories(path):
    result = scan(path)
    assert by(result, "charge_category", "billed_cost") == {
        "Usage": cents("14.75"),  # 10 + 4 + 0 + 0.75
        "Purchase": cents("41.50"),  # 3 + 1.50 + 12 + 5 + 20
        "Tax": cents("2.00"),
        "Credit": cents("-4.00"),  # -3 - 1
        "Adjustment": cents("-4.50"),  # negation -4, EDP discount -0.50
    }
    assert by(result, "charge_category", "effective_cost") == {
        "Usage": cents("13.95"),  # 9.50 + 2.50 + 1.20 + 0.75
        "Purchase": cents("5.80"),  # unused SP 0.50 + unused RI 0.30 + support fee 5; upfront fees 0
        "Tax": cents("2.00"),
        "Credit": cents("-4.00"),
        "Adjustment": cents("0.00"),
    }


def test_without_net_unblended_cost_the_unblended_cost_is_effective(tmp_path):
    result = scan(rewrite(LEGACY, tmp_path / "no_net.csv", drop=("lineItem/NetUnblendedCost",)))
    assert by(result, "charge_category", "effective_cost") == {
        "Usage": cents("14.45"),  # 10 (gross) + 2.50 + 1.20 + 0.75
        "Purchase": cents("5.80"),
        "Tax": cents("2.00"),
        "Credit": cents("-4.00"),
        "Adjustment": cents("-0.50"),  # the EDP discount line now carries the discount
    }
    assert monthly(result)[("2024-09", "USD")][:2] == (cents(BILLED), cents(EFFECTIVE))


def test_without_public_on_demand_cost_billed_stands_in_for_list(tmp_path):
    result = scan(rewrite(CUR2, tmp_path / "no_list.csv", drop=("pricing_public_on_demand_cost",)))
    billed, _, listed = monthly(result)[("2024-09", "USD")]
    assert listed == billed == cents(BILLED)


# ------------------------------------------------------------------------------------------
# dimensions and projects


@pytest.mark.parametrize("path", [LEGACY, CUR2])
def test_dimensions(path):
    daily = scan(path).daily
    assert set(daily["provider"]) == {"AWS"}
    assert set(daily["billing_account_id"]) == {"111111111111"}
    assert set(daily["sub_account_id"]) == {"111111111111", "222222222222", "333333333333", "444444444444"}
    services = by(scan(path), "service_name", "billed_cost")
    assert services == {
        "Amazon Elastic Compute Cloud": cents("8.50"),  # 10 + 4 - 4 + 2 - 3 - 0.50
        "Amazon Relational Database Service": cents("12.50"),  # 0 + 1.50 + 12 - 1
        "Amazon Simple Storage Service": cents("0.75"),
        "Savings Plans for AWS Compute usage": cents("23.00"),  # 3 + 20
        "AWS Support (Business)": cents("5.00"),
    }
    regions = daily.groupby(daily["region"].fillna("(none)"))["billed_cost"].sum().round(2).to_dict()
    assert regions == {"us-east-1": 9.25, "eu-west-1": 12.5, "(none)": 28.0}


def test_service_falls_back_to_the_product_code_and_region_to_product_region(tmp_path):
    def blank(line, row):
        if line == 2:
            row["product/ProductName"] = ""
            row["product/regionCode"] = ""

    daily = scan(rewrite(LEGACY, tmp_path / "x.csv", edit=blank)).daily
    row = daily[daily["billed_cost"] == 10.0].iloc[0]
    assert (row["service_name"], row["region"]) == ("AmazonEC2", "us-east-1")


@pytest.mark.parametrize("path", [LEGACY, CUR2])
def test_projects_from_tags_then_projects_csv_accounts(path):
    result = scan(path)
    daily = result.daily
    found = {(p, s): cents(exact_total(g["billed_cost"])) for (p, s), g in daily.groupby(["project", "project_source"])}
    assert found == {
        ("web", "tag"): cents("10.00"),  # 10 + 4 - 4 (resourceTags/user:project / {"user_project": "web"})
        ("db", "tag"): cents("0.00"),
        ("data", "account"): cents("0.75"),  # 444444444444 -> data in projects.csv
        ("unallocated", "unallocated"): cents("39.00"),  # 49.75 - 10 - 0 - 0.75
    }


def test_athena_style_legacy_columns_are_read_as_tag_columns(tmp_path):
    # a legacy CUR queried through Athena and saved as CSV: snake_case names, one column per tag
    path = rewrite(CUR2, tmp_path / "athena.csv", drop=("resource_tags",))
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    rows[0].append("resource_tags_user_project")
    for line, row in enumerate(rows[1:], start=2):
        row.append("web" if line == 15 else "")
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    daily = scan(path).daily
    row = daily[daily["billed_cost"] == 0.75].iloc[0]
    assert (row["project"], row["project_source"]) == ("web", "tag")


# ------------------------------------------------------------------------------------------
# quarantine


@pytest.mark.parametrize(
    ("path", "names"),
    [
        (LEGACY, ("lineItem/LineItemType", "lineItem/UnblendedCost", "savingsPlan/SavingsPlanEffectiveCost")),
        (CUR2, ("line_item_line_item_type", "line_item_unblended_cost", "savings_plan_savings_plan_effective_cost")),
    ],
)
def test_bad_rows_are_quarantined_naming_file_line_and_column(path, names):
    kind, unblended, sp_effective = names
    q = scan(path).quarantine.sort_values("line_number")
    assert q[["line_number", "reason", "source_column"]].values.tolist() == [
        [16, "unknown_line_item_type", kind],
        [17, "unparseable_amount", unblended],
        [18, "missing_amount", sp_effective],
        [19, "unknown_line_item_type", kind],
    ]
    assert set(q["source_file"]) == {path.name}
    assert set(q["billing_month"]) == {"2024-09"}
    detail = q[q["line_number"] == 17]["detail"].iloc[0]
    assert detail.startswith(f"{unblended}: a cost is not a plain decimal number")
    assert json.loads(q[q["line_number"] == 17]["raw_values"].iloc[0])[unblended] == "12,5"


def test_a_type_whose_amount_column_is_absent_is_quarantined_with_the_aws_column_name(tmp_path):
    path = rewrite(CUR2, tmp_path / "no_ri.csv", drop=("reservation_effective_cost", "reservation_unused_recurring_fee"))
    result = scan(path)
    q = result.quarantine.sort_values("line_number")
    found = q[q["reason"] == "missing_amount"][["line_number", "source_column"]].values.tolist()
    assert found == [
        [6, "reservation_effective_cost"],  # DiscountedUsage
        [7, "reservation_unused_recurring_fee"],  # RIFee
        [18, "savings_plan_savings_plan_effective_cost"],
    ]
    assert result.rows_read == result.rows_accounted


def test_an_empty_net_unblended_cost_is_missing_not_zero(tmp_path):
    def blank(line, row):
        if line == 11:  # the Tax row
            row["lineItem/NetUnblendedCost"] = ""
        if line == 3:  # SP-covered: its effective cost is the SP column, the net one is not needed
            row["lineItem/NetUnblendedCost"] = ""

    q = scan(rewrite(LEGACY, tmp_path / "x.csv", edit=blank)).quarantine
    row = q[q["line_number"] == 11].iloc[0]
    assert (row["reason"], row["source_column"]) == ("missing_amount", "lineItem/NetUnblendedCost")
    assert 3 not in set(q["line_number"])


def test_line_item_type_is_matched_case_insensitively(tmp_path):
    def lower(line, row):
        row["lineItem/LineItemType"] = row["lineItem/LineItemType"].lower()

    result = scan(rewrite(LEGACY, tmp_path / "x.csv", edit=lower))
    assert monthly(result)[("2024-09", "USD")] == (cents(BILLED), cents(EFFECTIVE), cents(LISTED))


def test_minimal_header_costs_usage_at_unblended_and_quarantines_what_needs_more(tmp_path):
    path = tmp_path / "minimal.csv"
    path.write_text(
        "lineItem/UsageStartDate,lineItem/LineItemType,lineItem/UnblendedCost,lineItem/CurrencyCode\n"
        "2024-09-30T23:00:00Z,Usage,1.25,USD\n"  # 2: the UTC day is 09-30
        "2024-09-30T23:00:00Z,Tax,0.25,USD\n"  # 3
        "2024-09-30T23:00:00Z,DiscountedUsage,0,USD\n"  # 4: needs reservation/EffectiveCost, absent
        "2024-09-30T23:00:00Z,Usage,,USD\n"  # 5: no unblended cost
        "2024-09-30T23:00:00Z,Fee,2,usd\n"  # 6: no ReservationARN column: a plain fee; currency upper-cased
    )
    result = scan(path)
    assert result.format == "aws_cur" and result.rows_read == result.rows_accounted == 5
    assert monthly(result) == {("2024-09", "USD"): (cents("3.50"),) * 3}  # 1.25 + 0.25 + 2, effective = list = billed
    assert set(result.daily["charge_date"].dt.strftime("%Y-%m-%d")) == {"2024-09-30"}
    assert result.daily["service_name"].isna().all() and set(result.daily["provider"]) == {"AWS"}
    q = result.quarantine.sort_values("line_number")
    assert q[["line_number", "reason", "source_column"]].values.tolist() == [
        [4, "missing_amount", "reservation/EffectiveCost"],
        [5, "missing_amount", "lineItem/UnblendedCost"],
    ]


def test_undated_row_is_filed_under_its_billing_period(tmp_path):
    def undated(line, row):
        if line == 15:
            row["lineItem/UsageStartDate"] = ""
            row["bill/BillingPeriodStartDate"] = "2024-08-01T00:00:00Z"  # the rest of the file is 2024-09

    q = scan(rewrite(LEGACY, tmp_path / "x.csv", edit=undated)).quarantine
    row = q[q["line_number"] == 15].iloc[0]
    assert (row["reason"], row["source_column"]) == ("missing_date", "lineItem/UsageStartDate")
    assert row["billing_month"] == "2024-08"
