"""Billing format detection from a header alone (transforms/staging/formats/)."""

from __future__ import annotations

import pytest

from transforms.staging.formats import FOCUS, GENERIC, describe_expected_headers, detect_format

# Real column lists of FOCUS exports (subset of the spec's columns, in spec order).
FOCUS_1_0 = [
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription",
    "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart", "ConsumedQuantity", "ConsumedUnit",
    "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost", "ListUnitPrice",
    "PricingCategory", "ProviderName", "PublisherName", "RegionId", "RegionName", "ResourceId",
    "ServiceCategory", "ServiceName", "SkuId", "SubAccountId", "SubAccountName", "Tags",
]
FOCUS_1_2 = FOCUS_1_0 + [
    "BillingAccountType", "SubAccountType", "InvoiceId", "PricingCurrency", "ServiceSubcategory",
    "CapacityReservationId",
]
# FOCUS 1.3 deprecates ProviderName/PublisherName in favour of ServiceProviderName/HostProviderName
FOCUS_1_3 = [c for c in FOCUS_1_2 if c not in ("ProviderName", "PublisherName")] + [
    "ServiceProviderName", "HostProviderName",
]

FOCUS_MINIMAL = ["ChargePeriodStart", "BillingCurrency", "BilledCost", "EffectiveCost"]
# canonical column -> FOCUS column of the required columns
MINIMAL_MAPPING = {
    "charge_period_start": "ChargePeriodStart",
    "billing_currency": "BillingCurrency",
    "billed_cost": "BilledCost",
    "effective_cost": "EffectiveCost",
}


@pytest.mark.parametrize("header", [FOCUS_1_0, FOCUS_1_2], ids=["focus-1.0", "focus-1.2"])
def test_focus_1_0_and_1_2_headers_map_every_canonical_column(header):
    fmt, columns = detect_format(header)
    assert fmt is FOCUS
    assert columns == {
        **MINIMAL_MAPPING,
        "billing_period_start": "BillingPeriodStart",
        "provider": "ProviderName",
        "billing_account_id": "BillingAccountId",
        "sub_account_id": "SubAccountId",
        "service_name": "ServiceName",
        "service_category": "ServiceCategory",
        "region": "RegionId",  # RegionId wins over RegionName when both are present
        "charge_category": "ChargeCategory",
        "list_cost": "ListCost",
        "tags": "Tags",
    }


def test_focus_1_3_uses_service_provider_name_for_provider():
    fmt, columns = detect_format(FOCUS_1_3)
    assert fmt is FOCUS
    assert columns["provider"] == "ServiceProviderName"
    # HostProviderName is not a candidate for the provider column
    assert "HostProviderName" not in columns.values()


def test_service_provider_name_wins_when_both_provider_columns_exist():
    fmt, columns = detect_format(FOCUS_MINIMAL + ["ProviderName", "ServiceProviderName"])
    assert fmt is FOCUS
    assert columns["provider"] == "ServiceProviderName"


def test_region_name_is_used_when_region_id_is_absent():
    _, columns = detect_format(FOCUS_MINIMAL + ["RegionName"])
    assert columns["region"] == "RegionName"


def test_minimal_focus_header_maps_only_present_columns():
    fmt, columns = detect_format(list(reversed(FOCUS_MINIMAL)))
    assert fmt is FOCUS
    assert columns == MINIMAL_MAPPING


@pytest.mark.parametrize("missing", FOCUS_MINIMAL)
def test_focus_without_a_required_column_is_not_detected(missing):
    header = [c for c in FOCUS_1_2 if c != missing]
    assert detect_format(header) is None


def test_focus_column_names_are_case_sensitive():
    assert detect_format([c.lower() for c in FOCUS_MINIMAL]) is None


@pytest.mark.parametrize(
    "header",
    [
        ["date", "project", "service", "cost"],
        ["DATE", "Project", "SERVICE", "Cost"],
        ["Date", "PROJECT", "Service", "COST", "Currency", "Account", "Region", "Provider"],
        [" date ", "project", " service", "cost "],
    ],
    ids=["lower", "upper-mixed", "all-optional", "padded"],
)
def test_generic_header_in_any_case_maps_back_to_the_raw_spelling(header):
    fmt, columns = detect_format(header)
    assert fmt is GENERIC
    # every mapped source name is exactly as written in the header, so the reader can select it
    assert set(columns.values()) <= set(header)
    canon = {k: v.strip().lower() for k, v in columns.items()}
    assert canon["charge_period_start"] == "date"
    assert canon["project"] == "project"
    assert canon["service_name"] == "service"
    assert canon["billed_cost"] == "cost"
    if len(header) == 8:
        assert canon["billing_currency"] == "currency"
        assert canon["sub_account_id"] == "account"
        assert canon["region"] == "region"
        assert canon["provider"] == "provider"
    else:
        assert "billing_currency" not in columns


@pytest.mark.parametrize(
    "header, expected_format, canonical, raw_name",
    [
        (["\ufeffChargePeriodStart", "BillingCurrency", "BilledCost", "EffectiveCost"], FOCUS,
         "charge_period_start", "\ufeffChargePeriodStart"),
        (["\ufeffdate", "project", "service", "cost"], GENERIC, "charge_period_start", "\ufeffdate"),
        (["\ufeffDATE", "Project", "Service", "Cost"], GENERIC, "charge_period_start", "\ufeffDATE"),
    ],
)
def test_bom_in_first_header_name_is_ignored_for_detection(header, expected_format, canonical, raw_name):
    fmt, columns = detect_format(header)
    assert fmt is expected_format
    assert columns[canonical] == raw_name


def test_focus_is_preferred_when_a_header_satisfies_both_formats():
    fmt, columns = detect_format(FOCUS_MINIMAL + ["date", "project", "service", "cost"])
    assert fmt is FOCUS
    assert columns["billed_cost"] == "BilledCost"


@pytest.mark.parametrize(
    "header",
    [
        [],
        ["a", "b", "c"],
        ["date", "project", "service"],  # generic without cost
        ["date", "project", "cost", "currency"],  # generic without service
        ["lineItem/UsageStartDate", "lineItem/UnblendedCost", "lineItem/CurrencyCode"],  # AWS CUR
        ["ChargePeriodStart", "BilledCost", "EffectiveCost"],  # FOCUS without BillingCurrency
    ],
)
def test_unknown_header_is_none(header):
    assert detect_format(header) is None


def test_describe_expected_headers_lists_required_columns_of_each_format():
    text = describe_expected_headers()
    assert "FOCUS: needs columns ChargePeriodStart, BillingCurrency, BilledCost, EffectiveCost" in text
    assert "generic: needs columns date, project, service, cost" in text
