"""Billing export formats, recognised from a file's header alone.

Each format maps its source columns onto the canonical cost schema (snake_case FOCUS, see
docs/formats.md). Detection is by column names, never by file name, so exports can be renamed
or nested in any folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BillingFormat:
    name: str
    # canonical column -> candidate source columns, first present wins (covers FOCUS renames)
    columns: dict[str, tuple[str, ...]]
    required: tuple[str, ...]  # canonical columns whose source must be present
    case_insensitive: bool = False
    defaults: dict[str, str] = field(default_factory=dict)

    def resolve(self, header: list[str]) -> dict[str, str] | None:
        """Map canonical column -> actual header name, or None when a required column is absent."""
        lookup = {(h.lower() if self.case_insensitive else h): h for h in header}
        resolved: dict[str, str] = {}
        for canonical, candidates in self.columns.items():
            for candidate in candidates:
                key = candidate.lower() if self.case_insensitive else candidate
                if key in lookup:
                    resolved[canonical] = lookup[key]
                    break
        if all(c in resolved for c in self.required):
            return resolved
        return None


FOCUS = BillingFormat(
    name="focus",
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
)

GENERIC = BillingFormat(
    name="generic",
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
)

FORMATS: tuple[BillingFormat, ...] = (FOCUS, GENERIC)


def detect_format(header: list[str]) -> tuple[BillingFormat, dict[str, str]] | None:
    """The first format whose required columns are all in ``header``, with its column map."""
    cleaned = [h.strip().lstrip("\ufeff") for h in header]
    for fmt in FORMATS:
        resolved = fmt.resolve(cleaned)
        if resolved is not None:
            # map back to the raw header spelling so the reader can select the columns
            raw = {c: header[cleaned.index(h)] for c, h in resolved.items()}
            return fmt, raw
    return None


def describe_expected_headers() -> str:
    """One line per format, for the 'unknown header' error message."""
    lines = []
    for fmt in FORMATS:
        req = [fmt.columns[c][0] for c in fmt.required]
        lines.append(f"{fmt.name}: needs columns {', '.join(req)}")
    return "; ".join(lines)
