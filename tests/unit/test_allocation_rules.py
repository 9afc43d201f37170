"""Parsing and validation of reference/rules.yaml (transforms/intermediate/allocation/rules.py).

Every problem must name the file and line, the rule id where there is one, and say how to fix it;
a rule that names a project nobody has seen is a warning (project_warnings), not an error.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from finops_pipeline.ingest.reference import load_rules
from transforms.intermediate.allocation.rules import (
    RULE_TYPES,
    STAGED_COLUMNS,
    Rule,
    RuleSet,
    parse_rules,
    project_warnings,
    rules_from_frame,
    rules_to_frame,
)

SAMPLE_RULES = Path(__file__).resolve().parents[2] / "data" / "sample" / "reference" / "rules.yaml"
DISPLAY = "reference/rules.yaml"


def yaml_text(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def parse(text: str) -> RuleSet:
    return parse_rules(yaml_text(text))


def only_problem(text: str) -> str:
    ruleset = parse(text)
    assert len(ruleset.problems) == 1, ruleset.problems
    assert "bad" not in [r.id for r in ruleset.rules]
    return ruleset.problems[0]


def problem_line(problem: str) -> int:
    match = re.match(rf"{re.escape(DISPLAY)}:(\d+): ", problem)
    assert match, f"no '{DISPLAY}:<line>: ' prefix in {problem!r}"
    return int(match.group(1))


def single_problem(text: str, line: int) -> str:
    """The one problem of the rules file ``text`` (as written, not dedented), reported on ``line``."""
    problems = parse_rules(text).problems
    assert len(problems) == 1, problems
    assert problem_line(problems[0]) == line
    return problems[0]


# ------------------------------------------------------------------------------------------
# validation errors: line, rule id and fix


# (case id, file text, expected line, fragment that names the problem, fragment that says the fix)
INVALID = [
    (
        "unknown_type",
        """
        rules:
          - id: ok
            type: rename_project
            from: a
            to: b
          - id: bad
            description: misspelt type
            type: move_servic
            from: a
            to: b
        """,
        8, "unknown type 'move_servic'", "use one of rename_project, transfer_cost, move_service, distribute_cost",
    ),
    (
        "no_type",
        """
        rules:
          - id: bad
            from: a
            to: b
        """,
        2, "has no `type`", "use one of rename_project",
    ),
    (
        "missing_field_to",
        """
        rules:
          - id: bad
            type: rename_project
            from: a
        """,
        2, "missing field `to`", "required for rename_project",
    ),
    (
        "missing_field_service",
        """
        rules:
          - id: first
            type: rename_project
            from: a
            to: b

          - id: bad
            type: move_service
            from: a
            to: b
        """,
        7, "missing field `service`", "required for move_service",
    ),
    (
        "missing_field_method",
        """
        rules:
          - id: bad
            type: distribute_cost
            from: a
            to: [b, c]
        """,
        2, "missing field `method`", "required for distribute_cost",
    ),
    (
        "weights_do_not_sum_to_1",
        """
        rules:
          - id: bad
            type: distribute_cost
            from: shared
            to: [b, c]
            method: fixed
            weights: {b: 0.5, c: 0.4}
        """,
        7, "weights sum to 0.9, not 1", "adjust them so they add up to 1",
    ),
    (
        "weights_miss_a_target",
        """
        rules:
          - id: bad
            type: distribute_cost
            from: shared
            to: [b, c, d]
            method: fixed
            weights: {b: 0.5, c: 0.5}
        """,
        7, "weights must name exactly the targets in `to`", "missing ['d']",
    ),
    (
        "weights_name_a_non_target",
        """
        rules:
          - id: bad
            type: distribute_cost
            from: shared
            to: [b, c]
            method: fixed
            weights: {b: 0.5, c: 0.25, x: 0.25}
        """,
        7, "weights must name exactly the targets in `to`", "not in `to`: ['x']",
    ),
    (
        "fixed_without_weights",
        """
        rules:
          - id: bad
            type: distribute_cost
            from: shared
            to: [b, c]
            method: fixed
        """,
        2, "method fixed needs `weights`", "a map of target -> share",
    ),
    (
        "distribute_target_is_source",
        """
        rules:
          - id: bad
            type: distribute_cost
            from: shared
            to: [b, shared]
            method: even
        """,
        5, "the targets include the source 'shared'", "remove it from `to`",
    ),
    (
        "start_after_end",
        """
        rules:
          - id: bad
            type: rename_project
            from: a
            to: b
            start: 2024-10-01
            end: 2024-09-30
        """,
        6, "start 2024-10-01 is after end 2024-09-30", "swap them or fix the dates",
    ),
    (
        "bad_date_text",
        """
        rules:
          - id: bad
            type: rename_project
            from: a
            to: b
            end: 31/12/2024
        """,
        6, "end '31/12/2024' is not a date", "write it as YYYY-MM-DD",
    ),
    (
        "date_with_time",
        """
        rules:
          - id: bad
            type: rename_project
            from: a
            to: b
            start: 2024-09-01 10:00:00
        """,
        6, "is not a date", "write it as YYYY-MM-DD",
    ),
    (
        "active_not_boolean_number",
        """
        rules:
          - id: bad
            type: rename_project
            from: a
            to: b
            active: 1
        """,
        6, "active must be true or false, not 1", "true or false",
    ),
    (
        "active_not_boolean_quoted",
        """
        rules:
          - id: bad
            type: rename_project
            from: a
            to: b
            active: "false"
        """,
        6, "active must be true or false, not 'false'", "true or false",
    ),
    (
        "unknown_field",
        """
        rules:
          - id: bad
            type: rename_project
            from: a
            to: b
            colour: red
        """,
        6, "unknown field `colour` for rename_project", "allowed fields: from, to, start, end, active, description",
    ),
    (
        "unknown_match_key",
        """
        rules:
          - id: bad
            type: transfer_cost
            from: unallocated
            to: b
            match:
              zone: us-east-1a
        """,
        6, "unknown match key `zone`", "use any of service, account, region",
    ),
    (
        "unknown_method",
        """
        rules:
          - id: bad
            type: distribute_cost
            from: shared
            to: [b, c]
            method: headcount
        """,
        6, "unknown method 'headcount'", "use one of even, fixed, proportional",
    ),
    (
        "from_equals_to",
        """
        rules:
          - id: bad
            type: rename_project
            from: a
            to: a
        """,
        5, "from and to are both 'a'", "the rule would do nothing",
    ),
]


@pytest.mark.parametrize("text, line, what, fix", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_validation_error_names_line_rule_id_and_fix(text, line, what, fix):
    problem = only_problem(text)
    assert problem_line(problem) == line, problem
    assert "rule 'bad'" in problem
    assert what in problem
    assert fix in problem


def test_duplicate_id_names_both_lines_and_the_fix():
    ruleset = parse(
        """
        rules:
          - id: same
            type: rename_project
            from: a
            to: b
          - id: other
            type: rename_project
            from: c
            to: d
          - id: same
            type: rename_project
            from: e
            to: f
        """
    )
    assert len(ruleset.problems) == 1
    problem = ruleset.problems[0]
    assert problem_line(problem) == 10
    assert "rule 'same'" in problem
    assert "duplicate id (first used on line 2)" in problem
    assert "give every rule its own id" in problem
    assert [r.id for r in ruleset.rules] == ["same", "other"]  # the first one is kept, the duplicate is not


def test_yaml_syntax_error_names_the_line():
    text = yaml_text(
        """
        rules:
          - id: broken
            type: rename_project
            from: team: a
            to: b
        """
    )
    problem = single_problem(text, 4)
    assert "YAML syntax error" in problem
    assert "check the indentation and quote values that contain ':' or '#'" in problem


def test_yaml_syntax_error_tab_indentation():
    assert "YAML syntax error" in single_problem("rules:\n  - id: a\n\ttype: rename_project\n", 3)


@pytest.mark.parametrize(
    "text",
    ["- id: a\n  type: rename_project\n", "just text\n", "other:\n  - id: a\n", "42\n"],
    ids=["top_level_list", "scalar", "mapping_without_rules", "number"],
)
def test_file_not_a_mapping_with_rules(text):
    problem = single_problem(text, 1)
    assert "must be a mapping with a `rules:` list" in problem
    assert "rules:\n  - id: my-rule" in problem  # the fix: an example of the expected shape


def test_rules_not_a_list():
    problem = single_problem("# header\nrules: everything\n", 2)
    assert "`rules:` must be a list of rules" in problem
    assert "items start with '- '" in problem


def test_rule_that_is_not_a_mapping_and_rule_without_id():
    problems = parse(
        """
        rules:
          - just a string
          - type: rename_project
            from: a
            to: b
        """
    ).problems
    assert len(problems) == 2
    assert problem_line(problems[0]) == 2 and "rule #1 is not a mapping" in problems[0] and "'- id: ...'" in problems[0]
    assert problem_line(problems[1]) == 3 and "rule #2 has no `id`" in problems[1] and "add a unique id" in problems[1]


def test_every_broken_rule_is_reported_in_one_pass():
    ruleset = parse(
        """
        rules:
          - id: one
            type: nope
          - id: good
            type: rename_project
            from: a
            to: b
          - id: two
            type: rename_project
            from: a
          - id: three
            type: distribute_cost
            from: s
            to: [x, y]
            method: fixed
            weights: {x: 0.7, y: 0.7}
        """
    )
    assert [problem_line(p) for p in ruleset.problems] == [3, 8, 16]
    assert ["rule 'one'" in ruleset.problems[0], "rule 'two'" in ruleset.problems[1], "rule 'three'" in ruleset.problems[2]] == [True] * 3
    assert [r.id for r in ruleset.rules] == ["good"]


def test_display_name_is_used_in_messages():
    problems = parse_rules("rules:\n  - id: bad\n    type: rename_project\n    from: a\n", display="/data/reference/rules.yaml").problems
    assert problems[0].startswith("/data/reference/rules.yaml:2: rule 'bad': missing field `to`")


@pytest.mark.parametrize(("value", "day"), [("2024-13-01", "2024-13-01"), ("2024-02-30", "2024-02-30"),
                                            ("'2024-02-30'", "2024-02-30")], ids=["unquoted", "unquoted-feb-30", "quoted"])
def test_impossible_date_is_a_problem_not_a_crash(value, day):
    text = f"rules:\n  - id: bad\n    type: rename_project\n    from: a\n    to: b\n    start: {value}\n"
    assert f"rule 'bad': start '{day}' is not a date; write it as YYYY-MM-DD" in single_problem(text, 6)


def test_unknown_match_key_is_not_reported_on_a_valid_keys_line():
    problem = only_problem(
        """
        rules:
          - id: bad
            type: transfer_cost
            from: unallocated
            to: b
            match:
              service: Slack
              zone: us-east-1a
        """
    )
    assert "rule 'bad': unknown match key `zone`" in problem
    assert problem_line(problem) in (6, 8)  # the `match:` line or the key's own line, not `service:` (line 7)


def test_block_values_are_reported_on_their_keys_line():
    problems = parse(
        """
        rules:
          - id: weights-block
            type: distribute_cost
            from: shared
            to:
              - a
              - b
            method: fixed
            weights:
              a: 0.5
              b: 0.6
          - id: targets-block
            type: distribute_cost
            from: shared
            to:
              - a
              - shared
            method: even
        """
    ).problems
    assert len(problems) == 2
    assert problem_line(problems[0]) == 9 and "rule 'weights-block': weights sum to 1.1" in problems[0]
    assert problem_line(problems[1]) == 15 and "rule 'targets-block': the targets include the source" in problems[1]


# ------------------------------------------------------------------------------------------
# valid files


VALID = """
# allocation rules
rules:
  - id: rename
    type: rename_project
    from: legacy
    to: search

  - id: transfer
    description: support to platform
    type: transfer_cost
    from: unallocated
    to: platform
    match:
      service: AWS Support
      account: 123456789012
      region: [us-east-1, eu-west-1]
    start: 2024-09-01
    end: '2024-12-31'

  - id: move
    type: move_service
    service: Snowflake
    from: ml
    to: data
    active: true

  - id: fixed-split
    type: distribute_cost
    from: tools
    to: [a, b]
    method: fixed
    weights: {a: 0.25, b: 0.75}
    active: false

  - id: even-split
    type: distribute_cost
    from: platform
    to:
      - a
      - b
      - c
    method: even
    end: 2025-01-31

  - id: prop-split
    type: distribute_cost
    from: unallocated
    to: [a, b]
    method: proportional
"""


def test_valid_file_parses_to_rules():
    ruleset = parse_rules(VALID)
    assert ruleset.problems == []
    assert ruleset.rules == [
        Rule("rename", "rename_project", 4, {"from": "legacy", "to": "search"}),
        Rule(
            "transfer", "transfer_cost", 9,
            {"from": "unallocated", "to": "platform",
             "match": {"service": ["AWS Support"], "account": ["123456789012"], "region": ["us-east-1", "eu-west-1"]}},
            start=date(2024, 9, 1), end=date(2024, 12, 31), description="support to platform",
        ),
        Rule("move", "move_service", 21, {"from": "ml", "to": "data", "service": "Snowflake"}, active=True),
        Rule("fixed-split", "distribute_cost", 28,
             {"from": "tools", "to": ["a", "b"], "method": "fixed", "weights": {"a": 0.25, "b": 0.75}}, active=False),
        Rule("even-split", "distribute_cost", 36, {"from": "platform", "to": ["a", "b", "c"], "method": "even"},
             end=date(2025, 1, 31)),
        Rule("prop-split", "distribute_cost", 46, {"from": "unallocated", "to": ["a", "b"], "method": "proportional"}),
    ]
    rename = ruleset.rules[0]
    assert rename.active is True and rename.start is None and rename.end is None and rename.description is None
    assert [r.id for r in ruleset.active] == ["rename", "transfer", "move", "even-split", "prop-split"]
    assert ruleset.rules[1].source == "unallocated" and ruleset.rules[1].targets == ["platform"]
    assert ruleset.rules[4].targets == ["a", "b", "c"]
    assert ruleset.rules[1].window_text() == "2024-09-01 .. 2024-12-31"
    assert ruleset.rules[4].window_text() == "… .. 2025-01-31"
    assert rename.window_text() == "all dates"


def test_start_equal_to_end_is_a_one_day_window():
    ruleset = parse_rules("rules:\n  - id: day\n    type: rename_project\n    from: a\n    to: b\n"
                          "    start: 2024-09-15\n    end: 2024-09-15\n")
    assert ruleset.problems == []
    assert (ruleset.rules[0].start, ruleset.rules[0].end) == (date(2024, 9, 15), date(2024, 9, 15))


@pytest.mark.parametrize("text", ["", "# only a comment\n", "rules:\n", "rules: []\n"])
def test_empty_files_mean_no_rules(text):
    ruleset = parse_rules(text)
    assert ruleset.problems == [] and ruleset.rules == []


def test_load_rules_missing_file_means_no_rules(tmp_path):
    ruleset = load_rules(tmp_path / "rules.yaml")
    assert ruleset.rules == [] and ruleset.problems == []


def test_load_rules_reads_utf8_with_bom_and_rejects_other_encodings(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_bytes("\ufeffrules:\n  - id: r\n    type: rename_project\n    from: café\n    to: b\n".encode())
    ruleset = load_rules(path)
    assert ruleset.problems == [] and ruleset.rules[0].source == "café"
    path.write_bytes("rules:\n  - id: r\n    type: rename_project\n    from: café\n    to: b\n".encode("latin-1"))
    problems = load_rules(path, display="x/rules.yaml").problems
    assert len(problems) == 1 and problems[0].startswith("x/rules.yaml: not UTF-8") and "save the file as UTF-8" in problems[0]


def test_sample_rules_file_parses_without_problems():
    ruleset = load_rules(SAMPLE_RULES)
    assert ruleset.problems == []
    assert len(ruleset.rules) == 8
    assert {r.type for r in ruleset.rules} == set(RULE_TYPES)
    assert [r.id for r in ruleset.rules if not r.active] == ["split-platform-evenly-fy2025"]
    by_id = {r.id: r for r in ruleset.rules}
    assert by_id["sandbox-to-ml"].start == date(2026, 3, 1)
    assert by_id["saas-to-collaboration"].params["match"] == {"service": ["Slack", "Miro"]}
    assert sum(by_id["split-collaboration-tools"].params["weights"].values()) == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------
# fingerprint


BASE = """
rules:
  - id: split
    description: by head count
    type: distribute_cost
    from: shared
    to: [a, b]
    method: fixed
    weights: {a: 0.4, b: 0.6}
    start: 2024-09-01
"""


def fingerprint(text: str) -> str:
    ruleset = parse_rules(text)
    assert ruleset.problems == []
    return ruleset.rules[0].fingerprint()


@pytest.mark.parametrize(
    "old, new",
    [
        ("weights: {a: 0.4, b: 0.6}", "weights: {a: 0.5, b: 0.5}"),
        ("from: shared", "from: common"),
        ("to: [a, b]\n    method: fixed\n    weights: {a: 0.4, b: 0.6}", "to: [a, c]\n    method: fixed\n    weights: {a: 0.4, c: 0.6}"),
        ("start: 2024-09-01", "start: 2024-10-01"),
        ("start: 2024-09-01", "start: 2024-09-01\n    end: 2024-12-31"),
        ("start: 2024-09-01", "start: 2024-09-01\n    active: false"),
        ("method: fixed\n    weights: {a: 0.4, b: 0.6}", "method: even"),
    ],
    ids=["weights", "source", "targets", "start", "end", "active", "method"],
)
def test_fingerprint_changes_with_the_effect(old, new):
    assert old in BASE
    assert fingerprint(BASE.replace(old, new)) != fingerprint(BASE)


@pytest.mark.parametrize(
    "old, new",
    [
        ("description: by head count", "description: by head count, FY2026 figures"),
        ("    description: by head count\n", ""),
        ("rules:\n", "# a comment that moves every line down\n\nrules:\n"),
        ("    start: 2024-09-01\n", "    start: '2024-09-01'\n    active: true\n"),
    ],
    ids=["description", "no_description", "line", "same_effect_spelled_differently"],
)
def test_fingerprint_ignores_what_does_not_change_the_effect(old, new):
    assert old in BASE
    assert fingerprint(BASE.replace(old, new)) == fingerprint(BASE)


def test_fingerprint_of_rule_objects():
    rule = Rule("r", "rename_project", 3, {"from": "a", "to": "b"}, description="x")
    assert rule.fingerprint() == replace(rule, description="y", line=40).fingerprint()
    assert rule.fingerprint() != replace(rule, params={"from": "a", "to": "c"}).fingerprint()
    assert rule.fingerprint() != replace(rule, end=date(2024, 9, 30)).fingerprint()
    assert rule.fingerprint() != replace(rule, active=False).fingerprint()
    assert rule.fingerprint() != replace(rule, type="transfer_cost", params={"from": "a", "to": "b", "match": {}}).fingerprint()


# ------------------------------------------------------------------------------------------
# stg_allocation_rules frame


def test_rules_to_frame_and_back_round_trips():
    rules = parse_rules(VALID).rules
    frame = rules_to_frame(rules)
    assert frame.columns.tolist() == STAGED_COLUMNS
    assert frame["rule_order"].tolist() == [1, 2, 3, 4, 5, 6]
    assert frame["rule_id"].tolist() == [r.id for r in rules]
    assert frame["active"].tolist() == [True, True, True, False, True, True]
    assert frame["target_projects"].tolist() == ["search", "platform", "data", "a,b", "a,b,c", "a,b"]
    assert frame["method"].tolist()[3:] == ["fixed", "even", "proportional"]
    assert frame["method"].iloc[:3].isna().all()
    assert frame.loc[1, "start_date"] == pd.Timestamp("2024-09-01") and pd.isna(frame.loc[0, "start_date"])
    assert frame["fingerprint"].tolist() == [r.fingerprint() for r in rules]
    assert frame["line"].tolist() == [4, 9, 21, 28, 36, 46]
    assert rules_from_frame(frame) == rules


def test_rules_from_frame_applies_rule_order_not_row_order():
    rules = parse_rules(VALID).rules
    shuffled = rules_to_frame(rules).sample(frac=1.0, random_state=7)
    assert [r.id for r in rules_from_frame(shuffled)] == [r.id for r in rules]


def test_rules_to_frame_of_no_rules():
    frame = rules_to_frame([])
    assert frame.empty and frame.columns.tolist() == STAGED_COLUMNS
    assert rules_from_frame(frame) == []


def test_sample_rules_round_trip():
    rules = load_rules(SAMPLE_RULES).rules
    assert rules_from_frame(rules_to_frame(rules)) == rules


# ------------------------------------------------------------------------------------------
# project_warnings


def rules_of(text: str) -> list[Rule]:
    ruleset = parse(text)
    assert ruleset.problems == []
    return ruleset.rules


def test_warning_for_unknown_source():
    rules = rules_of(
        """
        rules:
          - id: typo
            type: rename_project
            from: chekout
            to: checkout
        """
    )
    warnings = project_warnings(rules, {"checkout", "search"})
    assert len(warnings) == 1
    assert problem_line(warnings[0]) == 2
    assert "rule 'typo'" in warnings[0] and "'chekout'" in warnings[0] and "check the spelling" in warnings[0]


def test_no_warning_when_every_project_is_known():
    rules = rules_of(
        """
        rules:
          - id: t
            type: transfer_cost
            from: unallocated
            to: checkout
          - id: d
            type: distribute_cost
            from: checkout
            to: [search, data]
            method: even
        """
    )
    assert project_warnings(rules, {"unallocated", "checkout", "search", "data"}) == []


def test_intermediate_bucket_is_not_warned():
    rules = rules_of(
        """
        rules:
          - id: to-bucket
            type: transfer_cost
            from: unallocated
            to: shared-bucket
            match:
              service: Support
          - id: split-bucket
            type: distribute_cost
            from: shared-bucket
            to: [checkout, search]
            method: proportional
        """
    )
    # shared-bucket is neither in the data nor in projects.csv: it is a new target of the first
    # rule, but a later rule takes it as source, and that rule's source is an earlier rule's target
    assert project_warnings(rules, {"unallocated", "checkout", "search"}) == []


def test_new_target_is_warned():
    rules = rules_of(
        """
        rules:
          - id: ok
            type: rename_project
            from: legacy
            to: search
          - id: new-team
            type: distribute_cost
            from: unallocated
            to: [search, brand-new]
            method: even
        """
    )
    warnings = project_warnings(rules, {"legacy", "search", "unallocated"}, display="rules.yaml")
    assert len(warnings) == 1
    assert warnings[0].startswith("rules.yaml:6: rule 'new-team': target 'brand-new' is a new project")
    assert "add it to projects.csv" in warnings[0]


def test_target_only_consumed_by_an_earlier_rule_is_warned():
    rules = rules_of(
        """
        rules:
          - id: first
            type: distribute_cost
            from: bucket
            to: [a, b]
            method: even
          - id: second
            type: transfer_cost
            from: unallocated
            to: bucket
        """
    )
    # bucket is taken as source only *before* it is filled: unknown source of rule 1, new target of rule 2
    warnings = project_warnings(rules, {"a", "b", "unallocated"})
    assert [problem_line(w) for w in warnings] == [2, 7]
    assert "rule 'first'" in warnings[0] and "'bucket' is not in the data" in warnings[0]
    assert "rule 'second'" in warnings[1] and "target 'bucket' is a new project" in warnings[1]


def test_inactive_rules_are_ignored():
    rules = rules_of(
        """
        rules:
          - id: old
            active: false
            type: rename_project
            from: gone
            to: also-gone
          - id: to-bucket
            type: transfer_cost
            from: unallocated
            to: bucket
          - id: split-bucket-off
            active: false
            type: distribute_cost
            from: bucket
            to: [a, b]
            method: even
        """
    )
    warnings = project_warnings(rules, {"unallocated", "a", "b"})
    # the inactive rule's unknown projects are not warned; its source no longer justifies the bucket
    assert len(warnings) == 1
    assert "rule 'to-bucket'" in warnings[0] and "target 'bucket' is a new project" in warnings[0]
    assert project_warnings([r for r in rules if r.id == "old"], set()) == []


def test_a_key_given_twice_in_one_rule_is_a_problem():
    text = "rules:\n  - id: r1\n    type: rename_project\n    from: a\n    to: b\n    to: c\n"
    assert single_problem(text, 5).startswith("reference/rules.yaml:5: rule 'r1': `to` is given twice")
