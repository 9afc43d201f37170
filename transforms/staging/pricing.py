"""Staging of reference/pricing.csv, the internal chargeback rate card, and applying it.

The file has the header ``service,markup_pct[,start,end]`` (case and whitespace around names do
not matter). ``markup_pct`` is a percent added on top of effective cost: 15 means +15 %, a
negative value is a discount, and it must be greater than -100. ``start`` / ``end`` are optional
ISO dates (YYYY-MM-DD), both inclusive, compared with the cost row's ``charge_date``; an empty
cell leaves that side of the window open. ``service`` is matched exactly against the cost row's
``service_name``; the service ``*`` is the default markup for every cost row that no row of its
own service covers on that date.

Like transforms/staging/reference.py, staging takes the file's rows as text and returns the typed
table plus problems as (row index or None, message with the fix); the caller turns row indexes
into ``file:line``.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from transforms.staging.reference import Problems, _missing_columns, _strip

DEFAULT_SERVICE = "*"
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
COLUMNS = ["service", "markup_pct", "start", "end"]


def _line(i) -> int:
    """File line of row index i, as the caller (finops_pipeline/ingest/reference.py) numbers it:
    the header is line 1, row index 0 is line 2. Only needed where a message names another row."""
    return int(i) + 2


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "service": pd.Series([], dtype="str"),
            "markup_pct": pd.Series([], dtype="float64"),
            "start": pd.Series([], dtype="datetime64[ns]"),
            "end": pd.Series([], dtype="datetime64[ns]"),
        }
    )


def _parse_day(text: str | None) -> pd.Timestamp | None:
    """Timestamp of a YYYY-MM-DD text, NaT for an empty cell, None when it is not a real date."""
    if text is None:
        return pd.NaT
    if not DATE_RE.match(text):
        return None
    day = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    return None if pd.isna(day) else day


def _window_text(start, end) -> str:
    first = "open start" if pd.isna(start) else start.strftime("%Y-%m-%d")
    last = "open end" if pd.isna(end) else end.strftime("%Y-%m-%d")
    return f"{first} to {last}"


def _overlap(a_start, a_end, b_start, b_end) -> bool:
    """Whether two inclusive day windows share a day; NaT is an open side."""
    a_before_b = not pd.isna(a_end) and not pd.isna(b_start) and a_end < b_start
    b_before_a = not pd.isna(b_end) and not pd.isna(a_start) and b_end < a_start
    return not (a_before_b or b_before_a)


def stage_pricing(raw: pd.DataFrame) -> tuple[pd.DataFrame, Problems]:
    """service (str), markup_pct (float), start, end (datetime64 days, NaT when open); sorted by service, start.

    A row with a problem is dropped. Of two rows for the same service whose windows overlap, the
    first in the file is kept and the later one is reported, naming the line it overlaps."""
    raw = _strip(raw)
    problems = _missing_columns(raw, ("service", "markup_pct"))
    if problems:
        return _empty(), problems
    for col in ("start", "end"):
        if col not in raw:
            raw[col] = pd.Series([None] * len(raw), index=raw.index, dtype="object")
    pcts = pd.to_numeric(raw["markup_pct"], errors="coerce")
    rows: list[tuple[object, str, float, pd.Timestamp, pd.Timestamp]] = []  # (index, service, pct, start, end)
    for i in raw.index:
        service, pct = raw.at[i, "service"], float(pcts[i])
        start, end = _parse_day(raw.at[i, "start"]), _parse_day(raw.at[i, "end"])
        if service is None:
            problems.append((i, f"empty service; write the service_name the markup applies to, or {DEFAULT_SERVICE} for the default markup"))
        elif not (math.isfinite(pct) and pct > -100):
            problems.append(
                (
                    i,
                    f"markup_pct {raw.at[i, 'markup_pct']!r} must be a finite number greater than -100 "
                    "(a percent without the % sign: 15 means +15 %, -10 a 10 % discount)",
                )
            )
        elif start is None:
            problems.append((i, f"start {raw.at[i, 'start']!r} is not a date; write it as YYYY-MM-DD, or leave it empty for no start"))
        elif end is None:
            problems.append((i, f"end {raw.at[i, 'end']!r} is not a date; write it as YYYY-MM-DD, or leave it empty for no end"))
        elif not pd.isna(start) and not pd.isna(end) and start > end:
            problems.append(
                (i, f"start {raw.at[i, 'start']} is after end {raw.at[i, 'end']}; swap them (both days are inclusive, start may equal end)")
            )
        else:
            rows.append((i, service, pct, start, end))

    kept: list[tuple[object, str, float, pd.Timestamp, pd.Timestamp]] = []
    for row in rows:
        i, service, _, start, end = row
        clash = next((k for k in kept if k[1] == service and _overlap(start, end, k[3], k[4])), None)
        if clash is None:
            kept.append(row)
            continue
        problems.append(
            (
                i,
                f"service {service!r} window {_window_text(start, end)} overlaps line {_line(clash[0])} "
                f"({_window_text(clash[3], clash[4])}); make the windows disjoint with start/end, or delete one of the rows",
            )
        )

    if not kept:
        return _empty(), problems
    out = pd.DataFrame(
        {
            "service": pd.Series([r[1] for r in kept], dtype="str"),
            "markup_pct": pd.Series([r[2] for r in kept], dtype="float64"),
            "start": pd.Series([r[3] for r in kept], dtype="datetime64[ns]"),
            "end": pd.Series([r[4] for r in kept], dtype="datetime64[ns]"),
        }
    )
    out = out.sort_values(["service", "start"], na_position="first", kind="stable")
    return out.reset_index(drop=True), problems


def _as_days(charge_date: pd.Series) -> pd.Series:
    """datetime64[ns] midnight of each charge date (Python dates, strings or datetimes); NaT stays NaT."""
    days = pd.to_datetime(charge_date)
    if isinstance(days.dtype, pd.DatetimeTZDtype):
        days = days.dt.tz_convert("UTC").dt.tz_localize(None)
    return days.dt.normalize().astype("datetime64[ns]")


def markup_pct_for(charge_date: pd.Series, service_name: pd.Series, pricing: pd.DataFrame) -> pd.Series:
    """The markup percent that applies to each cost row (float, 0.0 where no rule applies).

    A row of the cost row's own service whose window covers charge_date wins; otherwise a ``*``
    row covering it; otherwise 0. A NaN service_name matches no service, so it gets only the
    ``*`` markup. A NaT charge_date is covered only by a row without start and end.
    charge_date and service_name are rows of one cost frame, taken by position; the result has
    charge_date's index. Loops over the pricing rows, never over the cost rows."""
    if len(charge_date) != len(service_name):
        raise ValueError(f"charge_date has {len(charge_date)} rows but service_name has {len(service_name)}")
    out = np.zeros(len(charge_date), dtype="float64")
    if len(pricing):
        days = _as_days(charge_date).to_numpy()
        codes, services = pd.factorize(service_name.to_numpy(dtype=object), use_na_sentinel=True)
        code_of = {s: c for c, s in enumerate(services)}
        specific = np.zeros(len(charge_date), dtype=bool)
        defaults = []
        for rule in pricing.itertuples(index=False):
            in_window = np.ones(len(days), dtype=bool)
            if not pd.isna(rule.start):
                in_window &= days >= np.datetime64(pd.Timestamp(rule.start), "ns")  # NaT compares False
            if not pd.isna(rule.end):
                in_window &= days <= np.datetime64(pd.Timestamp(rule.end), "ns")
            if rule.service == DEFAULT_SERVICE:
                defaults.append((in_window, rule.markup_pct))
                continue
            code = code_of.get(rule.service)
            if code is None:
                continue
            hit = in_window & (codes == code)
            out[hit] = rule.markup_pct
            specific |= hit
        for in_window, pct in defaults:
            out[in_window & ~specific] = pct
    return pd.Series(out, index=charge_date.index, name="markup_pct", dtype="float64")


def chargeback_cost(effective_cost: pd.Series, markup_pct: pd.Series) -> pd.Series:
    """effective_cost x (1 + markup_pct / 100): what a project is charged internally.

    The law: chargeback never changes billed or effective cost; it is a new column next to them.
    Where no markup applies (markup_pct 0) chargeback_cost equals effective_cost exactly, bit for
    bit. A credit (negative effective cost) gets the same markup, so it stays a credit. The two
    Series must share one index (columns of one cost frame)."""
    if not effective_cost.index.equals(markup_pct.index):
        raise ValueError("effective_cost and markup_pct must have the same index (columns of one cost frame)")
    cost = effective_cost.astype("float64")
    marked = cost + cost * (markup_pct / 100)  # the markup added on top is more accurate than cost * 1.15
    return marked.where(markup_pct != 0, cost).rename("chargeback_cost")
