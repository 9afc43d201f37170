"""Which alerts the current tables call for (the alert rules), as outbox entries.

- anomaly: one alert per anomaly episode (consecutive anomalous days of one series; the service
  level preferred over the project total it explains) when it is first reported with a severity
  at or above FINOPS_ALERT_MIN_SEVERITY, while it is open and recent (its period within
  FINOPS_ALERT_MAX_AGE_DAYS of the latest data, so a first run over years of history does not
  page anyone about last spring); a follow-up only when its severity escalates, in the same
  thread; none once it is acknowledged or resolved.
- budget: one alert per (project, month, status) when a project of the latest month is at
  warning, over or projected_over.
- run_failure and digest alerts are built where they happen (the run-failure sensor and the
  weekly digest job).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from finops_pipeline.alerts.outbox import Alert, existing_keys
from finops_pipeline.settings import SEVERITIES, Settings
from finops_pipeline.warehouse import queries, schema
from finops_pipeline.warehouse.reader import read_table

BUDGET_STATUSES = ("warning", "projected_over", "over")


def _owners(engine: Engine) -> dict[str, str]:
    projects = read_table(engine, schema.dim_projects)
    return dict(zip(projects["project"], projects["owner"])) if len(projects) else {}


def _money(value) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 2)


def _episodes(anomalies: pd.DataFrame) -> pd.DataFrame:
    """Every anomaly row with its episode: consecutive anomalous days (months) of one series are
    one event, so a level shift still going on does not page every day. Episodes are built over
    the whole table — whatever a row's severity, status or age — so an episode keeps the id of its
    first day however the alert window slides or a day is re-rated. A project-level day that a
    service-level anomaly of the same project explains is dropped: the service message is the one
    a person can act on."""
    frame = anomalies.copy()
    frame["day"] = pd.to_datetime(frame["period_start"])
    services = frame[frame["service_name"].notna()]
    covered = set(zip(services["project"], services["day"]))
    explained = pd.Series(list(zip(frame["project"], frame["day"])), index=frame.index).isin(covered)
    frame = frame[frame["service_name"].notna() | ~explained]
    frame = frame.sort_values(["grain", "project", "service_name", "day"], na_position="first")
    keys = [frame["grain"], frame["project"], frame["service_name"].fillna("")]
    gap = frame.groupby(keys)["day"].diff()
    step = np.where(frame["grain"] == "monthly", pd.Timedelta(days=31), pd.Timedelta(days=1))
    frame["episode"] = (gap.isna() | (gap > step)).cumsum()
    frame["episode_id"] = frame.groupby("episode")["anomaly_id"].transform("first")
    frame["days"] = frame.groupby("episode")["anomaly_id"].transform("size")
    frame["rank"] = frame["severity"].map({s: i for i, s in enumerate(SEVERITIES)})
    return frame


def anomaly_alerts(engine: Engine, settings: Settings) -> list[Alert]:
    anomalies = read_table(engine, schema.fct_cost_anomalies)
    if anomalies.empty:
        return []
    daily = queries.last_charge_date(engine) or pd.to_datetime(anomalies["period_start"]).max()
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    frame = _episodes(anomalies)
    recent = frame["day"] >= daily - pd.Timedelta(days=settings.alert_max_age_days)
    # A monthly anomaly is about the last complete month, which ends before the daily window.
    recent |= (frame["grain"] == "monthly") & (frame["day"] >= daily - pd.offsets.MonthBegin(2))
    eligible = frame[(frame["status"] == "open") & recent & (frame["rank"] >= rank[settings.alert_min_severity])]
    if eligible.empty:
        return []
    # Per episode, the most severe eligible day (the latest on ties) speaks for it.
    chosen = eligible.sort_values(["rank", "day"]).groupby("episode").tail(1)
    alerted: dict[str, int] = {}  # episode (first anomaly id) -> highest severity already alerted
    for key in existing_keys(engine, "anomaly"):
        _, episode_id, severity = key.split(":")
        alerted[episode_id] = max(alerted.get(episode_id, -1), rank[severity])
    owners = _owners(engine)
    out = []
    for row in chosen.itertuples():
        before = alerted.get(row.episode_id)
        if before is not None and row.rank <= before:
            continue  # already alerted at this severity or higher: only an escalation is news
        out.append(Alert(
            kind="anomaly",
            dedup_key=f"anomaly:{row.episode_id}:{row.severity}",
            thread_key=f"anomaly:{row.episode_id}",
            payload={
                "anomaly_id": row.anomaly_id, "grain": row.grain,
                "period_start": pd.Timestamp(row.period_start).strftime("%Y-%m-%d"),
                "days": int(row.days),
                "project": row.project, "team": _text(row.team), "owner": owners.get(row.project),
                "service_name": _text(row.service_name), "actual_cost": _money(row.actual_cost),
                "expected_cost": _money(row.expected_cost), "impact": _money(row.impact),
                "impact_pct": None if pd.isna(row.impact_pct) else round(float(row.impact_pct), 1),
                "severity": row.severity, "score": round(float(row.score), 3), "methods": row.methods,
                "root_cause": json.loads(row.root_cause) if isinstance(row.root_cause, str) else [],
                "currency": row.reporting_currency,
                "escalated_from": SEVERITIES[before] if before is not None else None,
            },
        ))
    return out


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def budget_alerts(engine: Engine, settings: Settings) -> list[Alert]:
    budgets = read_table(engine, schema.fct_budget_vs_actual)
    if budgets.empty:
        return []
    latest = budgets[(budgets["billing_month"] == budgets["billing_month"].max())
                     & budgets["status"].isin(BUDGET_STATUSES)]
    owners = _owners(engine)
    return [Alert(
        kind="budget",
        dedup_key=f"budget:{row.project}:{row.billing_month}:{row.status}",
        thread_key=f"budget:{row.project}:{row.billing_month}",
        payload={
            "project": row.project, "team": _text(row.team), "owner": owners.get(row.project),
            "billing_month": row.billing_month, "status": row.status, "budget": _money(row.budget),
            "actual": _money(row.actual), "pct_used": None if pd.isna(row.pct_used) else round(float(row.pct_used), 1),
            "projected_month_end": _money(row.projected_month_end), "currency": row.reporting_currency,
            "warning_pct": settings.budget_warning_pct,
        },
    ) for row in latest.itertuples()]
