"""Billing export formats, recognised from a file's header alone.

Each format maps its source columns onto the canonical cost schema (snake_case FOCUS, see
docs/formats.md). Detection is by column names, never by file name, so exports can be renamed
or nested in any folder. The most specific formats are tried first; generic last.
"""

from __future__ import annotations

from transforms.staging.formats.aws_cur import AWS_CUR, AWS_CUR2
from transforms.staging.formats.azure import AZURE_EA, AZURE_MCA
from transforms.staging.formats.bank import CAPITAL_ONE, CHASE_CARD, CHASE_CHECKING, DISCOVER, PLAID
from transforms.staging.formats.base import BillingFormat
from transforms.staging.formats.focus import FOCUS, GENERIC
from transforms.staging.formats.gcp import GCP
from transforms.staging.formats.ledger import GENERAL_LEDGER

# Tried in this order: the first whose required columns are all present claims the header.
FORMATS: tuple[BillingFormat, ...] = (
    FOCUS,
    AWS_CUR,
    AWS_CUR2,
    GENERAL_LEDGER,
    AZURE_EA,
    AZURE_MCA,
    GCP,
    CHASE_CARD,
    CHASE_CHECKING,
    DISCOVER,
    CAPITAL_ONE,
    PLAID,
    GENERIC,
)
FORMATS_BY_NAME = {f.name: f for f in FORMATS}


def detect_format(header: list[str]) -> tuple[BillingFormat, dict[str, str]] | None:
    """The first format whose required columns are all in ``header``, with its column map."""
    cleaned = [h.strip().lstrip("\ufeff") for h in header]
    for fmt in FORMATS:
        resolved = fmt.resolve(cleaned)
        if resolved is not None:
            # map back to the raw header spelling so the reader can select the columns
            raw = {c: header[cleaned.index(h)] for c, h in resolved.items()}
            return fmt, raw
    return None


def describe_expected_headers() -> str:
    """One line per format, for the 'unknown header' error message."""
    lines = []
    for fmt in FORMATS:
        req = [fmt.columns[c][0] for c in fmt.required]
        lines.append(f"{fmt.title}: needs columns {', '.join(req)}")
    return "; ".join(lines)
