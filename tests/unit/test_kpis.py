"""kpis_monthly (transforms/marts/kpis.py): expected numbers are computed by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from transforms.marts.kpis import OUTPUT_COLUMNS, build_kpis_monthly
from transforms.money import conserved, exact_total

MONTHLY_COLUMNS = [
    "billing_month", "project", "team", "provider", "service_name", "service_category", "billing_currency",
    "reporting_currency", "billed_cost", "effective_cost", "list_cost", "chargeback_cost", "source_rows",
]


def monthly(rows: list[tuple], currency: str = "USD") -> pd.DataFrame:
    """fct_costs_monthly rows from (billing_month, project, team, effective_cost[, chargeback_cost]);
    chargeback defaults to the effective cost, the other amounts are deliberately different."""
    records = []
    for i, (month, project, team, effective, *chargeback) in enumerate(rows):
        records.append(
            {
                "billing_month": month, "project": project, "team": team, "provider": "aws",
                "service_name": f"svc-{i}", "service_category": "Compute", "billing_currency": "EUR",
                "reporting_currency": currency, "billed_cost": effective * 3 + 1, "effective_cost": effective,
                "list_cost": effective * 5 + 7, "chargeback_cost": chargeback[0] if chargeback else effective,
                "source_rows": 1,
            }
        )
    return pd.DataFrame(records, columns=MONTHLY_COLUMNS)


# Three months, two teams, a null team and a null project:
#   2024-01  frontend: web 60 + 40 = 100, api 50   platform: data 80   (null, null): 5
#   2024-02  frontend: web 120                     platform: no rows   (null, null): -2.50 (credit)
#   2024-03  frontend: web 90                      platform: data 30, ml 30 (tie)
THREE_MONTHS = [
    ("2024-01", "web", "frontend", 60.0, 66.0),
    ("2024-01", "web", "frontend", 40.0, 44.0),
    ("2024-01", "api", "frontend", 50.0, 0.0),
    ("2024-01", "data", "platform", 80.0, 80.0),
    ("2024-01", None, None, 5.0, 0.0),
    ("2024-02", "web", "frontend", 120.0, 132.0),
    ("2024-02", None, None, -2.5, 0.0),
    ("2024-03", "web", "frontend", 90.0, 99.0),
    ("2024-03", "data", "platform", 30.0, 30.0),
    ("2024-03", "ml", "platform", 30.0, 30.0),
]


def row(kpis: pd.DataFrame, month: str, team: str | None = None) -> pd.Series:
    if team is None:
        hit = kpis[(kpis["billing_month"] == month) & (kpis["scope"] == "organisation")]
    else:
        hit = kpis[(kpis["billing_month"] == month) & (kpis["scope"] == "team") & (kpis["team"] == team)]
    assert len(hit) == 1, (month, team, len(hit))
    return hit.iloc[0]


def check(r: pd.Series, **expected) -> None:
    for column, value in expected.items():
        if value is None:
            assert pd.isna(r[column]), (column, r[column])
        elif isinstance(value, float):
            assert r[column] == pytest.approx(value, abs=1e-9), (column, r[column], value)
        else:
            assert r[column] == value, (column, r[column], value)


def test_columns_and_row_order():
    kpis = build_kpis_monthly(monthly(THREE_MONTHS))
    assert list(kpis.columns) == OUTPUT_COLUMNS
    got = [(m, s, None if pd.isna(t) else t) for m, s, t in zip(kpis["billing_month"], kpis["scope"], kpis["team"])]
    assert got == [
        ("2024-01", "organisation", None), ("2024-01", "team", "frontend"), ("2024-01", "team", "platform"),
        ("2024-01", "team", "unassigned"),
        ("2024-02", "organisation", None), ("2024-02", "team", "frontend"), ("2024-02", "team", "unassigned"),
        ("2024-03", "organisation", None), ("2024-03", "team", "frontend"), ("2024-03", "team", "platform"),
    ]
    assert (kpis["reporting_currency"] == "USD").all()
    assert kpis["projects_with_spend"].dtype == "int64"


def test_organisation_rows():
    kpis = build_kpis_monthly(monthly(THREE_MONTHS))
    # 100 + 50 + 80 + 5 = 235; chargeback 66 + 44 + 0 + 80 + 0 = 190; projects web, api, data, unallocated
    check(row(kpis, "2024-01"), total_cost=235.0, chargeback_cost=190.0, previous_month_cost=None, change_abs=None,
          change_pct=None, avg_monthly_cost_12m=235.0, top_project="web", top_project_cost=100.0, projects_with_spend=4)
    # 120 - 2.5 = 117.5; -117.5 / 235 = -50 %; avg (235 + 117.5) / 2 = 176.25; web and unallocated (credit) spend
    check(row(kpis, "2024-02"), total_cost=117.5, chargeback_cost=132.0, previous_month_cost=235.0, change_abs=-117.5,
          change_pct=-50.0, avg_monthly_cost_12m=176.25, top_project="web", top_project_cost=120.0, projects_with_spend=2)
    # 90 + 30 + 30 = 150; 32.5 / 117.5 = 27.659574...%; avg (235 + 117.5 + 150) / 3 = 167.5
    check(row(kpis, "2024-03"), total_cost=150.0, chargeback_cost=159.0, previous_month_cost=117.5, change_abs=32.5,
          change_pct=32.5 / 117.5 * 100, avg_monthly_cost_12m=167.5, top_project="web", top_project_cost=90.0,
          projects_with_spend=3)
    assert pd.isna(row(kpis, "2024-03")["team"])


def test_team_rows():
    kpis = build_kpis_monthly(monthly(THREE_MONTHS))
    check(row(kpis, "2024-01", "frontend"), scope="team", total_cost=150.0, chargeback_cost=110.0, previous_month_cost=None,
          change_pct=None, avg_monthly_cost_12m=150.0, top_project="web", top_project_cost=100.0, projects_with_spend=2)
    # -30 / 150 = -20 %; avg (150 + 120) / 2
    check(row(kpis, "2024-02", "frontend"), total_cost=120.0, chargeback_cost=132.0, previous_month_cost=150.0,
          change_abs=-30.0, change_pct=-20.0, avg_monthly_cost_12m=135.0, top_project="web", projects_with_spend=1)
    # -30 / 120 = -25 %; avg (150 + 120 + 90) / 3
    check(row(kpis, "2024-03", "frontend"), total_cost=90.0, previous_month_cost=120.0, change_abs=-30.0, change_pct=-25.0,
          avg_monthly_cost_12m=120.0)
    check(row(kpis, "2024-01", "platform"), total_cost=80.0, top_project="data", top_project_cost=80.0, projects_with_spend=1)


def test_team_without_rows_in_a_month_has_no_row_and_counts_as_zero():
    kpis = build_kpis_monthly(monthly(THREE_MONTHS))
    assert not ((kpis["billing_month"] == "2024-02") & (kpis["team"] == "platform")).any()
    # previous month 0 (the month exists for the organisation): change is the whole amount, no percentage;
    # average (80 + 0 + 60) / 3
    check(row(kpis, "2024-03", "platform"), total_cost=60.0, previous_month_cost=0.0, change_abs=60.0, change_pct=None,
          avg_monthly_cost_12m=140.0 / 3, projects_with_spend=2)


def test_team_that_starts_after_the_first_month_has_previous_zero_not_null():
    kpis = build_kpis_monthly(monthly([("2024-01", "web", "frontend", 10.0), ("2024-02", "web", "frontend", 10.0),
                                       ("2024-02", "etl", "data", 40.0)]))
    # the data team's previous month is before its first row but not before the first month of data
    check(row(kpis, "2024-02", "data"), total_cost=40.0, previous_month_cost=0.0, change_abs=40.0, change_pct=None,
          avg_monthly_cost_12m=20.0)
    check(row(kpis, "2024-02"), total_cost=50.0, previous_month_cost=10.0, change_abs=40.0, change_pct=400.0,
          avg_monthly_cost_12m=30.0)


def test_null_team_is_unassigned_and_null_project_unallocated():
    kpis = build_kpis_monthly(monthly(THREE_MONTHS))
    check(row(kpis, "2024-01", "unassigned"), total_cost=5.0, top_project="unallocated", top_project_cost=5.0,
          projects_with_spend=1)
    # a credit month: 5 -> -2.50, change -7.50 = -150 %, average (5 - 2.5) / 2
    check(row(kpis, "2024-02", "unassigned"), total_cost=-2.5, previous_month_cost=5.0, change_abs=-7.5, change_pct=-150.0,
          avg_monthly_cost_12m=1.25, top_project="unallocated", top_project_cost=-2.5)
    assert not kpis["team"].isin(["", "nan", "None"]).any()
    assert kpis.loc[kpis["scope"] == "team", "team"].notna().all()


def test_null_project_counts_together_with_the_unallocated_project():
    # fct_costs_monthly already names unmapped costs 'unallocated'; a null project is the same thing
    kpis = build_kpis_monthly(monthly([("2024-01", "unallocated", "ops", 3.0), ("2024-01", None, "ops", 4.0),
                                       ("2024-01", "web", "ops", 6.0)]))
    check(row(kpis, "2024-01", "ops"), total_cost=13.0, top_project="unallocated", top_project_cost=7.0, projects_with_spend=2)


@pytest.mark.parametrize("dtype", ["str", object])
def test_string_columns_as_arrow_str_or_object(dtype):
    frame = monthly(THREE_MONTHS)
    strings = ["billing_month", "project", "team", "provider", "service_name", "service_category", "billing_currency",
               "reporting_currency"]
    frame = frame.astype({c: dtype for c in strings})
    if dtype == "str":
        assert frame["team"].isna().sum() == 2  # nulls are NaN in the Arrow-backed string column
    kpis = build_kpis_monthly(frame)
    assert len(kpis) == 10
    check(row(kpis, "2024-02", "unassigned"), total_cost=-2.5)
    check(row(kpis, "2024-01"), total_cost=235.0)


def test_all_null_team_column_as_float():
    # a frame read back without any team has a float64 column of NaN
    frame = monthly([("2024-01", "web", None, 1.0), ("2024-01", None, None, 2.0)])
    frame["team"] = np.nan
    kpis = build_kpis_monthly(frame)
    assert list(kpis["scope"]) == ["organisation", "team"]
    check(row(kpis, "2024-01", "unassigned"), total_cost=3.0, top_project="unallocated", projects_with_spend=2)


def test_other_columns_are_ignored():
    frame = monthly(THREE_MONTHS).assign(region="eu-west-1", tags="x")
    pd.testing.assert_frame_equal(build_kpis_monthly(frame), build_kpis_monthly(monthly(THREE_MONTHS)))


def test_gap_month_is_a_zero_month_for_everyone():
    kpis = build_kpis_monthly(monthly([
        ("2024-01", "web", "frontend", 100.0), ("2024-01", "etl", "data", 20.0),
        # no data at all in 2024-02
        ("2024-03", "web", "frontend", 60.0), ("2024-03", "etl", "data", 30.0),
    ]))
    assert list(kpis["billing_month"].unique()) == ["2024-01", "2024-02", "2024-03"]
    gap = kpis[kpis["billing_month"] == "2024-02"]
    assert list(gap["scope"]) == ["organisation"]  # no team rows for a month without spend
    check(row(kpis, "2024-02"), total_cost=0.0, chargeback_cost=0.0, previous_month_cost=120.0, change_abs=-120.0,
          change_pct=-100.0, avg_monthly_cost_12m=60.0, top_project=None, top_project_cost=None, projects_with_spend=0,
          reporting_currency="USD")
    # after the gap: previous 0, no percentage; average (120 + 0 + 90) / 3
    check(row(kpis, "2024-03"), total_cost=90.0, previous_month_cost=0.0, change_abs=90.0, change_pct=None,
          avg_monthly_cost_12m=70.0)
    check(row(kpis, "2024-03", "frontend"), previous_month_cost=0.0, change_pct=None, avg_monthly_cost_12m=160.0 / 3)
    check(row(kpis, "2024-03", "data"), previous_month_cost=0.0, avg_monthly_cost_12m=50.0 / 3)


def test_gap_across_a_year_boundary():
    kpis = build_kpis_monthly(monthly([("2023-11", "web", "frontend", 30.0), ("2024-02", "web", "frontend", 30.0)]))
    assert list(kpis.loc[kpis["scope"] == "organisation", "billing_month"]) == ["2023-11", "2023-12", "2024-01", "2024-02"]
    check(row(kpis, "2024-01"), total_cost=0.0, previous_month_cost=0.0, change_abs=0.0, change_pct=None)
    check(row(kpis, "2024-02"), previous_month_cost=0.0, avg_monthly_cost_12m=15.0)


def fourteen_months() -> pd.DataFrame:
    # 2023-06 .. 2024-07; team a spends 10 × month number (10 .. 140), team b 120 in the first
    # month and 24 in the 13th (2024-06) only
    months = [str(p) for p in pd.period_range("2023-06", "2024-07", freq="M")]
    rows = [(m, "app", "a", 10.0 * (i + 1)) for i, m in enumerate(months)]
    rows += [(months[0], "batch", "b", 120.0), (months[12], "batch", "b", 24.0)]
    return monthly(rows)


def test_trailing_average_covers_at_most_twelve_months():
    kpis = build_kpis_monthly(fourteen_months())
    # first month: one month of data
    check(row(kpis, "2023-06"), total_cost=130.0, avg_monthly_cost_12m=130.0)
    # third month: (130 + 20 + 30) / 3
    check(row(kpis, "2023-08"), avg_monthly_cost_12m=60.0)
    # 12th month (2024-05): a 10..120 = 780, b 120 -> 900 / 12
    check(row(kpis, "2024-05"), total_cost=120.0, avg_monthly_cost_12m=75.0)
    # 13th month: the first month drops out: a 20..130 = 900, b 24 -> 924 / 12
    check(row(kpis, "2024-06"), total_cost=154.0, avg_monthly_cost_12m=77.0, previous_month_cost=120.0, change_abs=34.0)
    # 14th month: a 30..140 = 1020, b 24 -> 1044 / 12
    check(row(kpis, "2024-07"), total_cost=140.0, avg_monthly_cost_12m=87.0, previous_month_cost=154.0)
    check(row(kpis, "2024-07", "a"), avg_monthly_cost_12m=85.0)


def test_trailing_average_of_a_team_counts_its_months_without_spend_as_zero():
    kpis = build_kpis_monthly(fourteen_months())
    check(row(kpis, "2023-06", "b"), avg_monthly_cost_12m=120.0)
    # 2024-06: window 2023-07 .. 2024-06 leaves out the 120; 11 months without spend count as 0
    check(row(kpis, "2024-06", "b"), total_cost=24.0, previous_month_cost=0.0, change_pct=None, avg_monthly_cost_12m=2.0)
    assert (kpis["team"] == "b").sum() == 2


def test_tie_for_top_project_goes_to_the_alphabetically_first():
    kpis = build_kpis_monthly(monthly(THREE_MONTHS))
    check(row(kpis, "2024-03", "platform"), top_project="data", top_project_cost=30.0)
    # listed in reverse order, still alphabetical; the organisation has the same tie in its own scope
    kpis = build_kpis_monthly(monthly([("2024-01", "zeta", "t", 40.0), ("2024-01", "beta", "u", 40.0),
                                       ("2024-01", "alpha", "t", 10.0)]))
    check(row(kpis, "2024-01"), top_project="beta", top_project_cost=40.0, projects_with_spend=3)
    check(row(kpis, "2024-01", "t"), top_project="zeta", top_project_cost=40.0)


def test_tie_is_not_broken_by_float_noise():
    # 0.1 + 0.2 is 0.30000000000000004 in float64: the same cents as 0.3, so still a tie
    kpis = build_kpis_monthly(monthly([("2024-01", "b", "t", 0.1), ("2024-01", "b", "t", 0.2), ("2024-01", "a", "t", 0.3)]))
    check(row(kpis, "2024-01", "t"), top_project="a", top_project_cost=0.3)


def test_project_summed_across_teams_for_the_organisation():
    # the organisation ranks projects over all teams: shared 30 + 30 = 60 beats solo 50
    kpis = build_kpis_monthly(monthly([("2024-01", "shared", "t", 30.0), ("2024-01", "shared", "u", 30.0),
                                       ("2024-01", "solo", "u", 50.0)]))
    check(row(kpis, "2024-01"), top_project="shared", top_project_cost=60.0, projects_with_spend=2)
    check(row(kpis, "2024-01", "u"), top_project="solo", top_project_cost=50.0)


def test_credits():
    kpis = build_kpis_monthly(monthly([
        ("2024-01", "web", "t", 50.0),
        ("2024-01", "refund", "t", -80.0),  # a credit larger than the spend
        ("2024-01", "netzero", "t", 12.34), ("2024-01", "netzero", "t", -12.34),  # nets to 0: no spend
        ("2024-01", "dust", "t", 0.004),  # below half a cent: no spend
        ("2024-01", "creditonly", "u", -5.0), ("2024-01", "creditonly2", "u", -7.0),
        ("2024-02", "web", "t", 5.0),
    ]))
    # 50 - 80 + 0 + 0.004 - 5 - 7 = -41.996; the top project is the largest amount, not the largest credit
    check(row(kpis, "2024-01"), total_cost=-41.996, top_project="web", top_project_cost=50.0, projects_with_spend=4)
    check(row(kpis, "2024-01", "t"), total_cost=-29.996, projects_with_spend=2)
    # a scope with credits only: the smallest credit is the top project
    check(row(kpis, "2024-01", "u"), total_cost=-12.0, top_project="creditonly", top_project_cost=-5.0, projects_with_spend=2)
    # from a negative month: change_abs / previous × 100 as specified, so the sign follows the previous month's
    # 5 - (-29.996) = 34.996; 34.996 / -29.996 × 100
    check(row(kpis, "2024-02", "t"), previous_month_cost=-29.996, change_abs=34.996, change_pct=34.996 / -29.996 * 100,
          avg_monthly_cost_12m=(-29.996 + 5.0) / 2)


def test_previous_month_of_float_noise_counts_as_zero():
    # 0.1 + 0.2 - 0.3 is 5.6e-17 in float64, not 0: a percentage change from it would be ~1e19 %
    kpis = build_kpis_monthly(monthly([("2024-01", "a", "t", 0.1), ("2024-01", "a", "t", 0.2), ("2024-01", "a", "t", -0.3),
                                       ("2024-02", "a", "t", 10.0)]))
    r = row(kpis, "2024-02", "t")
    assert abs(r["previous_month_cost"]) < 1e-12
    check(r, change_abs=10.0, change_pct=None)
    check(row(kpis, "2024-01", "t"), projects_with_spend=0, top_project="a")


def test_empty_input():
    for frame in (monthly([]), pd.DataFrame()):
        kpis = build_kpis_monthly(frame)
        assert kpis.empty
        assert list(kpis.columns) == OUTPUT_COLUMNS
        assert kpis["total_cost"].dtype == "float64"
        assert kpis["projects_with_spend"].dtype == "int64"


def test_mixed_reporting_currencies_are_refused():
    frame = pd.concat([monthly([("2024-01", "a", "t", 1.0)]), monthly([("2024-01", "b", "t", 1.0)], currency="EUR")])
    with pytest.raises(ValueError, match="reporting currencies"):
        build_kpis_monthly(frame)


def test_rows_without_billing_month_are_refused():
    # dropping them silently would break the conservation law
    frame = monthly([("2024-01", "a", "t", 1.0), (None, "b", "t", 2.0)])
    with pytest.raises(ValueError, match="billing_month"):
        build_kpis_monthly(frame)


def random_monthly(n: int = 5000) -> pd.DataFrame:
    """Cents with credits, ten teams plus null, 25 months with two gap months."""
    rng = np.random.default_rng(7)
    months = [str(p) for p in pd.period_range("2022-11", "2024-11", freq="M") if str(p) not in ("2023-04", "2024-02")]
    teams = [f"team-{i}" for i in range(10)] + [None]
    projects = {t: [f"{t}-p{j}" for j in range(4)] for t in teams if t}
    team_of_row = rng.choice(len(teams), n)
    rows = []
    for k in range(n):
        team = teams[team_of_row[k]]
        project = None if team is None or rng.random() < 0.05 else projects[team][rng.integers(4)]
        amount = round(float(rng.normal(250, 400)), 2)  # about a quarter are credits
        rows.append((months[rng.integers(len(months))], project, team, amount, round(amount * 1.07, 2)))
    return monthly(rows)


def test_conservation_law():
    frame = random_monthly()
    kpis = build_kpis_monthly(frame)
    org = kpis[kpis["scope"] == "organisation"].set_index("billing_month")
    teams = kpis[kpis["scope"] == "team"]
    assert list(org.index) == [str(p) for p in pd.period_range("2022-11", "2024-11", freq="M")]
    for month, rows in frame.groupby("billing_month"):
        n = len(rows)
        # organisation row = fct_costs_monthly for the month
        assert conserved(exact_total(rows["effective_cost"]), exact_total([org.at[month, "total_cost"]]), n)
        assert conserved(exact_total(rows["chargeback_cost"]), exact_total([org.at[month, "chargeback_cost"]]), n)
        # team rows add up to the organisation row
        month_teams = teams[teams["billing_month"] == month]
        assert conserved(exact_total([org.at[month, "total_cost"]]), exact_total(month_teams["total_cost"]), n)
        assert conserved(exact_total([org.at[month, "chargeback_cost"]]), exact_total(month_teams["chargeback_cost"]), n)
        assert set(month_teams["team"]) == set(rows["team"].fillna("unassigned"))
    for month in ("2023-04", "2024-02"):
        assert org.at[month, "total_cost"] == 0.0
        assert not (teams["billing_month"] == month).any()
    assert conserved(exact_total(frame["effective_cost"]), exact_total(org["total_cost"]), len(frame))


def test_derived_columns_agree_with_each_other_on_random_data():
    kpis = build_kpis_monthly(random_monthly())
    known = kpis["previous_month_cost"].notna()
    assert (kpis.loc[~known, "billing_month"] == "2022-11").all()  # only the first month has no previous month
    np.testing.assert_allclose(kpis.loc[known, "change_abs"], kpis.loc[known, "total_cost"] - kpis.loc[known, "previous_month_cost"])
    # every org row's previous month is the org total of the month before
    org = kpis[kpis["scope"] == "organisation"]
    np.testing.assert_allclose(org["previous_month_cost"].iloc[1:], org["total_cost"].iloc[:-1])
    # the average of the last month is the mean of the 12 org totals ending with it
    assert org["avg_monthly_cost_12m"].iloc[-1] == pytest.approx(math.fsum(org["total_cost"].iloc[-12:]) / 12, abs=1e-9)


def test_top_project_and_spend_count_agree_with_a_plain_groupby_on_random_data():
    frame = random_monthly()
    kpis = build_kpis_monthly(frame)
    per_project = frame.assign(project=frame["project"].fillna("unallocated")).groupby(["billing_month", "project"])["effective_cost"].sum()
    org = kpis[(kpis["scope"] == "organisation") & (kpis["projects_with_spend"] > 0)].set_index("billing_month")
    assert len(org) == 23
    for month, amounts in per_project.groupby(level="billing_month"):
        assert org.at[month, "top_project_cost"] == pytest.approx(amounts.max(), abs=1e-6)
        assert org.at[month, "projects_with_spend"] == int((amounts.abs() > 0.005).sum())
        assert per_project[(month, org.at[month, "top_project"])] == pytest.approx(amounts.max(), abs=1e-6)
