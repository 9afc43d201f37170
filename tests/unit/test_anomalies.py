"""fct_cost_anomalies detection (transforms/marts/analytics/anomalies.py).

Series are built from a known normal cost (weekday pattern x growth) times seeded log-normal
noise, so each test knows what a person would call normal and what an anomaly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from transforms.marts.analytics.anomalies import (
    DAILY_COLUMNS,
    MONTHLY_COLUMNS,
    SEVERITIES,
    AnomalyConfig,
    detect_daily,
    detect_monthly,
    expected_daily,
)

START = pd.Timestamp("2024-01-01")  # a Monday


def normal_cost(days: int, level: float = 1000.0, weekend: float = 1.0, monthly_growth: float = 0.0, noise: float = 0.03,
                seed: int = 0, start: pd.Timestamp = START) -> np.ndarray:
    dates = pd.date_range(start, periods=days, freq="D")
    pattern = np.where(dates.day_of_week >= 5, weekend, 1.0)
    trend = level * (1 + monthly_growth) ** (np.arange(days) / 30.4)
    return trend * pattern * np.exp(noise * np.random.default_rng(seed).standard_normal(days))


def frame(name: str, costs: np.ndarray, start: pd.Timestamp = START) -> pd.DataFrame:
    return pd.DataFrame({"series": name, "date": pd.date_range(start, periods=len(costs), freq="D"), "cost": costs})


def flags_of(costs: pd.DataFrame, config: AnomalyConfig | None = None) -> pd.DataFrame:
    out = detect_daily(costs, config or AnomalyConfig())
    assert list(out.columns) == DAILY_COLUMNS
    return out


def day(i: int, start: pd.Timestamp = START) -> pd.Timestamp:
    return start + pd.Timedelta(days=i)


# --------------------------------------------------------------------------- spikes


def test_a_spike_is_flagged_with_the_expected_cost_and_its_impact():
    costs = normal_cost(200, weekend=0.6)
    normal_that_day = costs[120]
    costs[120] += 3000.0  # 2024-04-30, a Tuesday
    out = flags_of(frame("checkout|Amazon EC2", costs))
    assert len(out) == 1
    row = out.iloc[0]
    assert row["series"] == "checkout|Amazon EC2" and row["date"] == day(120)
    assert row["actual_cost"] == pytest.approx(normal_that_day + 3000.0)
    assert row["expected_cost"] == pytest.approx(1000.0, rel=0.06)  # the weekday level, without the spike
    assert row["impact"] == pytest.approx(row["actual_cost"] - row["expected_cost"])
    assert row["impact"] == pytest.approx(3000.0, rel=0.05)
    assert row["impact_pct"] == pytest.approx(100 * row["impact"] / row["expected_cost"])
    assert 0.5 <= row["score"] <= 1.0
    assert "seasonal_mad" in row["methods"].split(",")
    assert row["severity"] in SEVERITIES


def test_severity_grows_with_the_money_at_stake():
    costs = {name: normal_cost(150, seed=i) for i, name in enumerate(["small", "large"])}
    costs["small"][100] += 400.0  # impact 400: medium by amount
    costs["large"][100] += 20_000.0  # impact 20,000: critical by amount
    out = flags_of(pd.concat([frame(name, c) for name, c in costs.items()])).set_index("series")
    assert SEVERITIES.index(out.loc["large", "severity"]) > SEVERITIES.index(out.loc["small", "severity"])
    assert out.loc["large", "severity"] == "critical"


# --------------------------------------------------------------------------- benign patterns


@pytest.mark.parametrize("charge_day", ["first", "last"])
def test_a_charge_recurring_on_the_same_day_every_month_is_not_flagged(charge_day):
    dates = pd.date_range(START, periods=400, freq="D")
    on_day = dates.is_month_start if charge_day == "first" else dates.is_month_end  # Jan 31, Feb 29, Mar 31, ...
    costs = normal_cost(400) + np.where(on_day, 25_000.0 * np.random.default_rng(1).uniform(0.95, 1.05, 400), 0.0)
    if charge_day == "last":  # its first occurrence (Jan 31) has no earlier month: start the series on it
        costs, dates = costs[30:], dates[30:]
    assert flags_of(frame("shared|AWS Support (Business)", costs, dates[0])).empty


def test_a_recurring_charge_that_doubles_is_flagged_for_the_increase_only():
    dates = pd.date_range(START, periods=200, freq="D")
    charge = np.where(dates.is_month_start, 10_000.0, 0.0)
    charge[dates == pd.Timestamp("2024-06-01")] = 20_000.0
    out = flags_of(frame("licences", normal_cost(200) + charge))
    assert list(out["date"]) == [pd.Timestamp("2024-06-01")]
    assert out["impact"].iloc[0] == pytest.approx(10_000.0, rel=0.05)


# intermittent series: zero on every day but a charge (SaaS fees, support plans, tax rows on the 1st)


def monthly_charges(amounts, day_rule=1, first_month: str = "2025-01") -> pd.DataFrame:
    """One row per month on its charge day: a day number (clamped to the month's last day) or "last"."""
    months = pd.period_range(first_month, periods=len(amounts), freq="M")
    if day_rule == "last":
        dates = months.to_timestamp(how="end").normalize()
    else:
        dates = pd.DatetimeIndex([m.to_timestamp() + pd.Timedelta(days=min(day_rule, m.days_in_month) - 1) for m in months])
    return pd.DataFrame({"series": "shared|GitHub", "date": dates, "cost": np.asarray(amounts, dtype=float)})


def with_zero_days(charges: pd.DataFrame) -> pd.DataFrame:
    days = pd.date_range(charges["date"].min(), charges["date"].max() + pd.Timedelta(days=20), freq="D")
    cost = charges.set_index("date")["cost"].reindex(days, fill_value=0.0)
    return pd.DataFrame({"series": charges["series"].iloc[0], "date": days, "cost": cost.to_numpy()})


@pytest.mark.parametrize("fee", [80.0, 5_000.0])
@pytest.mark.parametrize("rows", ["charge days only", "zeros written"])
def test_a_monthly_fee_of_an_otherwise_empty_series_is_not_flagged(fee, rows):
    charges = monthly_charges(fee * 1.02 ** np.arange(6))  # on the 1st, +2 % a month
    costs = charges if rows == "charge days only" else with_zero_days(charges)
    assert flags_of(costs).empty


def test_a_monthly_fee_that_triples_once_is_flagged_that_month_against_the_usual_fee():
    fees = 1_200.0 * 1.02 ** np.arange(6)
    fees[4] *= 3  # 2025-05-01
    out = flags_of(monthly_charges(fees))
    assert list(out["date"]) == [pd.Timestamp("2025-05-01")]
    row = out.iloc[0]
    assert row["expected_cost"] == pytest.approx(fees[3], rel=0.03)  # the fee of the month before
    assert row["impact"] == pytest.approx(fees[4] - fees[3], rel=0.03)
    assert row["severity"] in SEVERITIES


def test_a_tax_row_on_the_first_that_varies_a_little_is_not_flagged():
    rng = np.random.default_rng(4)
    tax = 600.0 * rng.uniform(0.9, 1.1, 15)  # +-10 % with last month's spend
    assert flags_of(monthly_charges(tax, first_month="2025-08")).empty
    # the same tax on top of daily usage (a project's total)
    dates = pd.date_range("2025-08-01", periods=450, freq="D")
    usage = normal_cost(450, level=800.0, weekend=0.6, start=dates[0])
    on_first = np.zeros(450)
    on_first[dates.is_month_start] = tax
    assert flags_of(frame("checkout", usage + on_first, dates[0])).empty


@pytest.mark.parametrize("day_rule", ["last", 30, 29])
@pytest.mark.parametrize("year", [2025, 2024])  # Feb 28 and Feb 29
def test_a_fee_on_the_last_days_of_the_month_is_not_flagged(day_rule, year):
    charges = monthly_charges(900.0 * 1.01 ** np.arange(14), day_rule, f"{year}-01")  # e.g. Jan 31, Feb 28, Mar 31, Apr 30
    assert flags_of(charges).empty
    assert flags_of(with_zero_days(charges)).empty


def test_a_fee_missing_one_month_is_still_expected_the_month_after():
    charges = monthly_charges(500.0 * 1.02 ** np.arange(8)).drop(index=4)  # no 2025-05-01 row (e.g. quarantined)
    assert flags_of(charges).empty


def test_a_new_one_off_charge_of_an_intermittent_series_is_flagged():
    charges = monthly_charges(np.full(6, 300.0))
    one_off = pd.DataFrame({"series": "shared|GitHub", "date": [pd.Timestamp("2025-04-15")], "cost": [2_000.0]})
    out = flags_of(pd.concat([charges, one_off], ignore_index=True))
    assert list(out["date"]) == [pd.Timestamp("2025-04-15")]
    assert out["expected_cost"].iloc[0] == 0.0 and np.isnan(out["impact_pct"].iloc[0])


def test_weekends_are_not_flagged():
    costs = normal_cost(300, weekend=0.4, noise=0.05)  # weekends at 40 %, so every Monday jumps x2.5
    assert flags_of(frame("batch|Amazon EMR", costs)).empty


def test_steady_growth_is_not_flagged():
    costs = normal_cost(540, level=500.0, monthly_growth=0.08, weekend=0.7, noise=0.05)  # x4 in 18 months
    assert flags_of(frame("growing|Amazon S3", costs)).empty


def test_a_series_first_days_are_never_flagged():
    costs = normal_cost(9)
    costs[7] *= 20  # a huge day 8 of a 9-day-old series
    new = frame("new-project|Amazon EC2", costs, day(300))
    established = frame("old-project|Amazon EC2", normal_cost(310, seed=3))
    assert flags_of(pd.concat([established, new])).empty
    later = normal_cost(30)
    later[12] *= 5  # with 12 days of history it is judged
    assert list(flags_of(frame("new-project|Amazon EC2", later))["date"]) == [day(12)]


def test_missing_days_cost_zero_as_if_they_were_written():
    costs = normal_cost(200, weekend=0.0)  # nothing runs at weekends
    costs[150] += 5000.0
    written = frame("office-hours", costs)
    omitted = written[written["cost"] != 0]
    pd.testing.assert_frame_equal(flags_of(written), flags_of(omitted))
    assert list(flags_of(omitted)["date"]) == [day(150)]


# --------------------------------------------------------------------------- level shifts and drifts


def test_a_level_shift_is_flagged_on_its_first_days_then_becomes_the_new_normal():
    costs = normal_cost(400, noise=0.02)
    costs[200:] *= 2.6  # storage x2.6 from one day on
    dates = flags_of(frame("data-platform|Amazon S3", costs))["date"]
    assert dates.min() == day(200)
    assert dates.max() <= day(214)  # about half the 14-day level window, never later (no drift report either)
    assert len(dates) >= 3


def test_a_slow_drift_is_reported_once_when_it_becomes_material():
    costs = normal_cost(400, noise=0.03)
    ramp = np.clip((np.arange(400) - 200) / 40, 0, 1)  # +80 % over 40 days from day 200
    costs = costs * (1 + 0.8 * ramp)
    out = flags_of(frame("analytics|BigQuery", costs))
    assert len(out) == 1
    row = out.iloc[0]
    assert day(200) < row["date"] <= day(247) and row["methods"].startswith("drift")
    assert row["impact"] >= 50 and row["impact_pct"] >= 30


def test_drops_are_not_reported_by_default_and_are_low_severity_when_asked_for():
    costs = normal_cost(200)
    costs[150:] = 0.0  # decommissioned
    costs = frame("legacy|Amazon EC2", costs)
    assert flags_of(costs).empty
    drops = flags_of(costs, replace(AnomalyConfig(), report_drops=True))
    assert not drops.empty and drops["date"].min() == day(150)
    assert set(drops["severity"]) == {"low"} and (drops["impact"] < 0).all()


# --------------------------------------------------------------------------- gates


def test_the_impact_floor_gates_on_its_own():
    costs = normal_cost(150, level=20.0)
    costs[100] = 60.0  # +200 %, but only 40 a day
    small = frame("sandbox|Lambda", costs)
    assert flags_of(small).empty
    assert list(flags_of(small, replace(AnomalyConfig(), min_impact=30.0))["date"]) == [day(100)]


def test_the_relative_threshold_gates_on_its_own():
    costs = normal_cost(150, level=10_000.0, noise=0.01)
    costs[100] *= 1.25  # +2,500 a day and far out of its 1 % noise, but only +25 %
    large = frame("core|Amazon RDS", costs)
    assert flags_of(large).empty
    assert list(flags_of(large, replace(AnomalyConfig(), min_impact_pct=20.0))["date"]) == [day(100)]


def test_the_robust_z_gates_noisy_series():
    costs = normal_cost(200, noise=0.25, seed=5)
    costs[150] = 1000.0 * 1.5  # +50 % is an ordinary day at 25 % noise
    assert day(150) not in set(flags_of(frame("spiky|Data Transfer", costs))["date"])


# --------------------------------------------------------------------------- monthly


def monthly(name: str, costs: np.ndarray, first: str = "2024-01") -> pd.DataFrame:
    return pd.DataFrame({"series": name, "month": pd.period_range(first, periods=len(costs), freq="M").strftime("%Y-%m"),
                         "cost": costs})


def test_a_monthly_spike_is_flagged_and_growth_is_not():
    growth = 30_000.0 * 1.04 ** np.arange(15) * np.exp(0.02 * np.random.default_rng(2).standard_normal(15))
    spiky = growth.copy()
    spiky[10] *= 1.8
    out = detect_monthly(pd.concat([monthly("steady", growth), monthly("spiky", spiky)]))
    assert list(out.columns) == MONTHLY_COLUMNS
    assert list(zip(out["series"], out["month"])) == [("spiky", "2024-11")]
    row = out.iloc[0]
    assert row["expected_cost"] == pytest.approx(growth[10], rel=0.05)
    assert row["impact"] == pytest.approx(row["actual_cost"] - row["expected_cost"])
    assert "mom_pct" in row["methods"]


def test_a_monthly_step_is_flagged_once_and_a_young_series_never():
    step = np.full(12, 20_000.0)
    step[6:] *= 1.6
    young = np.array([1000.0, 1000.0, 9000.0])  # its 3rd month: not enough history
    out = detect_monthly(pd.concat([monthly("step", step), monthly("young", young, "2024-10")]))
    assert list(zip(out["series"], out["month"])) == [("step", "2024-07")]


def test_the_monthly_floor_gates_small_series():
    small = np.full(12, 600.0)
    small[8] = 1000.0  # +67 %, but only 400 over expected
    assert detect_monthly(monthly("small", small)).empty
    assert len(detect_monthly(monthly("small", small), replace(AnomalyConfig(), monthly_min_impact=300.0))) == 1


# --------------------------------------------------------------------------- contract


def test_the_output_is_deterministic_and_independent_of_row_order():
    parts = []
    for i in range(12):
        costs = normal_cost(200, level=300.0 * (i + 1), weekend=0.5, seed=i)
        costs[60 + 10 * i] *= 4
        parts.append(frame(f"project-{i}|Amazon EC2", costs))
    costs = pd.concat(parts, ignore_index=True)
    first = flags_of(costs)
    pd.testing.assert_frame_equal(first, flags_of(costs))
    pd.testing.assert_frame_equal(first, flags_of(costs.sample(frac=1.0, random_state=3)))
    assert len(first) == 12


def test_duplicate_rows_of_a_day_add_up():
    costs = normal_cost(150)
    whole = frame("web|Amazon EC2", costs)
    halves = pd.concat([whole.assign(cost=whole["cost"] / 2)] * 2, ignore_index=True)
    whole.loc[100, "cost"] += 4000.0
    halves.loc[100, "cost"] += 4000.0
    pd.testing.assert_frame_equal(flags_of(whole), flags_of(halves))


def test_empty_input_gives_empty_tables_with_the_contract_columns():
    assert list(detect_daily(pd.DataFrame(columns=["series", "date", "cost"])).columns) == DAILY_COLUMNS
    assert list(detect_monthly(pd.DataFrame(columns=["series", "month", "cost"])).columns) == MONTHLY_COLUMNS
    assert expected_daily(pd.DataFrame(columns=["series", "date", "cost"])).empty


def test_expected_daily_gives_the_baseline_and_the_alert_level():
    costs = normal_cost(100, weekend=0.5)
    out = expected_daily(frame("web", costs))
    assert len(out) == 90  # every day after the first 10
    assert (out["alert_above"] >= out["expected_cost"] * 1.3).all()
    weekend = out["date"].dt.day_of_week >= 5
    assert out.loc[weekend, "expected_cost"].median() == pytest.approx(500.0, rel=0.1)
    assert out.loc[~weekend, "expected_cost"].median() == pytest.approx(1000.0, rel=0.1)


def test_time_zone_aware_days_are_judged_on_their_wall_clock_calendar():
    costs = normal_cost(200)
    costs[120] += 3000.0  # 2024-04-30, after the spring DST change (a 23-hour day in Berlin)
    naive = frame("web", costs)
    berlin = flags_of(naive.assign(date=naive["date"].dt.tz_localize("Europe/Berlin")))
    assert list(berlin["date"]) == [pd.Timestamp("2024-04-30", tz="Europe/Berlin")]
    assert berlin["impact"].tolist() == pytest.approx(flags_of(naive)["impact"].tolist())
