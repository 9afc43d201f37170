"""Streaming a billing export in bounded chunks, whatever its size.

Memory is bounded by the block size, not the file: pyarrow's streaming CSV reader parses one
block at a time, and only the columns the detected format needs are converted. JSON documents
(Plaid transactions, see json_records.py) are small and read whole.

Some exports end every data row with one extra, empty field (Chase checking writes a trailing
comma the header does not have). That is recognised from the first data line alone: the file
is then read with one more, unnamed column, and a row that lacks the trailing comma is still
loaded (it is re-read on its own) rather than taken for a malformed row.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import queue
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from finops_pipeline.ingest.errors import InputFileError
from finops_pipeline.ingest.json_records import parse_json_records
from finops_pipeline.ingest.landing import LandingFile
from transforms.staging.formats import FORMATS_BY_NAME, BillingFormat, describe_expected_headers, detect_format
from transforms.staging.parsing import STR

BLOCK_SIZE = 4 << 20  # bytes of CSV text per parsed block: pyarrow's reader buffers several
CHUNK_ROWS = 50_000  # rows staged at once: pandas' per-call overhead favours larger chunks
NULL_VALUES = ["", "NULL"]  # FOCUS writes the literal NULL for null
PEEK_LINES = 1000  # physical lines read to find the first data row (a quoted value may span lines)
EMPTY_JSON_FORMAT = "plaid"  # a JSON page without transactions: the only JSON layout read today


class _HashingReader(io.RawIOBase):
    """Passes bytes through while computing the file's SHA-256 (the content identity used for
    caching and, later, for the landing sensor's run keys)."""

    def __init__(self, raw):
        self._raw, self.sha256 = raw, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer)
        if n:
            self.sha256.update(memoryview(buffer)[:n])
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


@dataclass
class BillingFileStream:
    """An open export: its format, column map, and an iterator of (chunk, line numbers)."""

    file: LandingFile
    fmt: BillingFormat
    columns: dict[str, str]  # canonical -> source column name
    malformed: list[tuple[int | None, str]] = field(default_factory=list)  # (line, raw text)
    sha256: str = ""
    header: list[str] = field(default_factory=list)
    # set when every data row has one trailing empty field more than the header: the header's
    # names plus one for that field (pyarrow then reads the rows as well-formed)
    column_names: list[str] | None = None
    records: list[dict] | None = None  # a JSON document's flattened transactions, read whole


def _open_bytes(file: LandingFile) -> tuple[_HashingReader, io.BufferedIOBase]:
    hasher = _HashingReader(open(file.path, "rb"))
    buffered = io.BufferedReader(hasher, buffer_size=1 << 20)
    stream = gzip.GzipFile(fileobj=buffered, mode="rb") if file.compressed else buffered
    return hasher, stream


def read_header(file: LandingFile) -> list[str]:
    return _read_head(file)[0]


def _read_head(file: LandingFile) -> tuple[list[str], list[str] | None]:
    """The header and the first data row (None if there is none), read with the csv module."""
    _, stream = _open_bytes(file)
    with stream:
        try:
            first = stream.readline(1 << 20)
            try:
                text = first.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise InputFileError(file.relative, "the header is not UTF-8 text", "save the export as UTF-8 CSV") from exc
            rows = list(csv.reader([text]))
            if not rows or not any(c.strip() for c in rows[0]):
                raise InputFileError(file.relative, "the file is empty or has no header line",
                                     "export it again with a header row")

            def more_lines() -> Iterator[str]:
                for _ in range(PEEK_LINES):
                    line = stream.readline(1 << 20)
                    if not line:
                        return
                    yield line.decode("utf-8", errors="replace")

            data_row = next((row for row in csv.reader(more_lines()) if row), None)
        except (OSError, EOFError, zlib.error) as exc:
            raise _gzip_error(file, exc) from exc
        except csv.Error:
            data_row = None  # pyarrow will report the broken row with its line
    return rows[0], data_row


def _trailing_field_names(header: list[str], data_row: list[str] | None) -> list[str] | None:
    """Header names plus one for a trailing empty field that every data row has (Chase checking),
    judged on the first data row: exactly one field more than the header, and that one empty."""
    if data_row is None or len(data_row) != len(header) + 1 or data_row[-1].strip():
        return None
    name = "_trailing_field"
    while name in header:
        name += "_"
    return header + [name]


def _gzip_error(file: LandingFile, exc: Exception) -> InputFileError:
    return InputFileError(
        file.relative,
        f"the gzip data is corrupt or truncated ({exc})",
        "download or export the file again; a partial copy cannot be loaded",
    )


def open_billing_file(file: LandingFile) -> BillingFileStream:
    if file.is_json:
        return _open_json(file)
    header, data_row = _read_head(file)
    fmt, columns = _detect(file, header, "header")
    return BillingFileStream(file=file, fmt=fmt, columns=columns, header=header,
                             column_names=_trailing_field_names(header, data_row))


def _detect(file: LandingFile, header: list[str], what: str) -> tuple[BillingFormat, dict[str, str]]:
    detected = detect_format(header)
    if detected is None:
        shown = ", ".join(header[:8]) + (", ..." if len(header) > 8 else "")
        raise InputFileError(
            file.relative,
            f"unknown billing format ({what}: {shown})",
            f"supported formats — {describe_expected_headers()}",
            line=1 if what == "header" else None,
        )
    return detected


def _open_json(file: LandingFile) -> BillingFileStream:
    """A JSON document, read whole (hashing its bytes) and flattened into text records."""
    hasher, raw = _open_bytes(file)
    try:
        with raw:
            data = raw.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise _gzip_error(file, exc) from exc
    except OSError as exc:
        if file.compressed:
            raise _gzip_error(file, exc) from exc
        raise InputFileError(file.relative, f"the file cannot be read ({exc})") from exc
    parsed = parse_json_records(data, file.relative)
    if parsed.records:
        fmt, columns = _detect(file, parsed.header, "keys of its transactions")
    else:  # an empty page (a sync response with nothing added) is valid and has no rows
        fmt, columns = FORMATS_BY_NAME[EMPTY_JSON_FORMAT], {}
    return BillingFileStream(file=file, fmt=fmt, columns=columns, header=parsed.header,
                             records=parsed.records, sha256=hasher.sha256.hexdigest())


class NeedsLineNumbers(Exception):
    """A malformed row was met while parsing in parallel, where pyarrow cannot tell its line:
    the caller starts the file again with ``parallel=False`` (rare: only broken exports)."""


def iter_chunks(
    stream: BillingFileStream, block_size: int = BLOCK_SIZE, parallel: bool = True
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Yield (chunk with canonical column names, line number of each row).

    The CSV is parsed in a background thread (pyarrow releases the GIL) while the caller stages
    the previous block, so parsing and staging overlap on two cores. The queue holds at most
    two parsed blocks: memory stays bounded whatever the file size."""
    if stream.records is not None:
        yield from _json_chunks(stream)
        return
    file = stream.file
    source_to_canonical = {src: canon for canon, src in stream.columns.items()}
    invalid_lines: list[int] = []
    unnumbered: list[str] = []
    recovered: list[tuple[int, str]] = []  # rows without the trailing empty field (column_names set)

    def on_invalid(row) -> str:
        # raising here would surface as a generic parse error, so note it and stop below
        if row.number is None:
            unnumbered.append(row.text)
        else:
            invalid_lines.append(row.number)
            if stream.column_names is not None and row.actual_columns == row.expected_columns - 1:
                recovered.append((row.number, row.text))
                return "skip"
        stream.malformed.append((row.number, row.text))
        return "skip"

    hasher, raw = _open_bytes(file)
    names = dict(column_names=stream.column_names, skip_rows=1) if stream.column_names is not None else {}
    options = dict(
        read_options=pacsv.ReadOptions(block_size=block_size, use_threads=parallel, **names),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            include_columns=list(stream.columns.values()),
            column_types={c: pa.string() for c in stream.columns.values()},
            null_values=NULL_VALUES,
            strings_can_be_null=True,
        ),
    )

    def batches() -> Iterator[pa.RecordBatch]:
        with raw:
            for batch in pacsv.open_csv(raw, **options):
                if unnumbered:
                    raise NeedsLineNumbers()
                yield batch
            if unnumbered:
                raise NeedsLineNumbers()
            while raw.read(1 << 20):  # drain, so the hash covers the whole file
                pass

    good_rows = 0
    try:
        for table in _prefetched(_regrouped(batches(), CHUNK_ROWS), depth=2):
            frame = table.to_pandas().rename(columns=source_to_canonical)
            lines = _line_numbers(good_rows, table.num_rows, invalid_lines)
            good_rows += table.num_rows
            yield frame, lines
        if recovered:
            yield _recovered_chunk(stream, recovered)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise _gzip_error(file, exc) from exc
    except pa.ArrowInvalid as exc:
        raise InputFileError(file.relative, f"the CSV cannot be parsed ({exc})", "check the delimiter, quoting and encoding (UTF-8)") from exc
    except OSError as exc:
        if file.compressed:
            raise _gzip_error(file, exc) from exc
        raise InputFileError(file.relative, f"the file cannot be read ({exc})") from exc
    stream.sha256 = hasher.sha256.hexdigest()


def _recovered_chunk(stream: BillingFileStream, recovered: list[tuple[int, str]]) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows of a trailing-field file that were written without the trailing field: parsed
    on their own with the header's columns (few rows: the csv module is fast enough)."""
    position = {name: i for i, name in enumerate(stream.header)}
    values = [next(csv.reader(io.StringIO(text)), []) for _, text in recovered]

    def cell(row: list[str], i: int) -> str | None:
        return row[i] if i < len(row) and row[i] not in NULL_VALUES else None

    frame = pd.DataFrame({canon: pd.Series([cell(row, position[src]) for row in values], dtype=STR)
                          for canon, src in stream.columns.items()})
    return frame, np.array([n for n, _ in recovered], dtype="int64")


def _json_chunks(stream: BillingFileStream) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """A JSON document's records in chunks; the line of record i (1-based) is i + 1."""
    records = stream.records or []
    for start in range(0, len(records), CHUNK_ROWS):
        part = records[start:start + CHUNK_ROWS]
        frame = pd.DataFrame({canon: pd.Series([r.get(src) for r in part], dtype=STR)
                              for canon, src in stream.columns.items()})
        yield frame, np.arange(start + 2, start + 2 + len(part), dtype="int64")


def _regrouped(batches: Iterator[pa.RecordBatch], min_rows: int) -> Iterator[pa.Table]:
    """Small parsed blocks gathered into tables of at least ``min_rows`` rows."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if batch.num_rows:
            pending.append(batch)
            count += batch.num_rows
        if count >= min_rows:
            yield pa.Table.from_batches(pending)
            pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


_DONE = object()


def _prefetched(source: Iterator, depth: int) -> Iterator:
    """Run ``source`` in a thread, ``depth`` items ahead; its exceptions re-raise here. If the
    consumer stops early, the thread is told to stop and is joined."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        items.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            items.put((_DONE, exc))

    worker = threading.Thread(target=produce, name="finops-csv-parse", daemon=True)
    worker.start()
    try:
        while True:
            item, error = items.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                items.get_nowait()
            worker.join(timeout=0.1)


def _line_numbers(first_index: int, count: int, invalid_lines: list[int]) -> np.ndarray:
    """Physical line of each good row: header is line 1; skipped malformed rows take their line.
    (A quoted value spanning several lines shifts the numbers after it; such exports are rare.)"""
    lines = np.arange(first_index + 2, first_index + 2 + count, dtype="int64")
    for n in sorted(invalid_lines):
        lines[lines >= n] += 1
    return lines
