"""fct_cost_anomalies: days (and months) on which a cost series spent money nobody expected.

A series is one line of spend, e.g. "checkout|Amazon EC2". For each day the detector builds the
cost it *expected* from that series' own past, and reports the day only when the surprise is
material in money (``min_impact``, currency units a day) AND unusual for that series
(``min_impact_pct`` over expected AND a robust z of ``min_robust_z``). Both gates are needed: a
+400 % jump of a 3-a-day series is not worth a message, and a 60-unit wobble of a 5,000-a-day
series is noise.

The expected cost is causal (strictly earlier days only), so a re-run with more data does not
rewrite an old verdict, except through the Isolation Forest's share of the score:

    expected = level x weekday factor + recurring allowance

* **level**: the median of the last ``level_window`` days with the weekday pattern removed, grown
  to today at the pace between the last two ``trend_window`` medians (steady growth is expected);
* **weekday factor**: the median ratio of that weekday to its week over ``season_cycles`` weeks
  (weekends that cost half are normal);
* **recurring allowance**: the largest *charge* on the same day of the month
  (+-``recurrence_tolerance_days``; a last day of a month also maps to the last day of the earlier
  month, so Jan 31, Feb 28, Mar 31, Apr 30 recur) in one of the last ``recurrence_months`` months
  explains today's excess up to its size (support fees, commitment purchases, SaaS licences and
  tax rows on the 1st). A charge is read from raw costs, not from the detector's verdicts: the
  part of a day's cost above the centred median of its fortnight, where it stands out of the
  variation around it (``recurrence_min_pct``, ``recurrence_min_z``; no money floor). So a charge
  in a series' unjudged first days counts, and in a series that costs nothing on other days
  (intermittent: a SaaS fee alone) the whole amount is the charge. Only the excess beyond what
  recurred is judged: a charge that triples is reported for the increase, against the usual
  charge, with the charge's own month-to-month variation (``recurrence_scale``) added to the noise.

Cost noise is multiplicative, so z-scores are taken on log(actual / expected) over a noise scale
of 1.4826 x the median |log ratio| of the last ``scale_window`` days, widened for the number of
days it rests on (``_small_sample_factor``). Tests (``_tests``): a **spike** (today alone), a
**sustained** rise (each of the last 3 days above expected, their mean significant: a step too
small to show on one day), a slow **drift** (this week's run-rate vs the run-rate of 5 to 8 weeks
ago on its old growth pace, reported once per episode) and, if asked, **drops**.

A level shift (storage x2.6 from one day on) is reported on its first days, until the level
median has moved (about half a ``level_window``), then it is the new normal.

Four votes make one ``score`` in [0, 1] (0.5 = at a vote's own threshold): the seasonal robust z
(``seasonal_mad``, or the sustained / drift z), a classic z-score of the log residual over the
last 30 days (``zscore``), an Isolation Forest over scale-free features (``isolation_forest``) and
the percentage over expected. A candidate is reported from ``min_score`` (drifts: always).

Known limits: the first time a monthly charge appears in the data (no earlier month to compare)
it is reported like any spike once the series is past ``min_history_days`` (run with two months
of lookback); a one-off charge of an otherwise empty series is expected at 0 and reported when
material, as intended for a new purchase; a jump that repeats on the same day within
``recurrence_months`` months is taken as recurring; credits (negative costs) are never reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

DAILY_COLUMNS = ["series", "date", "actual_cost", "expected_cost", "impact", "impact_pct", "score", "severity", "methods"]
MONTHLY_COLUMNS = ["series", "month", "actual_cost", "expected_cost", "impact", "impact_pct", "score", "severity", "methods"]
SEVERITIES = ("low", "medium", "high", "critical")
MAD_TO_SIGMA = 1.4826  # MAD x 1.4826 estimates a normal standard deviation
# Columns handled at once; bounds memory at ~20 float arrays of days x chunk cells.
SERIES_PER_CHUNK = 2048


@dataclass(frozen=True)
class AnomalyConfig:
    """Thresholds of fct_cost_anomalies. Amounts are in the currency of the input costs.

    A day is reported when it is at least ``min_impact`` (50) over expected AND ``min_impact_pct``
    (+30 %) over expected AND its robust z is at least ``min_robust_z`` (3.5), after
    ``min_history_days`` (10) of the series, with a score of at least ``min_score`` (0.5).
    Windows are in steps of ``freq`` (days for costs); ``freq`` and ``season_length`` only change
    for non-daily metrics (the NAB benchmark runs on hours with a 24-step season).
    Severity: low below 250 of impact, medium from 250, high from 1,000, critical from 5,000
    (monthly: 2,500 / 10,000 / 50,000), one level up for a score >= 0.9, one down below 0.6.
    """

    # --- daily gates
    min_impact: float = 50.0
    min_impact_pct: float = 30.0
    min_robust_z: float = 3.5
    min_score: float = 0.5
    min_history_days: int = 10  # a series' first 10 days are never reported
    sustain_days: int = 3  # the sustained test: every one of the last 3 days above expected (1 disables)
    # --- expected cost
    freq: str = "D"
    season_length: int = 7  # weekday pattern
    season_cycles: int = 12  # weeks over which each weekday's factor is a median
    level_window: int = 14  # days whose (deseasonalised) median is the level
    trend_window: int = 28  # growth = ratio of the medians of the last two 28-day windows
    max_trend_ratio: float = 1.5  # cap on that ratio (+50 % in 4 weeks)
    scale_window: int = 84  # days of log residuals whose median |.| is the noise scale
    min_relative_scale: float = 0.05  # noise is never assumed below 5 % of expected
    recurrence_months: int = 2  # 0 disables the day-of-month model
    recurrence_tolerance_days: int = 1
    # a past day is a charge from +15 % over its fortnight's median and a log ratio of 3 noise units
    # (looser than the report gates, so that a charge reported when it grows was a charge before)
    recurrence_min_pct: float = 15.0
    recurrence_min_z: float = 3.0
    recurrence_scale: float = 0.1  # month-to-month variation of a recurring charge (log sigma, as monthly)
    # --- classic z-score of the residual (a vote, as in the seed systems)
    zscore_window: int = 30
    zscore_threshold: float = 3.0
    # --- Isolation Forest (a vote)
    iforest_trees: int = 100
    iforest_train_rows: int = 20_000
    iforest_contamination: float = 0.01  # its threshold: the top 1 % of training rows
    random_state: int = 0
    # --- weights of the votes in the score
    weight_seasonal_mad: float = 0.35
    weight_zscore: float = 0.25
    weight_isolation_forest: float = 0.25
    weight_relative: float = 0.15
    # --- slow drift: the recent level vs an anchor level drift_lag days back, projected by the
    #     growth before the anchor (needs drift_lag + 2 drift_window = 98 days of history)
    detect_drift: bool = True
    drift_window: int = 28  # length of the anchor windows
    drift_recent_days: int = 7  # the recent run-rate: median of the last 7 days
    drift_lag: int = 28  # the anchor window ends 28 days before today
    drift_trend_windows: int = 3  # growth: median of up to 3 window-over-window ratios before it
    drift_min_pct: float = 30.0
    drift_quiet_days: int = 90  # no drift report within 90 days after another report of the series
    # --- drops (a cost that falls is usually a saving: off, and low severity when on)
    report_drops: bool = False
    drop_min_pct: float = 50.0
    drop_severity: str = "low"
    # --- severity by impact (medium, high, critical from these amounts; below: low)
    severity_impact: tuple[float, float, float] = (250.0, 1_000.0, 5_000.0)
    severity_score_up: float = 0.9  # one level up at or above this score
    severity_score_down: float = 0.6  # one level down below this score
    # --- monthly
    monthly_min_impact: float = 500.0
    monthly_min_impact_pct: float = 30.0  # over expected AND month over month
    monthly_min_robust_z: float = 3.0
    monthly_min_history: int = 3  # complete months before the one judged
    monthly_window: int = 6
    monthly_severity_impact: tuple[float, float, float] = (2_500.0, 10_000.0, 50_000.0)


# --------------------------------------------------------------------------- panels


@dataclass
class _Panel:
    """Costs as a steps x series matrix (NaN before a series' first row, 0 on missing steps after)."""

    values: np.ndarray
    first: np.ndarray  # first step of each series
    keys: pd.Index
    steps: pd.Index  # timestamps (daily) or periods (monthly)


def _factorize(series: pd.Series) -> tuple[np.ndarray, pd.Index]:
    try:
        codes, keys = pd.factorize(series, sort=True)
    except TypeError:  # keys of mixed, unorderable types
        codes, keys = pd.factorize(series, sort=False)
    return codes, pd.Index(keys)


def _panel(series: pd.Series, positions: np.ndarray, cost: pd.Series, steps: pd.Index) -> _Panel:
    codes, keys = _factorize(series)
    keep = codes >= 0  # rows without a series key cannot be placed
    codes, positions = codes[keep], positions[keep]
    amounts = pd.to_numeric(cost, errors="coerce").fillna(0.0).to_numpy(dtype=float)[keep]
    n_steps, n_series = len(steps), len(keys)
    flat = positions * n_series + codes  # duplicate (series, step) rows add up
    values = np.bincount(flat, weights=amounts, minlength=n_steps * n_series).reshape(n_steps, n_series)
    first = np.full(n_series, n_steps)
    np.minimum.at(first, codes, positions)
    values[np.arange(n_steps)[:, None] < first[None, :]] = np.nan
    return _Panel(values, first, keys, steps)


def _daily_panel(costs: pd.DataFrame, freq: str) -> tuple[_Panel, str | None]:
    """The panel on the wall-clock calendar (a DST day has 23 or 25 hours but is one day), and the
    input's time zone to put back on the output."""
    stamps = pd.to_datetime(costs["date"])
    tz = stamps.dt.tz
    stamps = (stamps.dt.tz_localize(None) if tz is not None else stamps).dt.floor(freq)
    costs, stamps = costs[stamps.notna().to_numpy()], stamps[stamps.notna()]  # a row without a day cannot be placed
    steps = pd.date_range(stamps.min(), stamps.max(), freq=freq)
    positions = ((stamps - steps[0]) // pd.Timedelta(steps.freq)).to_numpy(dtype=np.int64)
    return _panel(costs["series"], positions, costs["cost"], steps), tz


def _stamps(steps: pd.DatetimeIndex, tz) -> pd.DatetimeIndex:
    return steps if tz is None else steps.tz_localize(tz, ambiguous=False, nonexistent="shift_forward")


def _monthly_panel(costs: pd.DataFrame) -> _Panel:
    periods = pd.PeriodIndex(pd.to_datetime(costs["month"].astype(str), format="%Y-%m"), freq="M")
    steps = pd.period_range(periods.min(), periods.max(), freq="M")
    positions = (periods - steps[0]).map(lambda offset: offset.n).to_numpy(dtype=np.int64)
    return _panel(costs["series"], positions, costs["cost"], steps)


# --------------------------------------------------------------------------- rolling helpers


def _shift(a: np.ndarray, k: int) -> np.ndarray:
    out = np.full_like(a, np.nan)
    if k < len(a):
        out[k:] = a[: len(a) - k]
    return out


def _roll(a: np.ndarray, window: int, how: str, min_periods: int, shift: int = 1, center: bool = False) -> np.ndarray:
    """Rolling statistic per column (NaN skipped); ``shift=1`` makes it use earlier steps only.

    The columns are laid end to end with ``window`` NaN between them, so that one pass over a
    single array does every series (a wide frame would be rolled column by column in Python)."""
    n_steps, n_series = a.shape
    padded = np.full((n_series, window + n_steps), np.nan)
    padded[:, window:] = a.T
    rolling = pd.Series(padded.ravel()).rolling(window, min_periods=min(min_periods, window), center=center)
    out = getattr(rolling, how)().to_numpy(dtype=float).reshape(n_series, window + n_steps)[:, window:].T
    return _shift(out, shift) if shift else out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _nanmedian(stacked: np.ndarray) -> np.ndarray:
    """Median over a short axis 0 ignoring NaN (NaN where all are): a sort, NaN go last."""
    ordered = np.sort(stacked, axis=0)
    count = np.isfinite(stacked).sum(axis=0)
    low = np.take_along_axis(ordered, np.maximum(count - 1, 0)[None] // 2, axis=0)[0]
    high = np.take_along_axis(ordered, (count // 2)[None], axis=0)[0]
    return np.where(count > 0, (low + high) / 2, np.nan)


def _saturate(x: np.ndarray, threshold: float) -> np.ndarray:
    """0 at or below 0, 0.5 at the threshold, 0.8 at twice it, 1 at infinity."""
    x = np.nan_to_num(np.maximum(x, 0.0), nan=0.0, posinf=1e12)
    return x * x / (x * x + threshold * threshold)


# --------------------------------------------------------------------------- expected daily cost


def _weekday_factors(x: np.ndarray, config: AnomalyConfig) -> np.ndarray:
    """Each step's cost relative to its trailing season (a robust week), per phase (weekday),
    as the median over the previous ``season_cycles`` cycles; 1 until two cycles are known."""
    period = config.season_length
    if period <= 1:
        return np.ones_like(x)
    relative = _ratio(x, _roll(x, period, "median", period, shift=0))
    factors = np.full_like(x, np.nan)
    for phase in range(period):
        factors[phase::period] = _roll(relative[phase::period], config.season_cycles, "median", 2)
    return np.where(np.isfinite(factors), factors, 1.0)


def _level(deseasonalised: np.ndarray, config: AnomalyConfig) -> tuple[np.ndarray, np.ndarray]:
    """Trailing median level, and that level extrapolated to today by the growth between two
    consecutive ``trend_window`` medians (long windows: a noisy trend would widen every verdict)."""
    window, span = config.level_window, config.trend_window
    level = _roll(deseasonalised, window, "median", min(5, window))
    long_level = _roll(deseasonalised, span, "median", max(2, span // 2))
    growth = np.clip(_ratio(long_level, _shift(long_level, span)), 1 / config.max_trend_ratio, config.max_trend_ratio)
    growth = np.where(np.isfinite(growth), growth, 1.0)
    # the median sits (window + 1) / 2 steps behind today
    return level, level * growth ** ((window + 1) / (2 * span))


def _month_anchors(steps: pd.DatetimeIndex, months: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Today's day of the month ``months`` earlier, as (position, year x 12 + month) per step; the
    position may fall before the data. Two anchors: the same day number (clamped to that month's
    last day: Mar 30 -> Feb 28) and, for the last day of a month, that month's last day too
    (Apr 30 -> Mar 31), so that "the 31st or the last day", "the 30th" and "the 29th" each map
    onto themselves (with the tolerance of a day)."""
    anchors = [steps - pd.DateOffset(months=months)]
    if steps.freq is not None and steps.freq.name == "D":
        month_ends = (steps.to_period("M") - months).to_timestamp(how="end").normalize()
        anchors.append(anchors[0].where(~steps.is_month_end, month_ends))
    step = pd.Timedelta(steps.freq)
    return [(np.asarray((back - steps[0]) // step, dtype=np.int64), np.asarray(back.year * 12 + back.month)) for back in anchors]


def _charges(x: np.ndarray, deseasonalised: np.ndarray, factors: np.ndarray, config: AnomalyConfig) -> np.ndarray:
    """Each day's charge in hindsight, from its raw cost: the amount above the centred median of its
    fortnight (weekday pattern put back) where that amount stands out of the day-to-day variation
    around it (``recurrence_min_pct`` over the median and a log ratio of ``recurrence_min_z`` noise
    units), else 0. No money floor and no verdict of the detector: a 40-a-month fee is a charge too,
    and so is one in a series' first days or in a series that is zero on every other day (its
    median is 0, so its whole cost is the charge)."""
    hindsight = _roll(deseasonalised, 15, "median", 5, shift=0, center=True) * factors
    hindsight = np.maximum(hindsight, 0.0)  # NaN (too few days around it) stays NaN: no charge
    log_ratio = _log_change(x, hindsight)
    noise = MAD_TO_SIGMA * _roll(np.abs(log_ratio), 29, "median", 5, shift=0, center=True)
    noise = np.maximum(np.nan_to_num(noise, nan=1.0), config.min_relative_scale)
    excess = x - hindsight
    is_charge = (excess > 0) & (excess >= config.recurrence_min_pct / 100 * hindsight) \
        & (log_ratio >= config.recurrence_min_z * noise)
    return np.where(is_charge, excess, 0.0)


def _recurring_charges(x: np.ndarray, deseasonalised: np.ndarray, factors: np.ndarray, steps: pd.Index,
                       config: AnomalyConfig) -> np.ndarray:
    """The largest charge (``_charges``) on today's day of the month (+-``recurrence_tolerance_days``,
    inside that month) in the previous ``recurrence_months`` months: what today may charge again."""
    n_steps = len(x)
    if config.recurrence_months <= 0 or n_steps < 2:
        return np.zeros_like(x)
    charge = _charges(x, deseasonalised, factors, config)
    recurring = np.zeros_like(x)
    tolerance = config.recurrence_tolerance_days
    month = np.asarray(steps.year * 12 + steps.month)
    for months in range(1, config.recurrence_months + 1):
        for back, back_month in _month_anchors(steps, months):
            for offset in range(-tolerance, tolerance + 1):
                source = back + offset
                ok = (source >= 0) & (source < n_steps)
                ok[ok] = month[source[ok]] == back_month[ok]  # the tolerance stays inside that month
                recurring[ok] = np.maximum(recurring[ok], charge[source[ok]])
    return recurring


def _small_sample_factor(n: np.ndarray, z: float) -> np.ndarray:
    """Widen a scale estimated from n days so that z keeps its false-alarm rate: a z-score over an
    estimated scale follows a Student t with ~0.37 n degrees of freedom (the efficiency of the
    MAD), whose quantile is ~z (1 + (z^2 + 1) / (4 df)). For z = 3.5: 28 days x1.32, 84 days x1.11."""
    df = 0.37 * np.maximum(np.nan_to_num(n, nan=0.0), 5.0)
    return 1.0 + (z * z + 1.0) / (4.0 * df)


def _daily_signals(x: np.ndarray, steps: pd.Index, config: AnomalyConfig) -> dict[str, np.ndarray]:
    """Expected cost, noise scale and z-scores of every cell (steps x series), causal."""
    factors = _weekday_factors(x, config)
    deseasonalised = np.where(factors >= 0.05, x / np.maximum(factors, 0.05), np.nan)
    level, projected = _level(deseasonalised, config)
    base = projected * factors  # expected without recurring charges
    # a recurring charge explains today's excess up to its earlier size; a day without the
    # charge is judged on the base alone (a skipped renewal is not a cost anomaly)
    allowance = np.minimum(_recurring_charges(x, deseasonalised, factors, steps, config), np.maximum(x - base, 0.0))
    expected = base + allowance
    relative = _ratio(x - expected, expected)
    relative = np.where((expected <= 0) & (x > 0), np.inf, relative)
    # cost noise is multiplicative: z-scores are taken on the log ratio, where it is symmetric;
    # days explained by a recurring charge say nothing about the noise and are left out
    log_ratio = _log_change(x, expected)
    noise = np.where(allowance > 0, np.nan, log_ratio)
    scale = MAD_TO_SIGMA * _roll(np.abs(noise), config.scale_window, "median", 5)
    scale = np.maximum(np.nan_to_num(scale, nan=config.min_relative_scale), config.min_relative_scale)
    scale = scale * _small_sample_factor(_roll(np.isfinite(noise).astype(float), config.scale_window, "sum", 1), config.min_robust_z)
    # on a day with a recurring charge, the charge's own month-to-month variation (a fee, a tax, a
    # support plan priced on last month's spend) adds to the day-to-day noise of the base
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.hypot(scale * np.maximum(base, 0.0), config.recurrence_scale * allowance) / expected
    day_scale = np.where(allowance > 0, np.fmax(scale, spread), scale)
    mean = _roll(noise, config.zscore_window, "mean", 7)
    std = np.maximum(_roll(noise, config.zscore_window, "std", 7), config.min_relative_scale / 2)
    return {
        "x": x, "factors": factors, "deseasonalised": deseasonalised, "level": level, "base": base, "expected": expected,
        "relative": relative, "log_ratio": log_ratio, "robust_z": log_ratio / day_scale, "scale": scale, "day_scale": day_scale,
        "zscore": (log_ratio - mean) / std,
        "day_change": _log_change(x, _shift(x, 1)), "week_change": _log_change(x, _shift(x, config.season_length)),
    }


def _log_change(now: np.ndarray, before: np.ndarray) -> np.ndarray:
    """log(now / before), bounded to +-5 (a factor of ~150) so that zeros stay finite."""
    eps = 1e-6 + 0.01 * np.abs(np.nan_to_num(before))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.clip(np.log((np.maximum(now, 0) + eps) / (np.maximum(before, 0) + eps)), -5, 5)


def _drift(signals: dict[str, np.ndarray], config: AnomalyConfig) -> dict[str, np.ndarray]:
    """A change of pace no single day reveals: the level of the last ``drift_recent_days`` days vs an
    anchor level (median of ``drift_window`` days ending ``drift_lag`` days back), projected to
    today by the growth that was already there: the median of up to ``drift_trend_windows``
    window-over-window ratios before the anchor (a median, so one earlier step does not count
    as growth; one ratio for a young series, none below drift_lag + 2 windows of history).

    Holds when the level is ``drift_min_pct`` above the projection with a z of ``min_robust_z``;
    which days are reported is decided after scoring (``_resolve_drifts``)."""
    window, lag, recent_days = config.drift_window, config.drift_lag, config.drift_recent_days
    recent = _roll(signals["deseasonalised"], recent_days, "median", recent_days)
    windows = _roll(signals["deseasonalised"], window, "median", max(2, (2 * window) // 3))
    anchors = [_shift(windows, lag + k * window) for k in range(config.drift_trend_windows + 1)]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.stack([np.log(_ratio(a, b)) for a, b in zip(anchors[:-1], anchors[1:])])
    n_ratios = np.isfinite(ratios).sum(axis=0)
    log_growth = _nanmedian(ratios)  # per window
    log_growth = np.clip(np.nan_to_num(log_growth), -np.log(config.max_trend_ratio), np.log(config.max_trend_ratio))
    horizon = (lag + (window - recent_days) / 2) / window  # anchor centre to recent centre, in windows
    with np.errstate(divide="ignore", invalid="ignore"):
        log_drift = np.log(_ratio(recent, anchors[0])) - horizon * log_growth
    # spread in point-noise units: recent median, anchor median, and the extrapolated growth
    # (a ratio of two window medians; its median over n ratios is narrower, ~1 / n ** 0.25)
    growth_var = 2 / window * horizon ** 2 / np.sqrt(np.maximum(n_ratios, 1))
    spread = 1.2533 * np.sqrt(1 / recent_days + 1 / window + growth_var)
    z = log_drift / (signals["scale"] * spread)
    holds = (n_ratios >= 1) & (np.expm1(log_drift) >= config.drift_min_pct / 100) & (z >= config.min_robust_z)
    # expected today on the old pace: the anchor grown to today (half a recent window past its centre)
    projected = anchors[0] * np.exp(log_growth * (horizon + (recent_days + 1) / (2 * window)))
    expected = projected * signals["factors"] + (signals["expected"] - signals["base"])
    return {"holds": np.nan_to_num(holds).astype(bool), "pct": np.expm1(log_drift), "z": z, "expected": expected}


# --------------------------------------------------------------------------- votes and severity


@dataclass
class _Forest:
    """Isolation Forest over scale-free features; its vote is 0.5 at the top-contamination score."""

    model: IsolationForest | None
    median: float = 0.5
    threshold: float = 0.6

    @classmethod
    def fit(cls, features: np.ndarray, config: AnomalyConfig) -> _Forest:
        if len(features) < 64:
            return cls(None)
        rng = np.random.default_rng(config.random_state)
        if len(features) > config.iforest_train_rows:
            features = features[np.sort(rng.choice(len(features), config.iforest_train_rows, replace=False))]
        model = IsolationForest(n_estimators=config.iforest_trees, random_state=config.random_state).fit(features)
        scores = -model.score_samples(features)
        median, threshold = np.median(scores), np.quantile(scores, 1 - config.iforest_contamination)
        return cls(model, float(median), float(max(threshold, median + 1e-6)))

    def vote(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.model is None or len(features) == 0:
            return np.zeros(len(features)), np.zeros(len(features), dtype=bool)
        scores = -self.model.score_samples(features)
        return _saturate(scores - self.median, self.threshold - self.median), scores >= self.threshold


def _severity(impact: np.ndarray, score: np.ndarray, amounts: tuple[float, float, float], config: AnomalyConfig) -> np.ndarray:
    """Level by the money at stake, moved one up for a near-certain score and one down for a weak one."""
    level = np.searchsorted(np.asarray(amounts), np.abs(impact), side="right")
    level = level + (score >= config.severity_score_up) - (score < config.severity_score_down)
    return np.asarray(SEVERITIES, dtype=object)[np.clip(level, 0, len(SEVERITIES) - 1)]


def _methods(fired: dict[str, np.ndarray], n: int) -> np.ndarray:
    names = np.full(n, "", dtype=object)
    for name, mask in fired.items():
        names = np.where(mask, np.where(names == "", name, names + "," + name), names)
    return names


# --------------------------------------------------------------------------- daily


def _tests(x: np.ndarray, signals: dict[str, np.ndarray], judged: np.ndarray, config: AnomalyConfig) -> dict[str, dict]:
    """Each test's cells that pass the money and relative gates, with the expected cost, z and
    relative change its verdict rests on.

    spike      today alone: impact >= min_impact, +min_impact_pct, robust z >= min_robust_z;
    sustained  the last ``sustain_days`` days all above expected, their mean log ratio over its
               own spread >= min_robust_z, +min_impact_pct on average, today's impact >= min_impact
               (a step or a plateau too small to show on any single day);
    drift      see ``_drift``; the day's own cost must also be material and +drift_min_pct;
    drop       mirror of spike against the base (recurring allowance excluded), if report_drops.
    """
    floor_pct = config.min_impact_pct / 100
    impact = x - signals["expected"]
    material = judged & (impact >= config.min_impact)
    tests = {"spike": {"mask": material & (signals["relative"] >= floor_pct) & (signals["robust_z"] >= config.min_robust_z),
                       "expected": signals["expected"], "z": signals["robust_z"], "pct": signals["relative"]}}
    k = config.sustain_days
    if k > 1:
        log_ratio = np.where(judged, signals["log_ratio"], np.nan)
        mean_log = _roll(log_ratio, k, "mean", k, shift=0)
        lowest = _roll(log_ratio, k, "min", k, shift=0)
        # consecutive days share the expected cost's error (~0.45 noise sigma): it does not average out
        z = mean_log / (signals["scale"] * np.sqrt(1.0 / k + 0.2))
        mask = material & (lowest > 0) & (np.expm1(mean_log) >= floor_pct) & (z >= config.min_robust_z) & ~tests["spike"]["mask"]
        tests["sustained"] = {"mask": mask, "expected": signals["expected"], "z": z, "pct": np.expm1(mean_log)}
    if config.detect_drift:
        drift = _drift(signals, config)
        day_impact = x - drift["expected"]
        # the day itself must show it too; every such day is a candidate, _resolve_drifts picks
        confirmed = judged & drift["holds"] & (day_impact >= config.min_impact) \
            & (_ratio(day_impact, drift["expected"]) >= config.drift_min_pct / 100)
        tests["drift"] = {"mask": confirmed, "expected": drift["expected"], "z": drift["z"], "pct": drift["pct"]}
    if config.report_drops:
        base = signals["base"]
        z = _log_change(x, base) / signals["scale"]
        pct = _ratio(x, base) - 1.0
        mask = judged & (base - x >= config.min_impact) & (pct <= -config.drop_min_pct / 100) & (z <= -config.min_robust_z)
        tests["drop"] = {"mask": mask, "expected": base, "z": z, "pct": pct}
    return tests


def _daily_candidates(panel: _Panel, columns: slice, config: AnomalyConfig, rng: np.random.Generator,
                      train_share: float) -> tuple[pd.DataFrame, np.ndarray]:
    """Candidate cells of one chunk of series with their votes' inputs, and a random sample of
    all judged cells to train the forest."""
    x = panel.values[:, columns]
    signals = _daily_signals(x, panel.steps, config)
    position = np.arange(len(x))[:, None]
    judged = (position - panel.first[columns][None, :] >= config.min_history_days) & np.isfinite(signals["expected"])
    phase = (np.arange(len(x)) % max(config.season_length, 1)) / max(config.season_length, 1)
    frames = []
    for kind, test in _tests(x, signals, judged, config).items():
        rows, cols = np.nonzero(test["mask"])
        if len(rows):
            frames.append(pd.DataFrame({
                "kind": kind, "step": rows, "series_code": cols + columns.start, "actual_cost": x[rows, cols],
                "expected_cost": test["expected"][rows, cols], "z": test["z"][rows, cols], "pct": test["pct"][rows, cols],
                "zscore": signals["zscore"][rows, cols], "features": list(_cell_features(signals, rows, cols, phase)),
            }))
    rows, cols = np.nonzero(judged)
    n_train = min(int(round(train_share * len(rows))), len(rows))
    pick = np.sort(rng.choice(len(rows), n_train, replace=False)) if len(rows) else np.array([], dtype=int)
    candidates = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return candidates, _cell_features(signals, rows[pick], cols[pick], phase)


def _cell_features(signals: dict[str, np.ndarray], rows: np.ndarray, cols: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Scale-free features of cells: robust z, log ratio to expected, classic z, day-over-day and
    week-over-week log change, and the weekday (phase of the season)."""
    x, expected = signals["x"][rows, cols], signals["expected"][rows, cols]
    columns = [np.clip(signals["robust_z"][rows, cols], -20, 20), _log_change(x, expected),
               np.clip(signals["zscore"][rows, cols], -20, 20), signals["day_change"][rows, cols],
               signals["week_change"][rows, cols], phase[rows]]
    return np.nan_to_num(np.column_stack(columns), nan=0.0, posinf=20.0, neginf=-20.0)


def _score_daily(candidates: pd.DataFrame, forest: _Forest, config: AnomalyConfig) -> pd.DataFrame:
    """One score per candidate, the methods that fired, severity, and the decision."""
    frame = candidates
    kind = frame["kind"].to_numpy()
    expected = frame["expected_cost"].to_numpy()
    impact = frame["actual_cost"].to_numpy() - expected
    sign = np.where(kind == "drop", -1.0, 1.0)  # a drop votes with its magnitude
    z, zscore, pct = sign * frame["z"].to_numpy(), sign * frame["zscore"].to_numpy(), sign * frame["pct"].to_numpy()
    forest_vote, forest_fired = forest.vote(np.vstack(frame["features"].to_numpy()))
    votes = [
        (_saturate(z, config.min_robust_z), config.weight_seasonal_mad),
        (_saturate(zscore, config.zscore_threshold), config.weight_zscore),
        (forest_vote, config.weight_isolation_forest if forest.model is not None else 0.0),
        (_saturate(100 * pct, config.min_impact_pct), config.weight_relative),
    ]
    score = sum(vote * weight for vote, weight in votes) / sum(weight for _, weight in votes)
    is_drift = kind == "drift"
    # a drift is judged on the level, not the day: its score is how far past its own thresholds it is
    score = np.where(is_drift, 0.5 * (_saturate(z, config.min_robust_z) + _saturate(100 * pct, config.drift_min_pct)), score)
    fired = {"seasonal_mad": np.isin(kind, ["spike", "drop"]) & (z >= config.min_robust_z), "sustained": kind == "sustained",
             "drift": is_drift, "zscore": zscore >= config.zscore_threshold, "isolation_forest": forest_fired}
    out = frame.assign(impact=impact, impact_pct=np.where(expected > 0, 100 * impact / np.where(expected > 0, expected, 1.0), np.nan),
                       score=np.round(score, 6), methods=_methods(fired, len(frame)))
    severity = _severity(impact, score, config.severity_impact, config)
    out["severity"] = np.where(kind == "drop", config.drop_severity, severity)
    return _resolve_drifts(out[is_drift | (score >= config.min_score)], config.drift_quiet_days)


def _resolve_drifts(flagged: pd.DataFrame, quiet_days: int) -> pd.DataFrame:
    """Keep a drift day only if the series had no reported spike, sustained rise or drift in the
    ``quiet_days`` before it (inclusive of the same day): a drift is reported once per episode, and a
    level shift that was reported as such is not reported again when the drift anchor passes it.
    A loop, but over flagged rows only (a few per series)."""
    if flagged.empty or not (flagged["kind"] == "drift").any():
        return flagged
    ordered = flagged.assign(_drift=flagged["kind"] == "drift").sort_values(["series_code", "step", "_drift"])
    keep = np.ones(len(ordered), dtype=bool)
    last: dict[int, int] = {}
    for i, (code, step, is_drift) in enumerate(zip(ordered["series_code"], ordered["step"], ordered["_drift"])):
        if is_drift and step - last.get(code, -quiet_days - 1) <= quiet_days:
            keep[i] = False
        else:
            last[code] = step
    return ordered[keep].drop(columns="_drift")


def _empty(columns: list[str], step: str) -> pd.DataFrame:
    dtypes = {step: "datetime64[us]" if step == "date" else "str", "series": "object", "severity": "str", "methods": "str"}
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "float64")) for c in columns})


def expected_daily(costs: pd.DataFrame, config: AnomalyConfig = AnomalyConfig()) -> pd.DataFrame:
    """The baseline behind detect_daily, for charts: one row per judged (series, date) with
    ``actual_cost``, ``expected_cost`` and ``alert_above`` (the cost from which that day alone
    would pass the money, percentage and robust-z gates of a spike)."""
    if costs.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in ["series", "date", "actual_cost", "expected_cost", "alert_above"]})
    panel, tz = _daily_panel(costs, config.freq)
    frames = []
    for start in range(0, len(panel.keys), SERIES_PER_CHUNK):
        columns = slice(start, min(start + SERIES_PER_CHUNK, len(panel.keys)))
        x = panel.values[:, columns]
        signals = _daily_signals(x, panel.steps, config)
        expected = signals["expected"]
        alert_above = np.maximum.reduce([expected + config.min_impact, expected * (1 + config.min_impact_pct / 100),
                                         expected * np.exp(config.min_robust_z * signals["day_scale"])])
        judged = (np.arange(len(x))[:, None] - panel.first[columns][None, :] >= config.min_history_days) & np.isfinite(expected)
        rows, cols = np.nonzero(judged)
        frames.append(pd.DataFrame({"series": panel.keys[cols + start].to_numpy(), "date": _stamps(panel.steps, tz)[rows],
                                    "actual_cost": x[rows, cols], "expected_cost": expected[rows, cols],
                                    "alert_above": alert_above[rows, cols]}))
    return pd.concat(frames, ignore_index=True).sort_values(["series", "date"], kind="stable").reset_index(drop=True)


def detect_daily(costs: pd.DataFrame, config: AnomalyConfig = AnomalyConfig()) -> pd.DataFrame:
    """Flagged (series, date) cells of daily costs, one row each, sorted by series and date.

    ``costs``: columns ``series`` (any hashable key), ``date`` (day), ``cost``. Duplicate rows of a
    (series, date) add up; a day missing between a series' first row and the last date of the
    input costs 0. Output: ``DAILY_COLUMNS`` (impact = actual - expected, impact_pct in percent,
    NaN when nothing was expected; score in [0, 1]; methods comma-separated).

    Deterministic for a given input. Verdicts are causal except the Isolation Forest vote, which
    is trained on a seeded sample of all the input's cells: a longer input can move a borderline
    score (and so a borderline verdict) slightly.
    """
    if costs.empty:
        return _empty(DAILY_COLUMNS, "date")
    panel, tz = _daily_panel(costs, config.freq)
    n_series = len(panel.keys)
    share = min(1.0, config.iforest_train_rows / max(1, np.isfinite(panel.values).sum()))
    candidates, training = [], []
    for chunk, start in enumerate(range(0, n_series, SERIES_PER_CHUNK)):
        rng = np.random.default_rng([config.random_state, chunk])
        found, sample = _daily_candidates(panel, slice(start, min(start + SERIES_PER_CHUNK, n_series)), config, rng, share)
        candidates.append(found)
        training.append(sample)
    forest = _Forest.fit(np.vstack(training), config)
    found = pd.concat(candidates, ignore_index=True)
    if found.empty:
        return _empty(DAILY_COLUMNS, "date")
    flagged = _score_daily(found, forest, config)
    flagged = flagged.sort_values(["series_code", "step", "score"], ascending=[True, True, False])
    flagged = flagged.drop_duplicates(["series_code", "step"])
    out = flagged.assign(series=panel.keys[flagged["series_code"].to_numpy()].to_numpy(),
                         date=_stamps(panel.steps, tz)[flagged["step"].to_numpy()])
    return out[DAILY_COLUMNS].reset_index(drop=True)


# --------------------------------------------------------------------------- monthly


def _monthly_signals(x: np.ndarray, config: AnomalyConfig) -> dict[str, np.ndarray]:
    """Expected month = median of the last 3 months x the median month-over-month growth of the
    last ``monthly_window`` months (squared: the median sits 2 months back)."""
    lags = np.stack([_shift(x, k) for k in range(1, config.monthly_window + 2)])
    level = _nanmedian(np.where(np.isnan(lags[:3]).any(axis=0), np.nan, lags[:3]))
    growth_steps = _ratio(lags[:-1], lags[1:])
    growth = np.where(np.isfinite(growth_steps).sum(axis=0) >= 2, _nanmedian(growth_steps), 1.0)
    growth = np.clip(np.nan_to_num(growth, nan=1.0), 1 / 1.25, 1.25)
    expected = level * growth ** 2
    relative = np.where((expected <= 0) & (x > 0), np.inf, _ratio(x - expected, expected))
    log_ratio = np.where(np.isfinite(expected), _log_change(x, expected), np.nan)
    history = np.stack([_shift(np.abs(log_ratio), k) for k in range(1, config.monthly_window + 1)])
    # with fewer than 2 judged months behind it, the noise is assumed at 10 % a month
    scale = np.where(np.isfinite(history).sum(axis=0) >= 2, MAD_TO_SIGMA * _nanmedian(history), 0.1)
    scale = np.maximum(scale, config.min_relative_scale)
    past = np.stack([_shift(x, k) for k in range(1, 13)])  # the classic z: mean / std of up to 12 months
    count = np.isfinite(past).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.nansum(past, axis=0) / count
        std = np.sqrt(np.nansum((past - mean) ** 2, axis=0) / (count - 1))
    std = np.maximum(np.where(count >= 2, std, 0.0), 0.01 * np.abs(np.nan_to_num(mean)) + 1e-9)
    previous = lags[0]
    return {"x": x, "expected": expected, "relative": relative, "robust_z": log_ratio / scale,
            "zscore": (x - mean) / std, "mom": np.where((previous <= 0) & (x > 0), np.inf, _ratio(x - previous, previous)),
            "mom_log": _log_change(x, previous), "previous": previous}


def _monthly_features(signals: dict[str, np.ndarray], rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    x, expected = signals["x"][rows, cols], signals["expected"][rows, cols]
    columns = [np.clip(signals["robust_z"][rows, cols], -20, 20), _log_change(x, expected),
               np.clip(signals["zscore"][rows, cols], -20, 20), signals["mom_log"][rows, cols]]
    return np.nan_to_num(np.column_stack(columns), nan=0.0, posinf=20.0, neginf=-20.0)


def detect_monthly(costs: pd.DataFrame, config: AnomalyConfig = AnomalyConfig()) -> pd.DataFrame:
    """Flagged (series, month) cells of complete months: ``costs`` has ``series``, ``month``
    ('YYYY-MM'), ``cost``; a month missing after a series' first month costs 0.

    A month is reported when it is ``monthly_min_impact`` over expected AND ``monthly_min_impact_pct``
    over both expected and the previous month AND robust z >= ``monthly_min_robust_z``, after
    ``monthly_min_history`` months, with score >= ``min_score``. Requiring the month-over-month
    rise makes a permanent step a one-month report. Output: ``MONTHLY_COLUMNS``.
    """
    if costs.empty:
        return _empty(MONTHLY_COLUMNS, "month")
    panel = _monthly_panel(costs)
    x = panel.values
    signals = _monthly_signals(x, config)
    position = np.arange(len(x))[:, None]
    judged = (position - panel.first[None, :] >= config.monthly_min_history) & np.isfinite(signals["expected"])
    impact = x - signals["expected"]
    floor_pct = config.monthly_min_impact_pct / 100
    gated = judged & (impact >= config.monthly_min_impact) & (signals["relative"] >= floor_pct) \
        & (signals["mom"] >= floor_pct) & (signals["robust_z"] >= config.monthly_min_robust_z)
    rows, cols = np.nonzero(judged)
    forest = _Forest.fit(_monthly_features(signals, rows, cols), config)
    rows, cols = np.nonzero(gated)
    if not len(rows):
        return _empty(MONTHLY_COLUMNS, "month")
    forest_vote, forest_fired = forest.vote(_monthly_features(signals, rows, cols))
    robust_z, zscore, mom = signals["robust_z"][rows, cols], signals["zscore"][rows, cols], signals["mom"][rows, cols]
    votes = [(_saturate(robust_z, config.monthly_min_robust_z), config.weight_seasonal_mad),
             (_saturate(zscore, config.zscore_threshold), config.weight_zscore),
             (forest_vote, config.weight_isolation_forest if forest.model is not None else 0.0),
             (_saturate(100 * mom, config.monthly_min_impact_pct), config.weight_relative)]
    score = sum(v * w for v, w in votes) / sum(w for _, w in votes)
    expected = signals["expected"][rows, cols]
    out = pd.DataFrame({"series": panel.keys[cols].to_numpy(), "month": panel.steps[rows].strftime("%Y-%m"),
                        "actual_cost": x[rows, cols], "expected_cost": expected, "impact": impact[rows, cols],
                        "impact_pct": np.where(expected > 0, 100 * impact[rows, cols] / np.where(expected > 0, expected, 1), np.nan),
                        "score": np.round(score, 6)})
    out["severity"] = _severity(out["impact"].to_numpy(), score, config.monthly_severity_impact, config)
    out["methods"] = _methods({"monthly_mad": robust_z >= config.monthly_min_robust_z, "zscore": zscore >= config.zscore_threshold,
                               "isolation_forest": forest_fired, "mom_pct": mom >= floor_pct}, len(out))
    out = out[score >= config.min_score]
    order = np.lexsort((rows[score >= config.min_score], cols[score >= config.min_score]))
    return out.iloc[order][MONTHLY_COLUMNS].reset_index(drop=True)
