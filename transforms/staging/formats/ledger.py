"""General-ledger expense export (SAP-style line items: BSEG/BSIS or ACDOCA flattened to CSV).

A GL line has no day, only a fiscal year and a posting period: it is dated on the first day of
the calendar month of its period (transforms/months.py maps period to month with the configured
fiscal year), so the daily views show a month's GL spend on the 1st. Special periods 13-16
(year-end adjustments) belong to the month of period 12.

Sign: SAP writes S (Soll, debit) or H (Haben, credit) beside the amount. BSEG amounts are
unsigned and take their sign from the indicator; ACDOCA amounts are already signed (credits
negative). A negative amount is therefore taken as already signed (an H credit, or an S negative
posting that reverses a debit); an unsigned amount is a cost on S and a credit on H.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.months import first_day, fiscal_period_month
from transforms.staging.formats.base import AdaptContext, Adapted, BillingFormat, RowChecks, SourceRows
from transforms.staging.parsing import STR, matches, parse_amounts, upper

# Years a pandas day can hold are wider, but no billing month is outside these.
_YEARS = (1700, 2200)
SPECIAL_PERIOD_CATEGORY = "Adjustment"
# canonical dimension <- role, where the column is simply copied
_DIMENSION_ROLES = (
    ("provider", "supplier"), ("vendor", "supplier"), ("billing_account_id", "entity"), ("region", "region"),
    ("cost_center", "cost_center"), ("cost_center_name", "cost_center_name"), ("profit_center", "profit_center"),
    ("profit_center_name", "profit_center_name"), ("directorate", "directorate"), ("functional_area", "functional_area"),
    ("functional_area_name", "functional_area_name"), ("gl_account", "gl_account"), ("gl_account_name", "gl_account_name"),
)


def _period_days(key: np.ndarray, start_month: int, named_by: str) -> np.ndarray:
    """First day of the calendar month of each key year * 100 + period (0: no valid period, NaT),
    worked out once per distinct key: a GL export has millions of lines but few periods."""
    codes, uniques = pd.factorize(key)
    days = np.full(len(uniques) + 1, np.datetime64("NaT"), dtype="datetime64[ns]")
    for i, k in enumerate(uniques):
        year, period = divmod(int(k), 100)
        if period and _YEARS[0] <= year <= _YEARS[1]:  # else no supported month: date_out_of_range
            days[i] = np.datetime64(first_day(fiscal_period_month(year, period, start_month, named_by)), "ns")
    return days[codes]  # code -1 (none here) would take the trailing NaT


def adapt_general_ledger(rows: SourceRows, ctx: AdaptContext) -> Adapted:
    checks = RowChecks(rows.index, ctx)

    # dates: fiscal year + posting period ("1", "01" as BKPF MONAT, "001" as ACDOCA POPER)
    year_text, period_text = rows["fiscal_year"], rows["posting_period"]
    period = parse_amounts(period_text).where(matches(period_text, r"^[0-9]{1,3}$"))
    year_ok = matches(year_text, r"^[0-9]{4}$")
    period_ok = period.between(1, 16)
    checks.flag(~year_ok, "invalid_fiscal_period", "fiscal_year")
    checks.flag(~period_ok, "invalid_fiscal_period", "posting_period")
    valid = year_ok & period_ok
    period_int = period.where(valid, 0).astype("int64")
    key = parse_amounts(year_text).where(valid, 0).astype("int64") * 100 + period_int
    days = _period_days(key.to_numpy(), ctx.fiscal_year_start_month, ctx.fiscal_year_named_by)
    day = pd.Series(days, index=rows.index)
    checks.flag(valid & ~checks.in_range(day), "date_out_of_range", "fiscal_year")

    # amount, signed by the debit/credit indicator
    value = checks.amount(rows, "amount")
    currency = checks.currency(rows, "billing_currency")
    indicator = upper(rows["debit_credit"])
    checks.flag(~indicator.isin(["S", "H"]), "invalid_debit_credit", "debit_credit")
    credit = (indicator == "H").to_numpy(dtype=bool, na_value=False)
    unsigned = value.abs()
    cost = pd.Series(np.where(value < 0, value, np.where(credit, -unsigned, unsigned)), index=rows.index)

    category = np.select(
        [(period_int > 12).to_numpy(), (cost < 0).to_numpy()], [SPECIAL_PERIOD_CATEGORY, "Credit"], "Purchase"
    )
    dimensions = {"charge_category": pd.Series(category, index=rows.index, dtype=STR)}
    for dimension, role in _DIMENSION_ROLES:
        if role in rows:
            dimensions[dimension] = rows[role]
    if "gl_account_name" in rows or "gl_account" in rows:  # what the money was for: the account
        name, number = rows["gl_account_name"], rows["gl_account"]
        dimensions["service_name"] = name.where(name.notna(), number)
    return Adapted(
        charge_date=day, billed_cost=cost, billing_currency=currency, checks=checks,
        effective_cost=cost, list_cost=cost,
        dimensions=dimensions,
    )


GENERAL_LEDGER = BillingFormat(
    name="general_ledger",
    title="general-ledger expense export (SAP-style)",
    columns={
        "fiscal_year": ("general_ledger_fiscal_year",),
        "posting_period": ("posting_period",),
        "amount": ("company_code_currency_value",),
        "debit_credit": ("debit_credit_ind",),
        "billing_currency": ("company_code_currency_key", "currency"),
        "cost_center": ("cost_center_id",),
        "cost_center_name": ("cost_center_name",),
        "profit_center": ("profit_center_id",),
        "profit_center_name": ("profit_center_name",),
        "directorate": ("directorate",),
        "functional_area": ("functional_area",),
        "functional_area_name": ("functional_area_name",),
        "gl_account": ("general_ledger_account",),
        "gl_account_name": ("general_ledger_account_name",),
        "supplier": ("supplier",),
        "entity": ("entity",),
        "region": ("region",),
        # read only so that a quarantined row shows it in raw_values; too fine for the daily grain
        "document_header_text": ("document_header_text",),
    },
    required=("fiscal_year", "posting_period", "amount", "debit_credit"),
    case_insensitive=True,
    adapt=adapt_general_ledger,
)
