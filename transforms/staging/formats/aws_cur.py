"""AWS Cost and Usage Report: the legacy CSV (``lineItem/UnblendedCost``) and CUR 2.0 (``line_item_unblended_cost``).

Both carry the same line items, so one adapter serves both; only the column names (and how tags
are written) differ. The line item type decides what a row is:

- billed_cost (the invoice view) is ``UnblendedCost`` for every type: a Savings-Plan-covered row
  carries its on-demand cost and the matching ``SavingsPlanNegation`` row cancels it, and RI-covered
  (``DiscountedUsage``) rows are 0 by AWS's definition, so the sum is what the invoice shows.
- effective_cost (the amortized view) follows AWS's own amortization formula (Well-Architected CUR
  query library, CID summary view): covered usage carries its share of the commitment, the fee rows
  only the unused part, upfront purchases nothing (they are spread over the covered usage);
  every other row its ``NetUnblendedCost`` (after discounts) when the file has that column.
- list_cost is ``pricing/publicOnDemandCost`` where the row has it.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.staging.formats.base import AdaptContext, Adapted, BillingFormat, RowChecks, SourceRows
from transforms.staging.formats.tags import prefixed_keys
from transforms.staging.parsing import text_series

# Line item type -> FOCUS charge category. Matched case-insensitively; any other type (or none)
# is quarantined as unknown_line_item_type rather than guessed.
CHARGE_CATEGORIES = {
    "Usage": "Usage",
    "DiscountedUsage": "Usage",
    "SavingsPlanCoveredUsage": "Usage",
    "Fee": "Purchase",
    "RIFee": "Purchase",
    "SavingsPlanRecurringFee": "Purchase",
    "SavingsPlanUpfrontFee": "Purchase",
    "Tax": "Tax",
    "Credit": "Credit",
    "Refund": "Credit",
    "SavingsPlanNegation": "Adjustment",
    "BundledDiscount": "Adjustment",
    "EdpDiscount": "Adjustment",
    "Discount": "Adjustment",
    "PrivateRateDiscount": "Adjustment",
    "DistributorDiscount": "Adjustment",
}
_BY_LOWER = {t.lower(): t for t in CHARGE_CATEGORIES}

# role -> (legacy CSV column, CUR 2.0 column); a tuple lists alternatives, first present wins
_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "usage_start": (("lineItem/UsageStartDate",), ("line_item_usage_start_date",)),
    "billing_period_start": (("bill/BillingPeriodStartDate",), ("bill_billing_period_start_date",)),
    "billing_account_id": (("bill/PayerAccountId",), ("bill_payer_account_id",)),
    "sub_account_id": (("lineItem/UsageAccountId",), ("line_item_usage_account_id",)),
    "product_code": (("lineItem/ProductCode",), ("line_item_product_code",)),
    "product_name": (("product/ProductName",), ()),
    "product": ((), ("product",)),  # CUR 2.0: map of the product attributes (JSON text in CSV)
    "region_code": (("product/regionCode",), ("product_region_code",)),
    "region": (("product/region",), ()),
    "line_item_type": (("lineItem/LineItemType",), ("line_item_line_item_type",)),
    "billing_currency": (("lineItem/CurrencyCode",), ("line_item_currency_code",)),
    "unblended_cost": (("lineItem/UnblendedCost",), ("line_item_unblended_cost",)),
    "net_unblended_cost": (("lineItem/NetUnblendedCost",), ("line_item_net_unblended_cost",)),
    "public_on_demand_cost": (("pricing/publicOnDemandCost",), ("pricing_public_on_demand_cost",)),
    "sp_effective_cost": (("savingsPlan/SavingsPlanEffectiveCost",), ("savings_plan_savings_plan_effective_cost",)),
    "sp_total_commitment": (("savingsPlan/TotalCommitmentToDate",), ("savings_plan_total_commitment_to_date",)),
    "sp_used_commitment": (("savingsPlan/UsedCommitment",), ("savings_plan_used_commitment",)),
    "ri_effective_cost": (("reservation/EffectiveCost",), ("reservation_effective_cost",)),
    "ri_unused_upfront": (
        ("reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",),
        ("reservation_unused_amortized_upfront_fee_for_billing_period",),
    ),
    "ri_unused_recurring": (("reservation/UnusedRecurringFee",), ("reservation_unused_recurring_fee",)),
    "ri_arn": (("reservation/ReservationARN",), ("reservation_reservation_a_r_n",)),
    # CUR 2.0: one map column; "tags" is the newer map that also holds the resource tags
    "resource_tags": ((), ("resource_tags", "tags")),
}
REQUIRED = ("usage_start", "line_item_type", "unblended_cost", "billing_currency")


def _columns(which: int) -> dict[str, tuple[str, ...]]:
    return {role: names[which] for role, names in _COLUMNS.items() if names[which]}


def _adapt(rows: SourceRows, ctx: AdaptContext, columns: dict[str, tuple[str, ...]]) -> Adapted:
    checks = RowChecks(rows.index, ctx)

    def named(role: str) -> str:
        # the column a problem is about: the file's spelling, else AWS's (the column is absent)
        return role if role in rows else columns[role][0]

    day = checks.date(rows, "usage_start")
    unblended = checks.amount(rows, "unblended_cost")
    amounts = {
        role: checks.amount(rows, role, required=False)
        for role in ("net_unblended_cost", "public_on_demand_cost", "sp_effective_cost", "sp_total_commitment",
                     "sp_used_commitment", "ri_effective_cost", "ri_unused_upfront", "ri_unused_recurring")
    }

    # the few distinct types are looked up once; rows are then selected by their integer code
    codes, uniques = pd.factorize(rows["line_item_type"], use_na_sentinel=True)
    kinds = [_BY_LOWER.get(str(text).lower()) for text in uniques]
    known = codes >= 0
    known[known] = np.array([k is not None for k in kinds], dtype=bool)[codes[known]]

    def of(*types: str) -> np.ndarray:
        return np.isin(codes, [i for i, k in enumerate(kinds) if k in types])

    covered_sp, covered_ri = of("SavingsPlanCoveredUsage"), of("DiscountedUsage")
    recurring_sp, fee_ri = of("SavingsPlanRecurringFee"), of("RIFee")
    # an RI purchase (its cost is spread over the covered usage); without the ARN column no Fee is one
    upfront_ri = (of("Fee") & rows["ri_arn"].notna().to_numpy()) if "ri_arn" in rows else np.zeros(len(codes), dtype=bool)
    nothing = of("SavingsPlanNegation", "SavingsPlanUpfrontFee") | upfront_ri
    # everything else costs what the row says, after discounts where the file has them
    plain_role = "net_unblended_cost" if "net_unblended_cost" in rows else "unblended_cost"
    plain = known & ~(covered_sp | covered_ri | recurring_sp | fee_ri | nothing)

    # a row whose type needs an amount the file does not give is quarantined, never costed as 0
    for role, needs in (
        ("sp_effective_cost", covered_sp), ("ri_effective_cost", covered_ri),
        ("sp_total_commitment", recurring_sp), ("sp_used_commitment", recurring_sp),
        ("ri_unused_upfront", fee_ri), ("ri_unused_recurring", fee_ri),
        (plain_role, plain),
    ):
        value = unblended if role == "unblended_cost" else amounts[role]
        checks.flag(needs & value.isna().to_numpy(), "missing_amount", named(role))

    a = {role: value.to_numpy() for role, value in amounts.items()}
    effective = np.select(
        [covered_sp, covered_ri, recurring_sp, fee_ri, nothing],
        [a["sp_effective_cost"], a["ri_effective_cost"], a["sp_total_commitment"] - a["sp_used_commitment"],
         a["ri_unused_upfront"] + a["ri_unused_recurring"], 0.0],
        default=(unblended if plain_role == "unblended_cost" else amounts[plain_role]).to_numpy(),
    )
    listed = None
    if "public_on_demand_cost" in rows:
        # the negation of covered usage is no on-demand price: it would cancel the covered row's
        listed = amounts["public_on_demand_cost"].mask(of("SavingsPlanNegation"), 0.0)

    currency = checks.currency(rows, "billing_currency")
    checks.flag(~known, "unknown_line_item_type", "line_item_type")

    service = rows.columns.get("product_name")  # absent in CUR 2.0: the product map has it
    region = rows["region_code"]
    if "region" in rows:
        region = region.fillna(rows["region"])
    if "product" in rows:  # CUR 2.0: product name (and region, if the static column is empty) from the map
        from_map = _map_values(rows["product"], ("product_name", "region"))
        service, region = from_map["product_name"], region.fillna(from_map["region"])
    index = rows.index
    dimensions = {
        "provider": _take(["AWS"], np.zeros(len(index), dtype=np.intp), index),
        "billing_account_id": rows["billing_account_id"],
        "sub_account_id": rows["sub_account_id"],
        "service_name": rows["product_code"] if service is None else service.fillna(rows["product_code"]),
        "region": region,
        "charge_category": _take([CHARGE_CATEGORIES.get(k) for k in kinds], codes, index),
    }
    tag_columns = rows.with_prefix("tag:")
    return Adapted(
        charge_date=day, billed_cost=unblended, billing_currency=currency, checks=checks,
        effective_cost=pd.Series(effective, index=index, dtype="float64"), list_cost=listed,
        dimensions=dimensions,
        tag_columns=tag_columns,
        tags=rows["resource_tags"] if not tag_columns and "resource_tags" in rows else None,
        tag_parser=prefixed_keys("user_"),
        period_text=rows.columns.get("billing_period_start"),  # absent -> None
    )


def _map_values(text: pd.Series, keys: tuple[str, ...]) -> dict[str, pd.Series]:
    """Values of ``keys`` in a column of JSON objects (each distinct text parsed once); null
    where the text is no JSON object or lacks the key."""
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    parsed = [_json_object(t) for t in uniques]
    out = {}
    for key in keys:
        found = [obj.get(key) for obj in parsed]
        out[key] = _take([(str(v).strip() or None) if v is not None else None for v in found], codes, text.index)
    return out


def _take(labels: list, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """Text Series whose row i is ``labels[codes[i]]`` (null where the code is -1), built in Arrow."""
    positions = pa.array(codes, type=pa.int64(), mask=codes < 0)
    return text_series(pa.array(labels, type=pa.string()).take(positions), index)


def _json_object(text: str) -> dict:
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _aws_format(name: str, title: str, which: int, tag_prefix: str) -> BillingFormat:
    """The format of one layout of ``_COLUMNS`` (0: legacy CSV, 1: CUR 2.0): the one adapter, over
    that layout's column names; tag columns are named ``tag_prefix`` + key."""
    columns = _columns(which)

    def adapt(rows: SourceRows, ctx: AdaptContext) -> Adapted:
        return _adapt(rows, ctx, columns)

    return BillingFormat(name=name, title=title, columns=columns, required=REQUIRED, adapt=adapt,
                         case_insensitive=True, prefixes={"tag:": tag_prefix})


AWS_CUR = _aws_format("aws_cur", "AWS CUR (legacy CSV)", 0, tag_prefix="resourceTags/user:")
# a legacy CUR read through Athena and saved as CSV writes one resource_tags_user_<key> column per tag
AWS_CUR2 = _aws_format("aws_cur2", "AWS CUR 2.0", 1, tag_prefix="resource_tags_user_")
