"""The warehouse queries of finops_pipeline/warehouse/queries.py that the sensors share."""

from __future__ import annotations

from datetime import date, datetime, timezone

from finops_pipeline.warehouse import schema
from finops_pipeline.warehouse.engine import warehouse_engine
from finops_pipeline.warehouse.queries import loaded_months


def test_loaded_months_are_those_with_staged_or_quarantined_rows(tmp_path):
    engine = warehouse_engine(f"sqlite:///{tmp_path / 'w.db'}")
    assert loaded_months(engine) == set()
    now = datetime.now(timezone.utc)
    staged = [{"billing_month": month, "charge_date": date.fromisoformat(f"{month}-0{day}"), "billing_currency": "USD",
               "source_file": "aws/a.csv", "source_rows": 1, "loaded_at": now}
              for month in ("2024-09", "2024-10") for day in (1, 2)]
    quarantined = [{"billing_month": month, "source_file": "aws/a.csv", "reason": "unparseable_amount", "loaded_at": now}
                   for month in ("2024-10", "2024-12")]  # 2024-12: every row quarantined, still loaded
    with engine.begin() as conn:
        conn.execute(schema.stg_billing.insert(), staged)
        conn.execute(schema.quarantine_billing_rows.insert(), quarantined)
    assert loaded_months(engine) == {"2024-09", "2024-10", "2024-12"}
