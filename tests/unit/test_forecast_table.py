"""fct_cost_forecasts rows (transforms/marts/analytics/forecast_table.py): one series for the total and
one per active project, `horizon` months after the last complete month, the open month from its
month-to-date cost and projection, ordered 80 % / 95 % intervals, retired and new projects.

Inputs are hand-made fct_costs_monthly frames (billing_month, project, effective_cost)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transforms.marts.analytics.forecast_table import COLUMNS, build_forecasts

GENERATED_AT = pd.Timestamp("2024-07-10 03:00", tz="UTC")
HISTORY = [str(p) for p in pd.period_range("2023-01", "2024-06", freq="M")]  # 18 complete months
NOTHING = pd.Series(dtype="float64")
ORDER = ["lower_95", "lower_80", "forecast", "upper_80", "upper_95"]


def monthly(rows: list[tuple]) -> pd.DataFrame:
    """fct_costs_monthly-like rows from (billing_month, project, effective_cost)."""
    return pd.DataFrame(rows, columns=["billing_month", "project", "effective_cost"])


def history_rows() -> list[tuple]:
    """web grows, api is flat with a small wobble, legacy stopped after 2024-02 (retired by 2024-06),
    young started in 2024-05 (two complete months)."""
    rows = []
    for i, month in enumerate(HISTORY):
        rows += [(month, "web", 1000.0 + 20 * i), (month, "api", 500.0 + 5 * (i % 3))]
        if month <= "2024-02":
            rows.append((month, "legacy", 300.0))
        if month >= "2024-05":
            rows.append((month, "young", 200.0 if month == "2024-05" else 230.0))
    return rows


def build(frame: pd.DataFrame, open_month: str | None = None, to_date: pd.Series = NOTHING, projected: pd.Series = NOTHING,
          remaining_share: float = 0.0, horizon: int = 3, first_cost: pd.Series | None = None) -> pd.DataFrame:
    out = build_forecasts(frame, open_month, to_date, projected, remaining_share, horizon, "USD", GENERATED_AT,
                          first_cost=first_cost)
    assert list(out.columns) == COLUMNS
    return out


def assert_ordered(out: pd.DataFrame) -> None:
    values = out[ORDER].to_numpy(dtype="float64")
    assert np.isfinite(values).all(), out
    tolerance = 1e-9 * (1 + np.abs(values[:, 1:]))
    assert (values[:, :-1] <= values[:, 1:] + tolerance).all(), out[ORDER]


def series_of(out: pd.DataFrame, project: str | None) -> pd.DataFrame:
    rows = out[out["project"].isna()] if project is None else out[out["project"] == project]
    return rows.sort_values("month").reset_index(drop=True)


# --------------------------------------------------------------------------- shape and months


def test_total_and_each_active_project_get_horizon_months_after_the_last_complete_month():
    out = build(monthly(history_rows()))
    # legacy: no cost in 2024-04..06 and no open month: retired
    assert len(out) == (1 + 3) * 3
    assert set(out["project"].dropna()) == {"web", "api", "young"}
    for _, rows in out.groupby(["level", "project"], dropna=False):
        assert list(rows["month"]) == ["2024-07", "2024-08", "2024-09"]
    total = out[out["level"] == "total"]
    assert len(total) == 3 and total["project"].isna().all()
    assert (out.loc[out["level"] == "project", "project"].notna()).all()
    assert set(out["level"]) == {"total", "project"}
    assert out["actual_to_date"].isna().all()  # no open month
    assert (out["reporting_currency"] == "USD").all() and (out["generated_at"] == GENERATED_AT).all()
    assert out["model"].notna().all()
    assert_ordered(out)
    firsts = out.drop_duplicates(["level", "project"])
    assert dict(zip(firsts["project"].fillna("*"), firsts["history_months"])) == {"*": 18, "web": 18, "api": 18, "young": 2}


def test_forecasts_follow_the_history():
    out = build(monthly(history_rows()))
    api = series_of(out, "api")["forecast"]
    assert api.to_numpy() == pytest.approx(np.full(3, 505.0), rel=0.05)  # flat around 500-510
    web = series_of(out, "web")["forecast"]
    assert web.iloc[0] == pytest.approx(1340.0, rel=0.1)  # last month 1340, growing
    total = series_of(out, None)["forecast"]
    assert total.iloc[0] == pytest.approx(1340.0 + 505.0 + 230.0, rel=0.1)


@pytest.mark.parametrize("horizon", [1, 24])
def test_horizon_1_and_24(horizon):
    out = build(monthly(history_rows()), horizon=horizon)
    assert len(out) == (1 + 3) * horizon
    expected = [str(p) for p in pd.period_range("2024-07", periods=horizon, freq="M")]
    for _, rows in out.groupby(["level", "project"], dropna=False):
        assert list(rows["month"]) == expected
    assert_ordered(out)


def test_a_gap_month_counts_as_zero_and_months_follow_the_last_complete_month():
    out = build(monthly([("2024-01", "web", 100.0), ("2024-03", "web", 120.0)]), horizon=2)
    assert list(series_of(out, "web")["month"]) == ["2024-04", "2024-05"]
    assert series_of(out, "web")["history_months"].iloc[0] == 3  # 2024-02 as 0
    assert_ordered(out)


# --------------------------------------------------------------------------- the open month


OPEN = "2024-07"
TO_DATE = pd.Series({"web": 400.0, "api": 200.0, "fresh": 50.0})
PROJECTED = pd.Series({"web": 1300.0, "api": 520.0, "fresh": 150.0})


def open_month_rows() -> list[tuple]:
    """History plus the open month's month-to-date rows; fresh is new in the open month, young did
    not spend yet this month."""
    return history_rows() + [(OPEN, p, v) for p, v in TO_DATE.items()]


def test_the_open_month_is_the_first_forecast_month_with_its_projection_and_month_to_date():
    out = build(monthly(open_month_rows()), OPEN, TO_DATE, PROJECTED, remaining_share=0.1)
    assert len(out) == (1 + 4) * 3  # total, web, api, young, fresh
    for _, rows in out.groupby(["level", "project"], dropna=False):
        assert list(rows["month"]) == ["2024-07", "2024-08", "2024-09"]
    opened = out[out["month"] == OPEN]
    opened = opened.set_index(opened["project"].fillna("*"))
    for project in ("web", "api", "fresh"):
        assert opened.loc[project, "forecast"] == pytest.approx(PROJECTED[project])
        assert opened.loc[project, "actual_to_date"] == pytest.approx(TO_DATE[project])
    assert opened.loc["*", "forecast"] == pytest.approx(PROJECTED.sum())
    assert opened.loc["*", "actual_to_date"] == pytest.approx(TO_DATE.sum())
    assert out.loc[out["month"] != OPEN, "actual_to_date"].isna().all()
    # the open month is not part of the history: the complete months are
    assert (series_of(out, "web")["history_months"] == 18).all()
    assert_ordered(out)


def test_the_open_months_interval_is_narrower_than_the_next_months_when_little_remains():
    out = build(monthly(open_month_rows()), OPEN, TO_DATE, PROJECTED, remaining_share=0.1)
    for project in (None, "web", "api", "fresh"):
        rows = series_of(out, project)
        width = rows["upper_95"] - rows["lower_95"]
        width_80 = rows["upper_80"] - rows["lower_80"]
        assert width.iloc[0] < width.iloc[1], project
        assert width_80.iloc[0] < width_80.iloc[1], project
        assert rows.loc[0, "lower_95"] <= rows.loc[0, "forecast"] <= rows.loc[0, "upper_95"]


def test_the_open_months_interval_shrinks_with_the_share_of_days_to_come():
    widths = []
    for share in (0.9, 0.5, 0.1):
        rows = series_of(build(monthly(open_month_rows()), OPEN, TO_DATE, PROJECTED, remaining_share=share), "web")
        assert rows.loc[0, "forecast"] == pytest.approx(PROJECTED["web"])
        assert_ordered(rows)
        widths.append(rows.loc[0, "upper_95"] - rows.loc[0, "lower_95"])
    assert widths[0] > widths[1] > widths[2] > 0


def test_the_open_months_lower_bounds_are_not_below_the_cost_so_far():
    to_date = pd.Series({"web": 900.0, "api": 300.0})
    projected = pd.Series({"web": 1300.0, "api": 300.0})  # api: nothing more expected this month
    frame = monthly(history_rows() + [(OPEN, p, v) for p, v in to_date.items()])
    out = build(frame, OPEN, to_date, projected, remaining_share=0.5)
    opened = out[out["month"] == OPEN]
    assert (opened["lower_95"] >= opened["actual_to_date"] - 1e-9).all(), opened[["project", "actual_to_date", *ORDER]]


# --------------------------------------------------------------------------- retired, new and short-lived projects


def test_a_retired_project_gets_no_rows():
    out = build(monthly(open_month_rows()), OPEN, TO_DATE, PROJECTED, remaining_share=0.5)
    assert "legacy" not in set(out["project"].dropna())


def test_a_quiet_project_that_spends_again_this_month_is_not_retired():
    to_date = pd.concat([TO_DATE, pd.Series({"legacy": 20.0})])
    projected = pd.concat([PROJECTED, pd.Series({"legacy": 60.0})])
    frame = monthly(open_month_rows() + [(OPEN, "legacy", 20.0)])
    out = build(frame, OPEN, to_date, projected, remaining_share=0.5)
    legacy = series_of(out, "legacy")
    assert list(legacy["month"]) == ["2024-07", "2024-08", "2024-09"]
    assert legacy.loc[0, "forecast"] == pytest.approx(60.0)
    assert_ordered(out)


def test_a_project_new_in_the_open_month_gets_rows():
    out = build(monthly(open_month_rows()), OPEN, TO_DATE, PROJECTED, remaining_share=0.5)
    fresh = series_of(out, "fresh")
    assert list(fresh["month"]) == ["2024-07", "2024-08", "2024-09"]
    assert (fresh["level"] == "project").all()
    assert fresh.loc[0, "forecast"] == pytest.approx(150.0) and fresh.loc[0, "actual_to_date"] == pytest.approx(50.0)
    # later months continue from its projection
    assert fresh.loc[1:, "forecast"].to_numpy() == pytest.approx(np.full(2, 150.0), rel=0.2)
    assert_ordered(fresh)


def test_a_project_with_two_months_of_history_gets_finite_forecasts():
    out = build(monthly(history_rows()), horizon=12)
    young = series_of(out, "young")
    assert len(young) == 12
    assert_ordered(young)
    assert (young["forecast"] > 0).all()
    assert young["forecast"].to_numpy() == pytest.approx(np.full(12, 230.0), rel=0.2)  # about the last month


def test_a_project_with_one_month_of_history_gets_finite_forecasts():
    frame = monthly([(m, "web", 1000.0) for m in HISTORY] + [("2024-06", "brandnew", 80.0)])
    out = build(frame)
    brandnew = series_of(out, "brandnew")
    assert list(brandnew["month"]) == ["2024-07", "2024-08", "2024-09"]
    assert brandnew["forecast"].to_numpy() == pytest.approx(np.full(3, 80.0), rel=0.2)
    assert_ordered(brandnew)


def test_a_project_that_started_mid_month_gets_a_sensible_interval():
    frame = monthly([(m, "web", 1000.0) for m in HISTORY] + [("2024-05", "young", 500.0), ("2024-06", "young", 1000.0)])
    started = pd.Series({"web": pd.Timestamp("2023-01-01"), "young": pd.Timestamp("2024-05-16")})
    young = series_of(build(frame, first_cost=started), "young")
    assert_ordered(young)
    assert (young["upper_95"] <= 5 * young["forecast"]).all(), young[ORDER]
    assert (young["lower_95"] >= young["forecast"] / 5).all(), young[ORDER]


def test_the_total_has_project_null_and_level_total():
    out = build(monthly(open_month_rows()), OPEN, TO_DATE, PROJECTED, remaining_share=0.5)
    total = out[out["level"] == "total"]
    assert len(total) == 3 and total["project"].isna().all()
    assert out.loc[out["project"].isna(), "level"].eq("total").all()


def test_no_complete_month_gives_an_empty_frame_with_the_table_columns():
    out = build(monthly([]))
    assert out.empty and list(out.columns) == COLUMNS
