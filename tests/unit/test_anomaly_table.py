"""fct_cost_anomalies rows (transforms/marts/analytics/anomaly_table.py): stable ids, root causes,
status (open / acknowledged / resolved), first_seen / last_seen and the monthly grain.

The input is a synthetic fct_costs_daily detail: 2 projects x 2 services over ~120 days, each with
a weekday pattern (weekends cost 60 %) and seeded 3 % noise; a spike is planted in checkout's
Amazon EC2 as a separate row in its own account and region, so the root cause is known."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from transforms.marts.analytics.anomaly_table import COLUMNS, anomaly_id, build_anomalies

START = pd.Timestamp("2024-01-01")  # a Monday
DAYS = 120  # 2024-01-01 .. 2024-04-29
LAST_DAY = START + pd.Timedelta(days=DAYS - 1)
SPIKE_DAYS = (80, 81, 82)  # 2024-03-21 (Thu) .. 2024-03-23 (Sat)
SPIKE = 3000.0
SPIKE_ACCOUNT, SPIKE_REGION = "999", "ap-south-1"
# (project, daily level), (service, share of the project, account, region)
PROJECT_LEVELS = (("checkout", 1000.0), ("search", 600.0))
SERVICES = (("Amazon EC2", 0.7, "111", "us-east-1"), ("Amazon S3", 0.3, "222", "eu-west-1"))
DETAIL_COLUMNS = ["charge_date", "billing_month", "project", "service_name", "sub_account_id", "region", "effective_cost"]
PROJECTS = pd.DataFrame({"project": ["checkout", "search"], "team": ["payments", "discovery"]})
NO_FEEDBACK = pd.DataFrame({"anomaly_id": pd.Series(dtype="str"), "status": pd.Series(dtype="str"),
                            "note": pd.Series(dtype="str"), "updated_by": pd.Series(dtype="str"),
                            "updated_at": pd.Series(dtype="datetime64[ns, UTC]")})
NO_PREVIOUS = pd.DataFrame(columns=COLUMNS)
NOW = pd.Timestamp("2024-04-30 06:00", tz="UTC")
NO_COMPLETE_MONTHS: list[str] = []


def day(i: int) -> pd.Timestamp:
    return START + pd.Timedelta(days=i)


def _row(when: pd.Timestamp, project: str, service: str, account: str, region: str | None, cost: float) -> tuple:
    return (when, when.strftime("%Y-%m"), project, service, account, region, cost)


def make_detail(days: int = DAYS, spike_days: tuple[int, ...] = SPIKE_DAYS, spike: float = SPIKE,
                monthly_fee: float | None = None) -> pd.DataFrame:
    """fct_costs_daily summed per day, month, project, service, account and region. `monthly_fee`:
    a charge on the 1st of every month in search's own "Support" series (nothing on other days)."""
    rng = np.random.default_rng(7)
    dates = pd.date_range(START, periods=days, freq="D")
    weekday = np.where(dates.day_of_week >= 5, 0.6, 1.0)
    rows = []
    for project, level in PROJECT_LEVELS:
        for service, share, account, region in SERVICES:
            costs = level * share * weekday * np.exp(0.03 * rng.standard_normal(days))
            rows += [_row(d, project, service, account, region, float(c)) for d, c in zip(dates, costs)]
    rows += [_row(day(i), "checkout", "Amazon EC2", SPIKE_ACCOUNT, SPIKE_REGION, spike) for i in spike_days]
    if monthly_fee is not None:
        rows += [_row(d, "search", "Support", "111", None, monthly_fee) for d in dates[dates.day == 1]]
    return pd.DataFrame(rows, columns=DETAIL_COLUMNS)


def build(detail: pd.DataFrame, feedback: pd.DataFrame = NO_FEEDBACK, previous: pd.DataFrame = NO_PREVIOUS,
          now: pd.Timestamp = NOW, complete_months: list[str] = NO_COMPLETE_MONTHS) -> pd.DataFrame:
    out = build_anomalies(detail, PROJECTS, feedback, previous, "USD", now, complete_months)
    assert list(out.columns) == COLUMNS
    assert out["status"].isin(["open", "acknowledged", "resolved"]).all()
    assert not out["anomaly_id"].duplicated().any()
    return out


def feedback(rows: list[tuple]) -> pd.DataFrame:
    """anomaly_feedback rows from (anomaly_id, note, updated_at)."""
    frame = pd.DataFrame([(i, "acknowledged", note, "ann@example.com", pd.Timestamp(at, tz="UTC")) for i, note, at in rows],
                         columns=["anomaly_id", "status", "note", "updated_by", "updated_at"])
    return frame


def daily_row(out: pd.DataFrame, when: pd.Timestamp, project: str, service: str | None) -> pd.Series:
    is_service = out["service_name"] == service if service is not None else out["service_name"].isna()
    match = out[(out["grain"] == "daily") & (out["period_start"] == when) & (out["project"] == project) & is_service]
    assert len(match) == 1, f"no single daily anomaly for {project}/{service} on {when.date()}:\n{out}"
    return match.iloc[0]


@pytest.fixture(scope="module")
def spiked() -> pd.DataFrame:
    return make_detail()


@pytest.fixture(scope="module")
def anomalies(spiked) -> pd.DataFrame:
    return build(spiked)


# --------------------------------------------------------------------------- detection and ids


def test_the_spike_is_reported_daily_for_the_project_and_the_project_x_service_series(anomalies):
    daily = anomalies[anomalies["grain"] == "daily"]
    assert set(daily["project"]) == {"checkout"}  # search and the other days are normal
    assert set(daily["service_name"].dropna()) == {"Amazon EC2"}  # S3 is normal
    assert set(daily["period_start"]) <= {day(i) for i in SPIKE_DAYS}
    for i in SPIKE_DAYS:
        for service in (None, "Amazon EC2"):
            row = daily_row(anomalies, day(i), "checkout", service)
            assert row["impact"] == pytest.approx(SPIKE, rel=0.1)
            assert row["actual_cost"] == pytest.approx(row["expected_cost"] + row["impact"])
            assert (row["team"], row["reporting_currency"]) == ("payments", "USD")
            assert row["severity"] in {"low", "medium", "high", "critical"}
            assert row["methods"]
    assert anomalies[anomalies["grain"] == "monthly"].empty  # no complete month given


def test_anomaly_id_hashes_grain_day_project_and_service_and_is_stable(spiked, anomalies):
    first = daily_row(anomalies, day(SPIKE_DAYS[0]), "checkout", None)
    assert first["anomaly_id"] == anomaly_id("daily", day(SPIKE_DAYS[0]), "checkout", None)
    service = daily_row(anomalies, day(SPIKE_DAYS[0]), "checkout", "Amazon EC2")
    assert service["anomaly_id"] == anomaly_id("daily", day(SPIKE_DAYS[0]), "checkout", "Amazon EC2")
    assert service["anomaly_id"] != first["anomaly_id"]
    expected = [anomaly_id(g, d, p, s if isinstance(s, str) else None) for g, d, p, s in
                zip(anomalies["grain"], anomalies["period_start"], anomalies["project"], anomalies["service_name"])]
    assert list(anomalies["anomaly_id"]) == expected
    # a second run, later and with the input in another order, finds the same anomalies under the same ids
    again = build(spiked.sample(frac=1.0, random_state=3), now=NOW + pd.Timedelta(days=1))
    assert list(again["anomaly_id"]) == list(anomalies["anomaly_id"])
    # the id does not depend on the time of day of the period or on a missing vs empty service
    assert anomaly_id("daily", pd.Timestamp("2024-03-21 13:00"), "checkout", None) == first["anomaly_id"]
    assert anomaly_id("daily", day(SPIKE_DAYS[0]), "checkout", "") == first["anomaly_id"]


def test_root_cause_names_the_spiking_service_account_and_region(anomalies):
    project_level = daily_row(anomalies, day(SPIKE_DAYS[0]), "checkout", None)
    causes = json.loads(project_level["root_cause"])
    top = {}
    for cause in causes:  # members come ranked within each dimension
        top.setdefault(cause["dimension"], cause)
    assert set(top) == {"service_name", "sub_account_id", "region"}
    assert top["service_name"]["member"] == "Amazon EC2"
    assert top["sub_account_id"]["member"] == SPIKE_ACCOUNT
    assert top["region"]["member"] == SPIKE_REGION
    for cause in top.values():
        assert cause["share"] == pytest.approx(1.0, abs=0.1)
    assert top["sub_account_id"]["impact"] == pytest.approx(SPIKE)  # the account did not exist before

    # project x service: the service is the scope itself, so only accounts and regions are ranked
    service_level = daily_row(anomalies, day(SPIKE_DAYS[0]), "checkout", "Amazon EC2")
    causes = json.loads(service_level["root_cause"])
    assert {c["dimension"] for c in causes} == {"sub_account_id", "region"}
    top = {}
    for cause in causes:
        top.setdefault(cause["dimension"], cause)
    assert (top["sub_account_id"]["member"], top["region"]["member"]) == (SPIKE_ACCOUNT, SPIKE_REGION)
    assert top["sub_account_id"]["share"] == pytest.approx(1.0, abs=0.05)


# --------------------------------------------------------------------------- status


def test_an_anomaly_is_resolved_once_later_days_are_normal(anomalies):
    assert len(anomalies) and (anomalies["status"] == "resolved").all()
    assert anomalies["status_note"].isna().all()


def test_an_anomaly_on_the_last_day_is_open():
    out = build(make_detail(spike_days=(DAYS - 1,)))
    assert len(out[out["grain"] == "daily"]) == 2
    for service in (None, "Amazon EC2"):
        assert daily_row(out, LAST_DAY, "checkout", service)["status"] == "open"


def test_all_days_of_a_spike_that_lasts_until_the_last_day_are_open():
    out = build(make_detail(spike_days=(DAYS - 3, DAYS - 2, DAYS - 1)))
    assert len(out) == 6 and (out["status"] == "open").all()


def test_an_earlier_spike_stays_resolved_when_a_new_one_is_on_the_last_day():
    out = build(make_detail(spike_days=(60, DAYS - 1)))
    for service in (None, "Amazon EC2"):
        assert daily_row(out, LAST_DAY, "checkout", service)["status"] == "open"
        assert daily_row(out, day(60), "checkout", service)["status"] == "resolved"


def test_feedback_acknowledges_with_its_note_and_the_latest_feedback_wins(spiked, anomalies):
    service = daily_row(anomalies, day(SPIKE_DAYS[0]), "checkout", "Amazon EC2")["anomaly_id"]
    project = daily_row(anomalies, day(SPIKE_DAYS[1]), "checkout", None)["anomaly_id"]
    rows = feedback([
        (service, "expected", "2024-04-02 10:00"),  # the latest for `service`, listed first
        (service, "planned", "2024-04-01 09:00"),
        (project, "planned", "2024-04-03 08:00"),
        ("0123456789abcdef0123", "someone else's", "2024-04-04 08:00"),  # an anomaly no longer reported
    ])
    out = build(spiked, feedback=rows).set_index("anomaly_id")
    assert (out.loc[service, "status"], out.loc[service, "status_note"]) == ("acknowledged", "expected")
    assert (out.loc[project, "status"], out.loc[project, "status_note"]) == ("acknowledged", "planned")
    others = out.drop(index=[service, project])
    assert len(others) == len(anomalies) - 2
    assert (others["status"] == "resolved").all() and others["status_note"].isna().all()
    assert "0123456789abcdef0123" not in out.index


def test_acknowledged_wins_over_open():
    detail = make_detail(spike_days=(DAYS - 1,))
    target = anomaly_id("daily", LAST_DAY, "checkout", "Amazon EC2")
    out = build(detail, feedback=feedback([(target, "planned", "2024-04-30 05:00")]))
    assert daily_row(out, LAST_DAY, "checkout", "Amazon EC2")[["status", "status_note"]].tolist() == ["acknowledged", "planned"]
    assert daily_row(out, LAST_DAY, "checkout", None)["status"] == "open"


def test_previous_rows_keep_first_seen_while_last_seen_is_now(spiked, anomalies):
    assert (anomalies["first_seen"] == NOW).all() and (anomalies["last_seen"] == NOW).all()
    later = NOW + pd.Timedelta(days=1)
    again = build(spiked, previous=anomalies, now=later)
    assert list(again["anomaly_id"]) == list(anomalies["anomaly_id"])
    assert (again["first_seen"] == NOW).all()
    assert (again["last_seen"] == later).all()

    # as read back from a warehouse without time zones (SQLite): naive UTC text, one id missing
    stored = anomalies.assign(first_seen=anomalies["first_seen"].dt.strftime("%Y-%m-%d %H:%M:%S.%f"),
                              last_seen=anomalies["last_seen"].dt.tz_localize(None)).iloc[1:]
    third = build(spiked, previous=stored, now=later)
    assert third.loc[0, "first_seen"] == later  # not in `previous`: first seen now
    assert (third.loc[1:, "first_seen"] == NOW).all()
    assert (third["last_seen"] == later).all()


# --------------------------------------------------------------------------- recurring charges, monthly grain, empty input


def test_a_charge_on_the_first_of_every_month_in_its_own_series_is_not_reported():
    out = build(make_detail(spike_days=(), monthly_fee=2000.0))
    assert "Support" not in set(out["service_name"].dropna())
    assert not (out["period_start"].dt.day == 1).any(), out
    assert out.empty, out


def _step_detail() -> pd.DataFrame:
    """150 days (2024-01-01 .. 2024-05-29); checkout's Amazon EC2 costs 3x from May 1."""
    detail = make_detail(days=150, spike_days=())
    step = (detail["billing_month"] == "2024-05") & (detail["project"] == "checkout") & (detail["service_name"] == "Amazon EC2")
    detail.loc[step, "effective_cost"] *= 3
    return detail


def test_the_monthly_grain_only_judges_complete_months():
    detail = _step_detail()
    through_april = ["2024-01", "2024-02", "2024-03", "2024-04"]
    out = build(detail, complete_months=through_april)
    assert out[out["grain"] == "monthly"].empty  # May is open: not judged, however high
    assert not out[out["grain"] == "daily"].empty  # its first days are reported daily

    out = build(detail, complete_months=[*through_april, "2024-05"])
    monthly = out[out["grain"] == "monthly"]
    assert len(monthly) == 1
    row = monthly.iloc[0]
    assert (row["period_start"], row["project"]) == (pd.Timestamp("2024-05-01"), "checkout")
    assert pd.isna(row["service_name"])
    assert row["anomaly_id"] == anomaly_id("monthly", pd.Timestamp("2024-05-01"), "checkout", None)
    assert row["impact"] > 0 and row["status"] == "open"  # the latest complete month is still high
    top = json.loads(row["root_cause"])[0]
    assert (top["dimension"], top["member"]) == ("service_name", "Amazon EC2")

    # months outside complete_months are never judged: without any, no monthly anomaly at all
    assert build(detail)["grain"].eq("daily").all()


def test_empty_detail_gives_an_empty_frame_with_the_table_columns():
    out = build_anomalies(pd.DataFrame(columns=DETAIL_COLUMNS), PROJECTS, NO_FEEDBACK, NO_PREVIOUS, "USD", NOW, [])
    assert out.empty and list(out.columns) == COLUMNS


def test_normal_costs_give_no_anomaly_and_the_table_columns():
    out = build(make_detail(spike_days=()), complete_months=["2024-01", "2024-02", "2024-03"])
    assert out.empty and list(out.columns) == COLUMNS
