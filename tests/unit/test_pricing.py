"""Chargeback rate card: staging reference/pricing.csv and applying it (transforms/staging/pricing.py, transforms/marts/chargeback.py).

Frames are built the way finops_pipeline/ingest/reference.py reads the CSVs: every value is
text, and an empty cell is the empty string (keep_default_na=False). Row index i is line i + 2.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from transforms.marts.chargeback import chargeback_cost, markup_pct_for
from transforms.staging.pricing import stage_pricing

COLUMNS = ["service", "markup_pct", "start", "end"]


def text_frame(columns: list[str], rows: list[list[str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns, dtype=object)


def rate_card(rows: list[list[str]]) -> pd.DataFrame:
    """reference/pricing.csv as read: service,markup_pct,start,end rows of text."""
    return text_frame(COLUMNS, rows)


def pricing(rows: list[list[str]]) -> pd.DataFrame:
    """Staged pricing from service,markup_pct,start,end rows that must have no problem."""
    staged, problems = stage_pricing(rate_card(rows))
    assert problems == []
    return staged


def days(*texts: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(texts)), dtype="datetime64[ns]")


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


# ------------------------------------------------------------------------------------------
# staging: shape and header


def test_stage_pricing_types_and_sort_order():
    staged = pricing([
        ["storage", "10", "2024-07-01", ""],
        ["compute", "-5.5", "", ""],
        ["storage", "8", "", "2024-06-30"],
        ["*", "15", "", ""],
    ])
    assert list(staged.columns) == COLUMNS
    assert staged["service"].dtype == "str"
    assert staged["markup_pct"].dtype == "float64"
    assert staged["start"].dtype == "datetime64[ns]" and staged["end"].dtype == "datetime64[ns]"
    # sorted by service ("*" first), then start (an open start first)
    assert staged["service"].tolist() == ["*", "compute", "storage", "storage"]
    assert staged["markup_pct"].tolist() == [15.0, -5.5, 8.0, 10.0]
    assert staged["start"].isna().tolist() == [True, True, True, False]
    assert staged.at[3, "start"] == ts("2024-07-01")
    assert staged.at[2, "end"] == ts("2024-06-30")
    assert staged["end"].isna().tolist() == [True, True, False, True]


@pytest.mark.parametrize(
    "columns",
    [
        ["service", "markup_pct", "start", "end"],
        [" Service ", "MARKUP_PCT", " Start", "END "],
        ["SERVICE", " Markup_Pct "],  # start and end are optional
        ["markup_pct", "service", "comment"],  # any order, extra columns ignored
    ],
)
def test_header_variants(columns):
    values = {"service": " compute ", "markup_pct": " 12.5 ", "start": "", "end": "", "comment": "hi"}
    raw = text_frame(columns, [[values[c.strip().lower()] for c in columns]])
    staged, problems = stage_pricing(raw)
    assert problems == []
    assert staged["service"].tolist() == ["compute"]
    assert staged["markup_pct"].tolist() == [12.5]
    assert staged["start"].isna().all() and staged["end"].isna().all()
    assert list(staged.columns) == COLUMNS


@pytest.mark.parametrize(
    "columns, missing",
    [(["service"], "markup_pct"), (["markup_pct", "start"], "service"), (["name", "pct"], "service, markup_pct")],
)
def test_missing_columns(columns, missing):
    staged, problems = stage_pricing(text_frame(columns, [["x"] * len(columns)]))
    assert staged.empty
    assert list(staged.columns) == COLUMNS
    assert problems == [(None, f"missing column(s) {missing}; the header must include service, markup_pct")]


def test_header_only_file_is_an_empty_rate_card():
    staged, problems = stage_pricing(text_frame(["service", "markup_pct"], []))
    assert problems == [] and staged.empty
    assert staged["markup_pct"].dtype == "float64" and staged["start"].dtype == "datetime64[ns]"


# ------------------------------------------------------------------------------------------
# staging: per-row problems


def test_row_problems_carry_the_row_index_and_the_fix():
    raw = rate_card([
        ["compute", "15", "", ""],  # 0 ok
        ["", "10", "", ""],  # 1 empty service
        ["storage", "abc", "", ""],  # 2 not a number
        ["storage", "15%", "", ""],  # 3 percent sign
        ["storage", "", "", ""],  # 4 empty
        ["storage", "-100", "", ""],  # 5 a 100 % discount is not allowed
        ["storage", "-150", "", ""],  # 6 below -100
        ["storage", "inf", "", ""],  # 7 not finite
        ["storage", "nan", "", ""],  # 8 not finite
        ["network", "5", "2024-02-30", ""],  # 9 not a real day
        ["network", "5", "2024/01/01", ""],  # 10 not ISO
        ["network", "5", "", "2024-1-31"],  # 11 not YYYY-MM-DD
        ["network", "5", "", "2024-01-31T00:00"],  # 12 a timestamp, not a date
        ["network", "5", "2024-03-02", "2024-03-01"],  # 13 start after end
        ["network", "-99.5", "2024-03-01", "2024-03-01"],  # 14 ok: a one-day window, 99.5 % discount
    ])
    staged, problems = stage_pricing(raw)
    assert [i for i, _ in problems] == list(range(1, 14))
    msg = dict(problems)
    assert msg[1] == "empty service; write the service_name the markup applies to, or * for the default markup"
    assert msg[2] == (
        "markup_pct 'abc' must be a finite number greater than -100 (a percent without the % sign: 15 means +15 %, -10 a 10 % discount)"
    )
    assert "'15%'" in msg[3] and "without the % sign" in msg[3]
    assert "None" in msg[4] and "greater than -100" in msg[4]
    for i in (5, 6, 7, 8):
        assert "must be a finite number greater than -100" in msg[i]
    assert msg[9] == "start '2024-02-30' is not a date; write it as YYYY-MM-DD, or leave it empty for no start"
    assert msg[10] == "start '2024/01/01' is not a date; write it as YYYY-MM-DD, or leave it empty for no start"
    assert msg[11] == "end '2024-1-31' is not a date; write it as YYYY-MM-DD, or leave it empty for no end"
    assert msg[12].startswith("end '2024-01-31T00:00' is not a date")
    assert msg[13] == "start 2024-03-02 is after end 2024-03-01; swap them (both days are inclusive, start may equal end)"
    # rows with a problem are dropped
    assert staged["service"].tolist() == ["compute", "network"]
    assert staged["markup_pct"].tolist() == [15.0, -99.5]


# ------------------------------------------------------------------------------------------
# staging: overlapping windows of one service


def test_duplicate_service_without_windows_overlaps():
    raw = text_frame(["service", "markup_pct"], [["compute", "10"], ["storage", "5"], ["compute", "12"]])
    staged, problems = stage_pricing(raw)
    assert problems == [
        (
            2,
            "service 'compute' window open start to open end overlaps line 2 (open start to open end); "
            "make the windows disjoint with start/end, or delete one of the rows",
        )
    ]
    # the first row in the file is kept
    assert staged.values.tolist()[0][:2] == ["compute", 10.0]
    assert staged["service"].tolist() == ["compute", "storage"]


def test_two_default_rows_overlap_too():
    _, problems = stage_pricing(text_frame(["service", "markup_pct"], [["*", "10"], ["*", "12"]]))
    assert [i for i, _ in problems] == [1]
    assert "service '*'" in problems[0][1] and "overlaps line 2" in problems[0][1]


@pytest.mark.parametrize(
    "first, second, other",
    [
        # sharing a single boundary day (end is inclusive)
        (["2024-01-01", "2024-01-31"], ["2024-01-31", "2024-02-29"], "2024-01-01 to 2024-01-31"),
        # one inside the other
        (["2024-01-01", "2024-12-31"], ["2024-03-01", "2024-03-31"], "2024-01-01 to 2024-12-31"),
        # open end vs a later window
        (["2024-01-01", ""], ["2025-01-01", "2025-01-31"], "2024-01-01 to open end"),
        # open start vs an earlier window
        (["", "2024-06-30"], ["2023-01-01", "2023-01-31"], "open start to 2024-06-30"),
        # open start vs open end that meet in the middle
        (["", "2024-06-30"], ["2024-06-30", ""], "open start to 2024-06-30"),
        # fully open vs any window
        (["", ""], ["2024-06-01", "2024-06-01"], "open start to open end"),
    ],
)
def test_overlapping_windows_are_a_problem_naming_both_lines(first, second, other):
    raw = rate_card([["storage", "10", *first], ["compute", "3", "", ""], ["storage", "20", *second]])
    staged, problems = stage_pricing(raw)
    assert len(problems) == 1
    index, message = problems[0]
    assert index == 2  # the later row: its own line (4) comes from the caller
    assert f"overlaps line 2 ({other}); make the windows disjoint" in message
    assert message.startswith("service 'storage' window ")
    assert staged[staged["service"] == "storage"]["markup_pct"].tolist() == [10.0]


def test_overlap_names_the_first_line_it_overlaps():
    raw = rate_card([
        ["db", "1", "2024-01-01", "2024-01-31"],
        ["db", "2", "2024-02-01", "2024-02-29"],
        ["db", "3", "2024-01-15", "2024-02-15"],  # overlaps both; names line 2
    ])
    _, problems = stage_pricing(raw)
    assert [i for i, _ in problems] == [2]
    assert "overlaps line 2 (2024-01-01 to 2024-01-31)" in problems[0][1]


def test_adjacent_and_disjoint_windows_are_fine():
    staged = pricing([
        ["db", "3", "2024-02-01", ""],
        ["db", "1", "", "2023-12-31"],
        ["db", "2", "2024-01-01", "2024-01-31"],
        ["cache", "2", "2024-01-01", "2024-01-31"],  # another service may reuse the window
    ])
    db = staged[staged["service"] == "db"]
    assert db["markup_pct"].tolist() == [1.0, 2.0, 3.0]  # open start first, then by start


def test_a_row_with_a_problem_does_not_cause_an_overlap():
    raw = text_frame(["service", "markup_pct"], [["db", "oops"], ["db", "7"]])
    staged, problems = stage_pricing(raw)
    assert [i for i, _ in problems] == [0]
    assert staged["markup_pct"].tolist() == [7.0]


# ------------------------------------------------------------------------------------------
# markup_pct_for


def test_window_boundaries_are_inclusive():
    rules = pricing([["db", "10", "2024-03-01", "2024-03-31"]])
    dates = days("2024-02-29", "2024-03-01", "2024-03-15", "2024-03-31", "2024-04-01")
    got = markup_pct_for(dates, pd.Series(["db"] * 5), rules)
    assert got.tolist() == [0.0, 10.0, 10.0, 10.0, 0.0]
    assert got.dtype == "float64" and got.name == "markup_pct"


def test_open_sides_of_a_window():
    rules = pricing([["db", "4", "", "2024-03-31"], ["db", "6", "2024-04-01", ""]])
    dates = days("1999-01-01", "2024-03-31", "2024-04-01", "2099-12-31")
    assert markup_pct_for(dates, pd.Series(["db"] * 4), rules).tolist() == [4.0, 4.0, 6.0, 6.0]


def test_timestamps_count_by_their_day():
    rules = pricing([["db", "10", "2024-03-01", "2024-03-31"]])
    dates = pd.Series(pd.to_datetime(["2024-03-31 23:59:59", "2024-04-01 00:00:00", "2024-02-29 23:00:00"]))
    assert markup_pct_for(dates, pd.Series(["db"] * 3), rules).tolist() == [10.0, 0.0, 0.0]
    # zoned timestamps count by their UTC day
    zoned = pd.Series(pd.to_datetime(["2024-03-31 23:30:00+00:00", "2024-04-01 01:00:00+02:00"], utc=True))
    assert markup_pct_for(zoned, pd.Series(["db"] * 2), rules).tolist() == [10.0, 10.0]


def test_python_dates_in_an_object_column():
    rules = pricing([["db", "10", "2024-03-01", "2024-03-31"]])
    dates = pd.Series([dt.date(2024, 2, 29), dt.date(2024, 3, 1), dt.date(2024, 3, 31), dt.date(2024, 4, 1)], dtype=object)
    assert markup_pct_for(dates, pd.Series(["db"] * 4), rules).tolist() == [0.0, 10.0, 10.0, 0.0]


def test_specific_service_wins_over_default_only_inside_its_window():
    rules = pricing(
        [
            ["*", "15", "", ""],
            ["db", "5", "2024-03-01", "2024-03-31"],
            ["gpu", "-20", "", ""],
        ]
    )
    dates = days("2024-02-29", "2024-03-01", "2024-03-31", "2024-04-01", "2024-03-10", "2024-03-10")
    services = pd.Series(["db", "db", "db", "db", "gpu", "web"])
    got = markup_pct_for(dates, services, rules)
    # db outside its window falls back to *; gpu has its own open rule; web only has *
    assert got.tolist() == [15.0, 5.0, 5.0, 15.0, -20.0, 15.0]


def test_default_with_its_own_windows():
    rules = pricing([["*", "10", "", "2024-06-30"], ["*", "12", "2024-07-01", ""], ["db", "0", "2024-07-01", ""]])
    dates = days("2024-06-30", "2024-07-01", "2024-06-30", "2024-07-01")
    services = pd.Series(["web", "web", "db", "db"])
    # db's own 0 % row from July wins over the * 12 %: an explicit 0 is "no markup"
    assert markup_pct_for(dates, services, rules).tolist() == [10.0, 12.0, 10.0, 0.0]


def test_service_match_is_exact():
    rules = pricing([["Compute Engine", "10", "", ""]])
    services = pd.Series(["Compute Engine", "compute engine", "Compute Engine ", "Compute"])
    assert markup_pct_for(days(*["2024-01-01"] * 4), services, rules).tolist() == [10.0, 0.0, 0.0, 0.0]


def test_missing_service_name_gets_only_the_default():
    rules = pricing([["*", "15", "", ""], ["db", "5", "", ""]])
    services = pd.Series(["db", np.nan, None], dtype=object)
    assert markup_pct_for(days(*["2024-01-01"] * 3), services, rules).tolist() == [5.0, 15.0, 15.0]
    # also with pandas' str dtype, and with no default: 0
    services = pd.Series(["db", np.nan], dtype="str")
    assert markup_pct_for(days("2024-01-01", "2024-01-01"), services, rules).tolist() == [5.0, 15.0]
    assert markup_pct_for(days("2024-01-01"), pd.Series([np.nan], dtype="str"), pricing([["db", "5", "", ""]])).tolist() == [0.0]


def test_no_rule_applies_is_zero():
    rules = pricing([["db", "5", "2024-01-01", "2024-01-31"]])
    got = markup_pct_for(days("2024-01-15", "2024-01-15", "2024-02-01"), pd.Series(["web", "db", "db"]), rules)
    assert got.tolist() == [0.0, 5.0, 0.0]


def test_missing_charge_date_only_gets_an_open_rule():
    rules = pricing([["*", "15", "", ""], ["db", "5", "2024-01-01", ""]])
    dates = pd.Series([pd.NaT, pd.Timestamp("2024-01-02")], dtype="datetime64[ns]")
    assert markup_pct_for(dates, pd.Series(["db", "db"]), rules).tolist() == [15.0, 5.0]


def test_result_keeps_the_cost_frame_index():
    rules = pricing([["db", "5", "", ""]])
    index = pd.Index([10, 7, 3])
    got = markup_pct_for(
        pd.Series(days("2024-01-01", "2024-01-01", "2024-01-01").to_numpy(), index=index),
        pd.Series(["db", "web", "db"], index=index),
        rules,
    )
    assert got.index.equals(index)
    assert got.tolist() == [5.0, 0.0, 5.0]


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="rows"):
        markup_pct_for(days("2024-01-01"), pd.Series(["db", "web"]), pricing([["db", "5", "", ""]]))


# ------------------------------------------------------------------------------------------
# no pricing


def test_no_pricing_is_zero_markup_and_chargeback_equals_effective():
    empty, problems = stage_pricing(rate_card([]))
    assert problems == []
    effective = pd.Series([100.0, 0.1, -7.25, 0.0, 1e-12, 123456.789])
    dates = days(*["2024-01-01"] * 6)
    pct = markup_pct_for(dates, pd.Series(["a", "b", "c", None, "e", "f"], dtype=object), empty)
    assert pct.tolist() == [0.0] * 6
    charge = chargeback_cost(effective, pct)
    assert charge.tolist() == effective.tolist()
    assert np.array_equal(charge.to_numpy(), effective.to_numpy())  # exactly, not approximately
    assert charge.name == "chargeback_cost"


def test_empty_cost_frame():
    got = markup_pct_for(pd.Series([], dtype="datetime64[ns]"), pd.Series([], dtype="str"), pricing([["*", "15", "", ""]]))
    assert got.empty and got.dtype == "float64"


# ------------------------------------------------------------------------------------------
# chargeback_cost


def test_chargeback_cost_hand_computed():
    effective = pd.Series([100.0, 200.0, 80.0, 10.0, 50.0])
    pct = pd.Series([15.0, -10.0, 0.0, 2.5, -99.5])
    got = chargeback_cost(effective, pct)
    # 100 * 1.15 = 115; 200 * 0.9 = 180; 80 * 1 = 80; 10 * 1.025 = 10.25; 50 * 0.005 = 0.25
    assert got.tolist() == pytest.approx([115.0, 180.0, 80.0, 10.25, 0.25])
    assert got[0] == 115.0 and got[1] == 180.0  # the markup is added on top, no 114.99999999999999


def test_credits_get_the_same_markup():
    effective = pd.Series([-100.0, 100.0, -40.0])
    pct = pd.Series([15.0, 15.0, -10.0])
    # a credit stays a credit and grows with the markup: -100 * 1.15 = -115; -40 * 0.9 = -36
    assert chargeback_cost(effective, pct).tolist() == pytest.approx([-115.0, 115.0, -36.0])


def test_chargeback_does_not_change_its_inputs():
    effective = pd.Series([100.0, 0.1])
    pct = pd.Series([15.0, 0.0])
    before = effective.copy()
    chargeback_cost(effective, pct)
    assert effective.equals(before)


def test_zero_markup_is_bitwise_identical():
    effective = pd.Series([0.1 + 0.2, 1 / 3, -0.0, np.nan, 1e308])
    got = chargeback_cost(effective, pd.Series([0.0] * 5))
    assert np.array_equal(got.to_numpy(), effective.to_numpy(), equal_nan=True)
    assert np.signbit(got[2])  # even -0.0 is kept as it is


def test_chargeback_requires_one_index():
    with pytest.raises(ValueError, match="same index"):
        chargeback_cost(pd.Series([1.0, 2.0], index=[0, 1]), pd.Series([5.0, 5.0], index=[1, 2]))


def test_end_to_end_with_a_cost_frame():
    raw = text_frame(
        [" Service", "Markup_Pct ", "START", "end"],
        [["*", "10", "", ""], ["BigQuery", "-5", "2024-09-01", "2024-09-30"]],
    )
    rules, problems = stage_pricing(raw)
    assert problems == []
    costs = pd.DataFrame(
        {
            "charge_date": [dt.date(2024, 8, 31), dt.date(2024, 9, 1), dt.date(2024, 9, 30), dt.date(2024, 9, 30), dt.date(2024, 10, 1)],
            "service_name": ["BigQuery", "BigQuery", "BigQuery", None, "BigQuery"],
            "effective_cost": [100.0, 100.0, -20.0, 50.0, 10.0],
        }
    )
    costs["markup_pct"] = markup_pct_for(costs["charge_date"], costs["service_name"], rules)
    costs["chargeback_cost"] = chargeback_cost(costs["effective_cost"], costs["markup_pct"])
    assert costs["markup_pct"].tolist() == [10.0, -5.0, -5.0, 10.0, 10.0]
    # 100 * 1.1 = 110; 100 * 0.95 = 95; -20 * 0.95 = -19; 50 * 1.1 = 55; 10 * 1.1 = 11
    assert costs["chargeback_cost"].tolist() == pytest.approx([110.0, 95.0, -19.0, 55.0, 11.0])
    assert costs["effective_cost"].tolist() == [100.0, 100.0, -20.0, 50.0, 10.0]
