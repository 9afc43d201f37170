"""Summing a frame by keys when many keys are often empty.

The cost grain has ~25 key columns, and for a given source most of them are null throughout (a
cloud bill has no general-ledger account, a ledger export no region). Hashing a key that has one
value for every row changes no group, so such keys are left out of the GROUP BY and put back
after it: the same result, without the cost of factorizing them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def sum_by(frame: pd.DataFrame, keys: list[str], values: list[str], sort: bool = False) -> pd.DataFrame:
    """``frame`` summed per distinct ``keys`` (nulls are a key value of their own), columns in
    the order keys + values."""
    empty = [k for k in keys if frame[k].isna().all()]
    live = [k for k in keys if k not in empty]
    if live:
        out = frame.groupby(live, dropna=False, sort=sort, observed=True)[values].sum().reset_index()
    else:
        out = frame[values].sum().to_frame().T.reset_index(drop=True) if len(frame) else frame[values].head(0)
    for k in empty:
        out[k] = pd.Series(np.nan, index=out.index, dtype=frame[k].dtype)
    return out[[*keys, *values]]
