"""forecast_monthly (transforms/marts/analytics/forecasting.py): shapes, interval order, short
histories, and that trend and season survive into the forecast. Synthetic series, fixed seeds."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from transforms.marts.analytics.forecasting import Forecast, classical_theta, forecast_monthly, naive2

BANDS = ("lower_95", "lower_80", "mean", "upper_80", "upper_95")


def monthly_cost(months: int, trend: float = 0.0, season: float = 0.0, noise: float = 0.02, seed: int = 7) -> np.ndarray:
    """A project's monthly cost around 1,000: linear trend per month, seasonal swing (share of
    the level, peak in month 3), multiplicative noise."""
    t = np.arange(months)
    rng = np.random.default_rng(seed)
    level = 1000.0 + trend * t
    return level * (1 + season * np.sin(2 * np.pi * t / 12)) * (1 + noise * rng.standard_normal(months))


def assert_well_formed(forecast: Forecast, horizon: int) -> None:
    bands = np.stack([getattr(forecast, name) for name in BANDS])
    assert bands.shape == (5, horizon)
    assert np.all(np.isfinite(bands))
    assert np.all(np.diff(bands, axis=0) >= 0), "expected lower_95 <= lower_80 <= mean <= upper_80 <= upper_95"


@pytest.mark.parametrize("months", [1, 2, 5, 13, 30, 60])
@pytest.mark.parametrize("horizon", [1, 12, 24])
def test_shape_and_interval_order(months: int, horizon: int):
    forecast = forecast_monthly(monthly_cost(months, trend=5, season=0.2), horizon)
    assert_well_formed(forecast, horizon)
    assert isinstance(forecast.model, str) and forecast.model


def test_one_month_carries_on_with_wide_intervals():
    forecast = forecast_monthly(np.array([250.0]), 12)
    assert forecast.model == "naive"
    assert forecast.backtest_smape is None
    np.testing.assert_allclose(forecast.mean, 250.0)
    # at least +-10% a month, growing like a random walk
    assert forecast.upper_80[0] > 1.1 * 250 and forecast.lower_80[0] < 250 / 1.1
    assert np.all(np.diff(forecast.upper_95 - forecast.lower_95) > 0)


def test_two_months_use_the_last_month():
    forecast = forecast_monthly(np.array([100.0, 140.0]), 6)
    assert forecast.model == "naive"
    np.testing.assert_allclose(forecast.mean, 140.0)
    assert forecast.lower_95[0] < 100 < 200 < forecast.upper_95[0]


def test_a_partial_first_month_is_not_read_as_volatility():
    forecast = forecast_monthly(np.array([500.0, 1000.0]), 12)  # started mid-month
    np.testing.assert_allclose(forecast.mean, 1000.0)
    assert forecast.lower_95[0] > 500 and forecast.upper_95[0] < 2000
    assert forecast.upper_95[-1] < 5 * 1000  # wide a year out, but not absurd


def test_new_project_gets_a_smoothed_level_without_backtest():
    history = np.array([80.0, 120.0, 100.0, 110.0, 95.0])
    forecast = forecast_monthly(history, 12)
    assert forecast.model == "ses"
    assert forecast.backtest_smape is None
    assert history.min() <= forecast.mean[0] <= history.max()
    np.testing.assert_allclose(forecast.mean, forecast.mean[0])  # a level: no trend from 5 months


def test_thirteen_months_are_backtested_but_not_seasonal():
    forecast = forecast_monthly(monthly_cost(13, season=0.3), 12)
    assert forecast.model == "ses"  # trend and season need two years
    assert forecast.backtest_smape is not None and forecast.backtest_smape >= 0


def test_backtest_error_is_set_when_history_is_long_enough():
    forecast = forecast_monthly(monthly_cost(60, trend=3, season=0.2), 18)
    assert forecast.model.startswith("combo(")
    assert forecast.backtest_smape is not None
    assert 0 < forecast.backtest_smape < 10  # 2% noise: the backtest error is a few percent


def test_constant_costs_are_forecast_constant():
    forecast = forecast_monthly(np.full(36, 420.0), 12)
    assert_well_formed(forecast, 12)
    for name in BANDS:
        np.testing.assert_allclose(getattr(forecast, name), 420.0, rtol=1e-6)
    assert forecast.backtest_smape == pytest.approx(0.0, abs=1e-6)


def test_trend_continues_but_damped():
    history = monthly_cost(48, trend=20, noise=0.01)  # 1,000 -> 1,940, +20 a month
    forecast = forecast_monthly(history, 24)
    next_month = 1000 + 20 * 48
    assert forecast.mean[0] == pytest.approx(next_month, rel=0.05)
    assert np.all(np.diff(forecast.mean) > 0), "the trend goes on"
    assert forecast.mean[-1] < next_month + 20 * 23, "but no faster than the straight line"
    assert forecast.mean[-1] > next_month + 0.25 * 20 * 23, "and it is not flattened away"


def test_season_is_kept():
    history = monthly_cost(48, season=0.3, noise=0.01)
    forecast = forecast_monthly(history, 24)
    truth = monthly_cost(72, season=0.3, noise=0.0)[48:]
    assert np.corrcoef(forecast.mean, truth)[0, 1] > 0.98
    assert forecast.mean.max() / forecast.mean.min() == pytest.approx(1.3 / 0.7, rel=0.1)
    assert forecast.mean[3 + 12] == pytest.approx(forecast.mean[3], rel=0.05)  # same month next year


def test_zero_months_keep_the_forecast_non_negative():
    history = np.r_[np.zeros(6), monthly_cost(30, trend=-30, noise=0.1)]  # paused, then shrinking
    forecast = forecast_monthly(history, 24)
    assert_well_formed(forecast, 24)
    assert np.all(forecast.lower_95 >= 0)


def test_a_credit_month_is_handled():
    history = monthly_cost(36, season=0.1)
    history[20] = -150.0  # a credit larger than the month's usage
    forecast = forecast_monthly(history, 12)
    assert_well_formed(forecast, 12)
    assert forecast.mean == pytest.approx(np.full(12, 1000.0), rel=0.25)


def test_near_zero_credit_month_does_not_dominate():
    history = monthly_cost(36)
    history[-1] = 5.0  # 99.5% covered by credits
    forecast = forecast_monthly(history, 6)
    assert_well_formed(forecast, 6)
    assert forecast.mean[-1] > 200  # a log-space fit would have taken the dip as the new level


def test_all_zero_history_forecasts_zero():
    for months in (1, 5, 30):
        forecast = forecast_monthly(np.zeros(months), 6)
        for name in BANDS:
            np.testing.assert_array_equal(getattr(forecast, name), 0.0)


def test_deterministic():
    history = monthly_cost(72, trend=4, season=0.2, noise=0.05)
    first, second = forecast_monthly(history, 18), forecast_monthly(history.copy(), 18)
    for name in BANDS:
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    assert (first.model, first.backtest_smape) == (second.model, second.backtest_smape)


def test_accepts_a_series_and_prints_no_warnings():
    history = pd.Series(monthly_cost(40, trend=2, season=0.1), index=pd.period_range("2022-01", periods=40, freq="M"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for horizon in (1, 24):
            assert_well_formed(forecast_monthly(history, horizon), horizon)
        assert_well_formed(forecast_monthly(np.r_[0.0, 0.0, 5.0, -1.0, np.zeros(30)], 12), 12)


@pytest.mark.parametrize(
    ("history", "horizon", "message"),
    [(np.array([]), 3, "non-empty"), (np.array([1.0, np.nan, 2.0]), 3, "NaN"), (np.ones(5), 0, "horizon"),
     (np.ones((3, 2)), 3, "1-D")],
)
def test_bad_input_is_named(history, horizon, message):
    with pytest.raises(ValueError, match=message):
        forecast_monthly(history, horizon)


def test_reference_methods():
    history = monthly_cost(48, trend=10, noise=0.0)
    np.testing.assert_allclose(naive2(history, 6).mean, history[-1])  # no season: the last month
    theta = classical_theta(history, 6)
    assert theta.model == "theta" and np.all(np.diff(theta.mean) > 0)
    assert_well_formed(theta, 6)
