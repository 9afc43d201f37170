"""Reads of whole tables and of billing-month partitions: the frames ``pd.read_sql`` gives (same
dtypes, same values), built from typed column chunks instead of a Python object per cell.

The tables must exist: ``engine.warehouse_engine`` ensures them once per process."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Date, Engine, Float, Integer, Table, select


def read_partition(engine: Engine, table: Table, months: list[str], columns: list[str] | None = None) -> pd.DataFrame:
    """The rows of the given billing months (all columns, or ``columns`` in that order)."""
    return _read(engine, table, months, columns)


def read_table(engine: Engine, table: Table) -> pd.DataFrame:
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
