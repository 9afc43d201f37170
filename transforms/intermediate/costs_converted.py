"""int_costs_converted: staged costs in the reporting currency.

Conservation law: row count, source rows and every original-currency amount are unchanged; each
reporting amount is exactly the original amount times the recorded ``fx_rate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from transforms.staging.billing import AMOUNTS


@dataclass(frozen=True)
class MissingFxRate(Exception):
    missing: tuple[tuple[str, str], ...]  # (billing_month, currency)

    def __str__(self) -> str:
        pairs = ", ".join(f"{c} in {m}" for m, c in self.missing)
        return (
            f"no FX rate for {pairs}, and no earlier month's rate to carry forward; "
            "add a row 'month,currency,rate' to reference/fx_rates.csv for it"
        )


def resolve_fx_rates(pairs: pd.DataFrame, fx: pd.DataFrame, reporting_currency: str) -> pd.DataFrame:
    """For each (billing_month, billing_currency): the rate and where it came from.

    Same currency: 1. A rate for that month: exact. Otherwise the latest earlier month's rate,
    flagged carried_forward:YYYY-MM. No earlier rate at all: MissingFxRate (never a guess)."""
    rows, missing = [], []
    by_currency = {c: g.sort_values("month") for c, g in fx.groupby("currency")}
    for month, currency in pairs.itertuples(index=False, name=None):
        if currency == reporting_currency:
            rows.append((month, currency, 1.0, "same_currency"))
            continue
        table = by_currency.get(currency)
        earlier = table[table["month"] <= month] if table is not None else None
        if earlier is None or earlier.empty:
            missing.append((month, currency))
            continue
        last = earlier.iloc[-1]
        source = "exact" if last["month"] == month else f"carried_forward:{last['month']}"
        rows.append((month, currency, float(last["rate"]), source))
    if missing:
        raise MissingFxRate(tuple(sorted(missing)))
    return pd.DataFrame(rows, columns=["billing_month", "billing_currency", "fx_rate", "fx_rate_source"])


def convert_costs(stg: pd.DataFrame, fx: pd.DataFrame, reporting_currency: str) -> pd.DataFrame:
    pairs = stg[["billing_month", "billing_currency"]].drop_duplicates()
    rates = resolve_fx_rates(pairs, fx, reporting_currency)
    out = stg.merge(rates, on=["billing_month", "billing_currency"], how="left", validate="many_to_one")
    for a in AMOUNTS:
        out[f"{a}_billing_currency"] = out[a]
        out[a] = out[a] * out["fx_rate"]
    out["reporting_currency"] = reporting_currency
    return out
