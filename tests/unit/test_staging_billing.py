"""stage_billing_chunk + aggregate_daily (transforms/staging/billing.py).

Chunks are built the way the staging contract describes them: canonical column names, text
values, None for null.
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from transforms.money import conserved, exact_total
from transforms.staging.billing import (
    AMOUNTS,
    QUARANTINE_COLUMNS,
    REASONS,
    STAGED_COLUMNS,
    StagingContext,
    aggregate_daily,
    attribute_undated,
    stage_billing_chunk,
)

FOCUS_COLUMNS = ("charge_period_start", "billing_currency", "billed_cost", "effective_cost")


def chunk(rows: list[dict], columns=FOCUS_COLUMNS) -> pd.DataFrame:
    """A raw chunk: every column of ``columns`` plus any extra key used in ``rows``; object dtype."""
    cols = list(columns) + [k for r in rows for k in r if k not in columns]
    cols = list(dict.fromkeys(cols))
    return pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols, dtype=object)


def focus_row(**overrides) -> dict:
    row = {"charge_period_start": "2024-09-15", "billing_currency": "USD", "billed_cost": "1", "effective_cost": "1"}
    row.update(overrides)
    return row


def focus_ctx(**kw) -> StagingContext:
    return StagingContext(source_file=kw.pop("source_file", "aws/2024-09/x.csv"), format_name="focus", **kw)


def generic_ctx(**kw) -> StagingContext:
    return StagingContext(source_file=kw.pop("source_file", "gen.csv"), format_name="generic", **kw)


def lines_for(raw: pd.DataFrame, start: int = 2) -> np.ndarray:
    return np.arange(start, start + len(raw), dtype="int64")


# ------------------------------------------------------------------------------------------
# Project attribution


TAG_CASES = [
    # (tags, expected project) with the default keys ("project", "Project", "app")
    ('{"project": "alpha", "Project": "beta", "app": "gamma"}', "alpha"),
    ('{"app": "gamma", "Project": "beta"}', "beta"),  # key order in the JSON does not matter
    ('{"app": "gamma"}', "gamma"),
    ('{"project": "  padded  "}', "padded"),
    ('{"project": "", "app": "gamma"}', "gamma"),  # empty value skips to the next key
    ('{"project": "   ", "Project": "beta"}', "beta"),
    ('{"project": null, "app": "gamma"}', "gamma"),
    ('{"project": 42}', "42"),
]


@pytest.mark.parametrize("tags, expected", TAG_CASES)
def test_project_from_first_configured_tag_key(tags, expected):
    raw = chunk([focus_row(tags=tags, sub_account_id="acc-mapped")])
    staged, quarantine, _ = stage_billing_chunk(raw, lines_for(raw), focus_ctx(account_projects={"acc-mapped": "from-account"}))
    assert quarantine.empty
    assert staged["project"].tolist() == [expected]
    assert staged["project_source"].tolist() == ["tag"]


@pytest.mark.parametrize(
    "keys, expected",
    [
        (("app", "project"), "gamma"),
        (("project", "app"), "alpha"),
        (("Project",), "beta"),
        (("team", "app"), "gamma"),
    ],
)
def test_order_of_configured_tag_keys_decides(keys, expected):
    raw = chunk([focus_row(tags='{"project": "alpha", "Project": "beta", "app": "gamma"}')])
    staged, _, _ = stage_billing_chunk(raw, lines_for(raw), focus_ctx(project_tag_keys=keys))
    assert staged["project"].tolist() == [expected]
    assert staged["project_source"].tolist() == ["tag"]


@pytest.mark.parametrize(
    "tags",
    [
        None,  # no tags
        "{}",
        '{"owner": "someone"}',  # no configured key
        "{not json",  # malformed JSON
        '{"project": "alpha"',  # truncated JSON
        "[1, 2]",  # JSON but not an object
        '"alpha"',
        "42",
    ],
)
@pytest.mark.parametrize(
    "account, expected_project, expected_source",
    [("acc-1", "mapped-1", "account"), ("acc-unknown", "unallocated", "unallocated"), (None, "unallocated", "unallocated")],
)
def test_without_usable_tag_falls_back_to_account_then_unallocated(tags, account, expected_project, expected_source):
    raw = chunk([focus_row(tags=tags, sub_account_id=account, billed_cost="3.25")])
    staged, quarantine, _ = stage_billing_chunk(raw, lines_for(raw), focus_ctx(account_projects={"acc-1": "mapped-1"}))
    # the row is never lost, whatever its tags
    assert quarantine.empty
    assert len(staged) == 1
    assert staged["billed_cost"].tolist() == [3.25]
    assert staged["project"].tolist() == [expected_project]
    assert staged["project_source"].tolist() == [expected_source]


def test_project_attribution_per_row_in_a_mixed_chunk():
    raw = chunk(
        [
            focus_row(tags='{"project": "web"}', sub_account_id="acc-1"),
            focus_row(tags="{broken", sub_account_id="acc-1"),
            focus_row(tags=None, sub_account_id="acc-2"),
            focus_row(tags='{"project": "web"}', sub_account_id="acc-3"),
            focus_row(tags="{}", sub_account_id="acc-3"),
        ]
    )
    ctx = focus_ctx(account_projects={"acc-1": "billing", "acc-2": "data"})
    staged, quarantine, _ = stage_billing_chunk(raw, lines_for(raw), ctx)
    assert quarantine.empty
    assert staged["project"].tolist() == ["web", "billing", "data", "web", "unallocated"]
    assert staged["project_source"].tolist() == ["tag", "account", "account", "tag", "unallocated"]


def test_focus_without_tags_column_uses_account_mapping():
    raw = chunk([focus_row(sub_account_id="acc-1"), focus_row(sub_account_id="acc-2")])
    staged, _, _ = stage_billing_chunk(raw, lines_for(raw), focus_ctx(account_projects={"acc-1": "p1"}))
    assert staged["project"].tolist() == ["p1", "unallocated"]
    assert staged["project_source"].tolist() == ["account", "unallocated"]


GENERIC_COLUMNS = ("charge_period_start", "project", "service_name", "billed_cost")


def generic_row(**overrides) -> dict:
    row = {"charge_period_start": "2024-09-15", "project": "web", "service_name": "compute", "billed_cost": "2"}
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    "project, expected, source",
    [("web", "web", "column"), ("  web  ", "web", "column"), ("", "unallocated", "unallocated"),
     ("   ", "unallocated", "unallocated"), (None, "unallocated", "unallocated")],
)
def test_generic_project_column_or_unallocated(project, expected, source):
    raw = chunk([generic_row(project=project)], GENERIC_COLUMNS)
    staged, quarantine, _ = stage_billing_chunk(raw, lines_for(raw), generic_ctx(account_projects={"acc": "ignored"}))
    assert quarantine.empty
    assert staged["project"].tolist() == [expected]
    assert staged["project_source"].tolist() == [source]


@pytest.mark.parametrize("reporting", ["USD", "EUR", "CHF"])
def test_generic_without_currency_column_is_in_reporting_currency(reporting):
    raw = chunk([generic_row(), generic_row(billed_cost="5")], GENERIC_COLUMNS)
    staged, quarantine, _ = stage_billing_chunk(raw, lines_for(raw), generic_ctx(reporting_currency=reporting))
    assert quarantine.empty
    assert staged["billing_currency"].tolist() == [reporting, reporting]


def test_generic_with_currency_column_uses_it():
    raw = chunk([generic_row(billing_currency="gbp")], GENERIC_COLUMNS + ("billing_currency",))
    staged, _, _ = stage_billing_chunk(raw, lines_for(raw), generic_ctx(reporting_currency="USD"))
    assert staged["billing_currency"].tolist() == ["GBP"]


# ------------------------------------------------------------------------------------------
# Quarantine


QUARANTINE_CASES = [
    ("missing_date", {"charge_period_start": None}),
    ("missing_date", {"charge_period_start": ""}),
    ("missing_date", {"charge_period_start": "   "}),
    ("unparseable_date", {"charge_period_start": "yesterday"}),
    ("unparseable_date", {"charge_period_start": "15/09/2024"}),
    ("unparseable_date", {"charge_period_start": "2024-09-31"}),
    ("date_out_of_range", {"charge_period_start": "1999-12-31"}),
    ("date_out_of_range", {"charge_period_start": "2101-01-02T00:00:00Z"}),
    ("missing_amount", {"billed_cost": None}),
    ("missing_amount", {"billed_cost": " "}),
    ("unparseable_amount", {"billed_cost": "NaN"}),
    ("unparseable_amount", {"billed_cost": "nan"}),
    ("unparseable_amount", {"billed_cost": "inf"}),
    ("unparseable_amount", {"billed_cost": "-Infinity"}),
    ("unparseable_amount", {"billed_cost": "1,234.5"}),
    ("unparseable_amount", {"billed_cost": "$12"}),
    ("unparseable_amount", {"billed_cost": "12 USD"}),
    ("unparseable_amount", {"effective_cost": "abc"}),  # any amount column counts
    ("unparseable_amount", {"list_cost": "1.2.3"}),
    ("invalid_currency", {"billing_currency": "EURO"}),
    ("invalid_currency", {"billing_currency": "US$"}),
    ("invalid_currency", {"billing_currency": "XXX"}),
    ("invalid_currency", {"billing_currency": None}),
]


@pytest.mark.parametrize("reason, bad", QUARANTINE_CASES, ids=[f"{r}-{next(iter(b.values()))!r}" for r, b in QUARANTINE_CASES])
def test_each_quarantine_reason_with_line_number_and_raw_values(reason, bad):
    rows = [focus_row(billed_cost="1"), focus_row(**{"billed_cost": "2", **bad}), focus_row(billed_cost="4")]
    raw = chunk(rows, FOCUS_COLUMNS + ("list_cost",))
    # line numbers need not be contiguous (the reader skips malformed lines)
    line_numbers = np.array([10, 12, 13], dtype="int64")
    staged, quarantine, _ = stage_billing_chunk(raw, line_numbers, focus_ctx())
    assert staged["billed_cost"].tolist() == [1.0, 4.0]
    assert list(quarantine.columns) == list(QUARANTINE_COLUMNS)
    assert len(quarantine) == 1
    q = quarantine.iloc[0]
    assert q["reason"] == reason
    assert q["detail"].endswith(REASONS[reason])
    assert int(q["line_number"]) == 12
    assert q["source_file"] == "aws/2024-09/x.csv"
    # raw_values: the original text of the row, nulls left out
    expected = {k: v for k, v in rows[1].items() if v is not None}
    assert json.loads(q["raw_values"]) == expected


@pytest.mark.parametrize("currency, expected", [("usd", "USD"), (" eur ", "EUR"), ("Gbp", "GBP"), ("JPY", "JPY")])
def test_currency_is_case_insensitive_and_stripped(currency, expected):
    raw = chunk([focus_row(billing_currency=currency)])
    staged, quarantine, _ = stage_billing_chunk(raw, lines_for(raw), focus_ctx())
    assert quarantine.empty
    assert staged["billing_currency"].tolist() == [expected]


@pytest.mark.parametrize(
    "text, value",
    [("0", 0.0), ("-3.5", -3.5), (" 2.25 ", 2.25), ("+7", 7.0), ("1e3", 1000.0), ("0.000001", 0.000001)],
)
def test_plain_decimals_are_accepted(text, value):
    raw = chunk([focus_row(billed_cost=text, effective_cost=text)])
    staged, quarantine, _ = stage_billing_chunk(raw, lines_for(raw), focus_ctx())
    assert quarantine.empty
    assert staged["billed_cost"].tolist() == [value]


def test_first_applicable_reason_wins():
    raw = chunk(
        [
            focus_row(charge_period_start=None, billed_cost="x", billing_currency="EURO"),
            focus_row(charge_period_start="nope", billed_cost=None, billing_currency="EURO"),
            focus_row(charge_period_start="1990-01-01", billed_cost="x"),
            focus_row(billed_cost=None, effective_cost="x", billing_currency="EURO"),
            focus_row(billed_cost="x", billing_currency="EURO"),
        ]
    )
    _, quarantine, _ = stage_billing_chunk(raw, lines_for(raw), focus_ctx())
    assert quarantine["reason"].tolist() == [
        "missing_date", "unparseable_date", "date_out_of_range", "missing_amount", "unparseable_amount",
    ]
    assert quarantine["line_number"].tolist() == [2, 3, 4, 5, 6]


def test_date_range_bounds_are_inclusive():
    ctx = focus_ctx(first_date=date(2024, 9, 1), last_date=date(2024, 9, 30))
    raw = chunk(
        [
            focus_row(charge_period_start="2024-08-31T23:59:59Z"),
            focus_row(charge_period_start="2024-09-01T00:00:00Z"),
            focus_row(charge_period_start="2024-09-30T23:59:59Z"),
            focus_row(charge_period_start="2024-10-01"),
        ]
    )
    staged, quarantine, _ = stage_billing_chunk(raw, lines_for(raw), ctx)
    assert staged["charge_date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-09-01", "2024-09-30"]
    assert quarantine["reason"].tolist() == ["date_out_of_range", "date_out_of_range"]
    assert quarantine["line_number"].tolist() == [2, 5]


def test_raw_values_use_source_column_names():
    raw = chunk([focus_row(billed_cost="oops", tags='{"project": "x"}')])
    ctx = focus_ctx(source_columns={"charge_period_start": "ChargePeriodStart", "billed_cost": "BilledCost", "tags": "Tags"})
    _, quarantine, _ = stage_billing_chunk(raw, lines_for(raw), ctx)
    assert json.loads(quarantine.loc[0, "raw_values"]) == {
        "ChargePeriodStart": "2024-09-15",
        "billing_currency": "USD",  # no source name known: canonical name
        "BilledCost": "oops",
        "effective_cost": "1",
        "Tags": '{"project": "x"}',
    }


def test_quarantined_row_keeps_parseable_amounts_and_currency():
    raw = chunk([focus_row(charge_period_start="bad", billed_cost="12.5", effective_cost="10", billing_currency="eur")])
    _, quarantine, _ = stage_billing_chunk(raw, lines_for(raw), focus_ctx())
    q = quarantine.iloc[0]
    assert (q["billed_cost"], q["effective_cost"], q["billing_currency"]) == (12.5, 10.0, "EUR")


@pytest.mark.parametrize(
    "charge, period, expected_month",
    [
        ("2024-09-15", None, "2024-09"),  # invalid currency: month of the charge date
        (None, "2024-08-01T00:00:00Z", "2024-08"),  # no date: month of the billing period
        ("garbage", "2024-07-01", "2024-07"),
        ("1990-01-01", "2024-06-01", "2024-06"),  # out of range: billing period instead
        (None, None, None),  # nothing usable: attributed later (attribute_undated)
        (None, "1990-01-01", None),  # billing period out of range too
    ],
)
def test_quarantine_billing_month(charge, period, expected_month):
    raw = chunk([focus_row(charge_period_start=charge, billing_period_start=period, billing_currency="EURO")])
    _, quarantine, _ = stage_billing_chunk(raw, lines_for(raw), focus_ctx())
    month = quarantine.loc[0, "billing_month"]
    if expected_month is None:
        assert pd.isna(month)
        assert attribute_undated(quarantine, "2024-05").loc[0, "billing_month"] == "2024-05"
    else:
        assert month == expected_month
        # a known month is never overwritten by the fallback
        assert attribute_undated(quarantine, "2024-05").loc[0, "billing_month"] == expected_month


# ------------------------------------------------------------------------------------------
# Dates


@pytest.mark.parametrize(
    "text, day",
    [
        ("2024-09-15", "2024-09-15"),
        ("2024-09-15T23:59:59Z", "2024-09-15"),
        ("2024-09-15T00:30:00+02:00", "2024-09-14"),  # 22:30 UTC the day before
        ("2024-09-15T23:30:00-02:00", "2024-09-16"),  # 01:30 UTC the day after
        ("2024-09-30T23:00:00-02:00", "2024-10-01"),  # crosses the month boundary too
        ("2024-10-01T01:00:00+02:00", "2024-09-30"),
        ("2024-09-15T12:00:00.123456Z", "2024-09-15"),
        ("2024-09-15 08:00:00", "2024-09-15"),
    ],
)
def test_timestamps_go_to_their_utc_day_and_month(text, day):
    raw = chunk([focus_row(charge_period_start=text), focus_row(charge_period_start="2024-09-10T05:00:00+05:00")])
    staged, quarantine, _ = stage_billing_chunk(raw, lines_for(raw), focus_ctx())
    assert quarantine.empty
    assert staged["charge_date"].iloc[0] == pd.Timestamp(day)
    assert staged["billing_month"].iloc[0] == day[:7]
    assert staged["charge_date"].iloc[1] == pd.Timestamp("2024-09-10")


# ------------------------------------------------------------------------------------------
# Amount fallbacks


@pytest.mark.parametrize(
    "effective, listed, expected",
    [
        (None, None, (5.0, 5.0, 5.0)),
        ("4", None, (5.0, 4.0, 5.0)),
        (None, "6", (5.0, 5.0, 6.0)),
        ("", "  ", (5.0, 5.0, 5.0)),
        ("4", "6", (5.0, 4.0, 6.0)),
        ("0", "0", (5.0, 0.0, 0.0)),  # zero is a value, not a null
    ],
)
def test_effective_and_list_cost_null_fall_back_to_billed(effective, listed, expected):
    raw = chunk([focus_row(billed_cost="5", effective_cost=effective, list_cost=listed)], FOCUS_COLUMNS + ("list_cost",))
    staged, quarantine, _ = stage_billing_chunk(raw, lines_for(raw), focus_ctx())
    assert quarantine.empty
    assert tuple(staged[["billed_cost", "effective_cost", "list_cost"]].iloc[0]) == expected


def test_list_cost_column_absent_falls_back_to_billed():
    raw = chunk([focus_row(billed_cost="5", effective_cost="3")])
    staged, _, _ = stage_billing_chunk(raw, lines_for(raw), focus_ctx())
    assert staged["list_cost"].tolist() == [5.0]


# ------------------------------------------------------------------------------------------
# Conservation


def mixed_chunk() -> tuple[pd.DataFrame, list[str]]:
    """A chunk of good and bad rows, and each row's expected outcome ('ok' or reason)."""
    rng = np.random.default_rng(7)
    currencies = ["USD", "EUR", "usd", "GBP"]
    rows, outcome = [], []
    bad_cycle = [
        ({"charge_period_start": None}, "missing_date"),
        ({"charge_period_start": "bad"}, "unparseable_date"),
        ({"charge_period_start": "1980-01-01"}, "date_out_of_range"),
        ({"billed_cost": None}, "missing_amount"),
        ({"billed_cost": "NaN"}, "unparseable_amount"),
        ({"billed_cost": "1,000.25"}, "unparseable_amount"),
        ({"billing_currency": "EURO"}, "invalid_currency"),
    ]
    for i in range(300):
        amount = f"{rng.uniform(-50, 500):.6f}"
        row = focus_row(
            charge_period_start=f"2024-{8 + i % 3:02d}-{1 + i % 28:02d}T{i % 24:02d}:15:00Z",
            billing_currency=currencies[i % 4],
            billed_cost=amount,
            effective_cost=amount if i % 5 else None,
            sub_account_id=f"acc-{i % 3}",
            service_name=["EC2", "S3"][i % 2],
            tags='{"project": "web"}' if i % 2 else None,
        )
        if i % 11 == 3:
            change, reason = bad_cycle[(i // 11) % len(bad_cycle)]
            row.update(change)
            outcome.append(reason)
        else:
            outcome.append("ok")
        rows.append(row)
    return chunk(rows), outcome


def test_every_row_is_staged_or_quarantined_exactly_once():
    raw, outcome = mixed_chunk()
    lines = lines_for(raw, start=2)
    staged, quarantine, _ = stage_billing_chunk(raw, lines, focus_ctx(first_date=date(2000, 1, 1)))
    assert len(staged) + len(quarantine) == len(raw)
    assert len(staged) == outcome.count("ok")
    assert quarantine["reason"].tolist() == [r for r in outcome if r != "ok"]
    assert quarantine["line_number"].tolist() == [int(lines[i]) for i, r in enumerate(outcome) if r != "ok"]
    # staged rows are exactly the 'ok' rows (index preserved from the chunk)
    assert staged.index.tolist() == [i for i, r in enumerate(outcome) if r == "ok"]


def test_staged_billed_total_is_parseable_input_minus_quarantined():
    raw, _ = mixed_chunk()
    staged, quarantine, _ = stage_billing_chunk(raw, lines_for(raw), focus_ctx())
    parseable = pd.to_numeric(raw["billed_cost"], errors="coerce")
    parseable = parseable[np.isfinite(parseable)]
    total_in = exact_total(parseable)
    total_quarantined = exact_total(quarantine["billed_cost"])
    total_staged = exact_total(staged["billed_cost"])
    assert total_staged != 0
    assert conserved(total_in - total_quarantined, total_staged, len(raw))
    # per currency as well (currency is upper-cased on staging)
    per_currency_in = {}
    good = raw.loc[staged.index]
    for cur, grp in good.groupby(good["billing_currency"].str.upper()):
        per_currency_in[cur] = exact_total(pd.to_numeric(grp["billed_cost"]))
    for cur, grp in staged.groupby("billing_currency"):
        assert conserved(per_currency_in[cur], exact_total(grp["billed_cost"]), len(grp))
    assert set(per_currency_in) == set(staged["billing_currency"]) == {"USD", "EUR", "GBP"}


def test_aggregate_daily_preserves_totals_and_row_counts():
    raw, _ = mixed_chunk()
    staged, _, _ = stage_billing_chunk(raw, lines_for(raw), focus_ctx())
    daily = aggregate_daily(staged)
    assert list(daily.columns) == list(STAGED_COLUMNS)
    assert len(daily) < len(staged)  # rows were actually combined
    assert int(daily["source_rows"].sum()) == len(staged)
    for a in AMOUNTS:
        assert conserved(exact_total(staged[a]), exact_total(daily[a]), len(staged))
    by = ["billing_month", "billing_currency", "project"]
    before = staged.groupby(by)[list(AMOUNTS)].sum()
    after = daily.groupby(by)[list(AMOUNTS)].sum()
    pd.testing.assert_frame_equal(before.sort_index(), after.sort_index(), rtol=1e-12)
    # the grain is unique after aggregation
    grain = [c for c in STAGED_COLUMNS if c not in AMOUNTS and c != "source_rows"]
    assert not daily.duplicated(grain).any()


def test_aggregate_daily_keeps_null_grain_values_apart():
    raw = chunk(
        [
            focus_row(billed_cost="1", region=None),
            focus_row(billed_cost="2", region=None),
            focus_row(billed_cost="4", region="eu-west-1"),
            focus_row(billed_cost="8", region="eu-west-1", charge_period_start="2024-09-16"),
        ]
    )
    staged, _, _ = stage_billing_chunk(raw, lines_for(raw), focus_ctx())
    daily = aggregate_daily(staged)
    got = sorted(zip(daily["region"].fillna("<null>"), daily["charge_date"].dt.day, daily["billed_cost"], daily["source_rows"]))
    assert got == [("<null>", 15, 3.0, 2), ("eu-west-1", 15, 4.0, 1), ("eu-west-1", 16, 8.0, 1)]


def test_aggregate_daily_of_empty_staged_has_the_schema():
    raw = chunk([focus_row(charge_period_start=None)])
    staged, quarantine, _ = stage_billing_chunk(raw, lines_for(raw), focus_ctx())
    assert staged.empty and len(quarantine) == 1
    daily = aggregate_daily(staged)
    assert daily.empty
    assert list(daily.columns) == list(STAGED_COLUMNS)
