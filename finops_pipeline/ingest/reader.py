"""Streaming a billing export in bounded chunks, whatever its size.

Memory is bounded by the block size, not the file: pyarrow's streaming CSV reader parses one
block at a time, and only the columns the detected format needs are converted.
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
from finops_pipeline.ingest.landing import LandingFile
from transforms.staging.billing_formats import BillingFormat, describe_expected_headers, detect_format

BLOCK_SIZE = 4 << 20  # bytes of CSV text per parsed block: pyarrow's reader buffers several
CHUNK_ROWS = 50_000  # rows staged at once: pandas' per-call overhead favours larger chunks
NULL_VALUES = ["", "NULL"]  # FOCUS writes the literal NULL for null


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


def _open_bytes(file: LandingFile) -> tuple[_HashingReader, io.BufferedIOBase]:
    hasher = _HashingReader(open(file.path, "rb"))
    buffered = io.BufferedReader(hasher, buffer_size=1 << 20)
    stream = gzip.GzipFile(fileobj=buffered, mode="rb") if file.compressed else buffered
    return hasher, stream


def read_header(file: LandingFile) -> list[str]:
    _, stream = _open_bytes(file)
    with stream:
        try:
            first = stream.readline(1 << 20)
        except (OSError, EOFError, zlib.error) as exc:
            raise _gzip_error(file, exc) from exc
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(file.relative, "the header is not UTF-8 text", "save the export as UTF-8 CSV") from exc
    rows = list(csv.reader([text]))
    if not rows or not any(c.strip() for c in rows[0]):
        raise InputFileError(file.relative, "the file is empty or has no header line", "export it again with a header row")
    return rows[0]


def _gzip_error(file: LandingFile, exc: Exception) -> InputFileError:
    return InputFileError(
        file.relative,
        f"the gzip data is corrupt or truncated ({exc})",
        "download or export the file again; a partial copy cannot be loaded",
    )


def open_billing_file(file: LandingFile) -> BillingFileStream:
    header = read_header(file)
    detected = detect_format(header)
    if detected is None:
        shown = ", ".join(header[:8]) + (", ..." if len(header) > 8 else "")
        raise InputFileError(
            file.relative,
            f"unknown billing format (header: {shown})",
            f"supported formats — {describe_expected_headers()}",
            line=1,
        )
    fmt, columns = detected
    return BillingFileStream(file=file, fmt=fmt, columns=columns)


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
    file = stream.file
    source_to_canonical = {src: canon for canon, src in stream.columns.items()}
    invalid_lines: list[int] = []
    unnumbered: list[str] = []

    def on_invalid(row) -> str:
        # raising here would surface as a generic parse error, so note it and stop below
        if row.number is None:
            unnumbered.append(row.text)
        else:
            invalid_lines.append(row.number)
        stream.malformed.append((row.number, row.text))
        return "skip"

    hasher, raw = _open_bytes(file)
    options = dict(
        read_options=pacsv.ReadOptions(block_size=block_size, use_threads=parallel),
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
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise _gzip_error(file, exc) from exc
    except pa.ArrowInvalid as exc:
        raise InputFileError(file.relative, f"the CSV cannot be parsed ({exc})", "check the delimiter, quoting and encoding (UTF-8)") from exc
    except OSError as exc:
        if file.compressed:
            raise _gzip_error(file, exc) from exc
        raise InputFileError(file.relative, f"the file cannot be read ({exc})") from exc
    stream.sha256 = hasher.sha256.hexdigest()


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
