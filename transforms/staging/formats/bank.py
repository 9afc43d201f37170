"""Bank and card statements: Chase card and checking, Discover, Capital One, Plaid transactions.

A statement line is a cost when money was spent: purchases and fees count, refunds and credits
reduce the cost (negative), and what only moves money between the organisation's own accounts
or pays a card balance is no cost at all. Such lines are excluded, not dropped: staging records
them in the excluded lineage with the reason (EXCLUSIONS), so that every input row is loaded,
excluded or quarantined. Each bank writes the amount its own way (Chase card: purchases
negative; Discover and Plaid: purchases positive; Capital One: unsigned Debit / Credit columns);
every adapter turns it into a cost, positive = money spent. See docs/formats.md.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.staging.formats.base import AdaptContext, Adapted, BillingFormat, RowChecks, SourceRows
from transforms.staging.parsing import STR, arrow, matches, parse_charge_dates, text_series, upper

# A card payment as the statement line describes it, on the card's own statement (where the
# line is already known to be a credit in a payment category) and on the checking account it
# is paid from (where the line is a debit of an ACH / loan payment type). One case-insensitive
# regular expression; its parts are strict enough not to catch a biller's "ONLINE PAYMENT":
CARD_PAYMENT = "|".join((
    # the whole line is the payment: "AUTOPAY PAYMENT", "ELECTRONIC PAYMENT - RECEIVED", "ONLINE PAYMENT"
    # (not "Online Payment 123 To PG&E", a bill paid from checking)
    r"^\W*(?:(?:automatic|autopay|auto|online|mobile|internet|electronic|web)\s+)?(?:payment|pymt|pmt)"
    r"(?:\s*-.*|\s+received.*)?\s*$",
    r"thank\s*you",  # "... PAYMENT - THANK YOU" anywhere
    r"\bdirectpay\b",  # Discover "DIRECTPAY FULL BALANCE"
    r"\b(?:mobile|online|autopay)\s+pymt\b",  # Capital One "CAPITAL ONE MOBILE PYMT"
    r"\bcredit\s+crd\b",  # Chase card autopay from checking: "CHASE CREDIT CRD AUTOPAY PPD ID: ..."
    r"\bcrcardpmt\b",  # "CAPITAL ONE CRCARDPMT ..."
    r"\bcard\s+ending\s+in\b",  # "Payment to Chase card ending in 1234 09/13"
    # a card issuer, then a payment word: "DISCOVER E-PAYMENT", "AMERICAN EXPRESS ACH PMT",
    # "APPLECARD GSBANK PAYMENT", "CITI AUTOPAY PAYMENT"
    r"\b(?:chase|american\s+express|amex|discover|capital\s+one|citi|citibank|citicards?|applecard|barclaycard|"
    r"synchrony|bk\s+of\s+amer|bank\s+of\s+america)\b.*\b(?:e-?payment|payment|pmt|pymt|autopay|epay)\b",
))

# Chase checking Type codes (Chase's web code list) that only move the organisation's own money:
# ACCT_XFER between Chase accounts; CHASE_TO_PARTNERFI / PARTNERFI_TO_CHASE are Chase's "external
# transfers" between the customer's own accounts at Chase and at another bank.
CHECKING_TRANSFERS = ("ACCT_XFER", "CHASE_TO_PARTNERFI", "PARTNERFI_TO_CHASE")
CHECKING_PAYMENT_TYPES = ("ACH_DEBIT", "ACH_PAYMENT", "MISC_DEBIT")  # where a card payment may hide
CHECKING_REFUNDS = ("REFUND_TRANSACTION",)  # money in that reduces a cost (charge category Credit)
CHECKING_REVERSALS = ("DEBIT_REVERSAL", "ADJUSTMT_REVERSAL")  # money in that undoes a debit (Adjustment)

# Chase card Type -> FOCUS charge category (None: excluded, see CHASE_CARD_EXCLUDED)
CHASE_CARD_TYPES = {
    "SALE": "Purchase", "FEE": "Purchase", "RETURN": "Credit", "REFUND": "Credit", "ADJUSTMENT": "Adjustment",
    "REVERSAL": "Adjustment", "PAYMENT": None, "CASH ADVANCE": None,
}
CHASE_CARD_EXCLUDED = {"PAYMENT": "card_payment", "CASH ADVANCE": "transfer"}

_CHASE_FILE = re.compile(r"(?:^|/)Chase(\d{4})_Activity", re.IGNORECASE)
_ACH_COMPANY = r"ORIG CO NAME:\s*(?P<name>.*?)\s+ORIG ID:"
# Plaid's personal finance category primaries (v1, plus v2's LOAN_DISBURSEMENTS), to read the
# primary off a detailed value such as FOOD_AND_DRINK_COFFEE
PFC_PRIMARIES = (
    "INCOME", "TRANSFER_IN", "TRANSFER_OUT", "LOAN_PAYMENTS", "LOAN_DISBURSEMENTS", "BANK_FEES", "ENTERTAINMENT",
    "FOOD_AND_DRINK", "GENERAL_MERCHANDISE", "HOME_IMPROVEMENT", "MEDICAL", "PERSONAL_CARE", "GENERAL_SERVICES",
    "GOVERNMENT_AND_NON_PROFIT", "TRANSPORTATION", "TRAVEL", "RENT_AND_UTILITIES", "OTHER",
)
_PRIMARY_PREFIX = r"^(" + "|".join(PFC_PRIMARIES) + r")_.*$"
_JSON_PRIMARY = r"""["']primary["']\s*:\s*["'](?P<primary>[^"']*)["']"""


# ------------------------------------------------------------------------------------------
# shared pieces


def _constant(value: str | None, index: pd.Index) -> pd.Series:
    return pd.Series(value if value is not None else np.nan, index=index, dtype=STR)


def _labels(index: pd.Index, choices: list[tuple[pd.Series, str]], default: str) -> pd.Series:
    """The label of the first mask that holds, per row, else ``default`` (vectorised np.select)."""
    values = np.select([np.asarray(mask, dtype=bool) for mask, _ in choices], [label for _, label in choices], default)
    return pd.Series(values, index=index, dtype=STR)


def _exclusions(index: pd.Index, choices: list[tuple[pd.Series, str]]) -> pd.Series:
    """EXCLUSIONS code of the first mask that holds, None for a cost."""
    out = pd.Series(None, index=index, dtype="object")
    for mask, reason in reversed(choices):  # the first listed wins
        out[np.asarray(mask, dtype=bool)] = reason
    return out


def _us_days(text: pd.Series) -> pd.Series:
    """MM/DD/YYYY, also M/D/YYYY and M/D/YY (hand-edited or older exports); a time is ignored."""
    date_part = pc.replace_substring_regex(arrow(text), pattern=r"[ T].*$", replacement="")
    four = pc.strptime(date_part, format="%m/%d/%Y", unit="s", error_is_null=True)
    short = pc.match_substring_regex(date_part, pattern=r"^\d{1,2}/\d{1,2}/\d{2}$")
    if pc.any(short).as_py():
        two = pc.strptime(date_part, format="%m/%d/%y", unit="s", error_is_null=True)
        four = pc.if_else(short, two, four)
    return pd.Series(four.to_pandas(), index=text.index).astype("datetime64[ns]")


def _iso_or_us_days(text: pd.Series) -> pd.Series:
    """ISO YYYY-MM-DD (Capital One today), or the M/D/YY of older exports."""
    day = parse_charge_dates(text, "iso")
    slashed = day.isna() & matches(text, "/")
    if slashed.any():
        day = day.where(~slashed, _us_days(text))
    return day


def _card_payment(description: pd.Series) -> pd.Series:
    return matches(description, CARD_PAYMENT)


def _file_account(ctx: AdaptContext) -> str | None:
    """The last four digits Chase puts in its file names (Chase1234_Activity_20240105.CSV)."""
    found = _CHASE_FILE.search(ctx.source_file)
    return found.group(1) if found else None


def _dimensions(rows: SourceRows, merchant: pd.Series, category: pd.Series, issuer: str | None,
                account: pd.Series, charge_category: pd.Series, service: pd.Series | None = None) -> dict[str, pd.Series]:
    return {
        "provider": merchant, "vendor": merchant, "merchant_category": category,
        "service_name": category if service is None else service,
        "billing_account_id": _constant(issuer, rows.index), "sub_account_id": account,
        "charge_category": charge_category,
    }


# ------------------------------------------------------------------------------------------
# Chase credit card


def adapt_chase_card(rows: SourceRows, ctx: AdaptContext) -> Adapted:
    checks = RowChecks(rows.index, ctx)
    day = checks.date(rows, "transaction_date", parse=_us_days)
    written = checks.amount(rows, "amount")
    currency = checks.currency(rows, None)
    kind = upper(rows["type"])
    checks.flag(~kind.isin(list(CHASE_CARD_TYPES)), "unknown_transaction_type", "type")
    category = _labels(rows.index, [(kind.isin([k]), c) for k, c in CHASE_CARD_TYPES.items() if c not in ("Purchase", None)],
                       default="Purchase")
    excluded = _exclusions(rows.index, [(kind.isin([k]), reason) for k, reason in CHASE_CARD_EXCLUDED.items()])
    account = rows["card"] if "card" in rows else _constant(_file_account(ctx), rows.index)
    return Adapted(
        charge_date=day, billed_cost=-written, billing_currency=currency, checks=checks,
        dimensions=_dimensions(rows, rows["description"], rows["category"], "Chase", account, category),
        excluded=excluded, written_amount=written, description=rows["description"],
    )


CHASE_CARD = BillingFormat(
    name="chase_card",
    title="Chase credit card",
    columns={
        "transaction_date": ("Transaction Date",),
        "post_date": ("Post Date",),
        "description": ("Description",),
        "category": ("Category",),
        "type": ("Type",),
        "amount": ("Amount",),
        "card": ("Card",),  # older and business exports: last four digits of the card
    },
    required=("transaction_date", "post_date", "description", "type", "amount"),
    adapt=adapt_chase_card,
)


# ------------------------------------------------------------------------------------------
# Chase checking / savings


def _ach_company(description: pd.Series) -> pd.Series:
    """The payee of a long ACH line ("ORIG CO NAME:ACME CO   ORIG ID:..."), else the line itself:
    the long form carries trace numbers that would make every line a vendor of its own."""
    data = arrow(description)
    found = pc.match_substring_regex(data, pattern=_ACH_COMPANY)
    if not pc.any(found).as_py():
        return description
    name = pc.struct_field(pc.extract_regex(data, pattern=_ACH_COMPANY), [0])
    none = pa.scalar(None, pa.string())
    company = pc.if_else(found, name, none)
    out = pc.coalesce(pc.if_else(pc.equal(company, ""), none, company), data)
    return text_series(out, description.index)


def adapt_chase_checking(rows: SourceRows, ctx: AdaptContext) -> Adapted:
    checks = RowChecks(rows.index, ctx)
    day = checks.date(rows, "posting_date", parse=_us_days)
    written = checks.amount(rows, "amount")
    currency = checks.currency(rows, None)
    kind = upper(rows["type"])
    description = rows["description"]
    out, money_in = written < 0, written > 0
    card_payment = out & (kind.isin(["LOAN_PMT"]) | (kind.isin(list(CHECKING_PAYMENT_TYPES)) & _card_payment(description)))
    refund, reversal = money_in & kind.isin(list(CHECKING_REFUNDS)), money_in & kind.isin(list(CHECKING_REVERSALS))
    excluded = _exclusions(rows.index, [
        (kind.isin(list(CHECKING_TRANSFERS)), "transfer"),
        (card_payment, "card_payment"),
        (money_in & ~refund & ~reversal, "deposit"),
    ])
    category = _labels(rows.index, [(refund, "Credit"), (reversal, "Adjustment")], default="Purchase")
    vendor = _ach_company(description)
    return Adapted(
        charge_date=day, billed_cost=-written, billing_currency=currency, checks=checks,
        dimensions=_dimensions(rows, vendor, _constant(None, rows.index), "Chase",
                               _constant(_file_account(ctx), rows.index), category, service=rows["type"]),
        excluded=excluded, written_amount=written, description=description,
    )


CHASE_CHECKING = BillingFormat(
    name="chase_checking",
    title="Chase checking",
    columns={
        "details": ("Details",),
        "posting_date": ("Posting Date",),
        "description": ("Description",),
        "amount": ("Amount",),
        "type": ("Type",),
        "balance": ("Balance",),
        "check_number": ("Check or Slip #",),
    },
    required=("details", "posting_date", "description", "amount", "type"),
    adapt=adapt_chase_checking,
)


# ------------------------------------------------------------------------------------------
# Discover card


def adapt_discover(rows: SourceRows, ctx: AdaptContext) -> Adapted:
    checks = RowChecks(rows.index, ctx)
    day = checks.date(rows, "trans_date", parse=_us_days)
    amount = checks.amount(rows, "amount")  # purchases positive: the amount is the cost
    currency = checks.currency(rows, None)
    label = upper(rows["category"])
    credit = amount < 0
    award = label.isin(["AWARDS AND REBATE CREDITS"])
    payment = credit & label.isin(["PAYMENTS AND CREDITS"]) & _card_payment(rows["description"])
    moved = label.isin(["BALANCE TRANSFERS", "CASH ADVANCES"])  # debt or cash moved, not spent
    excluded = _exclusions(rows.index, [(payment & ~award, "card_payment"), (moved, "transfer")])
    category = _labels(rows.index, [(credit | award, "Credit")], default="Purchase")
    return Adapted(
        charge_date=day, billed_cost=amount, billing_currency=currency, checks=checks,
        dimensions=_dimensions(rows, rows["description"], rows["category"], "Discover",
                               _constant(None, rows.index), category),
        excluded=excluded, written_amount=amount, description=rows["description"],
    )


DISCOVER = BillingFormat(
    name="discover",
    title="Discover card",
    columns={
        "trans_date": ("Trans. Date",),
        "post_date": ("Post Date",),
        "description": ("Description",),
        "amount": ("Amount",),
        "category": ("Category",),
    },
    required=("trans_date", "post_date", "description", "amount"),
    adapt=adapt_discover,
)


# ------------------------------------------------------------------------------------------
# Capital One card


def adapt_capital_one(rows: SourceRows, ctx: AdaptContext) -> Adapted:
    checks = RowChecks(rows.index, ctx)
    day = checks.date(rows, "transaction_date", parse=_iso_or_us_days)
    debit = checks.amount(rows, "debit", required=False)
    credit = checks.amount(rows, "credit", required=False)
    currency = checks.currency(rows, None)
    has_debit, has_credit = rows["debit"].notna(), rows["credit"].notna()
    checks.flag(has_debit == has_credit, "ambiguous_amount", "debit")
    cost = debit.fillna(0.0) - credit.fillna(0.0)
    payment = has_credit & upper(rows["category"]).isin(["PAYMENT/CREDIT"]) & _card_payment(rows["description"])
    category = _labels(rows.index, [(has_credit & ~has_debit, "Credit")], default="Purchase")
    account = rows["card_number"]
    return Adapted(
        charge_date=day, billed_cost=cost, billing_currency=currency, checks=checks,
        dimensions=_dimensions(rows, rows["description"], rows["category"], "Capital One", account, category),
        excluded=_exclusions(rows.index, [(payment, "card_payment")]),
        written_amount=debit.fillna(credit),  # the value of whichever column is filled, as written
        description=rows["description"],
    )


CAPITAL_ONE = BillingFormat(
    name="capital_one",
    title="Capital One card",
    columns={
        "transaction_date": ("Transaction Date",),
        "posted_date": ("Posted Date",),
        "card_number": ("Card No.",),
        "description": ("Description",),
        "category": ("Category",),
        "debit": ("Debit",),
        "credit": ("Credit",),
    },
    required=("transaction_date", "posted_date", "description", "debit", "credit"),
    adapt=adapt_capital_one,
)


# ------------------------------------------------------------------------------------------
# Plaid transactions (CSV with flattened columns, or the JSON of /transactions/get or /sync)


def _pfc_primary(text: pd.Series) -> pd.Series:
    """The personal finance category: the column as written, or the ``primary`` member when the
    column holds the whole object ({"primary": ..., "detailed": ...}, JSON or Python repr)."""
    data = arrow(text)
    found = pc.match_substring_regex(data, pattern=_JSON_PRIMARY)
    if not pc.any(found).as_py():
        return upper(text)
    primary = pc.struct_field(pc.extract_regex(data, pattern=_JSON_PRIMARY), [0])
    objects = pc.starts_with(pc.utf8_ltrim_whitespace(data), "{")
    out = pc.if_else(found, primary, pc.if_else(objects, pa.scalar(None, pa.string()), data))
    return upper(text_series(out, text.index))


def adapt_plaid(rows: SourceRows, ctx: AdaptContext) -> Adapted:
    checks = RowChecks(rows.index, ctx)
    day = checks.date(rows, "date", "iso")
    amount = checks.amount(rows, "amount")  # positive = money out: the amount is the cost
    currency = checks.currency(rows, "currency")  # iso_currency_code; a file without it: the reporting currency
    # primary, or detailed when only that was exported: detailed values start with their primary,
    # so the exclusions key on the prefix (unknown detailed values, e.g. of PFC v2, still match)
    pfc = _pfc_primary(rows["pfc"])
    pending = upper(rows["pending"]).isin(["TRUE", "1", "T", "YES"])
    excluded = _exclusions(rows.index, [
        (pending, "pending"),
        (matches(pfc, r"^TRANSFER_(?:IN|OUT)"), "transfer"),
        (matches(pfc, r"^LOAN_PAYMENTS"), "card_payment"),
        (matches(pfc, r"^(?:INCOME|LOAN_DISBURSEMENTS)"), "deposit"),
    ])
    category = _labels(rows.index, [(amount < 0, "Credit")], default="Purchase")
    merchant = rows["merchant_name"].fillna(rows["name"])
    if ctx.source_columns.get("pfc", "").endswith("detailed"):  # the primary is the detailed value's prefix
        pfc = text_series(pc.replace_substring_regex(arrow(pfc), pattern=_PRIMARY_PREFIX, replacement=r"\1"), rows.index)
    return Adapted(
        charge_date=day, billed_cost=amount, billing_currency=currency, checks=checks,
        dimensions=_dimensions(rows, merchant, pfc, None, rows["account_id"], category),
        excluded=excluded, written_amount=amount, description=rows["name"].fillna(rows["merchant_name"]),
    )


PLAID = BillingFormat(
    name="plaid",
    title="Plaid transactions",
    columns={
        "date": ("date",),
        "amount": ("amount",),
        "account_id": ("account_id",),
        # flattened with underscores (database / CSV exports), dotted (pandas.json_normalize and
        # this pipeline's JSON reader), the whole object as text, or only the detailed value
        "pfc": ("personal_finance_category_primary", "personal_finance_category.primary", "personal_finance_category",
                "personal_finance_category_detailed", "personal_finance_category.detailed"),
        "merchant_name": ("merchant_name",),
        "name": ("name",),
        "currency": ("iso_currency_code",),
        "pending": ("pending",),
        "transaction_id": ("transaction_id",),
    },
    required=("date", "amount", "account_id", "pfc"),
    adapt=adapt_plaid,
)
