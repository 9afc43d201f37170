"""The one place configuration is read from the environment.

Called at run time (by resources, the CLI and the API), never at import time, so that tests and
deployments can change the environment without reloading modules.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DATA_DIR = "data/sample"
DEFAULT_TAG_KEYS = "project,Project,app"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    warehouse_url: str
    reporting_currency: str
    project_tag_keys: tuple[str, ...]
    state_dir: Path  # cache of scanned landing files; safe to delete
    budget_warning_pct: float = 80.0
    forecast_horizon: int = 3
    anomaly_min_impact: float = 50.0  # reporting-currency units a day
    anomaly_min_impact_pct: float = 30.0
    anomaly_monthly_min_impact: float = 500.0
    # Slack: secrets stay out of reprs and logs.
    slack_webhook_url: str | None = field(default=None, repr=False)
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_channel: str | None = None
    slack_base_url: str | None = None
    dagster_url: str | None = None
    api_url: str | None = None
    alert_min_severity: str = "medium"
    alert_max_age_days: int = 7
    # Read API (`finops api`)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_cors_origins: tuple[str, ...] = ()  # browser origins allowed to call the API; none = no CORS headers
    api_cache_mb: int = 64  # answers kept per API process until the warehouse changes; 0 = none
    # General-ledger exports: the calendar month fiscal period 1 falls in, and whether fiscal year
    # N is the one that starts in calendar year N ("start", as SAP's year-shifted variants) or
    # ends in it ("end", as the US federal FY)
    fiscal_year_start_month: int = 1
    fiscal_year_named_by: str = "start"

    def anomaly_config(self):
        """The detector's thresholds, with the two gates users tune most taken from the settings."""
        from transforms.marts.analytics.anomalies import AnomalyConfig

        return AnomalyConfig(min_impact=self.anomaly_min_impact, min_impact_pct=self.anomaly_min_impact_pct,
                             monthly_min_impact=self.anomaly_monthly_min_impact,
                             monthly_min_impact_pct=self.anomaly_min_impact_pct)

    @property
    def landing_billing_dir(self) -> Path:
        return self.data_dir / "landing" / "billing"

    @property
    def reference_dir(self) -> Path:
        return self.data_dir / "reference"


def load_settings(environ: Mapping[str, str] | None = None, **overrides) -> Settings:
    """Settings from ``FINOPS_*`` variables, with explicit overrides winning (None = not given)."""
    env = os.environ if environ is None else environ
    data_dir = Path(overrides.get("data_dir") or env.get("FINOPS_DATA_DIR") or DEFAULT_DATA_DIR).resolve()
    warehouse_url = (
        overrides.get("warehouse_url")
        or env.get("FINOPS_WAREHOUSE_URL")
        or f"sqlite:///{data_dir / 'warehouse.db'}"
    )
    currency = (overrides.get("reporting_currency") or env.get("FINOPS_REPORTING_CURRENCY") or "USD").strip().upper()
    keys_text = overrides.get("project_tag_keys") or env.get("FINOPS_PROJECT_TAG_KEYS") or DEFAULT_TAG_KEYS
    if isinstance(keys_text, str):
        keys = tuple(k.strip() for k in keys_text.split(",") if k.strip())
    else:
        keys = tuple(keys_text)
    state_dir = Path(overrides.get("state_dir") or env.get("FINOPS_STATE_DIR") or data_dir / ".finops").resolve()
    return Settings(
        data_dir=data_dir,
        warehouse_url=warehouse_url,
        reporting_currency=currency,
        project_tag_keys=keys,
        state_dir=state_dir,
        budget_warning_pct=_number(env, "FINOPS_BUDGET_WARNING_PCT", 80.0, 0.0, 100.0),
        forecast_horizon=int(_number(env, "FINOPS_FORECAST_HORIZON", 3, 1, 24, whole=True)),
        anomaly_min_impact=_number(env, "FINOPS_ANOMALY_MIN_IMPACT", 50.0, 0.0, 1e12),
        anomaly_min_impact_pct=_number(env, "FINOPS_ANOMALY_MIN_IMPACT_PCT", 30.0, 0.0, 1e6),
        anomaly_monthly_min_impact=_number(env, "FINOPS_ANOMALY_MONTHLY_MIN_IMPACT", 500.0, 0.0, 1e12),
        slack_webhook_url=_text(env, "SLACK_WEBHOOK_URL"),
        slack_bot_token=_text(env, "SLACK_BOT_TOKEN"),
        slack_channel=_text(env, "SLACK_CHANNEL"),
        slack_base_url=_text(env, "FINOPS_SLACK_BASE_URL"),
        dagster_url=(_text(env, "FINOPS_DAGSTER_URL") or "").rstrip("/") or None,
        api_url=(_text(env, "FINOPS_API_URL") or "").rstrip("/") or None,
        alert_min_severity=_severity(env),
        alert_max_age_days=int(_number(env, "FINOPS_ALERT_MAX_AGE_DAYS", 7, 1, 3650, whole=True)),
        api_host=_text(env, "FINOPS_API_HOST") or "127.0.0.1",
        api_port=int(_number(env, "FINOPS_API_PORT", 8000, 1, 65535, whole=True)),
        api_cors_origins=_cors_origins(env),
        api_cache_mb=int(_number(env, "FINOPS_API_CACHE_MB", 64, 0, 65536, whole=True)),
        fiscal_year_start_month=int(_number(env, "FINOPS_FISCAL_YEAR_START_MONTH", 1, 1, 12, whole=True)),
        fiscal_year_named_by=_choice(env, "FINOPS_FISCAL_YEAR_NAMED_BY", ("start", "end")),
    )


SEVERITIES = ("low", "medium", "high", "critical")


def _text(env: Mapping[str, str], name: str) -> str | None:
    return (env.get(name) or "").strip() or None


_ORIGIN = re.compile(r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$")


def _cors_origins(env: Mapping[str, str]) -> tuple[str, ...]:
    """FINOPS_API_CORS_ORIGINS: comma-separated origins (scheme://host[:port], no path), or `*`
    for any origin. Unset = no cross-origin browser access (BI tools and curl need none)."""
    text = _text(env, "FINOPS_API_CORS_ORIGINS")
    if not text:
        return ()
    origins = tuple(dict.fromkeys(o.strip().rstrip("/") for o in text.split(",") if o.strip()))
    bad = [o for o in origins if o != "*" and not _ORIGIN.match(o)]
    if bad:
        raise ValueError(f"FINOPS_API_CORS_ORIGINS: {', '.join(repr(o) for o in bad)} is not an origin; use "
                         "scheme://host[:port] without a path, e.g. https://grafana.example.com,http://localhost:3000, or *")
    if "*" in origins and len(origins) > 1:
        raise ValueError("FINOPS_API_CORS_ORIGINS: `*` allows every origin; give it alone or list the origins")
    return origins


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first is the default)."""
    value = (_text(env, name) or choices[0]).lower()
    if value not in choices:
        raise ValueError(f"{name}={value!r}: use one of {', '.join(choices)}")
    return value


def _severity(env: Mapping[str, str]) -> str:
    value = (_text(env, "FINOPS_ALERT_MIN_SEVERITY") or "medium").lower()
    if value not in SEVERITIES:
        raise ValueError(f"FINOPS_ALERT_MIN_SEVERITY={value!r} is not a severity; use one of {', '.join(SEVERITIES)}")
    return value


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float, whole: bool = False) -> float:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = int(text) if whole else float(text)
    except ValueError as exc:
        kind = "a whole number" if whole else "a number"
        raise ValueError(f"{name}={text!r} is not {kind}; use a value from {low:g} to {high:g}") from exc
    if not low <= value <= high:
        raise ValueError(f"{name}={text!r} is out of range; use a value from {low:g} to {high:g}")
    return value


def _interval_seconds(environ: Mapping[str, str] | None, name: str, default: int) -> int:
    """A sensor's minimum interval. Read when the code location loads (not at run time like the
    rest): Dagster fixes a sensor's interval at definition time."""
    env = os.environ if environ is None else environ
    text = env.get(name) or str(default)
    try:
        value = int(text)
    except ValueError as exc:
        raise ValueError(f"{name}={text!r} is not a whole number of seconds") from exc
    return max(value, 1)


def sensor_interval_seconds(environ: Mapping[str, str] | None = None) -> int:
    """FINOPS_REFERENCE_SENSOR_INTERVAL_SECONDS (default 30)."""
    return _interval_seconds(environ, "FINOPS_REFERENCE_SENSOR_INTERVAL_SECONDS", 30)


DEFAULT_NIGHTLY_CRON = "0 2 * * *"
DEFAULT_NIGHTLY_TIMEZONE = "UTC"


def nightly_cron(environ: Mapping[str, str] | None = None) -> str:
    """FINOPS_NIGHTLY_CRON (default "0 2 * * *"): a five-field cron string Dagster accepts."""
    env = os.environ if environ is None else environ
    text = (env.get("FINOPS_NIGHTLY_CRON") or "").strip() or DEFAULT_NIGHTLY_CRON
    from dagster._utils.schedules import is_valid_cron_string  # Dagster's own check, so it accepts what Dagster runs

    if not is_valid_cron_string(text):
        raise ValueError(
            f"FINOPS_NIGHTLY_CRON={text!r} is not a valid cron schedule; use five fields "
            f"(minute hour day-of-month month day-of-week), e.g. {DEFAULT_NIGHTLY_CRON!r}"
        )
    return text


def nightly_timezone(environ: Mapping[str, str] | None = None) -> str:
    """FINOPS_NIGHTLY_TIMEZONE (default "UTC"): an IANA timezone name, e.g. "Europe/Paris"."""
    env = os.environ if environ is None else environ
    text = (env.get("FINOPS_NIGHTLY_TIMEZONE") or "").strip() or DEFAULT_NIGHTLY_TIMEZONE
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"FINOPS_NIGHTLY_TIMEZONE={text!r} is not a known timezone; use an IANA name such as "
            f"'UTC', 'Europe/Paris' or 'America/New_York'"
        ) from exc
    return text


def landing_sensor_interval_seconds(environ: Mapping[str, str] | None = None) -> int:
    """FINOPS_LANDING_SENSOR_INTERVAL_SECONDS (default 60)."""
    return _interval_seconds(environ, "FINOPS_LANDING_SENSOR_INTERVAL_SECONDS", 60)


def warehouse_reader_role(environ: Mapping[str, str] | None = None) -> str | None:
    """FINOPS_WAREHOUSE_READER_ROLE (unset = none): the PostgreSQL role BI tools log in as; the
    pipeline grants it SELECT on the output tables only (finops_pipeline/warehouse/grants.py).
    A function of its own, not a Settings field: ensure_tables reads it, and must not fail on an
    unrelated bad setting."""
    env = os.environ if environ is None else environ
    return _text(env, "FINOPS_WAREHOUSE_READER_ROLE")
