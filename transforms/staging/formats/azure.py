"""Azure Cost Management cost and usage exports: Enterprise Agreement (EA) and Microsoft Customer
Agreement (MCA), actual or amortized.

Both exports of a billing scope have the same header; only the rows differ. The *actual* export
is what is invoiced (commitment purchases as Purchase rows on the day they are bought, the usage
they cover at 0); the *amortized* export spreads each commitment over the usage it covered (no
Purchase rows; UnusedReservation / UnusedSavingsPlan rows for the unused part). The cost column
therefore means what the export type says, and the two exports must never both be loaded for one
scope and month: where no commitment is involved they repeat the same rows, so both would count
the same spend twice.

EA writes PascalCase columns (``Date``, ``CostInBillingCurrency`` or the older ``Cost`` /
``PreTaxCost``, ``BillingCurrencyCode`` or ``BillingCurrency``); MCA writes mostly camelCase
(``date``, ``costInBillingCurrency``, ``billingCurrency``) with a few PascalCase columns
(``SubscriptionId``, ``ResourceId``, ``PayGPrice``). Columns are matched case-insensitively. The
header decides which agreement it is by a column only one of them has: ``AccountOwnerId`` (the EA
enrollment account) for EA, ``pricingCurrency`` for MCA.
"""

from __future__ import annotations

import pandas as pd
import pyarrow.compute as pc

from transforms.staging.formats.base import AdaptContext, Adapted, BillingFormat, RowChecks, SourceRows
from transforms.staging.formats.tags import azure_tags
from transforms.staging.parsing import STR, arrow, parse_charge_dates, text_series, upper

PROVIDER = "Microsoft"
# ChargeType (upper-cased) -> FOCUS ChargeCategory. Refunds are negative amounts: a Credit.
CHARGE_CATEGORIES = {
    "USAGE": "Usage",
    "UNUSEDRESERVATION": "Usage",
    "UNUSEDSAVINGSPLAN": "Usage",
    "PURCHASE": "Purchase",
    "TAX": "Tax",
    "REFUND": "Credit",
    "ROUNDINGADJUSTMENT": "Adjustment",
}
# An empty ChargeType (and exports without the column) is usage; a value not listed above is
# staged as an Adjustment: its amount is counted, under a category that asks for a look.
DEFAULT_CATEGORY = "Usage"
UNKNOWN_CATEGORY = "Adjustment"


def azure_days(text: pd.Series) -> pd.Series:
    """Days written MM/DD/YYYY (EA and MCA CSV exports) or ISO 8601 (newer exports); each value is
    read as MM/DD/YYYY first and as ISO 8601 where that fails. DD/MM is never accepted."""
    day = parse_charge_dates(text, "us")
    retry = day.isna() & text.notna()
    if retry.any():
        day = day.fillna(parse_charge_dates(text if retry.all() else text[retry], "iso"))
    return day


def charge_categories(charge_type: pd.Series) -> pd.Series:
    code = upper(charge_type)
    mapped = code.map(CHARGE_CATEGORIES)
    category = mapped.where(mapped.notna(), UNKNOWN_CATEGORY).where(code.notna(), DEFAULT_CATEGORY)
    return category.astype(STR)


def _lower(s: pd.Series) -> pd.Series:
    return text_series(pc.utf8_lower(arrow(s)), s.index)


def adapt_azure(rows: SourceRows, ctx: AdaptContext) -> Adapted:
    checks = RowChecks(rows.index, ctx)

    day = checks.date(rows, "charge_date", parse=azure_days)

    cost = checks.amount(rows, "cost")
    # list cost: the pay-as-you-go cost where the export has it (MCA), else PayGPrice x Quantity
    # (EA, which prices in its billing currency). A pay-as-you-go price or cost of 0 is written on
    # reservation rows and purchases: no list price is known there, so the billed amount stands in.
    listed = None
    if "payg_cost" in rows:
        listed = checks.amount(rows, "payg_cost", required=False)
        listed = listed.where(listed != 0)
    elif "payg_price" in rows and "quantity" in rows:
        price = checks.amount(rows, "payg_price", required=False)
        quantity = checks.amount(rows, "quantity", required=False)
        listed = (price * quantity).where(price != 0)
    currency = checks.currency(rows, "billing_currency")

    dimensions = {
        "provider": pd.Series(PROVIDER, index=rows.index, dtype=STR),
        "charge_category": charge_categories(rows["charge_type"]),
    }
    for name in ("billing_account_id", "sub_account_id", "service_name", "service_category", "cost_center"):
        if name in rows:
            dimensions[name] = rows[name]
    if "region" in rows:
        dimensions["region"] = _lower(rows["region"])  # "EastUS2" and "eastus2" are one region

    # a bad row is filed under its billing period's month when its own date is unusable
    period = None
    bad = checks.bad
    if "billing_period_start" in rows and bad.any():
        start = azure_days(rows["billing_period_start"][bad])
        period = start.dt.strftime("%Y-%m-%d").astype(STR).reindex(rows.index)

    return Adapted(
        charge_date=day, billed_cost=cost, billing_currency=currency, checks=checks,
        effective_cost=cost, list_cost=listed, dimensions=dimensions,
        tags=rows.columns.get("tags"), tag_parser=azure_tags,
        period_text=period,
    )


# Roles shared by both agreements; the first present candidate wins (matched case-insensitively).
_COMMON = {
    "charge_date": ("Date", "UsageDateTime"),
    "billing_period_start": ("BillingPeriodStartDate",),
    "billing_account_id": ("BillingAccountId",),
    "sub_account_id": ("SubscriptionId", "SubscriptionGuid"),
    "service_name": ("MeterCategory",),
    "service_category": ("ServiceFamily",),
    "region": ("ResourceLocation",),
    "cost_center": ("CostCenter",),
    "charge_type": ("ChargeType",),
    "cost": ("CostInBillingCurrency", "Cost", "PreTaxCost"),
    "billing_currency": ("BillingCurrencyCode", "BillingCurrency", "Currency"),
    "tags": ("Tags",),
}

AZURE_EA = BillingFormat(
    name="azure_ea",
    title="Azure EA cost export",
    columns=_COMMON | {
        "account_owner": ("AccountOwnerId",),  # the EA enrollment account: EA only
        "payg_cost": ("PaygCostInBillingCurrency",),
        "payg_price": ("PayGPrice",),
        "quantity": ("Quantity", "UsageQuantity"),
    },
    required=("charge_date", "cost", "billing_currency", "service_name", "sub_account_id", "account_owner"),
    case_insensitive=True,
    adapt=adapt_azure,
)

AZURE_MCA = BillingFormat(
    name="azure_mca",
    title="Azure MCA cost export",
    columns=_COMMON | {
        "cost": ("costInBillingCurrency",),
        "billing_currency": ("billingCurrency",),
        "billing_profile": ("billingProfileId",),
        "pricing_currency": ("pricingCurrency",),  # MCA only: EA exports have no pricing currency
        # MCA's PayGPrice is in the pricing currency: only the converted pay-as-you-go cost is used
        "payg_cost": ("paygCostInBillingCurrency",),
    },
    required=("charge_date", "cost", "billing_currency", "service_name", "sub_account_id", "billing_profile",
              "pricing_currency"),
    case_insensitive=True,
    adapt=adapt_azure,
)
