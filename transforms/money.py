"""Money helpers: exact totals and the tolerance every conservation check uses.

Amounts travel as float64 (the source CSVs carry at most ~15 significant digits, which float64
holds exactly enough), but totals that are *compared* are summed as ``Decimal`` so that a
conservation check never passes or fails because of summation order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal

import numpy as np
import pandas as pd

# Allowed drift per input row when two totals of the same money are compared: one millionth of
# the currency unit, far below a cent even for millions of rows.
TOLERANCE_PER_ROW = Decimal("0.000001")


def exact_total(values: Iterable[float] | pd.Series) -> Decimal:
    """Correctly rounded sum (``math.fsum``: no drift from summation order), as a Decimal."""
    if isinstance(values, pd.Series):
        array = values.dropna().to_numpy(dtype="float64")
        values = array[~np.isnan(array)].tolist()  # Python floats: fsum reads a list ~10x faster than a generator
    else:
        values = [v for v in values if v == v]
    return Decimal(repr(math.fsum(values)))


def conserved(expected: Decimal, actual: Decimal, rows: int) -> bool:
    """True when two totals of the same money agree within the per-row tolerance."""
    return abs(expected - actual) <= TOLERANCE_PER_ROW * max(rows, 1)


def cents(value: Decimal | float) -> str:
    """Human display of an amount rounded to the cent, e.g. for asset metadata."""
    return f"{Decimal(repr(float(value))) if isinstance(value, float) else value:,.2f}"
