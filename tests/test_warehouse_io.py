"""The warehouse's bulk paths (writer.py, reader.py) store and read back exactly what SQLAlchemy's
generic paths would.

SQLite: executemany of positional tuples instead of ``table.insert()`` with dicts, and reads built
column by column instead of ``pd.read_sql``. PostgreSQL: COPY text from Arrow's CSV writer instead
of pandas', and ``COPY (SELECT ...) TO STDOUT`` instead of ``pd.read_sql``. Same stored values (and
storage types), same frames (dtypes, values, nulls), on values chosen to be awkward."""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, Float, Integer, MetaData, String, Table, Text, select, text

from finops_pipeline.warehouse import reader, writer
from finops_pipeline.warehouse.engine import make_engine

METADATA = MetaData()
ODD = Table(
    "odd_values", METADATA,
    Column("billing_month", String(7)), Column("txt", Text), Column("all_null_txt", Text), Column("f", Float(precision=53)),
    Column("all_null_f", Float(precision=53)), Column("ints_as_floats", Float(precision=53)), Column("big", BigInteger),
    Column("int_nulls", BigInteger), Column("small", Integer), Column("b", Boolean), Column("b_null", Boolean),
    Column("d", Date), Column("d_null", Date), Column("ts", DateTime(timezone=True)), Column("obj", Text),
)
FLOATS = [1.5, np.nan, -0.0, 1e-17, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, np.inf]


def _frame(month: str, n: int = 8) -> pd.DataFrame:
    return pd.DataFrame({
        "billing_month": month,
        "txt": pd.Series(["a", None, "", 'x"y,z\nw', "tab\there", "ünï", "back\\slash", ","][:n], dtype="str"),
        "all_null_txt": pd.Series([None] * n, dtype="str"),
        "f": FLOATS[:n],
        "all_null_f": np.nan,
        "ints_as_floats": np.arange(n, dtype="int64"),  # ints into a float column: stored as floats
        "big": np.arange(n, dtype="int64") * 10**12,
        "int_nulls": pd.array([1, None, 3, 4, 5, 6, 7, 8][:n], dtype="Int64"),
        "small": np.arange(n, dtype="int32"),
        "b": [True, False] * (n // 2),
        "b_null": pd.Series([True, None] * (n // 2), dtype=object),
        "d": pd.to_datetime([f"{month}-{d:02d}" for d in range(1, n + 1)]),
        "d_null": pd.Series([date(2024, 1, 1), None] * (n // 2), dtype=object),
        "ts": pd.Timestamp("2024-05-06 07:08:09.123456", tz="UTC"),
        "obj": pd.Series([1, 1.0, "1", None, np.float64(2.5), np.int64(3), True, "x"][:n], dtype=object),
    })


def _stored(engine, table: Table) -> list[tuple]:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET extra_float_digits = 3"))
        cols = ", ".join(f"{c.name}::text" if engine.dialect.name == "postgresql" else f"{c.name}, typeof({c.name})"
                         for c in table.columns)
        return sorted(conn.execute(text(f"SELECT {cols} FROM {table.name}")).all(), key=repr)


def _generic_read(engine, table: Table, months):
    stmt = select(table) if months is None else select(table).where(table.c.billing_month.in_(months))
    with engine.connect() as conn:
        return reader._restore_dates(table, pd.read_sql(stmt, conn))


def _assert_same_frames(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert list(a.dtypes) == list(b.dtypes)
    for column in a.columns:
        if a[column].dtype == object:
            assert [type(v) for v in a[column]] == [type(v) for v in b[column]], column


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'w.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    METADATA.create_all(engine)
    yield engine
    engine.dispose()


def _generic_insert(conn, table: Table, frame: pd.DataFrame) -> None:
    """What the writer did before: SQLAlchemy's executemany of dicts, or pandas' CSV for COPY."""
    frame = writer._prepare(table, frame)
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), writer._records(table, frame))
        return
    from psycopg2 import sql

    copy = frame.copy()
    for c in writer._date_columns(table):
        copy[c] = pd.to_datetime(copy[c]).dt.strftime("%Y-%m-%d")
    buf = io.StringIO()
    copy.to_csv(buf, header=False, index=False, na_rep="\\N", lineterminator="\n")
    buf.seek(0)
    raw = conn.connection.dbapi_connection
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, NULL '\\N')").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns))
    with raw.cursor() as cur:
        cur.copy_expert(statement.as_string(raw), buf)


def test_bulk_insert_stores_what_the_generic_insert_stores(engine):
    frame = _frame("2024-01")
    if engine.dialect.name == "postgresql":
        frame = frame.drop(columns="obj").assign(obj=None)  # mixed Python types in a text column: SQLite only
    with engine.begin() as conn:
        _generic_insert(conn, ODD, frame)
    generic = _stored(engine, ODD)
    with engine.begin() as conn:
        conn.execute(ODD.delete())
        writer._insert(conn, ODD, frame)
    assert _stored(engine, ODD) == generic


@pytest.mark.parametrize("months", [None, ["2024-01"], ["2024-02"], ["1999-01"], []])
def test_bulk_read_gives_the_frame_read_sql_gives(engine, months):
    with engine.begin() as conn:
        writer._insert(conn, ODD, _frame("2024-01").drop(columns="obj").assign(obj=None))
        writer._insert(conn, ODD, _frame("2024-02", 4).drop(columns="obj").assign(obj="x"))
    _assert_same_frames(_generic_read(engine, ODD, months), _bulk_read(engine, ODD, months))


def _bulk_read(engine, table: Table, months, columns=None) -> pd.DataFrame:
    """The dialect's bulk read itself (``reader._read`` would fall back to the generic path quietly)."""
    bulk = reader._read_sqlite if engine.dialect.name == "sqlite" else reader._read_postgres
    return bulk(engine, table, [table.c[c] for c in columns] if columns else list(table.columns), months)


def test_bulk_read_of_selected_columns(engine):
    with engine.begin() as conn:
        writer._insert(conn, ODD, _frame("2024-01").drop(columns="obj").assign(obj=None))
    columns = ["billing_month", "f", "int_nulls", "d"]
    expected = _generic_read(engine, ODD, ["2024-01"])[columns]
    _assert_same_frames(expected, _bulk_read(engine, ODD, ["2024-01"], columns))
    _assert_same_frames(expected, reader.read_partition(engine, ODD, ["2024-01"], columns))


def test_a_value_of_another_type_falls_back_to_the_generic_read(tmp_path):
    """SQLite stores what it is given: text in a REAL column, a REAL in an INTEGER column."""
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    METADATA.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO odd_values (billing_month, f, big) VALUES ('2024-03', 'abc', 1), ('2024-03', 1.5, 2.5)"))
    for months in (["2024-03"], None):
        with pytest.raises(reader._NotPlainColumns):
            _bulk_read(engine, ODD, months)
        _assert_same_frames(_generic_read(engine, ODD, months), reader._read(engine, ODD, months))
