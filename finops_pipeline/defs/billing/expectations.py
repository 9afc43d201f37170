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


def _all_months_suite():
    """The month suites' expectations at once for several months: the date check becomes a
    column computed per month (charge_date inside that month's first and last day)."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name="stg_billing_months")
    for column in KEY_COLUMNS:
        suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(
        gx.expectations.ExpectColumnValuesToBeInSet(column="billing_currency", value_set=sorted(ISO_4217_CODES))
    )
    suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInSet(column=IN_MONTH, value_set=[True]))
    for column in AMOUNT_COLUMNS:
        suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column=column))
        suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInTypeList(column=column, type_list=["float64", "Float64"]))
    return suite


IN_MONTH = "_charge_date_in_month"


def _prepared(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns the suites check (a copy of those only), amounts as numbers."""
    data = frame[list(dict.fromkeys(KEY_COLUMNS + AMOUNT_COLUMNS))].assign(charge_date=pd.to_datetime(frame["charge_date"]))
    for column in AMOUNT_COLUMNS:
        data[column] = pd.to_numeric(data[column], errors="coerce")  # non-numbers become null and fail
    return data


def _in_month(data: pd.DataFrame, month: str) -> pd.Series:
    start = pd.Timestamp(f"{month}-01")
    return (data["charge_date"] >= start) & (data["charge_date"] <= start + pd.offsets.MonthEnd(0))


def validate_stg_billing(frames: dict[str, pd.DataFrame]) -> dict[str, list[str]]:
    """Failed expectations per month (an empty list means the month passed).

    Several months are first validated together, in one Great Expectations run (its overhead is
    per validation: ~1 s a month). That suite holds exactly when every month's own suite does;
    only if it fails is each month validated on its own, for the per-month failures."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("finops").add_dataframe_asset("stg_billing").add_batch_definition_whole_dataframe("month")
    )
    prepared = {month: _prepared(frame) for month, frame in frames.items() if not frame.empty}
    failures: dict[str, list[str]] = {month: [] for month in frames}
    dtypes = {tuple(data.dtypes.astype(str)) for data in prepared.values()}
    if len(prepared) > 1 and len(dtypes) == 1:  # one dtype per column: concatenating changes no dtype
        together = pd.concat([data.assign(**{IN_MONTH: _in_month(data, month)}) for month, data in prepared.items()],
                             ignore_index=True)
        if not _failures(batch_definition, together, _all_months_suite()):
            return failures
    for month, data in prepared.items():
        failures[month] = _failures(batch_definition, data, _suite(month))
    return failures


def _failures(batch_definition, data: pd.DataFrame, suite) -> list[str]:
    result = batch_definition.get_batch(batch_parameters={"dataframe": data}).validate(suite)
    return [
        f"{r.expectation_config.type}({r.expectation_config.kwargs.get('column')}): "
        f"{r.result.get('unexpected_count', r.result.get('observed_value'))} unexpected, e.g. "
        f"{(r.result.get('partial_unexpected_list') or [])[:3]}"
        for r in result.results
        if not r.success
    ]
