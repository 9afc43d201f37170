"""Alerts end to end: the sample warehouse (mobile-api's load-test fleet: an open anomaly episode
and a projected budget overrun in 2026-11) through the outbox to a local fake Slack, with the real
slack_sdk clients, the CLI and a crash between writing the outbox and delivering.

The sample is materialized once per module (about 35 s); each test works on its own copy of the
warehouse file. The `finops run` tests use the small landing folder of tests/conftest.py with a
steady AWS file (tests.helpers.write_steady_billing) whose checkout EC2 spend jumps on the
last two days of the data.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from dagster import build_sensor_context
from sqlalchemy import Engine, insert, select, text, update

from finops_pipeline.alerts import delivery, outbox
from finops_pipeline.alerts.digest import digest_alert
from finops_pipeline.alerts.messages import render
from finops_pipeline.alerts.slack import SlackSender
from finops_pipeline.cli import main
from finops_pipeline.defs.alerts.sensors import alert_delivery_sensor
from finops_pipeline.resources import FinopsResource
from finops_pipeline.settings import SEVERITIES, Settings, load_settings
from finops_pipeline.warehouse import schema
from finops_pipeline.warehouse.engine import make_engine
from tests.fakes.slack_server import FakeSlack, unused_port
from tests.helpers import FOCUS_HEADER, focus_row, write_csv, write_steady_billing

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
TOKEN = "xoxb-4444-5555-e2eS3cr3tToken"
CHANNEL = "C0FINOPS"
NO_SLACK = "no Slack configured: set SLACK_WEBHOOK_URL, or SLACK_BOT_TOKEN and SLACK_CHANNEL"
OUTSIDE_VARS = ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_CHANNEL", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
                "http_proxy", "DAGSTER_HOME")


# --------------------------------------------------------------------------- small landing folders (also used by
# tests/test_alert_sensors.py)


def add_steady_billing(data_dir: Path, spike_from: str = "2024-10-16") -> None:
    """The steady AWS file (tests.helpers.write_steady_billing) with 5,000 USD a day more of checkout
    EC2 from ``spike_from`` to the end of the data: an anomaly still open at the end of the data."""
    write_steady_billing(data_dir, "focus_steady.csv", spike_from)
    # checkout ends 2024-10 at about 37,800 USD at this pace: projected over a 30,000 USD budget
    (data_dir / "reference" / "budgets.csv").write_text(
        "project,month,amount,currency\ncheckout,2024-10,30000,USD\nsearch,2024-10,100000,USD\n")


def add_spike(data_dir: Path, name: str, day: str, project: str, amount: float, service: str = "Amazon EC2") -> None:
    write_csv(data_dir / "landing" / "billing" / "aws" / f"{name}.csv", FOCUS_HEADER, [
        focus_row(f"{day} 07:00:00", amount, service=service, sub_account="555", tags=f'{{"project": "{project}"}}',
                  period=f"{day[:7]}-01 00:00:00"),
    ])


def write_small_dataset(root: Path) -> Path:
    """A landing folder of its own: the steady AWS file, two projects, budgets."""
    root.mkdir(parents=True, exist_ok=True)
    ref = root / "reference"
    ref.mkdir(exist_ok=True)
    (ref / "projects.csv").write_text(
        "project,code,owner,team,account_id\ncheckout,CC-1,ann@example.com,payments,111\n"
        "search,CC-2,bob@example.com,discovery,222\n")
    (ref / "fx_rates.csv").write_text("month,currency,rate\n2024-09,EUR,1.10\n")
    add_steady_billing(root)
    return root


def copy_sqlite(source: Path, target: Path) -> str:
    """A consistent copy of a SQLite warehouse in WAL mode (what is still in the -wal file included)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return f"sqlite:///{target}"


def outbox_rows(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(schema.alert_outbox).order_by(
            schema.alert_outbox.c.created_at, schema.alert_outbox.c.dedup_key))]
    for row in rows:
        row["payload"] = json.loads(row["payload"])
    return rows


def rendered_texts(rows: list[dict], settings: Settings) -> Counter:
    return Counter(render(r["kind"], r["payload"], delivery.links(settings))["text"] for r in rows)


def recording_sender(settings: Settings) -> tuple[SlackSender, list[float]]:
    """The real sender (real slack_sdk client and retry handlers), its waits recorded instead of slept."""
    waits: list[float] = []
    return SlackSender(delivery.slack_config(settings), sleep=waits.append), waits


def assert_each_alert_received_once(slack: FakeSlack, engine: Engine, settings: Settings) -> None:
    rows = outbox_rows(engine)
    assert {r["status"] for r in rows} == {"sent"}, [(r["dedup_key"], r["status"], r["last_error"]) for r in rows]
    received = Counter(m["text"] for m in slack.messages)
    assert received == rendered_texts(rows, settings)
    assert set(received.values()) == {1}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _no_outside_slack(monkeypatch):
    """No developer Slack, proxy or Dagster home reaches these tests (the fake is local)."""
    for name in OUTSIDE_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def sample_warehouse(tmp_path_factory, isolated_run_job) -> Path:
    """data/sample copied (without its warehouse and state) and materialized once, without Slack."""
    root = tmp_path_factory.mktemp("sample")
    data = root / "data"
    shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("warehouse.db*", ".finops"))
    result = isolated_run_job(data, f"sqlite:///{root / 'warehouse.db'}", "2025-08", "2026-11")
    assert result.success
    return root / "warehouse.db"


@pytest.fixture
def warehouse(sample_warehouse, tmp_path) -> tuple[str, Engine]:
    url = copy_sqlite(sample_warehouse, tmp_path / "warehouse.db")
    engine = make_engine(url)
    assert outbox_rows(engine) == []  # run_job materializes; only the sensors / `finops run` fill the outbox
    yield url, engine
    engine.dispose()


@pytest.fixture
def slack():
    with FakeSlack(token=TOKEN, channels={CHANNEL}) as fake:
        yield fake


def use_webhook(monkeypatch, url: str) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", url)


def use_bot(monkeypatch, base_url: str) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_CHANNEL", CHANNEL)
    monkeypatch.setenv("FINOPS_SLACK_BASE_URL", base_url)


def slack_settings(monkeypatch, url: str, slack: FakeSlack, mode: str = "webhook") -> Settings:
    """The settings of alerts from the warehouse at ``url`` to the fake Slack: its webhook, or its
    bot API for mode "bot"."""
    use_bot(monkeypatch, slack.api_base_url) if mode == "bot" else use_webhook(monkeypatch, slack.webhook_url)
    return load_settings(warehouse_url=url)


def episode(engine: Engine) -> pd.DataFrame:
    """The open service-level daily anomalies of the sample: mobile-api's load-test fleet."""
    with engine.connect() as conn:
        frame = pd.read_sql(select(schema.fct_cost_anomalies).where(
            schema.fct_cost_anomalies.c.status == "open", schema.fct_cost_anomalies.c.grain == "daily",
            schema.fct_cost_anomalies.c.service_name.is_not(None)), conn)
    frame["period_start"] = pd.to_datetime(frame["period_start"])
    return frame.sort_values("period_start").reset_index(drop=True)


def expected_keys(engine: Engine) -> set[str]:
    """What the sample calls for, from the tables: one alert for the episode (keyed by its first
    day, at its highest severity) and one for each budget at risk in the latest month."""
    days = episode(engine)
    assert set(days["project"]) == {"mobile-api"} and days["service_name"].nunique() == 1
    assert days["period_start"].min() == pd.Timestamp("2026-11-16")
    assert (days["period_start"].diff().dropna() == pd.Timedelta(days=1)).all()  # one episode
    severity = max(days["severity"], key=SEVERITIES.index)
    with engine.connect() as conn:
        budgets = pd.read_sql(select(schema.fct_budget_vs_actual), conn)
    latest = budgets[(budgets["billing_month"] == budgets["billing_month"].max())
                     & budgets["status"].isin(["warning", "projected_over", "over"])]
    assert [tuple(r) for r in latest[["project", "billing_month", "status"]].itertuples(index=False)] == \
        [("mobile-api", "2026-11", "projected_over")]
    return {f"anomaly:{days['anomaly_id'][0]}:{severity}", "budget:mobile-api:2026-11:projected_over"}


# --------------------------------------------------------------------------- delivery modes


def test_webhook_delivers_each_alert_once_and_a_second_pass_sends_nothing(warehouse, slack, monkeypatch):
    url, engine = warehouse
    settings = slack_settings(monkeypatch, url, slack)

    assert delivery.fill(engine, settings) == {"anomaly": 1, "budget": 1}
    rows = outbox_rows(engine)
    assert {r["dedup_key"] for r in rows} == expected_keys(engine)
    assert {r["status"] for r in rows} == {"pending"}
    anomaly = next(r for r in rows if r["kind"] == "anomaly")["payload"]
    assert (anomaly["project"], anomaly["period_start"], anomaly["days"], anomaly["escalated_from"]) == \
        ("mobile-api", "2026-11-16", 5, None)

    report = delivery.deliver(engine, settings)
    assert (report.sent, report.failed, report.skipped, report.errors) == (2, 0, 0, [])
    assert [m["endpoint"] for m in slack.messages] == ["webhook", "webhook"]
    assert_each_alert_received_once(slack, engine, settings)
    rows = outbox_rows(engine)
    assert all(r["attempts"] == 1 and r["sent_at"] is not None and r["slack_ts"] is None for r in rows)
    texts = " ".join(m["text"] for m in slack.messages)
    assert "mobile-api / Amazon Elastic Compute Cloud on 2026-11-16" in texts
    assert "Budget projected to be exceeded — mobile-api 2026-11" in texts

    assert delivery.fill(engine, settings) == {"anomaly": 0, "budget": 0}
    assert delivery.deliver(engine, settings).sent == 0
    assert len(slack.messages) == 2 and len(slack.attempts) == 2


def test_bot_records_ts_and_posts_an_escalation_in_the_thread_once(warehouse, slack, monkeypatch):
    url, engine = warehouse
    settings = slack_settings(monkeypatch, url, slack, "bot")
    delivery.fill(engine, settings)
    assert delivery.deliver(engine, settings).sent == 2
    assert [(m["endpoint"], m["channel"], m["thread_ts"]) for m in slack.messages] == [("chat.postMessage", CHANNEL, None)] * 2
    ts_by_text = {m["text"]: m["ts"] for m in slack.messages}
    for row in outbox_rows(engine):
        assert row["slack_ts"] == ts_by_text[render(row["kind"], row["payload"], delivery.links(settings))["text"]]
    first = next(r for r in outbox_rows(engine) if r["kind"] == "anomaly")

    # the detector rates the episode's latest day critical: one follow-up, in the first message's thread
    days = episode(engine)
    before = max(days["severity"], key=SEVERITIES.index)
    assert before != "critical"
    latest_id = days["anomaly_id"].iloc[-1]
    with engine.begin() as conn:
        conn.execute(update(schema.fct_cost_anomalies).where(schema.fct_cost_anomalies.c.anomaly_id == latest_id)
                     .values(severity="critical"))
    assert delivery.fill(engine, settings) == {"anomaly": 1, "budget": 0}
    assert delivery.deliver(engine, settings).sent == 1
    assert len(slack.messages) == 3
    follow_up = slack.messages[-1]
    assert follow_up["thread_ts"] == first["slack_ts"]
    assert f"escalated from {before}" in follow_up["text"]
    assert follow_up["blocks"][0]["text"]["text"] == f"Cost anomaly — critical (escalated from {before})"
    row = next(r for r in outbox_rows(engine) if r["dedup_key"].endswith(":critical"))
    assert row["thread_key"] == first["thread_key"] and row["slack_ts"] == follow_up["ts"]
    assert row["payload"]["escalated_from"] == before and row["payload"]["anomaly_id"] == latest_id

    # severity going down again is not news; nor is the same state on the next tick
    with engine.begin() as conn:
        conn.execute(update(schema.fct_cost_anomalies).where(schema.fct_cost_anomalies.c.anomaly_id == latest_id)
                     .values(severity="medium"))
    for _ in range(2):
        assert delivery.fill(engine, settings) == {"anomaly": 0, "budget": 0}
        assert delivery.deliver(engine, settings).sent == 0
    assert len(slack.messages) == 3
    assert_each_alert_received_once(slack, engine, settings)


@pytest.mark.parametrize("day", ["latest", "middle"])
def test_a_day_of_the_episode_rated_low_on_a_rerun_sends_nothing(warehouse, monkeypatch, slack, day):
    url, engine = warehouse
    settings = slack_settings(monkeypatch, url, slack)
    delivery.fill(engine, settings)
    delivery.deliver(engine, settings)
    days = episode(engine)
    target = days["anomaly_id"].iloc[-1 if day == "latest" else len(days) // 2]
    with engine.begin() as conn:
        conn.execute(update(schema.fct_cost_anomalies).where(schema.fct_cost_anomalies.c.anomaly_id == target)
                     .values(severity="low"))
    new = delivery.fill(engine, settings)
    delivery.deliver(engine, settings)
    assert new == {"anomaly": 0, "budget": 0}, [r["dedup_key"] for r in outbox_rows(engine)]
    assert len(slack.messages) == 2


def test_an_episode_still_running_after_the_alert_window_is_not_alerted_again(warehouse, monkeypatch, slack):
    url, engine = warehouse
    settings = slack_settings(monkeypatch, url, slack)
    delivery.fill(engine, settings)
    delivery.deliver(engine, settings)
    assert len(slack.messages) == 2

    # a week later: the fleet is still running, each new day is flagged (same series, same severity)
    days = episode(engine)
    last = days.iloc[-1]
    a, d = schema.fct_cost_anomalies, schema.fct_costs_daily
    with engine.begin() as conn:
        anomaly = dict(conn.execute(select(a).where(a.c.anomaly_id == last["anomaly_id"])).one()._mapping)
        cost = dict(conn.execute(select(d).where(d.c.charge_date == last["period_start"].date()).limit(1)).one()._mapping)
        for n in range(1, settings.alert_max_age_days + 1):
            day = (last["period_start"] + pd.Timedelta(days=n)).date()
            conn.execute(insert(a).values({**anomaly, "anomaly_id": f"later{n:015d}", "period_start": day}))
            conn.execute(insert(d).values({**cost, "charge_date": day}))
    new = delivery.fill(engine, settings)
    delivery.deliver(engine, settings)
    assert new["anomaly"] == 0, [r["dedup_key"] for r in outbox_rows(engine)]
    assert len(slack.messages) == 2


# --------------------------------------------------------------------------- failures


def test_rate_limit_is_waited_for_and_each_alert_delivered_once(warehouse, slack, monkeypatch):
    url, engine = warehouse
    settings = slack_settings(monkeypatch, url, slack, "bot")
    delivery.fill(engine, settings)
    slack.fail_next(1, 429)  # Retry-After: 1
    started = time.monotonic()
    report = delivery.deliver(engine, settings)  # the default sender: real sleeps
    assert (report.sent, report.failed) == (2, 0)
    assert time.monotonic() - started >= 0.95
    assert [a["outcome"] for a in slack.attempts] == ["429", "ok", "ok"]
    assert slack.attempts[1]["at"] - slack.attempts[0]["at"] >= 0.95
    assert all(r["attempts"] == 1 for r in outbox_rows(engine))
    assert_each_alert_received_once(slack, engine, settings)


@pytest.mark.parametrize("mode", ["bot", "webhook"])
def test_429_then_500s_beyond_the_retry_budget_fail_then_the_next_tick_delivers(warehouse, slack, monkeypatch, mode):
    url, engine = warehouse
    settings = slack_settings(monkeypatch, url, slack, mode)
    delivery.fill(engine, settings)
    sender, waits = recording_sender(settings)
    # first alert: 429, 500, 500, 500 = the first try and all 3 retries; second alert: one 500, then ok
    slack.fail_next(1, 429)
    slack.fail_next(4, 500)
    report = delivery.deliver(engine, settings, sender=sender)
    assert (report.sent, report.failed) == (1, 1)
    assert waits[0] == 1.0 and len(waits) == 4  # Retry-After, two backoffs; then one backoff for the second alert
    assert [a["outcome"] for a in slack.attempts] == ["429", "500", "500", "500", "500", "ok"]
    failed = [r for r in outbox_rows(engine) if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["attempts"] == 1
    assert "HTTP 500" in failed[0]["last_error"] and "after 3 retries" in failed[0]["last_error"]
    assert TOKEN not in failed[0]["last_error"] and "s3cr3t" not in failed[0]["last_error"].lower()
    assert report.errors == [f"{failed[0]['kind']} {failed[0]['dedup_key']}: {failed[0]['last_error']}"]
    assert len(slack.messages) == 1

    report = delivery.deliver(engine, settings, sender=sender)  # the next tick
    assert (report.sent, report.failed) == (1, 0)
    row = next(r for r in outbox_rows(engine) if r["alert_id"] == failed[0]["alert_id"])
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, None)
    assert delivery.deliver(engine, settings, sender=sender).sent == 0
    assert_each_alert_received_once(slack, engine, settings)


@pytest.mark.parametrize("mode", ["bot", "webhook"])
def test_connection_refused_fails_then_delivers_once_when_slack_is_back(warehouse, slack, monkeypatch, mode):
    url, engine = warehouse
    port = unused_port()
    if mode == "bot":
        use_bot(monkeypatch, f"http://127.0.0.1:{port}/api/")
    else:
        use_webhook(monkeypatch, f"http://127.0.0.1:{port}/services/T0/B0/s3cr3tWebhookPath")
    settings = load_settings(warehouse_url=url)
    delivery.fill(engine, settings)
    sender, waits = recording_sender(settings)
    report = delivery.deliver(engine, settings, sender=sender)
    assert (report.sent, report.failed) == (0, 2) and len(waits) == 6
    for row in outbox_rows(engine):
        assert (row["status"], row["attempts"]) == ("failed", 1)
        assert row["last_error"].startswith(f"could not reach Slack at http://127.0.0.1:{port}/")
        assert "Connection refused" in row["last_error"] and "s3cr3t" not in row["last_error"]

    settings = slack_settings(monkeypatch, url, slack, mode)
    report = delivery.deliver(engine, settings)
    assert (report.sent, report.failed) == (2, 0)
    assert delivery.deliver(engine, settings).sent == 0
    assert all(r["attempts"] == 2 for r in outbox_rows(engine))
    assert_each_alert_received_once(slack, engine, settings)


# --------------------------------------------------------------------------- crashes


KILL_AFTER_FILL = textwrap.dedent("""
    import os, signal
    from finops_pipeline import cli
    from finops_pipeline.alerts import delivery
    from finops_pipeline.cli.runner import RunOutcome

    def killed(*args, **kwargs):  # the process dies after the outbox is written, before any delivery
        os.kill(os.getpid(), signal.SIGKILL)

    delivery.deliver = killed
    cli._send_alerts(RunOutcome(months=["2026-11"], success=True, run_id="run-1", failures=[]))
""")


def test_finops_run_killed_between_outbox_and_delivery_sends_on_the_next_tick_once(warehouse, slack, monkeypatch):
    url, engine = warehouse
    use_bot(monkeypatch, slack.api_base_url)
    env = {**os.environ, "FINOPS_WAREHOUSE_URL": url}
    proc = subprocess.run([sys.executable, "-c", KILL_AFTER_FILL], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    rows = outbox_rows(engine)
    assert {r["dedup_key"] for r in rows} == expected_keys(engine)
    assert [(r["status"], r["attempts"]) for r in rows] == [("pending", 0)] * 2
    assert slack.attempts == []

    resource = FinopsResource(warehouse_url=url)
    for expected in ("alerts: 2 sent, 0 failed, 0 skipped", "alerts: 0 sent, 0 failed, 0 skipped"):
        with build_sensor_context(resources={"finops": resource}) as context:
            assert alert_delivery_sensor(context).skip_message == expected
    assert_each_alert_received_once(slack, engine, load_settings(warehouse_url=url))


def test_fill_only_then_deliver_sends_once(warehouse, slack, monkeypatch):
    url, engine = warehouse
    settings = slack_settings(monkeypatch, url, slack)
    assert delivery.fill(engine, settings) == {"anomaly": 1, "budget": 1}
    assert delivery.fill(engine, settings) == {"anomaly": 0, "budget": 0}  # a restarted run fills again: nothing new
    assert [r["status"] for r in outbox_rows(engine)] == ["pending"] * 2 and slack.messages == []
    assert delivery.deliver(engine, settings).sent == 2
    assert delivery.deliver(engine, settings).sent == 0
    assert_each_alert_received_once(slack, engine, settings)


def test_a_send_abandoned_mid_flight_is_retried_after_the_lease_and_a_fresh_claim_is_not(warehouse, slack, monkeypatch):
    url, engine = warehouse
    settings = slack_settings(monkeypatch, url, slack, "bot")
    delivery.fill(engine, settings)
    now = datetime.now(timezone.utc)
    stale, fresh = outbox.due(engine, now)
    # two deliverers claimed one alert each and died before recording the outcome
    assert outbox.claim(engine, stale, now - outbox.CLAIM_LEASE - timedelta(minutes=1))
    assert outbox.claim(engine, fresh, now - timedelta(seconds=5))
    assert [r["status"] for r in outbox_rows(engine)] == ["sending"] * 2

    assert [r["alert_id"] for r in outbox.due(engine, now)] == [stale["alert_id"]]
    report = delivery.deliver(engine, settings, now=now)
    assert (report.sent, report.failed) == (1, 0)
    by_id = {r["alert_id"]: r for r in outbox_rows(engine)}
    assert (by_id[stale["alert_id"]]["status"], by_id[stale["alert_id"]]["attempts"]) == ("sent", 2)
    assert (by_id[fresh["alert_id"]]["status"], by_id[fresh["alert_id"]]["attempts"]) == ("sending", 1)
    assert len(slack.messages) == 1

    later = now + outbox.CLAIM_LEASE
    assert delivery.deliver(engine, settings, now=later).sent == 1
    assert delivery.deliver(engine, settings, now=later + timedelta(hours=1)).sent == 0
    assert_each_alert_received_once(slack, engine, settings)


def test_two_deliverers_at_once_send_each_alert_once(warehouse, slack, monkeypatch):
    """The sensor and `finops run` draining the outbox together: the claim lets one of them send."""
    from concurrent.futures import ThreadPoolExecutor

    url, engine = warehouse
    settings = slack_settings(monkeypatch, url, slack)
    delivery.fill(engine, settings)
    other = make_engine(url)
    try:
        with ThreadPoolExecutor(2) as pool:
            reports = list(pool.map(lambda e: delivery.deliver(e, settings), [engine, other]))
    finally:
        other.dispose()
    assert sum(r.sent for r in reports) == 2 and sum(r.failed for r in reports) == 0
    assert_each_alert_received_once(slack, engine, settings)


# --------------------------------------------------------------------------- without Slack, and `finops run`


@pytest.mark.parametrize("env, reason", [
    ({}, NO_SLACK),
    ({"SLACK_BOT_TOKEN": TOKEN}, "SLACK_BOT_TOKEN is set but SLACK_CHANNEL is not: set SLACK_CHANNEL (or use SLACK_WEBHOOK_URL)"),
])
def test_without_slack_alerts_are_skipped_with_the_reason(warehouse, monkeypatch, env, reason):
    url, engine = warehouse
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(warehouse_url=url)
    assert delivery.fill(engine, settings) == {"anomaly": 1, "budget": 1}
    report = delivery.deliver(engine, settings)
    assert (report.sent, report.failed, report.skipped, report.errors) == (0, 0, 2, [reason])
    assert [(r["status"], r["last_error"], r["attempts"]) for r in outbox_rows(engine)] == [("skipped", reason, 0)] * 2
    assert delivery.deliver(engine, settings).skipped == 0  # skipped is final
    assert report.summary() == f"0 sent, 0 failed, 2 skipped ({reason})"


def test_finops_run_twice_sends_nothing_new_and_a_new_anomaly_sends_exactly_one(data_dir, tmp_path, slack, monkeypatch, capsys):
    add_steady_billing(data_dir)
    use_webhook(monkeypatch, slack.webhook_url)
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    args = ["run", "--data-dir", str(data_dir), "--warehouse-url", url, "--quiet"]

    assert main(args) == 0
    assert "Alerts: 1 anomaly, 1 budget; 2 sent, 0 failed, 0 skipped" in capsys.readouterr().out
    engine = make_engine(url)
    try:
        first = outbox_rows(engine)
        assert Counter(r["kind"] for r in first) == {"anomaly": 1, "budget": 1}
        anomaly = next(r["payload"] for r in first if r["kind"] == "anomaly")
        assert (anomaly["project"], anomaly["service_name"], anomaly["days"]) == ("checkout", "Amazon EC2", 2)  # 10-16 .. 10-17
        assert len(slack.messages) == 2

        assert main(args) == 0  # the same data again
        assert "Alerts: none new; 0 sent, 0 failed, 0 skipped" in capsys.readouterr().out
        assert outbox_rows(engine) == first
        assert len(slack.messages) == 2

        add_spike(data_dir, "focus_search_spike", "2024-10-17", "search", 6000.0)
        assert main(args) == 0
        assert "Alerts: 1 anomaly; 1 sent, 0 failed, 0 skipped" in capsys.readouterr().out
        rows = outbox_rows(engine)
        new = [r for r in rows if r["alert_id"] not in {f["alert_id"] for f in first}]
        assert [(r["kind"], r["payload"]["project"], r["payload"]["period_start"], r["status"]) for r in new] == \
            [("anomaly", "search", "2024-10-17", "sent")]
        assert len(slack.messages) == 3
        assert_each_alert_received_once(slack, engine, load_settings(warehouse_url=url))
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- digest


def test_digest_numbers_and_a_second_write_of_the_week_is_deduplicated(warehouse, slack, monkeypatch):
    url, engine = warehouse
    settings = slack_settings(monkeypatch, url, slack)
    alert = digest_alert(engine, settings)
    p = alert.payload
    assert (alert.kind, alert.dedup_key) == ("digest", "digest:2026-11-20")
    assert (p["week_start"], p["week_end"], p["currency"]) == ("2026-11-14", "2026-11-20", "USD")

    with engine.connect() as conn:
        def total(first: str, last: str) -> float:
            return conn.execute(text("SELECT SUM(effective_cost) FROM fct_costs_daily WHERE charge_date BETWEEN :a AND :b"),
                                {"a": first, "b": last}).scalar()

        def by_project(first: str, last: str) -> dict[str, float]:
            return dict(conn.execute(text("SELECT project, SUM(effective_cost) FROM fct_costs_daily "
                                          "WHERE charge_date BETWEEN :a AND :b GROUP BY project"), {"a": first, "b": last}).all())

        this_week, last_week = total("2026-11-14", "2026-11-20"), total("2026-11-07", "2026-11-13")
        now, before = by_project("2026-11-14", "2026-11-20"), by_project("2026-11-07", "2026-11-13")
    assert p["total"] == pytest.approx(round(this_week, 2), abs=0.006)
    assert p["previous_total"] == pytest.approx(round(last_week, 2), abs=0.006)
    assert p["change"] == pytest.approx(this_week - last_week, abs=0.011)
    assert p["change_pct"] == pytest.approx(round((this_week - last_week) / last_week * 100, 1), abs=0.051)
    changes = {k: now.get(k, 0.0) - before.get(k, 0.0) for k in set(now) | set(before)}
    movers = sorted(changes, key=lambda k: -abs(changes[k]))[:5]
    assert [m["project"] for m in p["top_movers"]] == movers and movers[0] == "mobile-api"
    assert {(a["project"], a["severity"]) for a in p["open_anomalies"]} <= {("mobile-api", s) for s in SEVERITIES}
    assert len(p["open_anomalies"]) == 5  # the top five by impact
    assert [(b["project"], b["billing_month"], b["status"]) for b in p["budgets_at_risk"]] == \
        [("mobile-api", "2026-11", "projected_over")]

    written_at = datetime.now(timezone.utc)
    assert outbox.write(engine, [alert], written_at) == 1
    assert outbox.write(engine, [digest_alert(engine, settings)], written_at + timedelta(hours=1)) == 0
    assert delivery.deliver(engine, settings).sent == 1
    assert outbox.write(engine, [digest_alert(engine, settings)], written_at + timedelta(days=1)) == 0
    assert delivery.deliver(engine, settings).sent == 0
    assert [r["kind"] for r in outbox_rows(engine)] == ["digest"]
    assert len(slack.messages) == 1 and slack.messages[0]["text"].startswith("Weekly cost digest — 2026-11-14 to 2026-11-20: ")


def test_a_permanent_slack_error_is_not_retried_every_tick(warehouse, slack, monkeypatch):
    url, engine = warehouse
    use_bot(monkeypatch, slack.api_base_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-wrong-token")
    settings = load_settings()
    delivery.fill(engine, settings)
    report = delivery.deliver(engine, settings)
    assert report.sent == 0 and report.failed == len(outbox_rows(engine))
    rows = outbox_rows(engine)
    assert all(r["status"] == "failed" and r["last_error"].startswith("not retried") for r in rows)
    assert "xoxb-wrong-token" not in " ".join(r["last_error"] for r in rows)
    attempts = len(slack.attempts)
    assert delivery.deliver(engine, settings).failed == 0  # nothing due any more
    assert len(slack.attempts) == attempts
