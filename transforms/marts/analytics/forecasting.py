"""Monthly cost forecasts for fct_cost_forecasts: a backtest-weighted combination of cheap models.

Why a combination: no single method wins on monthly business series, but averaging a few
different ones does, and weighting each by how well it forecast this series' own last 24 months
(a rolling-origin backtest) keeps one bad fit from dragging the forecast off. The candidates are
seasonal naive, SES, classical Theta, damped-trend exponential smoothing and a ridge regression
on lags and the calendar month. On M3 monthly this beats classical Theta, the M3 winner (see
docs/accuracy_forecasts.md and benchmarks/forecast_m3.py).

Why it is fast (~10 ms of CPU per series): every backtest origin and the final fit are rows of
one panel that each model fits in a single vectorised pass; parameters come from small grids,
and the initial states in closed form (the one-step errors of linear exponential smoothing are
linear in them, so the best initial state is a least-squares solve over running sums).

Why log space: clearly positive costs grow and swing by percentages, so trend and seasonality
are fitted on log(cost) and the forecast is positive by construction. A history with a zero, a
negative month (credits) or a near-zero dip is modelled in cost units, with additive seasons.

Intervals: the combination's own backtest errors per step ahead, smoothed over the horizon as a
power law and read with Student-t quantiles. Short histories: under 24 months only SES (a
trend or season fitted to a few months hurt more than it helped on M3); under 10 months (and
24-27 months when seasonal) too few backtest origins, so equal weights and a random-walk
interval; one or two months carry the last month forward.

Pure numpy / pandas / scikit-learn, no Dagster, files or databases; no randomness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
import pandas as pd
from sklearn import config_context
from sklearn.linear_model import Ridge

SEASON_TEST_Z = 1.645  # ACF test at lag m, 90% two-sided: the classical Theta method's test
BACKTEST_ORIGINS = 24  # each of the last 24 months is a forecast origin of the backtest
MIN_BACKTEST_ORIGINS = 4  # with fewer origins the weights and the error spread are noise
MIN_TRAIN_MONTHS = 6  # shortest history a backtest origin may have (more with seasons: see below)
TREND_MIN_MONTHS = 24  # below two years a fitted trend is mostly noise: SES alone (measured on M3)
FULL_POOL = ("snaive", "ses", "theta", "damped", "ridge")
REGRESSION_MIN_TRAIN = 24  # the regression needs two years to learn lags and calendar months
REGRESSION_LAGS = 12
REGRESSION_PENALTY = 10.0  # strong shrinkage: ~20-100 training rows for 12 + 12 coefficients
WEIGHT_POWER = 2  # weight ~ 1 / sMAPE^2: close runners-up still count, clear losers do not
SHORT_HISTORY_SIGMA = 0.1  # 10% a month: the spread assumed from one or two months
LOG_MIN_SHARE = 0.02  # a month under 2% of its neighbours keeps the history out of log space
LOG_HEADROOM = 5.0  # log-space paths stay within e^5 (~150x) of the history's range

SES_ALPHAS = np.linspace(0.01, 0.99, 50)
DAMPED_GRID = np.array(
    [(alpha, beta_share * alpha, phi)
     for alpha in (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99)
     for beta_share in (0.001, 0.05, 0.15, 0.4, 1.0)
     for phi in (0.8, 0.85, 0.9, 0.95, 0.98)]
)  # (alpha, beta, phi) with beta <= alpha and phi in [0.8, 0.98], the usual ETS bounds


@dataclass(frozen=True)
class Forecast:
    """A cost forecast for the next `horizon` months, with 80% and 95% prediction intervals.

    lower_95 <= lower_80 <= mean <= upper_80 <= upper_95 holds element-wise. `model` names the
    model or weighted combination used; `backtest_smape` is its rolling-origin sMAPE (%) on this
    history, None when the history was too short to backtest.
    """

    mean: np.ndarray
    lower_80: np.ndarray
    upper_80: np.ndarray
    lower_95: np.ndarray
    upper_95: np.ndarray
    model: str
    backtest_smape: float | None


def forecast_monthly(history: np.ndarray | pd.Series, horizon: int, season_length: int = 12) -> Forecast:
    """Forecast the next `horizon` months from the monthly costs of complete months, oldest first."""
    y = _validated(history, horizon, season_length)
    pool = FULL_POOL if y.size >= TREND_MIN_MONTHS else ("ses",)
    return _forecast(y, horizon, season_length, pool, log_space=_fits_log_space(y))


def _fits_log_space(y: np.ndarray) -> bool:
    """Costs that are all clearly positive. A month below LOG_MIN_SHARE of the months around it
    (a credit, an outage) would be a huge outlier in log space, so such a history stays in cost
    units; a steep ramp-up, where each month is close to its neighbours, does not."""
    if not np.all(y > 0):
        return False
    around = pd.Series(y).rolling(13, center=True, min_periods=1).median().to_numpy()
    return bool(np.all(y >= LOG_MIN_SHARE * around))


def classical_theta(history: np.ndarray | pd.Series, horizon: int, season_length: int = 12) -> Forecast:
    """The classical Theta method (Assimakopoulos & Nikolopoulos, 2000) in cost units: the
    reference the combination is benchmarked against. Intervals as for forecast_monthly."""
    y = _validated(history, horizon, season_length)
    return _forecast(y, horizon, season_length, ("theta",), log_space=False)


def naive2(history: np.ndarray | pd.Series, horizon: int, season_length: int = 12) -> Forecast:
    """Naive2: the last seasonally adjusted value, reseasonalised (the M3 competition's benchmark)."""
    y = _validated(history, horizon, season_length)
    return _forecast(y, horizon, season_length, ("naive2",), log_space=False)


def _validated(history: np.ndarray | pd.Series, horizon: int, season_length: int) -> np.ndarray:
    y = np.asarray(history, dtype=float)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"history must be a non-empty 1-D series of monthly costs, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("history contains NaN or infinite months: fill missing months (e.g. with 0) first")
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 month, got {horizon}")
    if season_length < 1:
        raise ValueError(f"season_length must be at least 1, got {season_length}")
    return y


# --------------------------------------------------------------------------- seasonality


def seasonality_detected(y: np.ndarray, m: int) -> bool:
    """ACF test at lag m (90%), and only with two full seasons of history."""
    n = y.size
    if m < 2 or n < 2 * m:
        return False
    x = y - y.mean()
    total = float(x @ x)
    if total <= 0:
        return False
    acf = np.array([x[:-k] @ x[k:] for k in range(1, m + 1)]) / total
    limit = SEASON_TEST_Z * np.sqrt((1 + 2 * np.sum(acf[:-1] ** 2)) / n)
    return bool(abs(acf[-1]) > limit)


def season_indices(y: np.ndarray, m: int, multiplicative: bool) -> np.ndarray:
    """Classical decomposition: the mean ratio (or difference) to a centred 2 x m moving average,
    per position in the season, normalised to average 1 (or 0). Position 0 = the first month."""
    weights = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m
    trend = np.convolve(y, weights, mode="valid")
    start = (weights.size - 1) // 2
    observed = y[start:start + trend.size]
    detrended = observed / trend if multiplicative else observed - trend
    positions = (np.arange(trend.size) + start) % m
    index = np.bincount(positions, detrended, minlength=m) / np.maximum(np.bincount(positions, minlength=m), 1)
    return index / index.mean() if multiplicative else index - index.mean()


# --------------------------------------------------------------------------- rolling origins


def _backtest_origins(n: int, m: int, seasonal: bool) -> np.ndarray:
    """History lengths the backtest forecasts from: each of the last BACKTEST_ORIGINS months.
    Every origin keeps two seasons before it if the series is seasonal (for the adjustment),
    else one season once there are two (so that seasonal naive can be backtested: at 24 months
    the ACF test rarely fires, yet last year's months are often the best guess), else
    MIN_TRAIN_MONTHS."""
    if seasonal:
        shortest = 2 * m
    else:
        shortest = m if n >= 2 * m else MIN_TRAIN_MONTHS
    return np.arange(max(shortest, n - BACKTEST_ORIGINS), n)


@dataclass
class _Panel:
    """One history cut at every backtest origin (rows 0..R-2) plus the whole history (row R-1),
    so that every candidate fits and forecasts all of them in one vectorised pass.

    Backtest rows share one seasonal adjustment estimated on the months before the first origin,
    so no row sees its own future; the last row uses the whole history.
    """

    z: np.ndarray  # history in model space (log cost, or cost)
    origins: np.ndarray
    horizon: int
    m: int
    seasonal: bool
    multiplicative: bool  # classical decomposition of positive costs in cost units
    log_space: bool

    @cached_property
    def lengths(self) -> np.ndarray:
        return np.r_[self.origins, self.z.size].astype(int)

    @cached_property
    def views(self) -> np.ndarray:
        """Which seasonal adjustment a row uses: 0 = before the first origin, 1 = whole history."""
        return np.r_[np.zeros(self.origins.size, dtype=int), 1]

    @cached_property
    def factors(self) -> np.ndarray:
        """(2, n + horizon) seasonal factors of both adjustments, for the history and beyond."""
        n, neutral = self.z.size, 1.0 if self.multiplicative else 0.0
        if not self.seasonal:
            return np.full((2, n + self.horizon), neutral)
        positions = np.arange(n + self.horizon) % self.m
        ends = (self.origins[0] if self.origins.size else n, n)
        return np.stack([season_indices(self.z[:end], self.m, self.multiplicative)[positions] for end in ends])

    @cached_property
    def adjusted(self) -> np.ndarray:
        """(2, n) seasonally adjusted history under both adjustments."""
        factors = self.factors[:, :self.z.size]
        return self.z / factors if self.multiplicative else self.z - factors

    def reseasonalise(self, paths: np.ndarray) -> np.ndarray:
        future = self.factors[self.views[:, None], self.lengths[:, None] + np.arange(self.horizon)]
        return paths * future if self.multiplicative else paths + future

    @cached_property
    def ses_fit(self) -> tuple[np.ndarray, np.ndarray]:
        return _fit_ses(self.adjusted, self.views, self.lengths)

    @cached_property
    def damped_fit(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _fit_damped(self.adjusted, self.views, self.lengths)


# --------------------------------------------------------------------------- exponential smoothing


def _fit_ses(x: np.ndarray, views: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Simple exponential smoothing of every row, alpha by grid, initial level by least squares.

    With the initial level l0 = 0 the one-step errors are e0_t; in general they are
    e0_t - (1 - alpha)^t * l0, so the best l0 for each alpha is a ratio of two running sums.
    Returns alpha and the final level, one per row.
    """
    n = x.shape[1]
    level = np.zeros((x.shape[0], SES_ALPHAS.size))
    errors = np.empty((n, *level.shape))
    levels = np.empty_like(errors)
    for t in range(n):
        errors[t] = x[:, t, None] - level
        level = level + SES_ALPHAS * errors[t]
        levels[t] = level
    decay = (1 - SES_ALPHAS) ** np.arange(n)[:, None]  # (n, alphas)
    at = lengths - 1
    s_ed = np.cumsum(errors * decay[:, None], axis=0)[at, views]
    s_ee = np.cumsum(errors**2, axis=0)[at, views]
    s_dd = np.cumsum(decay**2, axis=0)[at]
    l0 = s_ed / s_dd
    sse = s_ee - s_ed * l0
    best = np.argmin(sse, axis=1)
    rows = np.arange(lengths.size)
    alpha = SES_ALPHAS[best]
    final_level = levels[at, views, best] + (1 - alpha) ** lengths * l0[rows, best]
    return alpha, final_level


@cache
def _trend_unit_response(n: int) -> dict[str, np.ndarray]:
    """How damped-trend errors and states respond to an initial level of 1 and to an initial
    trend of 1 with no data: the same for every series of length >= n, hence cached."""
    alpha, beta, phi = DAMPED_GRID.T
    level, trend = np.eye(2)[:, :, None] * np.ones(DAMPED_GRID.shape[0])  # (2 responses, grid)
    errors, levels, trends = (np.empty((n, 2, DAMPED_GRID.shape[0])) for _ in range(3))
    for t in range(n):
        forecast = level + phi * trend
        errors[t] = -forecast
        level = forecast - alpha * forecast
        trend = phi * trend - beta * forecast
        levels[t], trends[t] = level, trend
    e_l, e_b = errors[:, 0], errors[:, 1]
    return {
        "e_l": e_l, "e_b": e_b, "levels": levels, "trends": trends,
        "a_ll": np.cumsum(e_l**2, axis=0), "a_lb": np.cumsum(e_l * e_b, axis=0), "a_bb": np.cumsum(e_b**2, axis=0),
    }


def _fit_damped(x: np.ndarray, views: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Additive damped-trend exponential smoothing (ETS A,Ad,N) of every row.

    The one-step errors are linear in the initial level and trend, so for each (alpha, beta, phi)
    of the grid the best initial state is a 2 x 2 least-squares solve over running sums, and the
    whole grid costs one pass over the data. Returns phi, the final level and the final trend.
    """
    n = x.shape[1]
    alpha, beta, phi = DAMPED_GRID.T
    level = np.zeros((x.shape[0], DAMPED_GRID.shape[0]))
    trend = np.zeros_like(level)
    errors, levels, trends = (np.empty((n, *level.shape)) for _ in range(3))
    for t in range(n):
        forecast = level + phi * trend
        errors[t] = x[:, t, None] - forecast
        level = forecast + alpha * errors[t]
        trend = phi * trend + beta * errors[t]
        levels[t], trends[t] = level, trend
    unit = _trend_unit_response(_bucket(n))
    at = lengths - 1
    c_l = np.cumsum(errors * unit["e_l"][:n, None], axis=0)[at, views]
    c_b = np.cumsum(errors * unit["e_b"][:n, None], axis=0)[at, views]
    s_ee = np.cumsum(errors**2, axis=0)[at, views]
    a_ll, a_lb, a_bb = unit["a_ll"][at], unit["a_lb"][at], unit["a_bb"][at]
    det = a_ll * a_bb - a_lb**2
    det = np.where(det > 1e-12 * a_ll * a_bb, det, np.inf)  # (near-)singular: keep the zero state
    l0 = -(a_bb * c_l - a_lb * c_b) / det
    b0 = -(a_ll * c_b - a_lb * c_l) / det
    sse = s_ee + l0 * c_l + b0 * c_b
    best = np.argmin(sse, axis=1)
    rows = np.arange(lengths.size)
    l0, b0 = l0[rows, best], b0[rows, best]
    final_level = levels[at, views, best] + l0 * unit["levels"][at, 0, best] + b0 * unit["levels"][at, 1, best]
    final_trend = trends[at, views, best] + l0 * unit["trends"][at, 0, best] + b0 * unit["trends"][at, 1, best]
    return phi[best], final_level, final_trend


def _bucket(n: int) -> int:
    """Unit responses are computed for lengths rounded up to 64 months and sliced: a few entries
    in the cache serve every series."""
    return -(-n // 64) * 64


# --------------------------------------------------------------------------- candidates
# Each takes the panel and returns (rows, horizon) forecast paths in model space, or None when
# the history is too short for it.


def seasonal_naive(p: _Panel) -> np.ndarray | None:
    """The same month last year: hard to beat on stable, strongly seasonal costs. Only with two
    years of history, and a year before every origin."""
    if p.z.size < 2 * p.m or p.lengths.min() < p.m:
        return None
    columns = p.lengths[:, None] - p.m + np.arange(p.horizon) % p.m
    return p.z[columns]


def naive2_paths(p: _Panel) -> np.ndarray:
    """The last seasonally adjusted month, reseasonalised (Naive2, the M3 benchmark)."""
    last = p.adjusted[p.views, p.lengths - 1]
    return p.reseasonalise(np.repeat(last[:, None], p.horizon, axis=1))


def ses(p: _Panel) -> np.ndarray:
    """A flat, smoothed level: the safe choice when the recent trend is noise."""
    _, level = p.ses_fit
    return p.reseasonalise(np.repeat(level[:, None], p.horizon, axis=1))


def theta(p: _Panel) -> np.ndarray:
    """Classical Theta: SES plus half the slope of a straight line through the adjusted history
    (Hyndman & Billah's form, drift = b/2 * (h - 1 + (1 - (1 - alpha)^n) / alpha))."""
    alpha, level = p.ses_fit
    steps = np.arange(p.horizon) + ((1 - (1 - alpha) ** p.lengths) / alpha)[:, None]
    return p.reseasonalise(level[:, None] + _linear_slope(p)[:, None] / 2 * steps)


def damped(p: _Panel) -> np.ndarray:
    """Damped trend: follows a trend but flattens it out, as spend growth usually does."""
    phi, level, trend = p.damped_fit
    steps = np.cumsum(phi[:, None] ** np.arange(1, p.horizon + 1), axis=1)
    return p.reseasonalise(level[:, None] + steps * trend[:, None])


def _linear_slope(p: _Panel) -> np.ndarray:
    """Least-squares slope of each row's adjusted history, from running sums."""
    x, n = p.adjusted, p.lengths.astype(float)
    t = np.arange(x.shape[1])
    s_x = np.cumsum(x, axis=1)[p.views, p.lengths - 1]
    s_tx = np.cumsum(t * x, axis=1)[p.views, p.lengths - 1]
    s_t, s_tt = n * (n - 1) / 2, (n - 1) * n * (2 * n - 1) / 6
    spread = s_tt - s_t**2 / n
    return np.where(spread > 0, (s_tx - s_t * s_x / n) / np.where(spread > 0, spread, 1), 0.0)


def ridge_regression(p: _Panel) -> np.ndarray | None:
    """Ridge regression of next month on the last 12 months and the calendar month, applied
    recursively. It reads the history before seasonal adjustment, so it brings a second view of
    the season to the combination. One fit serves all backtest origins (trained on the months
    before the first origin), one more the whole history."""
    if p.origins.size == 0 or p.origins[0] < REGRESSION_MIN_TRAIN:
        return None
    # in cost units, rescale so that the penalty means the same for every series
    size = 1.0 if p.log_space else _typical_size(p.z)
    z = p.z / size
    backtest = _ridge_paths(z, p.origins[0], p.origins, p.horizon, p.m)
    final = _ridge_paths(z, z.size, np.array([z.size]), p.horizon, p.m)
    return np.vstack([backtest, final]) * size


def _ridge_paths(z: np.ndarray, train_end: int, origins: np.ndarray, horizon: int, m: int) -> np.ndarray:
    """Fit on the months before train_end, forecast recursively from every origin at once.
    Lags are centred on their own mean, so the model learns shape, not level."""
    k = REGRESSION_LAGS
    starts = np.arange(train_end - k)
    windows = z[starts[:, None] + np.arange(k)]
    centre = windows.mean(axis=1)
    features = np.hstack([windows - centre[:, None], np.eye(m)[(starts + k) % m]])
    with config_context(assume_finite=True, skip_parameter_validation=True):
        model = Ridge(alpha=REGRESSION_PENALTY).fit(features, z[starts + k] - centre)
    lag_coef, month_coef = model.coef_[:k], model.coef_[k:]
    # each origin's last k months, then its forecasts appended one month at a time
    path = np.hstack([z[(origins - k)[:, None] + np.arange(k)], np.empty((origins.size, horizon))])
    for h in range(horizon):
        window = path[:, h:h + k]
        centre = window.mean(axis=1)
        month = month_coef[(origins + h) % m]
        path[:, k + h] = centre + (window - centre[:, None]) @ lag_coef + model.intercept_ + month
    return path[:, k:]


def _typical_size(z: np.ndarray) -> float:
    """Mean absolute cost of the last 12 months (1 for an all-zero history)."""
    size = float(np.mean(np.abs(z[-12:])))
    return size if size > 0 else 1.0


CANDIDATES: dict[str, Callable[[_Panel], np.ndarray | None]] = {
    "snaive": seasonal_naive, "naive2": naive2_paths, "ses": ses, "theta": theta, "damped": damped,
    "ridge": ridge_regression,
}


# --------------------------------------------------------------------------- combination


def _forecast(y: np.ndarray, horizon: int, m: int, pool: tuple[str, ...], log_space: bool) -> Forecast:
    """Fit the pool on the history and every backtest origin at once, then combine."""
    if y.size < 3:
        return _naive_forecast(y, horizon, log_space)
    # whether to adjust for seasons is decided once, on the whole history; the adjustment
    # itself is re-estimated without the backtest months (see _Panel)
    seasonal = seasonality_detected(y, m)
    origins = _backtest_origins(y.size, m, seasonal)
    if origins.size < MIN_BACKTEST_ORIGINS:
        origins = origins[:0]
    panel = _Panel(np.log(y) if log_space else y, origins, horizon, m, seasonal,
                   multiplicative=not log_space and bool(np.all(y > 0)), log_space=log_space)
    paths = _candidate_paths(panel, pool)
    if not origins.size:
        return _unweighted_forecast(y, panel, paths)
    return _weighted_forecast(y, panel, paths)


def _candidate_paths(p: _Panel, pool: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Every applicable candidate's (rows, horizon) paths. In log space they stay within
    LOG_HEADROOM of the history, so that an extrapolated trend cannot overflow exp."""
    paths = {}
    for name in pool:
        path = CANDIDATES[name](p)
        if path is None or not np.all(np.isfinite(path)):
            continue
        paths[name] = np.clip(path, p.z.min() - LOG_HEADROOM, p.z.max() + LOG_HEADROOM) if p.log_space else path
    return paths or {"naive2": naive2_paths(p)}  # SES always applies; this is a last resort


def _weighted_forecast(y: np.ndarray, p: _Panel, paths: dict[str, np.ndarray]) -> Forecast:
    """Weights from each candidate's backtest sMAPE, intervals from the combination's own
    backtest errors."""
    actual = _backtest_actuals(y, p.origins, p.horizon)
    in_cost = (lambda path: np.exp(path[:-1])) if p.log_space else (lambda path: path[:-1])
    weights = _weights({name: _smape(actual, in_cost(path)) for name, path in paths.items()})
    combined = sum(weight * paths[name] for name, weight in weights.items())
    sigma = _sigma_by_step(_scaled_errors(y, p, actual, combined[:-1]), p.horizon)
    return _assemble(y, p.log_space, combined[-1], sigma, df=_degrees_of_freedom(p.origins.size),
                     model=_combination_name(weights), backtest_smape=_smape(actual, in_cost(combined)))


def _backtest_actuals(y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """(origins, horizon) costs that followed each origin, NaN past the end of the history."""
    columns = origins[:, None] + np.arange(horizon)
    return np.where(columns < y.size, y[np.minimum(columns, y.size - 1)], np.nan)


def _smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean of 200 |y - f| / (|y| + |f|) over the known actuals (0 when both are 0)."""
    known = ~np.isnan(actual)
    a, f = actual[known], forecast[known]
    denominator = np.abs(a) + np.abs(f)
    ratio = np.divide(2 * np.abs(a - f), denominator, out=np.zeros_like(a), where=denominator > 0)
    return float(100 * ratio.mean())


def _weights(scores: dict[str, float]) -> dict[str, float]:
    """Inverse squared backtest sMAPE, normalised; heaviest first."""
    raw = {name: 1 / max(score, 1e-3) ** WEIGHT_POWER for name, score in scores.items()}
    total = sum(raw.values())
    return dict(sorted(((name, value / total) for name, value in raw.items()), key=lambda kv: -kv[1]))


def _combination_name(weights: dict[str, float]) -> str:
    """"ses" for one model, "combo(theta=0.41,damped=0.30,...)" for a weighted combination
    (weights under 0.005 left out), "combo(a,b)" for an equal-weight one."""
    if len(weights) == 1:
        return next(iter(weights))
    if len(set(weights.values())) == 1:
        return "combo(" + ",".join(weights) + ")"
    return "combo(" + ",".join(f"{name}={weight:.2f}" for name, weight in weights.items() if weight >= 0.005) + ")"


# --------------------------------------------------------------------------- intervals


def _scaled_errors(y: np.ndarray, p: _Panel, actual: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """Backtest errors of the combined forecast in model space: log ratios for log-space
    series, else cost errors over the typical monthly cost at the origin, so that the errors of
    a series that grew or shrank still describe its current level."""
    if p.log_space:
        return np.log(actual) - paths
    sizes = np.array([_typical_size(y[:origin]) for origin in p.origins])
    return (actual - paths) / sizes[:, None]


def _sigma_by_step(errors: np.ndarray, horizon: int) -> np.ndarray:
    """Spread of the error h months ahead: the RMS backtest error per step, smoothed as
    sigma_h = a * h^b (0 <= b <= 1), weighted by the number of errors per step. Later steps have
    few errors (only the early origins reach them), so the power law carries the short steps'
    evidence out to the whole horizon."""
    counts = np.sum(~np.isnan(errors), axis=0)
    steps = np.flatnonzero(counts)
    rms = np.sqrt(np.nanmean(errors[:, steps] ** 2, axis=0))
    if not np.any(rms > 0):
        return np.zeros(horizon)  # a perfectly predictable history (constant costs)
    log_h, log_rms, w = np.log(steps + 1.0), np.log(np.maximum(rms, rms[rms > 0].min())), counts[steps]
    slope = 0.5  # one step observed: assume random-walk growth
    if steps.size > 1:
        centred = log_h - np.average(log_h, weights=w)
        slope = min(max(float(np.sum(w * centred * log_rms) / np.sum(w * centred**2)), 0.0), 1.0)
    intercept = float(np.average(log_rms - slope * log_h, weights=w))
    return np.exp(intercept + slope * np.log(np.arange(1, horizon + 1)))


def _degrees_of_freedom(origins: int) -> int:
    """Consecutive origins share most of their future, so 24 origins are worth only a handful
    of independent errors; Student-t quantiles widen the interval for that."""
    return max(2, origins // 4)


def _assemble(y: np.ndarray, log_space: bool, centre: np.ndarray, sigma: np.ndarray, df: int, model: str,
              backtest_smape: float | None) -> Forecast:
    """Intervals centre +- t-quantile * sigma in model space, then back to cost units. Both
    maps are monotone, so the bounds stay in order; costs that were never negative are
    forecast at >= 0."""
    spread = sigma * (1.0 if log_space else _typical_size(y))
    q80, q95 = _t_quantile(0.90, df), _t_quantile(0.975, df)
    bands = np.stack([centre - q95 * spread, centre - q80 * spread, centre, centre + q80 * spread, centre + q95 * spread])
    bands = np.exp(bands) if log_space else bands
    if np.all(y >= 0):
        bands = np.maximum(bands, 0.0)
    lower_95, lower_80, mean, upper_80, upper_95 = np.maximum.accumulate(bands, axis=0)  # rounding never reorders
    return Forecast(mean, lower_80, upper_80, lower_95, upper_95, model=model, backtest_smape=backtest_smape)


def _t_quantile(p: float, df: int) -> float:
    """Student-t quantile from the normal one by the Cornish-Fisher expansion (within 1% of the
    exact value for df >= 2 at these levels), so that scipy is not needed."""
    z = _NORMAL_QUANTILES[p]
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


_NORMAL_QUANTILES = {0.90: 1.2815515655446004, 0.975: 1.959963984540054}


# --------------------------------------------------------------------------- short histories


def _unweighted_forecast(y: np.ndarray, p: _Panel, paths: dict[str, np.ndarray]) -> Forecast:
    """Too short to backtest (3 to 9 months): the plain mean of the candidates (SES alone, from
    forecast_monthly), with a random-walk interval."""
    centre = np.mean([path[-1] for path in paths.values()], axis=0)
    sigma = _random_walk_sigma(y, p.z, p.log_space, p.horizon)
    return _assemble(y, p.log_space, centre, sigma, df=max(2, y.size - 1),
                     model=_combination_name(dict.fromkeys(paths, 1.0)), backtest_smape=None)


def _naive_forecast(y: np.ndarray, horizon: int, log_space: bool) -> Forecast:
    """One or two months: the last month carries on, with a wide random-walk interval."""
    z = np.log(y) if log_space else y
    sigma = _random_walk_sigma(y, z, log_space, horizon)
    return _assemble(y, log_space, np.full(horizon, z[-1]), sigma, df=2, model="naive", backtest_smape=None)


def _random_walk_sigma(y: np.ndarray, z: np.ndarray, log_space: bool, horizon: int) -> np.ndarray:
    """sigma_h = RMS month-on-month change * sqrt(h). With Student-t quantiles on n - 1 degrees
    of freedom, the 80% interval held 80-82% of M3 actuals from 3-8 month histories. One or two
    months cannot show how costs move (and a first month is often partial: 500 then 1,000 is no
    doubling trend), so there the change is SHORT_HISTORY_SIGMA of the typical monthly cost."""
    size = 1.0 if log_space else _typical_size(y)
    if z.size < 3:
        change = SHORT_HISTORY_SIGMA if np.any(y != 0) else 0.0
    else:
        change = float(np.sqrt(np.mean(np.diff(z) ** 2)) / size)
    return change * np.sqrt(np.arange(1, horizon + 1))
