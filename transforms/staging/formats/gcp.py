"""Google Cloud Billing export (the BigQuery billing export table) saved as CSV.

BigQuery cannot extract a table with nested or repeated fields to CSV, so a billing CSV comes from
a query ("Save results" or ``bq query --format=csv``) and its column names are the query's: the
dotted names of the export (``service.description``) or their flattened spelling
(``service_description``); both are accepted, case-insensitively, and so are the plain aliases
``service`` and ``region``. ``credits`` and ``labels`` are JSON lists (``TO_JSON_STRING``), ``[]``
when empty.

``cost`` is before credits; credits (committed-use and sustained-use discounts, free tier,
promotions) are negative amounts in the ``credits`` list, and the net cost is cost + their sum.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pyarrow.compute as pc

from transforms.staging.formats.base import AdaptContext, Adapted, BillingFormat, RowChecks, SourceRows
from transforms.staging.formats.tags import key_value_list
from transforms.staging.parsing import STR, arrow, per_distinct, text_series, upper

PROVIDER = "Google Cloud"
# cost_type (upper-cased) -> FOCUS ChargeCategory; empty or absent is usage, an unknown value an
# Adjustment (counted, under a category that asks for a look)
CHARGE_CATEGORIES = {
    "REGULAR": "Usage",
    "TAX": "Tax",
    "ADJUSTMENT": "Adjustment",
    "ROUNDING_ERROR": "Adjustment",
}
DEFAULT_CATEGORY = "Usage"
UNKNOWN_CATEGORY = "Adjustment"


def credits_total(text: str) -> float | None:
    """Sum of the ``amount`` of a JSON list of credit objects; None when the text is not one."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if not isinstance(parsed, list):
        return None
    total = 0.0
    for item in parsed:
        amount = item.get("amount") if isinstance(item, dict) else None
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount):
            return None
        total += amount
    return total


def adapt_gcp(rows: SourceRows, ctx: AdaptContext) -> Adapted:
    checks = RowChecks(rows.index, ctx)
    day = checks.date(rows, "usage_start_time", "utc_suffix")  # the UTC day of the usage start
    cost = checks.amount(rows, "cost")
    # credits: parsed once per distinct text (most rows repeat "[]"); an empty cell is no credit
    credit_text = rows["credits"]
    credit = per_distinct(credit_text, credits_total, dtype="float64")
    checks.flag(credit_text.notna() & credit.isna(), "unparseable_credits", "credits")
    at_list = checks.amount(rows, "cost_at_list", required=False)
    currency = checks.currency(rows, "currency")
    net = cost + credit.fillna(0.0)

    cost_type = upper(rows["cost_type"])
    mapped = cost_type.map(CHARGE_CATEGORIES)
    category = mapped.where(mapped.notna(), UNKNOWN_CATEGORY).where(cost_type.notna(), DEFAULT_CATEGORY)
    dimensions = {
        "provider": pd.Series(PROVIDER, index=rows.index, dtype=STR),
        "charge_category": category.astype(STR),
        # global and multi-region services have no region: their location ("global", "us") stands in
        "region": rows["region"].fillna(rows["location"]),
    }
    for name in ("billing_account_id", "sub_account_id", "service_name"):
        if name in rows:
            dimensions[name] = rows[name]

    period = None
    if "invoice_month" in rows:  # YYYYMM -> first day of the invoice month
        month = pc.replace_substring_regex(arrow(rows["invoice_month"]), pattern=r"^(\d{4})(\d{2})$",
                                           replacement=r"\1-\2-01")
        period = text_series(month, rows.index)

    return Adapted(
        charge_date=day, billed_cost=net, billing_currency=currency, checks=checks,
        effective_cost=net, list_cost=at_list.fillna(cost),
        dimensions=dimensions,
        tags=rows.columns.get("labels"), tag_parser=key_value_list,
        period_text=period,
    )


def _spellings(*names: str) -> tuple[str, ...]:
    """Each dotted export name as written and flattened with underscores."""
    out: list[str] = []
    for name in names:
        out += [name, name.replace(".", "_")] if "." in name else [name]
    return tuple(dict.fromkeys(out))


GCP = BillingFormat(
    name="gcp",
    title="Google Cloud billing export",
    columns={
        "usage_start_time": ("usage_start_time",),
        "invoice_month": _spellings("invoice.month"),
        "billing_account_id": ("billing_account_id",),
        "sub_account_id": _spellings("project.id"),
        "service_name": _spellings("service.description") + ("service",),
        "region": _spellings("location.region") + ("region",),
        "location": _spellings("location.location"),
        "cost_type": ("cost_type",),
        "cost": ("cost",),
        "cost_at_list": ("cost_at_list",),
        "credits": ("credits",),
        "currency": ("currency",),
        "labels": ("labels",),
    },
    required=("billing_account_id", "usage_start_time", "cost", "currency"),
    case_insensitive=True,
    adapt=adapt_gcp,
)
