"""CSV responses: a header row, ISO dates, empty cells for null, and text that a spreadsheet would
run as a formula (=, +, -, @ first) prefixed with a quote."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from fastapi.responses import Response

MEDIA_TYPE = "text/csv; charset=utf-8"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_response(columns: Sequence[str], rows: Iterable[Sequence], filename: str,
                 headers: dict[str, str] | None = None) -> Response:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return Response(buf.getvalue(), media_type=MEDIA_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{filename}"', **(headers or {})})


# The next page's cursor, also as headers: how a CSV client pages (declared for the OpenAPI document).
PAGING_HEADERS = {
    "X-Next-Cursor": {"description": "Cursor of the next page (absent on the last page)", "schema": {"type": "string"}},
    "Link": {"description": 'RFC 8288 link to the next page: `<url>; rel="next"` (absent on the last page)',
             "schema": {"type": "string"}},
}

CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}, "example": "month,project,effective_cost\r\n2024-09,checkout,1234.56\r\n"}}
