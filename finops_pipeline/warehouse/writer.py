"""Atomic writes: a month (or a whole reference table) is replaced in one transaction, so a
reader sees the old rows or the new rows, never a mix, and a re-run never double counts."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, Date, Engine, Float, Integer, Table, delete, select

from finops_pipeline.warehouse.engine import ensure_tables_once


def replace_month(engine: Engine, month: str, frames: dict[Table, pd.DataFrame]) -> int:
    """Replace one billing month in every given table, all in one transaction."""
    ensure_tables_once(engine)
    written = 0
    with engine.connect().execution_options(writer=True) as conn, conn.begin():
        for table, frame in frames.items():
            _delete(conn, table, table.c.billing_month == month)
            written += _insert(conn, table, frame)
    return written


def replace_table(engine: Engine, table: Table, frame: pd.DataFrame) -> int:
    """Replace all rows of an unpartitioned table in one transaction (DELETE, not DROP, so
    grants and BI tools' saved queries keep working)."""
    ensure_tables_once(engine)
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


def read_partition(engine: Engine, table: Table, months: list[str], columns: list[str] | None = None) -> pd.DataFrame:
    """The rows of the given billing months (all columns, or ``columns`` in that order)."""
    ensure_tables_once(engine)
    return _read(engine, table, months, columns)


def read_table(engine: Engine, table: Table) -> pd.DataFrame:
    ensure_tables_once(engine)
    return _read(engine, table, None)


def _read(engine: Engine, table: Table, months: list[str] | None, columns: list[str] | None = None) -> pd.DataFrame:
    selected = [table.c[c] for c in columns] if columns is not None else list(table.columns)
    fast = {"sqlite": _read_sqlite, "postgresql": _read_postgres}.get(engine.dialect.name)
    if fast is not None:
        try:
            return fast(engine, table, selected, months)
        except _NotPlainColumns:
            pass  # values of another type than the column's (a hand-edited table): the general path
    stmt = select(*selected)
    if months is not None:
        stmt = stmt.where(table.c.billing_month.in_(months))
    with engine.connect() as conn:
        return _restore_dates(table, pd.read_sql(stmt, conn))


def _restore_dates(table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    for c in table.columns:
        if c.name in frame and isinstance(c.type, Date):
            frame[c.name] = pd.to_datetime(frame[c.name])
    return frame


# Rows fetched per batch when reading: the rows of one batch are Python objects (~1 KiB a row),
# the frame is built from typed column chunks.
READ_BATCH_ROWS = 50_000


def _read_sqlite(engine: Engine, table: Table, columns: list, months: list[str] | None) -> pd.DataFrame:
    """The frame ``pd.read_sql(select(table)...)`` + ``_restore_dates`` gives (same dtypes, same
    values), built column by column from batches of raw DBAPI rows.

    pandas' read_sql keeps every row as Python objects until the end (several GiB for a 1M-row
    partition) and SQLAlchemy converts dates cell by cell; here each batch becomes typed column
    chunks (text as Arrow strings, numbers as float64 / int64), and dates, timestamps and
    booleans are converted once per distinct value."""
    preparer = engine.dialect.identifier_preparer
    sql = f"SELECT {', '.join(preparer.format_column(c) for c in columns)} FROM {preparer.format_table(table)}"
    params: tuple = ()
    if months is not None:
        if not months:
            return _restore_dates(table, pd.DataFrame(columns=[c.name for c in columns]))
        sql += f" WHERE {preparer.format_column(table.c.billing_month)} IN ({', '.join('?' for _ in months)})"
        params = tuple(months)
    readers = [_ColumnReader(c, engine.dialect) for c in columns]
    rows = 0
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(READ_BATCH_ROWS):
                rows += len(batch)
                cells = np.empty((len(batch), len(readers)), dtype=object)
                cells[:] = batch  # rows -> one object array, column j = cells[:, j] (no tuple per column)
                del batch
                for j, reader in enumerate(readers):
                    reader.add(cells[:, j])
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise _NotPlainColumns from exc
        finally:
            cursor.close()
    if not rows:
        return _restore_dates(table, pd.DataFrame(columns=[c.name for c in columns]))
    return pd.DataFrame({r.name: r.finish() for r in readers})


class _NotPlainColumns(Exception):
    """A stored value does not have the type of its column."""


class _ColumnReader:
    """One column of a query result, batch by batch, as pandas' read_sql infers it from the
    Python values SQLAlchemy returns: text -> str (object when every value is null), numbers ->
    float64 / int64 (float64 when an integer column has nulls, object when all are null)."""

    def __init__(self, column, dialect):
        self.name = column.name
        self.kind = "float" if isinstance(column.type, Float) else "int" if isinstance(column.type, Integer) else "text"
        self.is_date = isinstance(column.type, Date)
        self.processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
        self.chunks: list = []
        self.nulls = self.rows = 0
        self.all_int = True  # an integer column holding a REAL too reads as float64, as in pandas

    def add(self, values: np.ndarray) -> None:
        """One batch of the column (objects as the driver returned them)."""
        self.rows += len(values)
        if self.processor is not None:
            self.chunks.append(values.copy())
        elif self.kind == "text":
            chunk = pa.array(values, type=pa.large_string())  # raises on anything but str / None
            self.nulls += chunk.null_count
            self.chunks.append(chunk)
        else:
            listed = values.tolist()
            if self.kind == "int":  # REAL affinity makes a float column all floats; an integer one may hold a REAL
                kinds = set(map(type, listed)) - {type(None)}
                if not kinds <= {int, float}:
                    raise TypeError(f"{self.name}: not all values are numbers")
                self.all_int = self.all_int and float not in kinds
            chunk = np.array(listed, dtype=np.float64)  # None -> NaN; raises on text
            self.nulls += int(np.isnan(chunk).sum())
            self.chunks.append(chunk if self.kind == "float" else (listed, chunk))

    def finish(self) -> pd.Series:
        if self.processor is not None:
            return self._processed()
        if self.nulls == self.rows:  # all null: pandas keeps the Nones in an object column
            return pd.Series([None] * self.rows, dtype=object)
        if self.kind == "text":
            return pd.Series(pa.chunked_array(self.chunks, type=pa.large_string()), dtype="str")
        if self.kind == "float":
            return pd.Series(np.concatenate(self.chunks))
        if self.nulls or not self.all_int:
            return pd.Series(np.concatenate([floats for _, floats in self.chunks]))
        return pd.Series(np.concatenate([np.array(ints, dtype=np.int64) for ints, _ in self.chunks]))

    def _processed(self) -> pd.Series:
        """Dates, timestamps, booleans: SQLAlchemy's result processor and pandas' inference,
        applied to each distinct stored value once."""
        return _converted(np.concatenate(self.chunks), self.processor, self.is_date)


def _converted(raw: np.ndarray, convert, is_date: bool) -> pd.Series:
    """``convert`` of every stored value (None stays None) as pandas' read_sql would infer the
    column, then to datetime64 for a Date column, as ``_restore_dates`` does; computed once per
    distinct value. The inference pandas makes over a whole column depends only on the kinds of
    values in it, so making it over the distinct values (and one None for the nulls) is the same."""
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    values = [convert(v) for v in uniques]
    has_null = bool((codes < 0).any())
    distinct = pd.DataFrame.from_records([(v,) for v in values] + ([(None,)] if has_null else []), columns=["v"])["v"]
    if is_date:
        distinct = pd.to_datetime(distinct)
    codes = np.where(codes < 0, len(values), codes)
    return distinct.take(codes).reset_index(drop=True)


# PostgreSQL type OIDs psycopg2 returns as str, float and int; every other type is converted with
# psycopg2's own typecaster for it (dates, timestamps, booleans).
_PG_TEXT, _PG_FLOAT, _PG_INT = {25, 1043, 1042}, {700, 701}, {20, 21, 23}


def _read_postgres(engine: Engine, table: Table, columns: list, months: list[str] | None) -> pd.DataFrame:
    """The frame ``pd.read_sql`` + ``_restore_dates`` gives, from ``COPY (SELECT ...) TO STDOUT``
    parsed by Arrow's CSV reader: psycopg2 builds a Python object per cell (~10 s per million
    30-column rows), the CSV parser none. Text, float and integer columns are parsed as such
    (PostgreSQL prints floats with every digit: the same double); other types go through
    psycopg2's typecaster for their type, once per distinct value. Identifiers come from the table
    contract, months are quoted by psycopg2."""
    import pyarrow.csv as pacsv
    from psycopg2 import extensions, sql

    names = [c.name for c in columns]
    query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(sql.Identifier(n) for n in names), sql.Identifier(table.name))
    if months is not None:
        if not months:
            return _restore_dates(table, pd.DataFrame(columns=names))
        query = sql.SQL("{} WHERE {} IN ({})").format(query, sql.Identifier("billing_month"),
                                                      sql.SQL(", ").join(sql.Literal(m) for m in months))
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cursor:
            cursor.execute(sql.SQL("{} LIMIT 0").format(query))
            oids = [d.type_code for d in cursor.description]
            buffer = io.BytesIO()
            cursor.copy_expert(sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, NULL '\\N')").format(query).as_string(raw), buffer)
            if not buffer.tell():
                return _restore_dates(table, pd.DataFrame(columns=names))
            buffer.seek(0)
            types = {n: pa.float64() if oid in _PG_FLOAT else pa.int64() if oid in _PG_INT else pa.large_string()
                     for n, oid in zip(names, oids)}
            try:
                parsed = pacsv.read_csv(
                    buffer, read_options=pacsv.ReadOptions(column_names=names),
                    parse_options=pacsv.ParseOptions(newlines_in_values=True),
                    convert_options=pacsv.ConvertOptions(column_types=types, null_values=["\\N"], strings_can_be_null=True,
                                                         quoted_strings_can_be_null=False))
            except pa.ArrowInvalid as exc:  # e.g. 'NaN' or 'Infinity' in a float column
                raise _NotPlainColumns from exc
            del buffer
            out = {}
            for column, name, oid in zip(columns, names, oids):
                values = parsed.column(name)
                if oid in _PG_TEXT | _PG_FLOAT | _PG_INT:
                    out[name] = _plain(values, "text" if oid in _PG_TEXT else "float" if oid in _PG_FLOAT else "int")
                    continue
                caster = extensions.string_types.get(oid)
                if caster is None:
                    raise _NotPlainColumns(f"{name}: no typecaster for type {oid}")
                processor = column.type.dialect_impl(engine.dialect).result_processor(engine.dialect, oid)
                convert = (lambda v, c=caster, p=processor: None if v is None else
                           (p(c(v, cursor)) if p is not None else c(v, cursor)))
                out[name] = _converted(values.to_numpy(zero_copy_only=False), convert, isinstance(column.type, Date))
    return pd.DataFrame(out)


def _plain(values: pa.ChunkedArray, kind: str) -> pd.Series:
    """A text / float / integer column as pandas' read_sql infers it from the driver's Python
    values: all null -> object Nones; text -> str; integers with nulls -> float64."""
    if values.null_count == len(values):
        return pd.Series([None] * len(values), dtype=object)
    if kind == "text":
        return pd.Series(values, dtype="str")
    return pd.Series(values.to_numpy())  # float64 (NaN for null) or int64; int64 with nulls -> float64
