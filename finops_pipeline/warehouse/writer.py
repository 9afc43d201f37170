"""Atomic writes: a month (or a whole reference table) is replaced in one transaction, so a
reader sees the old rows or the new rows, never a mix, and a re-run never double counts.

The tables must exist: ``engine.warehouse_engine`` ensures them once per process."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, Date, Engine, Float, Table, delete


def replace_month(engine: Engine, month: str, frames: dict[Table, pd.DataFrame]) -> int:
    """Replace one billing month in every given table, all in one transaction."""
    written = 0
    with engine.connect().execution_options(writer=True) as conn, conn.begin():
        for table, frame in frames.items():
            _delete(conn, table, table.c.billing_month == month)
            written += _insert(conn, table, frame)
    return written


def replace_table(engine: Engine, table: Table, frame: pd.DataFrame) -> int:
    """Replace all rows of an unpartitioned table in one transaction (DELETE, not DROP, so
    grants and BI tools' saved queries keep working)."""
    with engine.connect().execution_options(writer=True) as conn, conn.begin():
        _delete(conn, table)
        return _insert(conn, table, frame)


def _delete(conn: Connection, table: Table, *where) -> None:
    """The DELETE of a replacement. On PostgreSQL the table is locked first (SHARE ROW EXCLUSIVE:
    readers go on, other writers of the table wait), as BEGIN IMMEDIATE queues writers on SQLite:
    under READ COMMITTED two runs replacing the same rows at once would otherwise keep both
    copies, the second DELETE waiting for the first transaction and then not seeing the rows it
    inserted."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"LOCK TABLE {conn.dialect.identifier_preparer.format_table(table)} IN SHARE ROW EXCLUSIVE MODE")
    conn.execute(delete(table).where(*where))


def _prepare(table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    if "loaded_at" in table.c and "loaded_at" not in out:
        out["loaded_at"] = datetime.now(timezone.utc)
    missing = [c.name for c in table.columns if c.name not in out]
    if missing:
        raise ValueError(f"{table.name}: frame lacks columns {missing}")
    return out[[c.name for c in table.columns]]


def _insert(conn: Connection, table: Table, frame: pd.DataFrame) -> int:
    if frame is None or frame.empty:
        return 0
    frame = _prepare(table, frame)
    if conn.dialect.name == "postgresql":
        _copy_postgres(conn, table, frame)
    elif conn.dialect.name == "sqlite":
        _insert_rows(conn, table, frame)
    else:
        conn.execute(table.insert(), _records(table, frame))
    return len(frame)


def _date_columns(table: Table) -> list[str]:
    return [c.name for c in table.columns if isinstance(c.type, Date)]


def _records(table: Table, frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts of Python values (None for null), for SQLAlchemy's executemany (other
    dialects than SQLite and PostgreSQL)."""
    out = frame.copy()
    for c in _date_columns(table):
        out[c] = pd.to_datetime(out[c]).dt.date
    return out.astype(object).where(out.notna(), None).to_dict("records")


# Rows bound per executemany call: bounds the Python objects alive at once (a 1M-row month as
# Python tuples would take GiBs) while keeping the per-call overhead negligible.
INSERT_BATCH_ROWS = 50_000


def _insert_rows(conn: Connection, table: Table, frame: pd.DataFrame) -> None:
    """SQLite: executemany of positional tuples (qmark parameters), in batches.

    The values bound are exactly those SQLAlchemy's ``table.insert()`` would bind for the rows
    as Python values (the column type's bind processor applied, None for null), so what is
    stored is the same; what is saved is SQLAlchemy's per-row parameter processing and
    pandas' per-cell boxing, which took most of the write time (docs/performance.md)."""
    dialect = conn.dialect
    preparer = dialect.identifier_preparer
    columns = [table.c[c] for c in frame.columns]
    statement = (f"INSERT INTO {preparer.format_table(table)} ({', '.join(preparer.format_column(c) for c in columns)}) "
                 f"VALUES ({', '.join('?' for _ in columns)})")
    binders = [_ColumnBinder(c, dialect) for c in columns]
    for start in range(0, len(frame), INSERT_BATCH_ROWS):
        part = frame.iloc[start:start + INSERT_BATCH_ROWS]
        cells = [b.values(part[b.name]) for b in binders]
        conn.exec_driver_sql(statement, list(zip(*cells)))


class _ColumnBinder:
    """One column as the Python values to bind: floats, ints and text as themselves, null as
    None, and through the type's bind processor where it has one (dates, timestamps, booleans,
    ints in a float column)."""

    def __init__(self, column, dialect):
        self.name = column.name
        self.is_date = isinstance(column.type, Date)
        self.is_float = isinstance(column.type, Float) and not column.type.asdecimal
        self.processor = column.type.dialect_impl(dialect).bind_processor(dialect)

    def values(self, values: pd.Series) -> list:
        if self.is_date:
            values = pd.Series(pd.to_datetime(values).dt.date, index=values.index)
        dtype = values.dtype
        plain = isinstance(dtype, np.dtype)
        if plain and dtype == np.float64 and (self.processor is None or self.is_float):
            array = values.to_numpy()  # float64 -> Python float (float() of it: a no-op), NaN -> None
            cells = array.astype(object)
            cells[np.isnan(array)] = None
            return cells.tolist()
        if plain and dtype.kind in "iu" and self.processor is None:
            return values.to_numpy().astype(object).tolist()
        if self.is_date or isinstance(dtype, (pd.StringDtype, pd.DatetimeTZDtype)) or (plain and dtype.kind in "bM"):
            # one type of value: convert each distinct value once and share it
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
            lookup = np.empty(len(uniques) + 1, dtype=object)
            lookup[:-1] = [self._bind(v) for v in uniques.astype(object)]
            lookup[-1] = None  # code -1: null
            return lookup[codes].tolist()
        return [self._bind(v) for v in values.astype(object)]  # object columns: value by value

    def _bind(self, value):
        value = _native(value)
        return self.processor(value) if self.processor is not None else value


def _native(value):
    """A Python value for a cell (numpy scalars unboxed, pandas' nulls as None), as pandas'
    to_dict would give it."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value)
    if isinstance(value, np.timedelta64):
        return pd.Timedelta(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _copy_postgres(conn: Connection, table: Table, frame: pd.DataFrame) -> None:
    """Bulk load with COPY inside the caller's transaction (orders of magnitude faster than
    INSERTs). Identifiers come from the table contract, never from input."""
    from psycopg2 import sql

    text = frame.copy()
    for c in _date_columns(table):
        text[c] = pd.to_datetime(text[c]).dt.strftime("%Y-%m-%d")
    buf, null = _copy_text(text)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, NULL {})").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns), sql.Literal(null)
    )
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cur:
        cur.copy_expert(statement.as_string(raw), buf)


def _copy_text(frame: pd.DataFrame) -> tuple[io.IOBase, str]:
    """The rows as COPY CSV, and its null marker. Arrow's CSV writer (~10x faster than pandas'):
    text always quoted, null as an empty unquoted field, floats in the shortest form that parses
    back to the same double (PostgreSQL's parser is correctly rounded, so the stored value is
    the one in the frame). A column Arrow cannot type (mixed Python objects) falls back to
    pandas' writer, floats at full precision, null as \\N."""
    import pyarrow.csv as pacsv

    try:
        rows = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        buf = io.StringIO()
        frame.to_csv(buf, header=False, index=False, na_rep="\\N", lineterminator="\n")
        buf.seek(0)
        return buf, "\\N"
    out = io.BytesIO()
    pacsv.write_csv(rows, out, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    out.seek(0)
    return out, ""
