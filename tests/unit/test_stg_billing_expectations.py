"""The stg_billing expectations: several months are screened in one validation, and a month that
fails gets exactly the failures its own suite reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finops_pipeline.defs.billing.expectations import validate_stg_billing

pytest.importorskip("great_expectations")


def _month(month: str, days: int = 3) -> pd.DataFrame:
    dates = pd.date_range(f"{month}-01", periods=days, freq="D")
    return pd.DataFrame({
        "charge_date": dates,
        "billing_month": month,
        "project": "checkout",
        "billing_currency": "USD",
        "source_file": "aws/focus.csv",
        "billed_cost": np.arange(days, dtype="float64"),
        "effective_cost": np.arange(days, dtype="float64"),
        "list_cost": np.arange(days, dtype="float64"),
    })


def test_valid_months_pass_together():
    frames = {m: _month(m) for m in ("2024-01", "2024-02", "2024-03")}
    frames["2024-04"] = _month("2024-04").iloc[0:0]
    assert validate_stg_billing(frames) == {m: [] for m in frames}


@pytest.mark.parametrize("spoil", ["date_outside_month", "null_amount", "bad_currency", "null_project"])
def test_a_failing_month_gets_its_own_failures(spoil):
    bad = _month("2024-02")
    if spoil == "date_outside_month":
        bad.loc[1, "charge_date"] = pd.Timestamp("2024-03-01")  # the last day of February is fine, March 1 is not
        bad.loc[2, "charge_date"] = pd.Timestamp("2024-02-29")
    elif spoil == "null_amount":
        bad.loc[0, "effective_cost"] = np.nan
    elif spoil == "bad_currency":
        bad.loc[2, "billing_currency"] = "XXY"
    else:
        bad.loc[0, "project"] = None
    frames = {"2024-01": _month("2024-01"), "2024-02": bad, "2024-03": _month("2024-03")}
    result = validate_stg_billing(frames)
    assert result["2024-01"] == [] and result["2024-03"] == []
    assert result["2024-02"], spoil
    assert result["2024-02"] == validate_stg_billing({"2024-02": bad})["2024-02"]  # as if validated alone


def test_months_with_different_dtypes_are_validated_one_by_one():
    ints = _month("2024-02").astype({"list_cost": "int64"})  # an amount column that is not float64 fails
    result = validate_stg_billing({"2024-01": _month("2024-01"), "2024-02": ints})
    assert result["2024-01"] == []
    assert result["2024-02"] == ["expect_column_values_to_be_in_type_list(list_cost): int64 unexpected, e.g. []"]
