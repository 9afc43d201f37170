"""FOCUS (1.0-1.2, 1.3 names tolerated) and the generic date,project,service,cost layout."""

from __future__ import annotations

from transforms.staging.formats.base import AdaptContext, Adapted, BillingFormat, RowChecks, SourceRows
from transforms.staging.formats.tags import json_object

FOCUS_DIMENSIONS = (
    "provider", "billing_account_id", "sub_account_id", "service_name", "service_category", "region",
    "charge_category",
)


def adapt_focus(rows: SourceRows, ctx: AdaptContext) -> Adapted:
    checks = RowChecks(rows.index, ctx)
    day = checks.date(rows, "charge_period_start")
    billed = checks.amount(rows, "billed_cost")
    effective = checks.amount(rows, "effective_cost", required=False)
    listed = checks.amount(rows, "list_cost", required=False)
    currency = checks.currency(rows, "billing_currency")
    return Adapted(
        charge_date=day, billed_cost=billed, billing_currency=currency, checks=checks,
        effective_cost=effective, list_cost=listed,
        dimensions={d: rows[d] for d in FOCUS_DIMENSIONS if d in rows},
        tags=rows.get("tags"), tag_parser=json_object, period_text=rows.get("billing_period_start"),
    )


FOCUS = BillingFormat(
    name="focus",
    title="FOCUS",
    columns={
        "charge_period_start": ("ChargePeriodStart",),
        "billing_period_start": ("BillingPeriodStart",),
        # FOCUS 1.3 renamed ProviderName to ServiceProviderName; accept both
        "provider": ("ServiceProviderName", "ProviderName"),
        "billing_account_id": ("BillingAccountId",),
        "sub_account_id": ("SubAccountId",),
        "service_name": ("ServiceName",),
        "service_category": ("ServiceCategory",),
        "region": ("RegionId", "RegionName"),
        "charge_category": ("ChargeCategory",),
        "billing_currency": ("BillingCurrency",),
        "billed_cost": ("BilledCost",),
        "effective_cost": ("EffectiveCost",),
        "list_cost": ("ListCost",),
        "tags": ("Tags",),
    },
    required=("charge_period_start", "billing_currency", "billed_cost", "effective_cost"),
    adapt=adapt_focus,
)


def adapt_generic(rows: SourceRows, ctx: AdaptContext) -> Adapted:
    checks = RowChecks(rows.index, ctx)
    day = checks.date(rows, "charge_period_start")
    cost = checks.amount(rows, "billed_cost")
    # files without a currency column are in the reporting currency
    currency = checks.currency(rows, "billing_currency")
    return Adapted(
        charge_date=day, billed_cost=cost, billing_currency=currency, checks=checks,
        dimensions={d: rows[d] for d in ("provider", "sub_account_id", "service_name", "region") if d in rows},
        project=rows["project"],
    )


GENERIC = BillingFormat(
    name="generic",
    title="generic",
    columns={
        "charge_period_start": ("date",),
        "project": ("project",),
        "service_name": ("service",),
        "billed_cost": ("cost",),
        "billing_currency": ("currency",),
        "sub_account_id": ("account",),
        "region": ("region",),
        "provider": ("provider",),
    },
    required=("charge_period_start", "project", "service_name", "billed_cost"),
    case_insensitive=True,
    adapt=adapt_generic,
)
