"""fct_cost_drivers: what made a month's cost differ from the previous month's, by dimension.

Conservation law: for each month and dimension, the members' `change` values sum to the total
change of the month (current total − previous total), so the rows feed a waterfall chart
directly. A member present in only one of the two months counts as 0 in the other; a calendar
month with no data at all counts as 0 for every member.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.months import month_range
from transforms.staging.billing import FINANCE_DIMENSIONS

# general-ledger and statement rows are decomposed by their finance dimensions too (a cloud bill
# has none of them: its whole change is then the "(none)" member of each)
DIMENSIONS = ("project", "service_name", "sub_account_id", "region", "provider", *FINANCE_DIMENSIONS)
NO_MEMBER = "(none)"  # a null dimension value (e.g. no region on a tax row) is a member of its own
COLUMNS = [
    "billing_month", "dimension", "member", "previous_cost", "current_cost", "change", "share_of_change", "rank",
]


def build_cost_drivers(by_member: pd.DataFrame) -> pd.DataFrame:
    """`by_member`: billing_month, dimension, member, cost (effective cost of the member in the
    month). One output row per month (from the second month of data on), dimension and member
    that had cost in that month or the one before."""
    if by_member.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c.endswith(("cost", "change")) else "str") for c in COLUMNS})
    frame = by_member.assign(member=by_member["member"].fillna(NO_MEMBER))
    months = month_range(frame["billing_month"].min(), frame["billing_month"].max())
    parts = []
    for dimension, rows in frame.groupby("dimension", sort=False):
        grid = rows.pivot_table(index="member", columns="billing_month", values="cost", aggfunc="sum", fill_value=0.0)
        grid = grid.reindex(columns=months, fill_value=0.0)
        current = grid.iloc[:, 1:].to_numpy()
        previous = grid.iloc[:, :-1].to_numpy()
        long = pd.DataFrame({
            "billing_month": np.tile(months[1:], len(grid)),
            "dimension": dimension,
            "member": np.repeat(grid.index.to_numpy(), len(months) - 1),
            "previous_cost": previous.ravel(),
            "current_cost": current.ravel(),
        })
        parts.append(long[(long["previous_cost"] != 0) | (long["current_cost"] != 0)])
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    out["change"] = out["current_cost"] - out["previous_cost"]
    total = out.groupby(["billing_month", "dimension"])["change"].transform("sum")
    out["share_of_change"] = (out["change"] / total).where(total.abs() >= 0.005)
    out["rank"] = (
        out.assign(magnitude=out["change"].abs())
        .groupby(["billing_month", "dimension"])["magnitude"]
        .rank(method="first", ascending=False)
        .astype("int64")
    )
    return out.sort_values(["billing_month", "dimension", "rank"])[COLUMNS].reset_index(drop=True)
