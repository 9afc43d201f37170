"""Billing months: the one home of every calculation on 'YYYY-MM' keys.

A billing month is the text key 'YYYY-MM' everywhere: partitions, tables, API parameters. Months
follow UTC, as the billing-month partitions do (providers date charges in UTC). Pure functions,
no clock read unless a function says so and takes ``now`` for tests.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timezone

# Early enough for any cloud bill a user still holds: the first billing-month partition. Rows
# dated before it are quarantined with reason date_out_of_range, never dropped.
FIRST_BILLING_MONTH = "2000-01"


def _index(month: str) -> int:
    """Months since year 0: 'YYYY-MM' -> year * 12 + month - 1 (validates the key)."""
    if len(month) != 7 or month[4] != "-":
        raise ValueError(f"billing month {month!r} is not YYYY-MM")
    year, mon = int(month[:4]), int(month[5:7])
    if not 1 <= mon <= 12:
        raise ValueError(f"billing month {month!r} has no month {mon}")
    return year * 12 + mon - 1


def _month(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_of(day: date | datetime) -> str:
    """The billing month of a day (a datetime's own calendar day: convert it to UTC first)."""
    return f"{day.year:04d}-{day.month:02d}"


def shift_month(month: str, months: int) -> str:
    """``month`` moved by ``months`` (negative: back)."""
    return _month(_index(month) + months)


def next_month(month: str) -> str:
    return shift_month(month, 1)


def previous_month(month: str) -> str:
    return shift_month(month, -1)


def months_between(first: str, last: str) -> int:
    """How many months ``last`` is after ``first`` (0 for the same month)."""
    return _index(last) - _index(first)


def month_range(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last``, both included (empty when first > last)."""
    return [_month(i) for i in range(_index(first), _index(last) + 1)]


def contiguous_ranges(months) -> list[tuple[str, str]]:
    """[2025-01, 2025-02, 2025-05] -> [(2025-01, 2025-02), (2025-05, 2025-05)] (duplicates merge)."""
    ranges: list[tuple[str, str]] = []
    for month in sorted(set(months)):
        if ranges and next_month(ranges[-1][1]) == month:
            ranges[-1] = (ranges[-1][0], month)
        else:
            ranges.append((month, month))
    return ranges


def first_day(month: str) -> date:
    index = _index(month)
    return date(index // 12, index % 12 + 1, 1)


def last_day(month: str) -> date:
    index = _index(month)
    year, mon = index // 12, index % 12 + 1
    return date(year, mon, calendar.monthrange(year, mon)[1])


def open_month(now: datetime | None = None) -> str:
    """The still-open billing month at ``now`` (default: the clock), in UTC: the latest
    billing-month partition, since providers restate it daily (a naive ``now`` is UTC)."""
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is not None:
        now = now.astimezone(timezone.utc)
    return month_of(now)


def billing_dates(now: datetime | None = None) -> tuple[date, date]:
    """The dates a billing row may carry: from the first billing month to the end of the open one."""
    return first_day(FIRST_BILLING_MONTH), last_day(open_month(now))


FISCAL_YEAR_NAMINGS = ("start", "end")
REGULAR_PERIODS = 12  # posting periods 13-16 are special (year-end) periods within period 12


def fiscal_period_month(fiscal_year: int, period: int, start_month: int = 1, named_by: str = "start") -> str:
    """Calendar month of posting ``period`` (1-16) of ``fiscal_year``, for a fiscal year whose
    period 1 is calendar month ``start_month``. ``named_by`` says which calendar year names the
    fiscal year when it straddles two: "start" (FY2024 = Apr 2024-Mar 2025: SAP V3, Japan) or
    "end" (FY2024 = Oct 2023-Sep 2024: US federal). Special periods 13-16 fall in period 12's month."""
    if not 1 <= start_month <= 12:
        raise ValueError(f"fiscal year start month {start_month} is not 1-12")
    if named_by not in FISCAL_YEAR_NAMINGS:
        raise ValueError(f"fiscal year named by {named_by!r}: expected 'start' or 'end'")
    if not 1 <= period <= 16:
        raise ValueError(f"posting period {period} is not 1-16")
    start_year = fiscal_year - 1 if named_by == "end" and start_month != 1 else fiscal_year
    return _month(start_year * 12 + start_month - 1 + min(period, REGULAR_PERIODS) - 1)
