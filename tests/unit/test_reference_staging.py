"""Staging of reference files: projects, FX rates, budgets (transforms/staging/reference.py).

Frames are built the way finops_pipeline/ingest/reference.py reads the CSVs: every value is
text, and an empty cell is the empty string (keep_default_na=False).
"""

from __future__ import annotations

import pandas as pd
import pytest

from transforms.staging.reference import stage_budgets, stage_fx_rates, stage_projects


def text_frame(columns: list[str], rows: list[list[str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns, dtype=object)


# ------------------------------------------------------------------------------------------
# projects


def test_projects_with_several_accounts_each():
    raw = text_frame(
        ["project", "code", "owner", "team", "account_id"],
        [
            ["web", "W1", "ann", "frontend", "acc-2"],
            ["web", "W1", "ann", "frontend", "acc-1"],
            ["data", "D1", "bob", "platform", "acc-3"],
            ["web", "W1", "ann", "frontend", "acc-1"],  # repeating the same mapping is harmless
            ["ops", "O1", "cyd", "sre", ""],  # a project without accounts
        ],
    )
    dim, accounts, problems = stage_projects(raw)
    assert problems == []
    assert accounts == {"acc-1": "web", "acc-2": "web", "acc-3": "data"}
    assert dim["project"].tolist() == ["data", "ops", "web"]  # one row per project, sorted
    rows = dim.set_index("project")
    assert rows.loc["web", "account_ids"] == "acc-1,acc-2"
    assert rows.loc["data", "account_ids"] == "acc-3"
    assert pd.isna(rows.loc["ops", "account_ids"])
    assert rows.loc["web", ["code", "owner", "team"]].tolist() == ["W1", "ann", "frontend"]


def test_account_mapped_to_two_projects_is_a_problem_on_the_second_row():
    raw = text_frame(
        ["project", "account_id"],
        [["web", "acc-1"], ["data", "acc-2"], ["data", "acc-1"]],
    )
    _, _, problems = stage_projects(raw)
    assert len(problems) == 1
    index, message = problems[0]
    assert index == 2
    assert "acc-1" in message and "already mapped to project web" in message


def test_project_headers_and_values_are_normalised():
    raw = text_frame([" Project ", "ACCOUNT_ID", "Team"], [["  web ", " acc-1 ", " frontend "]])
    dim, accounts, problems = stage_projects(raw)
    assert problems == []
    assert accounts == {"acc-1": "web"}
    assert dim[["project", "team", "account_ids"]].values.tolist() == [["web", "frontend", "acc-1"]]
    # optional columns that are absent exist, empty
    assert dim["code"].isna().all() and dim["owner"].isna().all()


def test_empty_project_name_is_a_problem_and_the_row_is_dropped():
    raw = text_frame(["project", "account_id"], [["web", "acc-1"], ["  ", "acc-2"]])
    dim, accounts, problems = stage_projects(raw)
    assert [i for i, _ in problems] == [1]
    assert "empty project name" in problems[0][1]
    assert dim["project"].tolist() == ["web"]
    assert accounts == {"acc-1": "web"}


def test_projects_without_project_column():
    dim, accounts, problems = stage_projects(text_frame(["name", "account_id"], [["web", "acc-1"]]))
    assert dim.empty and accounts == {}
    assert problems == [(None, "missing column(s) project; the header must include project")]


def test_team_comes_from_the_row_that_fills_it():
    raw = text_frame(["project", "team", "account_id"], [["web", "", "acc-1"], ["web", "frontend", "acc-2"]])
    dim, _, _ = stage_projects(raw)
    assert dim.set_index("project").loc["web", "team"] == "frontend"


# ------------------------------------------------------------------------------------------
# FX rates


def test_fx_rates_problems_carry_the_row_index():
    raw = text_frame(
        ["month", "currency", "rate"],
        [
            ["2024-09", "eur", "1.1"],  # 0 ok (currency upper-cased)
            ["2024-13", "EUR", "1.1"],  # 1 bad month
            ["2024-9", "EUR", "1.1"],  # 2 bad month
            ["", "EUR", "1.1"],  # 3 bad month
            ["2024-09", "EURO", "1.1"],  # 4 bad currency
            ["2024-09", "", "1.1"],  # 5 bad currency
            ["2024-09", "GBP", "0"],  # 6 non-positive
            ["2024-09", "JPY", "-0.01"],  # 7 non-positive
            ["2024-09", "CHF", "abc"],  # 8 not a number
            ["2024-09", "CAD", ""],  # 9 empty
            ["2024-09", "EUR", "1.3"],  # 10 duplicate of row 0
            ["2024-10", "EUR", "1.2"],  # 11 ok
        ],
    )
    rates, problems = stage_fx_rates(raw)
    assert [i for i, _ in problems] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    msg = dict(problems)
    assert msg[1] == "month '2024-13' is not YYYY-MM"
    assert msg[2] == "month '2024-9' is not YYYY-MM"
    assert msg[4] == "currency 'EURO' is not an ISO 4217 code"
    assert msg[6] == "rate '0' must be a positive number (reporting units per 1 GBP)"
    assert "positive number" in msg[8] and "'abc'" in msg[8]
    assert msg[10] == "second rate for EUR in 2024-09; keep one row per month and currency"
    # the first of the duplicates is kept; sorted by currency, month
    assert rates.values.tolist() == [["2024-09", "EUR", 1.1], ["2024-10", "EUR", 1.2]]


def test_fx_rates_sorted_and_typed():
    raw = text_frame(
        ["Month", " Currency ", "RATE"],
        [["2024-10", "gbp", "1.27"], ["2024-09", "GBP", " 1.25 "], ["2024-09", "EUR", "1.08"]],
    )
    rates, problems = stage_fx_rates(raw)
    assert problems == []
    assert rates.values.tolist() == [["2024-09", "EUR", 1.08], ["2024-09", "GBP", 1.25], ["2024-10", "GBP", 1.27]]
    assert rates["rate"].dtype == "float64"


@pytest.mark.parametrize("columns, missing", [(["month", "currency"], "rate"), (["month"], "currency, rate")])
def test_fx_rates_missing_columns(columns, missing):
    rates, problems = stage_fx_rates(text_frame(columns, [["2024-09"] * len(columns)]))
    assert rates.empty
    assert problems == [(None, f"missing column(s) {missing}; the header must include month, currency, rate")]


@pytest.mark.parametrize("rate", ["inf", "Infinity", "1e400"])
def test_fx_rate_must_be_finite(rate):
    rates, problems = stage_fx_rates(text_frame(["month", "currency", "rate"], [["2024-09", "EUR", rate]]))
    assert rates.empty
    assert [i for i, _ in problems] == [0]


# ------------------------------------------------------------------------------------------
# budgets


def test_budgets_typed_with_problems_by_row():
    raw = text_frame(
        ["project", "month", "amount", "currency"],
        [
            ["web", "2024-09", "1000", "eur"],  # 0 ok
            ["", "2024-09", "10", "USD"],  # 1 empty project
            ["web", "09/2024", "10", "USD"],  # 2 bad month
            ["web", "2024-09", "-5", "USD"],  # 3 negative
            ["web", "2024-09", "lots", "USD"],  # 4 not a number
            ["web", "2024-09", "10", "EURO"],  # 5 bad currency
            ["data", "2024-10", "0", "GBP"],  # 6 ok: zero budget allowed
        ],
    )
    budgets, problems = stage_budgets(raw, "USD")
    assert [i for i, _ in problems] == [1, 2, 3, 4, 5]
    msg = dict(problems)
    assert msg[1] == "empty project"
    assert msg[2] == "month '09/2024' is not YYYY-MM"
    assert msg[3] == "amount '-5' must be a number >= 0"
    assert msg[5] == "currency 'EURO' is not an ISO 4217 code"
    assert budgets.values.tolist() == [["web", "2024-09", 1000.0, "EUR"], ["data", "2024-10", 0.0, "GBP"]]


@pytest.mark.parametrize("reporting", ["USD", "EUR"])
def test_budgets_without_currency_column_use_reporting_currency(reporting):
    raw = text_frame(["project", "month", "amount"], [["web", "2024-09", "12.5"], ["data", "2024-09", "7"]])
    budgets, problems = stage_budgets(raw, reporting)
    assert problems == []
    assert budgets.values.tolist() == [["web", "2024-09", 12.5, reporting], ["data", "2024-09", 7.0, reporting]]


def test_budgets_missing_amount_column():
    budgets, problems = stage_budgets(text_frame(["project", "month"], [["web", "2024-09"]]), "USD")
    assert budgets.empty
    assert problems == [(None, "missing column(s) amount; the header must include project, month, amount")]


def test_budgets_empty_currency_cell_uses_reporting_currency():
    raw = text_frame(["project", "month", "amount", "currency"], [["web", "2024-09", "10", ""], ["data", "2024-09", "5", "EUR"]])
    budgets, problems = stage_budgets(raw, "USD")
    assert problems == []
    assert budgets["currency"].tolist() == ["USD", "EUR"]


def test_budget_amount_must_be_finite():
    budgets, problems = stage_budgets(text_frame(["project", "month", "amount"], [["web", "2024-09", "inf"]]), "USD")
    assert budgets.empty
    assert [i for i, _ in problems] == [0]


def test_a_second_budget_for_the_same_project_and_month_is_a_problem():
    raw = pd.DataFrame({"project": ["web", "web", "web"], "month": ["2024-09", "2024-09", "2024-10"],
                        "amount": ["100", "120", "100"]}, dtype=object)
    budgets, problems = stage_budgets(raw, "USD")
    assert problems == [(1, "second budget for web in 2024-09; keep one row per project and month")]
    assert budgets[["month", "amount"]].values.tolist() == [["2024-09", 100.0], ["2024-10", 100.0]]


def test_cost_centers_map_to_projects():
    from transforms.staging.reference import cost_center_projects

    raw = text_frame(
        ["project", "team", "account_id", "cost_center"],
        [["web", "frontend", "acc-1", "CC-100"], ["web", "frontend", "", "CC-101"], ["data", "platform", "", "CC-200"],
         ["data", "platform", "card-4421", ""]],
    )
    dim, accounts, problems = stage_projects(raw)
    assert problems == []
    assert accounts == {"acc-1": "web", "card-4421": "data"}  # a card account maps like a cloud account
    assert dim.set_index("project")["cost_centers"].to_dict() == {"data": "CC-200", "web": "CC-100,CC-101"}
    assert cost_center_projects(dim) == {"CC-100": "web", "CC-101": "web", "CC-200": "data"}


def test_cost_center_mapped_to_two_projects_is_a_problem():
    raw = text_frame(["project", "cost_center"], [["web", "CC-1"], ["data", "CC-1"]])
    _, _, problems = stage_projects(raw)
    assert problems == [(1, "cost_center CC-1 is already mapped to project web; a cost center can belong to one project")]
