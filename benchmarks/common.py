"""Helpers both end-to-end benchmarks use (api_benchmark.py, pipeline_benchmark.py): progress
lines, month lists, machine load from /proc/stat, and a scratch PostgreSQL database."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

PG_ADMIN_URL = os.environ.get("FINOPS_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def month_list(first_month: str, months: int) -> list[str]:
    y, m = (int(x) for x in first_month.split("-"))
    out = []
    for _ in range(months):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def pg_admin(sql: str) -> None:
    """One statement on the admin connection, outside a transaction (CREATE / DROP DATABASE)."""
    import psycopg2

    conn = psycopg2.connect(PG_ADMIN_URL)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def pg_drop(database: str) -> None:
    """Drop a benchmark database (a fixed name of ours, never input), after closing its sessions."""
    pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()")
    pg_admin(f"DROP DATABASE IF EXISTS {database}")
