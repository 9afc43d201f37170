"""Staging of reference/pricing.csv, the internal chargeback rate card (applied by marts/chargeback.py).

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
