"""Transactions landed as JSON (Plaid responses), as flat text records like the rows of a CSV.

A JSON document is read whole: unlike a CSV export it cannot be parsed in bounded blocks, and
the documents this accepts are small (a Plaid /transactions page holds at most 500 transactions).
Accepted layouts:

* a /transactions/get response: ``{"transactions": [...], "accounts": [...], ...}``;
* a /transactions/sync response: ``{"added": [...], "modified": [...], "removed": [...], ...}``.
  Only ``added`` is read: ``modified`` and ``removed`` change transactions of earlier pages,
  which one file cannot replay; land the full history (or /transactions/get) instead;
* a plain JSON list of transaction objects.

Nested objects are flattened to dotted names (``personal_finance_category.primary``), lists are
kept as JSON text, and every value is text as written (numbers keep their digits, booleans read
``true`` / ``false``), so the same format adapter reads a CSV and a JSON export alike. The line
number of a record is its 1-based position in the list plus 1, as if the list were CSV rows
under a header line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from finops_pipeline.ingest.errors import InputFileError

# the top-level keys that hold the transactions, by response
ENVELOPES = ("transactions", "added")
LAYOUTS = ("a Plaid /transactions/get response ({\"transactions\": [...]}), a /transactions/sync response "
           "({\"added\": [...]}) or a JSON list of transaction objects")


@dataclass
class JsonRecords:
    header: list[str]  # every flattened key, in order of first appearance
    records: list[dict[str, str | None]]


def _text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _flatten(obj: dict, prefix: str, out: dict[str, str | None]) -> None:
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            _flatten(value, name + ".", out)
        else:
            out[name] = _text(value if value != {} else None)


def parse_json_records(data: bytes, relative: str) -> JsonRecords:
    """The transactions of one JSON document; InputFileError when it is not JSON or not a layout
    this reads (naming the file and what to land instead)."""
    try:
        # numbers stay text exactly as written: no float rounding on the way in
        document = json.loads(data, parse_float=str, parse_int=str)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputFileError(relative, f"the file is not valid JSON ({exc})",
                             f"land {LAYOUTS}, saved as UTF-8") from exc
    items = document
    if isinstance(document, dict):
        key = next((k for k in ENVELOPES if isinstance(document.get(k), list)), None)
        if key is None:
            shown = ", ".join(list(document)[:8]) or "none"
            raise InputFileError(relative, f"unknown JSON layout (top-level keys: {shown})",
                                 f"land {LAYOUTS}; AWS CUR manifests are ignored when named *manifest.json")
        items = document[key]
    if not isinstance(items, list):
        raise InputFileError(relative, "unknown JSON layout (neither an object nor a list)", f"land {LAYOUTS}")
    header: dict[str, None] = {}
    records = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise InputFileError(relative, f"transaction {position} is not a JSON object", f"land {LAYOUTS}",
                                 line=position + 1)
        flat: dict[str, str | None] = {}
        _flatten(item, "", flat)
        records.append(flat)
        header.update(dict.fromkeys(flat))
    return JsonRecords(list(header), records)
