"""Billing-month arithmetic (transforms/months.py), the one home every module uses."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from transforms.months import (
    FIRST_BILLING_MONTH,
    billing_dates,
    contiguous_ranges,
    first_day,
    last_day,
    month_of,
    month_range,
    months_between,
    next_month,
    open_month,
    previous_month,
    shift_month,
)


@pytest.mark.parametrize(("month", "by", "expected"), [
    ("2025-01", 1, "2025-02"), ("2025-12", 1, "2026-01"), ("2025-01", -1, "2024-12"),
    ("2025-03", -15, "2023-12"), ("2025-03", 0, "2025-03"), ("1999-12", 25, "2002-01"),
])
def test_shift_month(month, by, expected):
    assert shift_month(month, by) == expected
    assert months_between(month, expected) == by


def test_next_and_previous_month_cross_year_ends():
    assert next_month("2025-12") == "2026-01"
    assert previous_month("2026-01") == "2025-12"
    assert previous_month(next_month("2024-02")) == "2024-02"


@pytest.mark.parametrize("bad", ["2025-13", "2025-00", "2025-1", "202501", "2025/01", ""])
def test_a_key_that_is_not_a_billing_month_is_refused(bad):
    with pytest.raises(ValueError, match="billing month"):
        next_month(bad)


def test_month_range_includes_both_ends_and_is_empty_when_reversed():
    assert month_range("2024-11", "2025-02") == ["2024-11", "2024-12", "2025-01", "2025-02"]
    assert month_range("2025-02", "2025-02") == ["2025-02"]
    assert month_range("2025-03", "2025-02") == []


@pytest.mark.parametrize(("month", "first", "last"), [
    ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),  # leap year
    ("2025-02", date(2025, 2, 1), date(2025, 2, 28)),
    ("2025-12", date(2025, 12, 1), date(2025, 12, 31)),
    ("2025-04", date(2025, 4, 1), date(2025, 4, 30)),
])
def test_first_and_last_day(month, first, last):
    assert (first_day(month), last_day(month)) == (first, last)
    assert month_of(first) == month_of(last) == month


def test_the_open_month_follows_utc():
    paris = timezone(timedelta(hours=1))
    # 00:30 on 1 March in Paris is still 28 February in UTC: February is the open month.
    assert open_month(datetime(2026, 3, 1, 0, 30, tzinfo=paris)) == "2026-02"
    assert open_month(datetime(2026, 3, 1, 0, 30)) == "2026-03"  # naive = UTC


def test_billing_dates_run_from_the_first_partition_to_the_end_of_the_open_month():
    first, last = billing_dates(datetime(2026, 12, 4, 17, 0, tzinfo=timezone.utc))
    assert first == first_day(FIRST_BILLING_MONTH) == date(2000, 1, 1)
    assert last == date(2026, 12, 31)


def test_the_partitions_use_the_same_first_month_and_timezone():
    from finops_pipeline.defs.partitions import billing_month_partitions

    assert billing_month_partitions.get_first_partition_key() == FIRST_BILLING_MONTH
    assert billing_month_partitions.timezone == "UTC"  # what open_month assumes


@pytest.mark.parametrize(("months", "expected"), [
    pytest.param([], [], id="empty"),
    pytest.param(["2025-03"], [("2025-03", "2025-03")], id="one"),
    pytest.param(["2025-01", "2025-02", "2025-05"], [("2025-01", "2025-02"), ("2025-05", "2025-05")], id="gap"),
    pytest.param(["2025-11", "2025-12", "2026-01", "2026-02"], [("2025-11", "2026-02")], id="across-year-end"),
    pytest.param(["2025-12", "2026-02"], [("2025-12", "2025-12"), ("2026-02", "2026-02")], id="gap-across-year-end"),
    pytest.param(["2025-12", "2024-12", "2025-01"], [("2024-12", "2025-01"), ("2025-12", "2025-12")], id="unsorted"),
    pytest.param(["2024-12", "2025-12"], [("2024-12", "2024-12"), ("2025-12", "2025-12")], id="same-month-next-year"),
])
def test_contiguous_ranges(months, expected):
    assert contiguous_ranges(months) == expected
