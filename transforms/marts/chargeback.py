"""Chargeback: applying the rate card (stg_pricing, validated in staging/pricing.py) to cost rows.

Conservation law: chargeback never changes billed or effective cost; ``chargeback_cost`` is a new
column beside them, equal to effective_cost wherever no markup applies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.staging.pricing import DEFAULT_SERVICE


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
