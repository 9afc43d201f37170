"""What every billing format adapter is made of, and the row checks they share.

An adapter turns the text columns of one export (named by *role*, see ``BillingFormat.columns``)
into an ``Adapted`` chunk: the charge day, the three canonical amounts, the currency and the
dimensions of every row, plus, per row, the first problem found (quarantined, with the source
column it is about) or the reason it is not a cost at all (excluded, e.g. a card payment).
Staging (transforms/staging/billing.py) does the rest the same way for every format.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from transforms.currencies import ISO_4217_CODES
from transforms.staging.parsing import STR, parse_amounts, parse_charge_dates, upper

# Quarantine reasons. A row gets the first that applies, in the order the adapter checks them
# (dates, then amounts, then currency, then the format's own fields).
REASONS = {
    "malformed_row": "the row does not have as many fields as the header; fix the quoting or delimiters",
    "missing_date": "the charge date is empty; every billed row needs one",
    "unparseable_date": "the charge date cannot be read; write it as the format does (ISO 8601 YYYY-MM-DD, "
                        "or MM/DD/YYYY where the provider writes that)",
    "date_out_of_range": "the charge date is outside the supported billing months; check the year",
    "missing_amount": "the cost is empty; a billed row needs a number (0 is allowed)",
    "unparseable_amount": "a cost is not a plain decimal number; remove currency signs and thousands separators",
    "invalid_currency": "the currency is not an ISO 4217 code (e.g. USD, EUR); fix the currency column",
    "unknown_line_item_type": "the AWS line item type is not one this pipeline knows how to cost; "
                              "see docs/formats.md for the supported types",
    "invalid_fiscal_period": "the fiscal year is not a 4-digit year or the posting period is not a whole number "
                             "1-16 (periods 1-12, special periods 13-16)",
    "invalid_debit_credit": "the debit/credit indicator is neither S (debit) nor H (credit)",
    "unparseable_credits": "the credits column is not a JSON list of objects with a numeric amount",
    "ambiguous_amount": "both Debit and Credit are filled (or neither); a statement line has exactly one",
    "unknown_transaction_type": "the transaction type is not one this pipeline knows; see docs/formats.md",
}

# Why a readable row is not a cost. Excluded rows are kept in excluded_billing_rows, so that
# every input row is loaded, excluded or quarantined.
EXCLUSIONS = {
    "card_payment": "a payment of a card balance: the purchases it pays are the costs",
    "transfer": "money moved between the organisation's own accounts",
    "deposit": "money received (income, deposit or interest), not spent",
    "pending": "a pending transaction: it is counted once it posts, under its posted row",
}


@dataclass(frozen=True)
class AdaptContext:
    """What an adapter may know besides the rows (a subset of the staging context)."""

    reporting_currency: str = "USD"
    first_date: date = date(2000, 1, 1)
    last_date: date = date(2100, 1, 1)
    source_columns: dict[str, str] = field(default_factory=dict)  # role -> column name in the file
    source_file: str = ""
    fiscal_year_start_month: int = 1  # general-ledger exports: month in which fiscal year starts
    fiscal_year_named_by: str = "start"  # "start" or "end": which calendar year names a fiscal year


class SourceRows:
    """The cleaned text columns of a chunk by role; an absent role reads as all null."""

    def __init__(self, columns: dict[str, pd.Series], index: pd.Index):
        self.columns, self.index = columns, index

    def __contains__(self, role: str) -> bool:
        return role in self.columns

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, role: str) -> pd.Series:
        found = self.columns.get(role)
        return found if found is not None else pd.Series(np.nan, index=self.index, dtype=STR)

    def get(self, role: str, default: pd.Series | None = None) -> pd.Series | None:
        """The column of ``role``, or ``default`` when the file has none."""
        return self.columns.get(role, default)

    def with_prefix(self, prefix: str) -> dict[str, pd.Series]:
        """Columns whose role starts with ``prefix`` (e.g. ``tag:``), keyed by the rest."""
        return {role[len(prefix):]: s for role, s in self.columns.items() if role.startswith(prefix)}


class RowChecks:
    """The first problem of each row and the source column it concerns."""

    def __init__(self, index: pd.Index, ctx: AdaptContext):
        self.ctx = ctx
        self.reason = pd.Series(None, index=index, dtype="object")
        self.field = pd.Series(None, index=index, dtype="object")

    def column(self, role: str) -> str:
        return self.ctx.source_columns.get(role, role)

    def flag(self, mask, reason: str, role: str) -> None:
        fresh = pd.Series(np.asarray(mask, dtype=bool), index=self.reason.index) & self.reason.isna()
        if fresh.any():
            self.reason[fresh] = reason
            self.field[fresh] = self.column(role)

    @property
    def bad(self) -> pd.Series:
        return self.reason.notna()

    def date(self, rows: SourceRows, role: str, style: str = "iso",
             parse: Callable[[pd.Series], pd.Series] | None = None) -> pd.Series:
        """The charge day from ``role``, read as ``style`` (parse_charge_dates) or with the format's
        own ``parse`` (text -> day, NaT where unreadable): missing, unreadable or out-of-range days
        are flagged."""
        text = rows[role]
        day = parse_charge_dates(text, style) if parse is None else parse(text)
        self.flag(text.isna(), "missing_date", role)
        self.flag(day.isna(), "unparseable_date", role)
        self.flag(~self.in_range(day), "date_out_of_range", role)
        return day

    def in_range(self, day: pd.Series) -> pd.Series:
        return (day >= pd.Timestamp(self.ctx.first_date)) & (day <= pd.Timestamp(self.ctx.last_date))

    def amount(self, rows: SourceRows, role: str, required: bool = True) -> pd.Series:
        """An amount column: empty is flagged when ``required``; text that is no number always."""
        text = rows[role]
        value = parse_amounts(text)
        if required:
            self.flag(text.isna(), "missing_amount", role)
        self.flag(text.notna() & value.isna(), "unparseable_amount", role)
        return value

    def currency(self, rows: SourceRows, role: str | None) -> pd.Series:
        """ISO 4217 code from ``role``; no such column means the reporting currency. An empty
        cell in a currency column is invalid (ambiguous, so quarantined rather than guessed)."""
        if role is None or role not in rows:
            return pd.Series(self.ctx.reporting_currency, index=self.reason.index, dtype=STR)
        code = upper(rows[role])
        self.flag(~code.isin(ISO_4217_CODES), "invalid_currency", role)
        return code


@dataclass
class Adapted:
    """One chunk of one export in canonical terms (index = the chunk's rows)."""

    charge_date: pd.Series  # datetime64 day
    billed_cost: pd.Series  # float64
    billing_currency: pd.Series
    checks: RowChecks
    effective_cost: pd.Series | None = None  # null -> billed_cost stands in
    list_cost: pd.Series | None = None  # null -> billed_cost stands in
    dimensions: dict[str, pd.Series] = field(default_factory=dict)  # canonical dimension -> text
    project: pd.Series | None = None  # an explicit project column (generic); else tags / mappings
    tags: pd.Series | None = None  # tag text per row, read with tag_parser
    tag_parser: Callable[[str], dict | None] | None = None
    tag_columns: dict[str, pd.Series] = field(default_factory=dict)  # tag key -> value (one column per tag)
    period_text: pd.Series | None = None  # billing period start: files an undated bad row under a month
    period_style: str = "iso"
    excluded: pd.Series | None = None  # EXCLUSIONS code, or None for a cost
    written_amount: pd.Series | None = None  # excluded rows: the amount as the file writes it
    description: pd.Series | None = None  # excluded rows: what the statement line says


@dataclass(frozen=True)
class BillingFormat:
    name: str  # stored nowhere but the scan cache; "focus", "aws_cur", ...
    title: str  # for messages and docs
    columns: dict[str, tuple[str, ...]]  # role -> candidate source columns, first present wins
    required: tuple[str, ...]  # roles whose column must be present for the header to be this format
    adapt: Callable[[SourceRows, AdaptContext], Adapted]
    case_insensitive: bool = False
    prefixes: dict[str, str] = field(default_factory=dict)  # role prefix -> source column prefix

    def resolve(self, header: list[str]) -> dict[str, str] | None:
        """Map role -> actual header name, or None when a required column is absent."""
        lookup = {(h.lower() if self.case_insensitive else h): h for h in header}
        resolved: dict[str, str] = {}
        for role, candidates in self.columns.items():
            for candidate in candidates:
                key = candidate.lower() if self.case_insensitive else candidate
                if key in lookup:
                    resolved[role] = lookup[key]
                    break
        if not all(r in resolved for r in self.required):
            return None
        for role_prefix, source_prefix in self.prefixes.items():
            for h in header:
                if h.startswith(source_prefix) and len(h) > len(source_prefix):
                    resolved[role_prefix + h[len(source_prefix):]] = h
        return resolved
