"""Great Expectations suite for stg_billing, run on each month before it is written."""

from __future__ import annotations

import logging

import pandas as pd

from transforms.currencies import ISO_4217_CODES

KEY_COLUMNS = ("charge_date", "billing_month", "project", "billing_currency", "source_file")
AMOUNT_COLUMNS = ("billed_cost", "effective_cost", "list_cost")


def _suite(month: str):
    import great_expectations as gx

    start = pd.Timestamp(f"{month}-01")
    end = start + pd.offsets.MonthEnd(0)
    suite = gx.ExpectationSuite(name=f"stg_billing_{month}")
    for column in KEY_COLUMNS:
        suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(
        gx.expectations.ExpectColumnValuesToBeInSet(column="billing_currency", value_set=sorted(ISO_4217_CODES))
    )
    suite.add_expectation(gx.expectations.ExpectColumnValuesToBeBetween(column="charge_date", min_value=start, max_value=end))
    for column in AMOUNT_COLUMNS:
        suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column=column))
        suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInTypeList(column=column, type_list=["float64", "Float64"]))
    return suite


def validate_stg_billing(frames: dict[str, pd.DataFrame]) -> dict[str, list[str]]:
    """Failed expectations per month (an empty list means the month passed)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("finops").add_dataframe_asset("stg_billing").add_batch_definition_whole_dataframe("month")
    )
    failures: dict[str, list[str]] = {}
    for month, frame in frames.items():
        if frame.empty:
            failures[month] = []
            continue
        data = frame.assign(charge_date=pd.to_datetime(frame["charge_date"]))
        for column in AMOUNT_COLUMNS:
            data[column] = pd.to_numeric(data[column], errors="coerce")  # non-numbers become null and fail
        result = batch_definition.get_batch(batch_parameters={"dataframe": data}).validate(_suite(month))
        failures[month] = [
            f"{r.expectation_config.type}({r.expectation_config.kwargs.get('column')}): "
            f"{r.result.get('unexpected_count', r.result.get('observed_value'))} unexpected, e.g. "
            f"{(r.result.get('partial_unexpected_list') or [])[:3]}"
            for r in result.results
            if not r.success
        ]
    return failures
