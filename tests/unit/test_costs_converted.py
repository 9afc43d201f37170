"""FX resolution and conversion (transforms/intermediate/costs_converted.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.helpers import stage_daily
from transforms.intermediate.costs_converted import MissingFxRate, convert_costs, resolve_fx_rates
from transforms.money import conserved, exact_total
from transforms.staging.billing import AMOUNTS

FX = pd.DataFrame(
    {
        "month": ["2024-07", "2024-09", "2024-07", "2024-05", "2024-08"],
        "currency": ["EUR", "EUR", "GBP", "JPY", "JPY"],
        "rate": [1.10, 1.12, 1.30, 0.0064, 0.0069],
    }
)


def pairs(*items: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(list(items), columns=["billing_month", "billing_currency"])


@pytest.mark.parametrize(
    "month, currency, rate, source",
    [
        ("2024-09", "EUR", 1.12, "exact"),
        ("2024-07", "EUR", 1.10, "exact"),
        ("2024-08", "EUR", 1.10, "carried_forward:2024-07"),
        ("2024-12", "EUR", 1.12, "carried_forward:2024-09"),  # latest earlier month, not the first
        ("2024-07", "GBP", 1.30, "exact"),
        ("2025-01", "GBP", 1.30, "carried_forward:2024-07"),
        ("2024-06", "JPY", 0.0064, "carried_forward:2024-05"),
        ("2024-08", "JPY", 0.0069, "exact"),
        ("2024-09", "USD", 1.0, "same_currency"),
        ("1999-01", "USD", 1.0, "same_currency"),  # no table needed for the reporting currency
    ],
)
def test_resolve_fx_rates(month, currency, rate, source):
    out = resolve_fx_rates(pairs((month, currency)), FX, "USD")
    assert out.columns.tolist() == ["billing_month", "billing_currency", "fx_rate", "fx_rate_source"]
    assert out.values.tolist() == [[month, currency, rate, source]]


def test_resolve_fx_rates_is_independent_of_table_order():
    shuffled = FX.sample(frac=1.0, random_state=3).reset_index(drop=True)
    p = pairs(("2024-08", "EUR"), ("2024-10", "JPY"), ("2024-09", "EUR"))
    pd.testing.assert_frame_equal(resolve_fx_rates(p, shuffled, "USD"), resolve_fx_rates(p, FX, "USD"))


def test_reporting_currency_other_than_usd():
    usd_rates = pd.DataFrame({"month": ["2024-09"], "currency": ["USD"], "rate": [0.9]})
    out = resolve_fx_rates(pairs(("2024-09", "EUR"), ("2024-09", "USD")), usd_rates, "EUR")
    assert out.values.tolist() == [["2024-09", "EUR", 1.0, "same_currency"], ["2024-09", "USD", 0.9, "exact"]]


@pytest.mark.parametrize(
    "requested, missing_text",
    [
        ([("2024-06", "EUR")], "EUR in 2024-06"),  # before the first EUR rate
        ([("2024-09", "CHF")], "CHF in 2024-09"),  # no CHF rate at all
        ([("2024-09", "CHF"), ("2024-06", "EUR"), ("2024-09", "EUR")], "EUR in 2024-06, CHF in 2024-09"),
    ],
)
def test_missing_fx_rate_names_month_currency_and_the_fix(requested, missing_text):
    with pytest.raises(MissingFxRate) as info:
        resolve_fx_rates(pairs(*requested), FX, "USD")
    message = str(info.value)
    assert message.startswith(f"no FX rate for {missing_text}, and no earlier month's rate to carry forward")
    assert "add a row 'month,currency,rate' to reference/fx_rates.csv" in message
    # only the unresolvable pairs are reported, sorted by month
    assert info.value.missing == tuple(sorted((m, c) for m, c in requested if (m, c) != ("2024-09", "EUR")))


def test_missing_fx_rate_with_empty_table():
    with pytest.raises(MissingFxRate) as info:
        resolve_fx_rates(pairs(("2024-09", "EUR"), ("2024-09", "USD")), pd.DataFrame(columns=["month", "currency", "rate"]), "USD")
    assert info.value.missing == (("2024-09", "EUR"),)


# ------------------------------------------------------------------------------------------
# convert_costs


def _raw_row(i: int) -> dict:
    amount = f"{(i * 7.31) % 97 - 5:.4f}"
    return {"charge_period_start": f"2024-{8 + i % 2:02d}-{1 + i % 20:02d}", "billing_currency": ["USD", "EUR", "GBP"][i % 3],
            "billed_cost": amount, "effective_cost": f"{float(amount) * 0.9:.4f}", "list_cost": f"{float(amount) * 1.2:.4f}",
            "service_name": ["EC2", "S3"][i % 2]}


def staged_daily() -> pd.DataFrame:
    """A realistic stg_billing frame: staged + aggregated rows in three currencies, two months."""
    return stage_daily([_raw_row(i) for i in range(60)])


def test_convert_costs_multiplies_amounts_and_keeps_originals():
    stg = staged_daily()
    out = convert_costs(stg, FX, "USD")
    assert len(out) == len(stg)
    assert (out["reporting_currency"] == "USD").all()
    expected_rate = {
        ("2024-08", "USD"): (1.0, "same_currency"),
        ("2024-09", "USD"): (1.0, "same_currency"),
        ("2024-08", "EUR"): (1.10, "carried_forward:2024-07"),
        ("2024-09", "EUR"): (1.12, "exact"),
        ("2024-08", "GBP"): (1.30, "carried_forward:2024-07"),
        ("2024-09", "GBP"): (1.30, "carried_forward:2024-07"),
    }
    got_rate = {
        (m, c): (r, s)
        for m, c, r, s in out[["billing_month", "billing_currency", "fx_rate", "fx_rate_source"]].drop_duplicates().itertuples(index=False)
    }
    assert got_rate == expected_rate
    for a in AMOUNTS:
        # originals unchanged, in the same row order
        np.testing.assert_array_equal(out[f"{a}_billing_currency"].to_numpy(), stg[a].to_numpy())
        np.testing.assert_array_equal(out[a].to_numpy(), stg[a].to_numpy() * out["fx_rate"].to_numpy())
    assert out["source_rows"].sum() == stg["source_rows"].sum()
    # lineage and grain columns pass through untouched
    pd.testing.assert_frame_equal(out[list(stg.columns.difference(AMOUNTS))], stg[list(stg.columns.difference(AMOUNTS))])


def test_conversion_conserves_totals_per_currency():
    stg = staged_daily()
    out = convert_costs(stg, FX, "USD")
    for (month, cur), grp in out.groupby(["billing_month", "billing_currency"]):
        src = stg[(stg["billing_month"] == month) & (stg["billing_currency"] == cur)]
        rate = grp["fx_rate"].iloc[0]
        assert (grp["fx_rate"] == rate).all()
        for a in AMOUNTS:
            assert exact_total(grp[f"{a}_billing_currency"]) == exact_total(src[a])
            assert conserved(exact_total(src[a] * rate), exact_total(grp[a]), len(grp))
    # USD rows are not changed at all
    usd = out["billing_currency"] == "USD"
    assert (out.loc[usd, "billed_cost"] == out.loc[usd, "billed_cost_billing_currency"]).all()


def test_convert_costs_raises_before_returning_partial_data():
    stg = staged_daily()
    fx_without_gbp = FX[FX["currency"] != "GBP"]
    with pytest.raises(MissingFxRate) as info:
        convert_costs(stg, fx_without_gbp, "USD")
    assert info.value.missing == (("2024-08", "GBP"), ("2024-09", "GBP"))
