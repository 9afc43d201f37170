"""fct_cost_anomalies rows from the detector's verdicts: stable ids, root causes, status.

- Series: daily per project and per project x service, monthly per project (complete months).
- `anomaly_id` hashes grain, period, project and service, so a re-run finds the same anomaly
  under the same id and a user's acknowledgement (kept in anomaly_feedback) stays attached.
- Status: `acknowledged` when a user said so; else `resolved` when a later period (day or
  complete month) of the series was back within normal, i.e. not flagged; else `open`.
- Root cause: for the anomalous period, the members of the other dimensions (service, account,
  region) whose cost rose most over their own recent level, with their share of the impact.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from transforms.marts.analytics.anomalies import AnomalyConfig, detect_daily, detect_monthly

SEPARATOR = "\x1f"  # joins project and service into one series key; never part of a name
ROOT_CAUSE_DIMENSIONS = ("service_name", "sub_account_id", "region")
ROOT_CAUSE_LOOKBACK_DAYS = 28
TOP_MEMBERS = 3
COLUMNS = [
    "anomaly_id", "grain", "period_start", "project", "team", "service_name", "reporting_currency", "actual_cost",
    "expected_cost", "impact", "impact_pct", "score", "severity", "methods", "root_cause", "status", "status_note",
    "first_seen", "last_seen",
]


def anomaly_id(grain: str, period_start: pd.Timestamp, project: str, service_name: str | None) -> str:
    key = SEPARATOR.join([grain, pd.Timestamp(period_start).strftime("%Y-%m-%d"), project, service_name or ""])
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def _daily_series(daily: pd.DataFrame) -> pd.DataFrame:
    """series, date, cost for each project and each project x service."""
    projects = daily.groupby(["project", "charge_date"], as_index=False)["effective_cost"].sum()
    services = daily.groupby(["project", "service_name", "charge_date"], as_index=False)["effective_cost"].sum()
    return pd.concat([
        pd.DataFrame({"series": projects["project"], "date": projects["charge_date"], "cost": projects["effective_cost"]}),
        pd.DataFrame({"series": services["project"] + SEPARATOR + services["service_name"],
                      "date": services["charge_date"], "cost": services["effective_cost"]}),
    ], ignore_index=True)


def _split_series(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """"project<SEP>service" -> (project, service); a project-level key has no service."""
    text = series.astype("str")
    project = text.str.split(SEPARATOR, n=1).str[0]
    service = text.str.split(SEPARATOR, n=1).str[1]
    return project, service.astype("str")


def _resolved(flagged: pd.DataFrame, latest, period: str, periods_between) -> pd.Series:
    """True where the series had a normal period after the anomaly (a later day or complete month
    that is not flagged; a series without cost then costs 0): its cost came back to normal. An
    anomaly whose every later period is flagged too (still going on) stays open."""
    if flagged.empty or latest is None:
        return pd.Series(False, index=flagged.index, dtype=bool)
    later = periods_between(flagged[period], latest)
    order = flagged.sort_values(period, ascending=False)
    flagged_after = order.groupby("series").cumcount().reindex(flagged.index)  # flagged periods later in the series
    return flagged_after < later


def _days_between(start: pd.Series, latest) -> pd.Series:
    return (pd.Timestamp(latest) - pd.to_datetime(start)).dt.days


def _months_between(start: pd.Series, latest) -> pd.Series:
    latest_period = pd.Period(latest, freq="M")
    return start.map(lambda m: (latest_period - pd.Period(m, freq="M")).n)


def _top_rises(dimension: str, now: pd.Series, before: pd.Series, impact: float) -> list[dict]:
    """The members of a dimension whose cost rose most over their baseline, with their share of
    the anomaly's impact."""
    rise = now.sub(before, fill_value=0.0).sort_values(ascending=False)
    return [{"dimension": dimension, "member": None if pd.isna(member) else str(member),
             "impact": round(float(amount), 2), "share": round(float(amount / impact), 4) if impact else None}
            for member, amount in rise[rise > 0].head(TOP_MEMBERS).items()]


def _root_causes(anomalies: pd.DataFrame, detail: pd.DataFrame) -> list[str]:
    """JSON per daily anomaly: top members per dimension by their rise over their own mean of the
    previous four weeks, with the share of the anomaly's impact."""
    out = []
    by_project = dict(tuple(detail.groupby("project"))) if len(anomalies) else {}
    for row in anomalies.itertuples():
        scope = by_project.get(row.project, detail.iloc[0:0])
        if isinstance(row.service_name, str):
            scope = scope[scope["service_name"] == row.service_name]
        day = pd.Timestamp(row.period_start)
        window = scope[(scope["charge_date"] < day) & (scope["charge_date"] >= day - pd.Timedelta(days=ROOT_CAUSE_LOOKBACK_DAYS))]
        today = scope[scope["charge_date"] == day]
        causes = []
        for dimension in ROOT_CAUSE_DIMENSIONS:
            if dimension == "service_name" and isinstance(row.service_name, str):
                continue  # the service is the anomaly's own scope
            now = today.groupby(dimension, dropna=False)["effective_cost"].sum()
            before = window.groupby(dimension, dropna=False)["effective_cost"].sum() / ROOT_CAUSE_LOOKBACK_DAYS
            causes += _top_rises(dimension, now, before, row.impact)
        out.append(json.dumps(causes))
    return out


def _monthly_root_causes(anomalies: pd.DataFrame, monthly_detail: pd.DataFrame) -> list[str]:
    """JSON per monthly anomaly: members whose cost rose most vs the month before."""
    out = []
    for row in anomalies.itertuples():
        month = pd.Timestamp(row.period_start).strftime("%Y-%m")
        previous = (pd.Timestamp(row.period_start) - pd.offsets.MonthBegin(1)).strftime("%Y-%m")
        scope = monthly_detail[monthly_detail["project"] == row.project]
        causes = []
        for dimension in ROOT_CAUSE_DIMENSIONS:
            now = scope[scope["billing_month"] == month].groupby(dimension, dropna=False)["effective_cost"].sum()
            before = scope[scope["billing_month"] == previous].groupby(dimension, dropna=False)["effective_cost"].sum()
            causes += _top_rises(dimension, now, before, row.impact)
        out.append(json.dumps(causes))
    return out


def build_anomalies(
    detail: pd.DataFrame,
    projects: pd.DataFrame,
    feedback: pd.DataFrame,
    previous: pd.DataFrame,
    reporting_currency: str,
    now: pd.Timestamp,
    complete_months: list[str],
    config: AnomalyConfig | None = None,
) -> pd.DataFrame:
    """`detail`: fct_costs_daily summed per charge_date, billing_month, project, service_name,
    sub_account_id, region (effective_cost). `feedback`: anomaly_feedback rows. `previous`: the
    current fct_cost_anomalies (for first_seen). `complete_months`: months the monthly grain may
    judge (the open month is not complete)."""
    config = config or AnomalyConfig()
    if detail.empty:
        return pd.DataFrame(columns=COLUMNS)
    daily = detect_daily(_daily_series(detail), config)
    project, service = _split_series(daily["series"])
    daily_rows = pd.DataFrame({
        "grain": "daily", "period_start": daily["date"], "project": project, "service_name": service,
        "resolved": _resolved(daily, detail["charge_date"].max(), "date", _days_between),
    })
    daily_rows = pd.concat([daily_rows, daily[["actual_cost", "expected_cost", "impact", "impact_pct", "score",
                                               "severity", "methods"]]], axis=1)
    daily_rows["root_cause"] = _root_causes(daily_rows, detail)

    monthly_in = detail[detail["billing_month"].isin(complete_months)]
    by_month = monthly_in.groupby(["project", "billing_month"], as_index=False)["effective_cost"].sum()
    monthly = detect_monthly(pd.DataFrame({"series": by_month["project"], "month": by_month["billing_month"],
                                           "cost": by_month["effective_cost"]}), config)
    monthly_rows = pd.DataFrame({
        "grain": "monthly", "period_start": pd.to_datetime(monthly["month"] + "-01"), "project": monthly["series"],
        "service_name": pd.Series(np.nan, index=monthly.index, dtype="str"),
        "resolved": _resolved(monthly, max(complete_months) if complete_months else None, "month", _months_between),
    })
    monthly_rows = pd.concat([monthly_rows, monthly[["actual_cost", "expected_cost", "impact", "impact_pct", "score",
                                                     "severity", "methods"]]], axis=1)
    monthly_rows["root_cause"] = _monthly_root_causes(monthly_rows, monthly_in)

    out = pd.concat([daily_rows, monthly_rows], ignore_index=True)
    out["anomaly_id"] = [anomaly_id(g, d, p, s if isinstance(s, str) else None)
                         for g, d, p, s in zip(out["grain"], out["period_start"], out["project"], out["service_name"])]
    teams = projects.set_index("project")["team"] if not projects.empty else pd.Series(dtype="str")
    out["team"] = out["project"].map(teams).astype("str")
    out["reporting_currency"] = reporting_currency
    acknowledged = feedback.sort_values("updated_at").drop_duplicates("anomaly_id", keep="last").set_index("anomaly_id")
    out["status"] = np.where(out["resolved"], "resolved", "open")
    is_ack = out["anomaly_id"].isin(acknowledged.index)
    out.loc[is_ack, "status"] = out.loc[is_ack, "anomaly_id"].map(acknowledged["status"])
    out["status_note"] = out["anomaly_id"].map(acknowledged["note"]) if len(acknowledged) else None
    first_seen = previous.set_index("anomaly_id")["first_seen"] if not previous.empty else pd.Series(dtype="object")
    out["first_seen"] = pd.to_datetime(out["anomaly_id"].map(first_seen), utc=True).fillna(now)
    out["last_seen"] = now
    return out.sort_values(["period_start", "project", "grain"])[COLUMNS].reset_index(drop=True)
