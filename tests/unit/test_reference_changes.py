"""Which assets and which date windows a change of the reference folder reaches
(finops_pipeline/defs/reference/changes.py), on small reference folders written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finops_pipeline.defs.reference.changes import (
    Impact,
    changed_files,
    impacts,
    months_in,
    snapshot,
)

RULE_ROOTS = ("stg_allocation_rules", "int_costs_allocated")
PRICING_ROOTS = ("stg_pricing", "fct_costs_daily")
FX_ROOTS = ("stg_fx_rates", "int_costs_converted")
PROJECT_ROOTS = ("dim_projects", "stg_billing", "quarantine_billing_rows")

# Billing months with data in the warehouse, for months_in.
DATA_MONTHS = [f"2024-{m:02d}" for m in (11, 12)] + [f"2025-{m:02d}" for m in range(1, 13)]


def rule(rid: str, frm: str, to: str, start: str | None = None, end: str | None = None,
         active: bool | None = None, description: str | None = None) -> str:
    lines = [f"  - id: {rid}"]
    if description is not None:
        lines.append(f"    description: {description}")
    if active is not None:
        lines.append(f"    active: {'true' if active else 'false'}")
    lines += ["    type: rename_project", f"    from: {frm}", f"    to: {to}"]
    if start:
        lines.append(f"    start: {start}")
    if end:
        lines.append(f"    end: {end}")
    return "\n".join(lines) + "\n"


EARLY = rule("r-early", "a", "b", "2025-01-01", "2025-03-31", description="early rule")
MID = rule("r-mid", "c", "d", start="2025-06-01")
LATE = rule("r-late", "e", "f", "2025-09-01", "2025-09-30")
OFF = rule("r-off", "g", "h", end="2024-12-31", active=False)
BASE_RULES = [EARLY, MID, LATE, OFF]

PRICING = "service,markup_pct,start,end\n*,5,,\nAmazon EC2,8,2025-01-01,2025-06-30\nAmazon EC2,10,2025-07-01,\n"
FX = ("month,currency,rate\n2025-09,EUR,1.17\n2025-09,GBP,1.33\n2025-10,EUR,1.16\n2025-10,GBP,1.32\n"
      "2025-11,EUR,1.15\n2025-11,GBP,1.31\n2025-12,EUR,1.14\n2025-12,GBP,1.30\n")
PROJECTS = "project,code,owner,team,account_id\ncheckout,CHK,ann@example.com,payments,111\nsearch,SRC,bob@example.com,discovery,222\n"
BUDGETS = "project,month,amount,currency\ncheckout,2025-09,1000,USD\nsearch,2025-09,500,USD\n"


def write_rules(ref: Path, rules: list[str], header: str = "# allocation rules\n") -> None:
    (ref / "rules.yaml").write_text(header + "rules:\n" + "\n".join(rules))


@pytest.fixture
def ref(tmp_path: Path) -> Path:
    ref = tmp_path / "reference"
    ref.mkdir()
    write_rules(ref, BASE_RULES)
    (ref / "pricing.csv").write_text(PRICING)
    (ref / "fx_rates.csv").write_text(FX)
    (ref / "projects.csv").write_text(PROJECTS)
    (ref / "budgets.csv").write_text(BUDGETS)
    return ref


def take(ref: Path) -> dict:
    """A snapshot as the sensor keeps it: through its JSON cursor."""
    return json.loads(json.dumps(snapshot(ref)))


def only(found: list[Impact], file: str) -> Impact:
    assert [i.file for i in found] == [file], found
    return found[0]


def test_base_folder_is_valid(ref):
    snap = take(ref)
    assert snap["rule_problems"] == []
    assert [r[0] for r in snap["rules"]] == ["r-early", "r-mid", "r-late", "r-off"]
    assert snap["pricing"] is not None and len(snap["pricing"]) == 3
    assert snap["fx"] is not None and len(snap["fx"]) == 8
    assert all(snap["digests"][name] for name in ("rules.yaml", "pricing.csv", "projects.csv", "fx_rates.csv", "budgets.csv"))


def test_snapshot_survives_the_json_cursor(ref):
    old_direct, old_json = snapshot(ref), take(ref)
    write_rules(ref, [EARLY.replace("2025-03-31", "2025-04-30"), MID, LATE, OFF])
    (ref / "pricing.csv").write_text(PRICING.replace("*,5", "*,6"))
    new = snapshot(ref)
    assert impacts(old_direct, new) == impacts(old_json, json.loads(json.dumps(new)))


def test_no_change_no_impacts(ref):
    old = take(ref)
    new = take(ref)
    assert changed_files(old, new) == []
    assert impacts(old, new) == []


# --- rules.yaml -------------------------------------------------------------------------------


def test_editing_a_rules_window_reaches_its_old_and_new_window(ref):
    old = take(ref)
    write_rules(ref, [EARLY.replace("2025-03-31", "2025-04-30"), MID, LATE, OFF])
    impact = only(impacts(old, take(ref)), "rules.yaml")
    assert impact.roots == RULE_ROOTS
    assert set(impact.windows) == {("2025-01-01", "2025-03-31"), ("2025-01-01", "2025-04-30")}
    assert "r-early" in impact.reason and "r-mid" not in impact.reason
    assert months_in(impact.windows, DATA_MONTHS) == ["2025-01", "2025-02", "2025-03", "2025-04"]


def test_moving_a_rules_start_reaches_both_windows(ref):
    old = take(ref)
    write_rules(ref, [EARLY, MID.replace("2025-06-01", "2025-08-01"), LATE, OFF])
    impact = only(impacts(old, take(ref)), "rules.yaml")
    assert set(impact.windows) == {("2025-06-01", None), ("2025-08-01", None)}
    assert months_in(impact.windows, DATA_MONTHS) == [f"2025-{m:02d}" for m in range(6, 13)]


def test_editing_a_rules_parameters_reaches_its_window(ref):
    old = take(ref)
    write_rules(ref, [EARLY, MID, LATE.replace("to: f", "to: z"), OFF])
    assert only(impacts(old, take(ref)), "rules.yaml").windows == (("2025-09-01", "2025-09-30"),)


def test_appending_a_rule_with_a_window_reaches_only_its_window(ref):
    old = take(ref)
    write_rules(ref, [*BASE_RULES, rule("r-new", "k", "l", "2025-11-01", "2025-11-30")])
    impact = only(impacts(old, take(ref)), "rules.yaml")
    assert impact.windows == (("2025-11-01", "2025-11-30"),)
    assert months_in(impact.windows, DATA_MONTHS) == ["2025-11"]


def test_inserting_a_rule_does_not_count_as_moving_the_others(ref):
    old = take(ref)
    write_rules(ref, [EARLY, rule("r-new", "k", "l", "2025-11-01", "2025-11-30"), MID, LATE, OFF])
    impact = only(impacts(old, take(ref)), "rules.yaml")
    assert impact.windows == (("2025-11-01", "2025-11-30"),)
    assert impact.reason == "rules changed: r-new"


def test_removing_an_active_rule_reaches_its_window(ref):
    old = take(ref)
    write_rules(ref, [EARLY, MID, OFF])
    impact = only(impacts(old, take(ref)), "rules.yaml")
    assert impact.windows == (("2025-09-01", "2025-09-30"),)


@pytest.mark.parametrize("rules", [
    pytest.param([*BASE_RULES, rule("r-new-off", "k", "l", "2025-02-01", active=False)], id="add-inactive"),
    pytest.param([EARLY, rule("r-new-off", "k", "l", active=False), MID, LATE, OFF], id="insert-inactive-without-window"),
    pytest.param([EARLY, MID, LATE], id="remove-inactive"),
])
def test_adding_or_removing_an_inactive_rule_changes_nothing(ref, rules):
    old = take(ref)
    write_rules(ref, rules)
    new = take(ref)
    assert changed_files(old, new) == ["rules.yaml"]
    assert impacts(old, new) == []


@pytest.mark.parametrize(("rules", "window"), [
    pytest.param([EARLY, MID, LATE, rule("r-off", "g", "h", end="2024-12-31", active=True)], (None, "2024-12-31"), id="on"),
    pytest.param([EARLY, rule("r-mid", "c", "d", start="2025-06-01", active=False), LATE, OFF], ("2025-06-01", None), id="off"),
])
def test_toggling_active_reaches_the_rules_window(ref, rules, window):
    old = take(ref)
    write_rules(ref, rules)
    assert only(impacts(old, take(ref)), "rules.yaml").windows == (window,)


def test_a_description_or_comment_change_reaches_nothing(ref):
    old = take(ref)
    write_rules(ref, [EARLY.replace("early rule", "the early rule, reworded"), MID, LATE, OFF],
                header="# allocation rules, now with a longer comment\n# and a second line\n")
    new = take(ref)
    assert old["digests"]["rules.yaml"] != new["digests"]["rules.yaml"]
    assert changed_files(old, new) == ["rules.yaml"]
    assert [r[1] for r in old["rules"]] == [r[1] for r in new["rules"]]  # fingerprints unchanged
    assert impacts(old, new) == []


def test_reordering_two_rules_reaches_both_windows_only(ref):
    old = take(ref)
    write_rules(ref, [MID, EARLY, LATE, OFF])
    impact = only(impacts(old, take(ref)), "rules.yaml")
    assert set(impact.windows) == {("2025-01-01", "2025-03-31"), ("2025-06-01", None)}
    assert impact.reason == "rules changed: r-early, r-mid"


def test_a_rule_without_a_window_reaches_every_month(ref):
    old = take(ref)
    write_rules(ref, [*BASE_RULES, rule("r-always", "m", "n")])
    impact = only(impacts(old, take(ref)), "rules.yaml")
    assert impact.windows == ((None, None),)
    assert months_in(impact.windows, DATA_MONTHS) == DATA_MONTHS


@pytest.mark.parametrize("text", [
    pytest.param("rules:\n  - id: [unclosed\n", id="yaml-syntax"),
    pytest.param("rules:\n  - id: bad\n    type: no_such_type\n    from: a\n    to: b\n", id="unknown-type"),
    pytest.param("rules:\n" + EARLY + EARLY, id="duplicate-id"),
])
def test_rules_becoming_invalid_reaches_nothing(ref, text):
    old = take(ref)
    (ref / "rules.yaml").write_text(text)
    new = take(ref)
    assert new["rules"] is None and new["rule_problems"]
    assert changed_files(old, new) == ["rules.yaml"]
    assert impacts(old, new) == []


def test_rules_becoming_valid_again_reaches_every_month(ref):
    (ref / "rules.yaml").write_text("rules:\n  - id: [unclosed\n")
    broken = take(ref)
    write_rules(ref, BASE_RULES)
    impact = only(impacts(broken, take(ref)), "rules.yaml")
    assert impact.roots == RULE_ROOTS
    assert impact.windows == ((None, None),)


# --- pricing.csv ------------------------------------------------------------------------------


def test_a_changed_pricing_row_reaches_its_old_and_new_window(ref):
    old = take(ref)
    (ref / "pricing.csv").write_text(PRICING.replace("Amazon EC2,8,2025-01-01", "Amazon EC2,8,2025-02-01"))
    impact = only(impacts(old, take(ref)), "pricing.csv")
    assert impact.roots == PRICING_ROOTS
    assert set(impact.windows) == {("2025-01-01", "2025-06-30"), ("2025-02-01", "2025-06-30")}
    assert months_in(impact.windows, DATA_MONTHS) == [f"2025-{m:02d}" for m in range(1, 7)]


def test_a_changed_markup_reaches_its_rows_window(ref):
    old = take(ref)
    (ref / "pricing.csv").write_text(PRICING.replace("Amazon EC2,10,", "Amazon EC2,12,"))
    impact = only(impacts(old, take(ref)), "pricing.csv")
    assert impact.windows == (("2025-07-01", None),)


def test_the_default_pricing_row_reaches_every_month(ref):
    old = take(ref)
    (ref / "pricing.csv").write_text(PRICING.replace("*,5,,", "*,6,,"))
    impact = only(impacts(old, take(ref)), "pricing.csv")
    assert impact.windows == ((None, None),)
    assert months_in(impact.windows, DATA_MONTHS) == DATA_MONTHS


def test_reformatted_pricing_reaches_nothing(ref):
    old = take(ref)
    reformatted = ("Service , Markup_Pct , Start , End\r\n"
                   "Amazon EC2 , 10.00 , 2025-07-01 ,\r\n"
                   " * , 5.0 , , \r\n"
                   "Amazon EC2,8,2025-01-01,2025-06-30\r\n")
    (ref / "pricing.csv").write_text(reformatted)
    new = take(ref)
    assert new["pricing"] is not None
    assert changed_files(old, new) == ["pricing.csv"]
    assert impacts(old, new) == []


def test_pricing_becoming_invalid_reaches_nothing_and_valid_again_every_month(ref):
    old = take(ref)
    (ref / "pricing.csv").write_text(PRICING.replace("*,5,,", "*,lots,,"))
    broken = take(ref)
    assert broken["pricing"] is None
    assert impacts(old, broken) == []
    (ref / "pricing.csv").write_text(PRICING)
    assert only(impacts(broken, take(ref)), "pricing.csv").windows == ((None, None),)


# --- fx_rates.csv, projects.csv, budgets.csv -------------------------------------------------


def test_a_changed_fx_rate_reaches_its_month_and_every_later_one(ref):
    old = take(ref)
    text = FX.replace("2025-10,EUR,1.16", "2025-10,EUR,1.18")
    assert text != FX
    (ref / "fx_rates.csv").write_text(text)
    impact = only(impacts(old, take(ref)), "fx_rates.csv")
    assert impact.roots == FX_ROOTS
    assert impact.windows == (("2025-10-01", None),)
    assert months_in(impact.windows, DATA_MONTHS) == ["2025-10", "2025-11", "2025-12"]


def test_reformatted_fx_rates_reach_nothing(ref):
    old = take(ref)
    lines = FX.splitlines()
    (ref / "fx_rates.csv").write_text("\n".join([lines[0], *reversed(lines[1:])]).replace(",EUR,", ",eur,") + "\n")
    new = take(ref)
    assert changed_files(old, new) == ["fx_rates.csv"]
    assert impacts(old, new) == []


def test_projects_change_reaches_every_month_from_stg_billing(ref):
    old = take(ref)
    (ref / "projects.csv").write_text(PROJECTS.replace("discovery", "search-team"))
    impact = only(impacts(old, take(ref)), "projects.csv")
    assert set(impact.roots) == set(PROJECT_ROOTS)
    assert impact.windows == ((None, None),)
    assert months_in(impact.windows, DATA_MONTHS) == DATA_MONTHS


def test_budgets_change_reaches_the_budget_tables_of_its_month(ref):
    old = take(ref)
    (ref / "budgets.csv").write_text(BUDGETS.replace("1000", "2000"))
    new = take(ref)
    assert changed_files(old, new) == ["budgets.csv"]
    impact = only(impacts(old, new), "budgets.csv")
    assert impact.roots == ("stg_budgets",)
    assert months_in(impact.windows, ["2025-08", "2025-09", "2025-10"]) == ["2025-09"]


def test_budgets_reformatted_reach_nothing(ref):
    old = take(ref)
    (ref / "budgets.csv").write_text(BUDGETS.replace("1000", "1000.00"))
    assert impacts(old, take(ref)) == []


def test_changes_to_several_files_give_one_impact_each(ref):
    old = take(ref)
    write_rules(ref, [EARLY, MID, LATE.replace("to: f", "to: z"), OFF])
    (ref / "pricing.csv").write_text(PRICING.replace("*,5,,", "*,6,,"))
    (ref / "budgets.csv").write_text(BUDGETS.replace("1000", "2000"))
    found = impacts(old, take(ref))
    assert [i.file for i in found] == ["rules.yaml", "pricing.csv", "budgets.csv"]


# --- months_in ----------------------------------------------------------------------------


@pytest.mark.parametrize(("windows", "expected"), [
    pytest.param((), [], id="no-window"),
    pytest.param(((None, None),), DATA_MONTHS, id="open-both"),
    pytest.param((("2025-10-01", None),), ["2025-10", "2025-11", "2025-12"], id="open-end"),
    pytest.param(((None, "2024-12-31"),), ["2024-11", "2024-12"], id="open-start"),
    pytest.param((("2025-03-15", "2025-03-20"),), ["2025-03"], id="inside-one-month"),
    pytest.param((("2025-02-28", "2025-04-01"),), ["2025-02", "2025-03", "2025-04"], id="partial-months-count-whole"),
    pytest.param((("2024-12-01", "2025-01-31"), ("2025-06-01", "2025-06-30")), ["2024-12", "2025-01", "2025-06"], id="two-windows"),
    pytest.param((("2025-01-01", "2025-03-31"), ("2025-02-01", "2025-04-30")), ["2025-01", "2025-02", "2025-03", "2025-04"],
                 id="overlapping"),
    pytest.param((("2023-01-01", "2024-10-31"),), [], id="before-the-data"),
    pytest.param((("2026-01-01", None),), [], id="after-the-data"),
])
def test_months_in(windows, expected):
    assert months_in(windows, DATA_MONTHS) == expected


def test_months_in_only_reaches_months_with_data():
    gappy = ["2025-01", "2025-02", "2025-05"]
    assert months_in(((None, None),), gappy) == gappy
    assert months_in((("2025-03-01", "2025-04-30"),), gappy) == []
    assert months_in((("2025-02-01", None),), gappy) == ["2025-02", "2025-05"]
