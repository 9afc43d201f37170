"""Render docs/tables.md from the table contracts, so the docs cannot drift from the code.

    python -m finops_pipeline.warehouse.docs > docs/tables.md
"""

from __future__ import annotations

from finops_pipeline.warehouse.schema import PARTITIONED_TABLES, metadata

HEADER = """# Warehouse tables

Generated from `finops_pipeline/warehouse/schema.py` by
`python -m finops_pipeline.warehouse.docs > docs/tables.md` (a test fails when this file is stale).
Table and column names are a contract: BI tools and the read API rely on them.

Partitioned tables are replaced one billing month at a time, in a single transaction: a reader
sees the previous month or the new one, never a mix, and a re-run never double counts.
Amounts are floating-point (double precision); totals are compared with `math.fsum` to within
0.000001 of the currency unit per row.
"""


def render() -> str:
    parts = [HEADER]
    for table in metadata.sorted_tables:
        kind = "partitioned by `billing_month`" if table in PARTITIONED_TABLES else "replaced as a whole"
        parts.append(f"\n## `{table.name}`\n\n{table.comment} ({kind})\n")
        parts.append("| column | type | null | meaning |\n|---|---|---|---|")
        for col in table.columns:
            parts.append(f"| `{col.name}` | {col.type} | {'yes' if col.nullable else 'no'} | {col.comment or ''} |")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render(), end="")
