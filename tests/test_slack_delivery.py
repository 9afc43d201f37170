"""Slack delivery with the real slack_sdk clients against a local fake Slack (tests/fakes), and the
Block Kit messages rendered for each alert kind.

Retry waits go through an injected ``sleep`` that records them, except in the one test that checks
a real Retry-After wait, so the suite takes about a second.
"""

from __future__ import annotations

import json
import time

import pytest

from finops_pipeline.alerts.messages import MAX_BLOCKS, MAX_SECTION_CHARS, render
from finops_pipeline.alerts.slack import DeliveryResult, SlackConfig, SlackSender, mask_secrets
from tests.fakes.slack_server import FakeSlack, unused_port

TOKEN = "xoxb-1111-2222-s3cr3tT0ken"
MESSAGE = {"text": "Cost anomaly — high: checkout", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]}
LINKS = {"dagster": "http://dagster.local:3000", "api": "http://api.local:8000/"}
NO_LINKS = {"dagster": None, "api": None}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """slack_sdk routes through HTTP(S)_PROXY when set; the fake is local."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def slack():
    with FakeSlack(token=TOKEN, channels={"C0ALERTS"}) as fake:
        yield fake


def webhook(slack: FakeSlack, **kwargs) -> SlackConfig:
    return SlackConfig(webhook_url=slack.webhook_url, **kwargs)


def bot(slack: FakeSlack, token: str = TOKEN, channel: str = "C0ALERTS", **kwargs) -> SlackConfig:
    return SlackConfig(bot_token=token, channel=channel, base_url=slack.api_base_url, **kwargs)


def sender(config: SlackConfig) -> tuple[SlackSender, list[float]]:
    waits: list[float] = []
    return SlackSender(config, sleep=waits.append), waits


# --------------------------------------------------------------------------- delivery


def test_webhook_delivers(slack):
    send, waits = sender(webhook(slack))
    result = send.send(MESSAGE)
    assert result == DeliveryResult(ok=True)
    assert [(m["endpoint"], m["text"], m["blocks"]) for m in slack.messages] == [("webhook", MESSAGE["text"], MESSAGE["blocks"])]
    assert waits == []


def test_bot_delivers_returns_ts_and_threads(slack):
    send, _ = sender(bot(slack))
    first = send.send(MESSAGE)
    assert first.ok and first.ts
    reply = send.send({"text": "escalated to critical", "blocks": []}, thread_ts=first.ts)
    assert reply.ok and reply.ts > first.ts
    assert [(m["channel"], m["thread_ts"]) for m in slack.messages] == [("C0ALERTS", None), ("C0ALERTS", first.ts)]
    assert slack.messages[0]["blocks"] == MESSAGE["blocks"]


def test_rate_limit_waits_for_retry_after_then_delivers_once(slack):
    slack.fail_next(1, 429)
    started = time.monotonic()
    result = SlackSender(bot(slack)).send(MESSAGE)  # the real time.sleep
    assert result.ok and result.ts
    assert time.monotonic() - started >= 0.95
    assert len(slack.messages) == 1
    assert [a["outcome"] for a in slack.attempts] == ["429", "ok"]
    assert slack.attempts[1]["at"] - slack.attempts[0]["at"] >= 0.95


def test_webhook_rate_limit_honours_retry_after(slack):
    slack.fail_next(1, 429)
    send, waits = sender(webhook(slack))
    assert send.send(MESSAGE).ok
    assert waits == [1.0] and len(slack.messages) == 1


def test_too_long_retry_after_is_not_waited_for(slack):
    slack.retry_after = 3600
    slack.fail_next(1, 429)
    send, waits = sender(bot(slack))
    result = send.send(MESSAGE)
    assert not result.ok and result.retryable and waits == []
    assert result.error == "Slack chat.postMessage failed: ratelimited (HTTP 429)"


@pytest.mark.parametrize("mode", ["webhook", "bot"])
@pytest.mark.parametrize("how", [500, 503, "drop"])
def test_server_error_or_dropped_connection_then_success_delivers_once(slack, mode, how):
    slack.fail_next(1, how)
    send, waits = sender(webhook(slack) if mode == "webhook" else bot(slack))
    result = send.send(MESSAGE)
    assert result.ok, result.error
    assert len(slack.messages) == 1 and len(slack.attempts) == 2
    assert len(waits) == 1 and 0 < waits[0] <= 8


@pytest.mark.parametrize("mode", ["webhook", "bot"])
def test_retry_budget_exhausted_is_retryable_and_sends_nothing(slack, mode):
    slack.fail_next(5, 500)
    config = webhook(slack, max_retries=2) if mode == "webhook" else bot(slack, max_retries=2)
    send, waits = sender(config)
    result = send.send(MESSAGE)
    assert (result.ok, result.retryable, result.ts) == (False, True, None)
    assert slack.messages == [] and len(slack.attempts) == 3 and len(waits) == 2
    assert "HTTP 500" in result.error and "after 2 retries" in result.error
    assert "s3cr3t" not in result.error


def test_retries_count_across_kinds_of_failure(slack):
    """One budget per send, whatever mix of failures it meets."""
    slack.fail_next(1, 503)
    slack.fail_next(1, "drop")
    slack.fail_next(1, 429)
    send, waits = sender(bot(slack, max_retries=2))
    result = send.send(MESSAGE)
    assert not result.ok and result.retryable and len(waits) == 2 and slack.messages == []


def test_no_retries_when_max_retries_is_zero(slack):
    slack.fail_next(1, 500)
    send, waits = sender(webhook(slack, max_retries=0))
    result = send.send(MESSAGE)
    assert not result.ok and result.retryable and waits == [] and len(slack.attempts) == 1


@pytest.mark.parametrize("mode", ["webhook", "bot"])
def test_connection_refused_is_retryable_without_secrets(mode):
    port = unused_port()
    if mode == "webhook":
        config = SlackConfig(webhook_url=f"http://127.0.0.1:{port}/services/T0/B0/s3cr3tWebhookPath")
    else:
        config = SlackConfig(bot_token=TOKEN, channel="C0ALERTS", base_url=f"http://127.0.0.1:{port}/api/")
    send, waits = sender(config)
    result = send.send(MESSAGE)
    assert (result.ok, result.retryable) == (False, True)
    assert len(waits) == 3
    assert result.error.startswith(f"could not reach Slack at http://127.0.0.1:{port}/")
    assert "after 3 retries" in result.error and "Connection refused" in result.error
    assert "s3cr3t" not in result.error and TOKEN not in result.error


def test_invalid_auth_is_not_retried(slack):
    send, waits = sender(bot(slack, token="xoxb-wrong-s3cr3t"))
    result = send.send(MESSAGE)
    assert result == DeliveryResult(ok=False, error="Slack chat.postMessage failed: invalid_auth", retryable=False)
    assert waits == [] and len(slack.attempts) == 1 and slack.messages == []


def test_unknown_channel_is_not_retryable(slack):
    send, _ = sender(bot(slack, channel="C0NOPE"))
    result = send.send(MESSAGE)
    assert (result.ok, result.retryable, result.error) == (False, False, "Slack chat.postMessage failed: channel_not_found")


def test_deleted_webhook_is_not_retryable_and_url_is_masked(slack):
    slack.fail_next(1, 404)
    send, waits = sender(webhook(slack))
    result = send.send(MESSAGE)
    assert (result.ok, result.retryable) == (False, False) and waits == []
    assert result.error == f"Slack webhook {slack.url}/*** answered HTTP 404: no_service"


def test_unconfigured_sends_nothing_and_says_why():
    assert SlackConfig.from_env({}).mode is None
    assert SlackConfig.from_env({}).unconfigured_reason() == \
        "no Slack configured: set SLACK_WEBHOOK_URL, or SLACK_BOT_TOKEN and SLACK_CHANNEL"
    assert SlackConfig.from_env({"SLACK_BOT_TOKEN": TOKEN}).unconfigured_reason().startswith(
        "SLACK_BOT_TOKEN is set but SLACK_CHANNEL is not")
    assert SlackConfig.from_env({"SLACK_CHANNEL": "#finops"}).unconfigured_reason().startswith(
        "SLACK_CHANNEL is set but SLACK_BOT_TOKEN is not")
    assert SlackConfig(webhook_url="hooks.slack.com/services/x").unconfigured_reason() == \
        "SLACK_WEBHOOK_URL is not an http(s) URL"
    result = SlackSender(SlackConfig()).send(MESSAGE)
    assert (result.ok, result.retryable) == (False, False) and result.error.startswith("no Slack configured")


def test_config_from_env_and_mode():
    env = {"SLACK_WEBHOOK_URL": " https://hooks.slack.com/services/T/B/x ", "SLACK_BOT_TOKEN": TOKEN,
           "SLACK_CHANNEL": "C0ALERTS", "FINOPS_SLACK_BASE_URL": ""}
    config = SlackConfig.from_env(env)
    assert (config.webhook_url, config.channel, config.base_url, config.mode) == \
        ("https://hooks.slack.com/services/T/B/x", "C0ALERTS", None, "bot")
    assert SlackConfig.from_env({**env, "SLACK_CHANNEL": " "}).mode == "webhook"  # the token alone cannot post
    assert TOKEN not in repr(config) and "hooks.slack.com" not in repr(config)
    with pytest.raises(ValueError):
        SlackConfig(max_retries=-1)


def test_mask_secrets():
    config = SlackConfig(webhook_url="https://hooks.slack.com/services/T0/B0/abc123", bot_token=TOKEN)
    text = f"{TOKEN} xoxp-9-9-other https://hooks.slack.com/services/T1/B1/zzz /services/T0/B0/abc123"
    masked = mask_secrets(text, config)
    assert "s3cr3t" not in masked and "xoxp-9" not in masked and "zzz" not in masked and "abc123" not in masked


def test_rendered_message_is_delivered_as_rendered(slack):
    message = render("anomaly", anomaly_payload(), LINKS)
    send, _ = sender(bot(slack))
    assert send.send(message).ok
    assert slack.messages[0]["text"] == message["text"] and slack.messages[0]["blocks"] == message["blocks"]


# --------------------------------------------------------------------------- messages


def anomaly_payload(**overrides) -> dict:
    payload = {
        "anomaly_id": "a1b2c3d4e5f6a7b8c9d0", "grain": "daily", "period_start": "2024-10-15", "project": "checkout",
        "team": "payments", "owner": "alice@example.com", "service_name": "Amazon EC2", "actual_cost": 6862.47,
        "expected_cost": 200.0, "impact": 6662.47, "impact_pct": 3331.2, "severity": "critical", "score": 0.934,
        "methods": "zscore,seasonal", "currency": "USD", "escalated_from": None,
        "root_cause": [{"dimension": "service_name", "member": "Amazon EC2", "impact": 6462.47, "share": 0.97},
                       {"dimension": "region", "member": "us-east-1", "impact": 200.0, "share": 0.03},
                       {"dimension": "sub_account_id", "member": None, "impact": 12.5, "share": None}],
    }
    return {**payload, **overrides}


def budget_payload(status: str) -> dict:
    return {"project": "search", "team": "discovery", "owner": "bob@example.com", "billing_month": "2024-10",
            "status": status, "budget": 10000.0, "actual": 11234.5 if status == "over" else 8500.0,
            "pct_used": 112.3 if status == "over" else 85.0, "projected_month_end": 12500.0, "currency": "EUR",
            "warning_pct": 80.0}


RUN_FAILURE = {"run_id": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "job_name": "monthly_job",
               "failed_steps": ["stg_billing", "fct_costs_daily"], "error": "KeyError: 'BilledCost'\n  at line 3",
               "partition_range": "2024-09...2024-10"}

DIGEST = {
    "week_start": "2024-10-07", "week_end": "2024-10-13", "currency": "USD", "total": 123456.789,
    "previous_total": 117000.0, "change": 6456.789, "change_pct": 5.5,
    "top_movers": [{"project": "checkout", "previous": 1000.0, "current": 1500.0, "change": 500.0},
                   {"project": "search", "previous": 900.0, "current": 700.0, "change": -200.0}],
    "open_anomalies": [{"project": "checkout", "service_name": "Amazon EC2", "period_start": "2024-10-12",
                        "impact": 6462.47, "severity": "critical"}],
    "budgets_at_risk": [{"project": "search", "billing_month": "2024-10", "status": "projected_over",
                         "pct_used": 45.0, "projected_month_end": 12500.0, "budget": 10000.0}],
}


def check_block_kit(message: dict) -> str:
    """Assert the message keeps to Slack's limits; returns all its visible text for content checks."""
    assert set(message) == {"text", "blocks"}
    assert message["text"] and "\n" not in message["text"] and len(message["text"]) <= 300
    blocks = message["blocks"]
    assert 0 < len(blocks) <= MAX_BLOCKS
    json.dumps(message)
    texts = [message["text"]]
    for block in blocks:
        kind = block["type"]
        assert kind in {"header", "section", "context", "actions", "divider"}
        if kind == "header":
            assert block["text"]["type"] == "plain_text" and 0 < len(block["text"]["text"]) <= 150
            texts.append(block["text"]["text"])
        elif kind == "section":
            if "text" in block:
                assert block["text"]["type"] == "mrkdwn" and 0 < len(block["text"]["text"]) <= MAX_SECTION_CHARS
                texts.append(block["text"]["text"])
            else:
                assert 0 < len(block["fields"]) <= 10
                assert all(0 < len(f["text"]) <= 2000 for f in block["fields"])
                texts += [f["text"] for f in block["fields"]]
        elif kind == "context":
            assert 0 < len(block["elements"]) <= 10
            texts += [e["text"] for e in block["elements"]]
        elif kind == "actions":
            assert 0 < len(block["elements"]) <= 25
            ids = [e["action_id"] for e in block["elements"]]
            assert len(ids) == len(set(ids))
            for button in block["elements"]:
                assert button["type"] == "button" and len(button["text"]["text"]) <= 75
                assert button["url"].startswith("http") and len(button["url"]) <= 3000
    return "\n".join(texts)


def buttons(message: dict) -> dict[str, str]:
    return {e["text"]["text"]: e["url"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]}


def test_anomaly_message():
    message = render("anomaly", anomaly_payload(), LINKS)
    shown = check_block_kit(message)
    assert message["blocks"][0]["text"]["text"] == "Cost anomaly — critical"
    assert message["text"] == ("Cost anomaly — critical: checkout / Amazon EC2 on 2024-10-15 — actual 6,862.47 USD vs "
                               "expected 200.00 USD, impact +6,662.47 USD (+3,331.2%)")
    for expected in ("*checkout* · service Amazon EC2 · team payments · owner alice@example.com", "Daily cost on 2024-10-15",
                     "*Actual*\n6,862.47 USD", "*Expected*\n200.00 USD", "*Impact*\n+6,662.47 USD (+3,331.2%)",
                     "0.93 (zscore, seasonal)", "• service Amazon EC2: +6,462.47 USD (97%)",
                     "• region us-east-1: +200.00 USD (3%)", "• account (none): +12.50 USD\n",
                     "Anomaly id `a1b2c3d4e5f6a7b8c9d0`"):
        assert expected in shown + "\n", expected
    assert buttons(message) == {
        "Open in Dagster": "http://dagster.local:3000/assets/fct_cost_anomalies",
        "Anomalies in the API": "http://api.local:8000/api/v1/anomalies?project=checkout",
    }
    assert render("anomaly", anomaly_payload(), LINKS) == message  # deterministic


def test_anomaly_message_variants():
    escalated = render("anomaly", anomaly_payload(escalated_from="high"), NO_LINKS)
    check_block_kit(escalated)
    assert escalated["blocks"][0]["text"]["text"] == "Cost anomaly — critical (escalated from high)"
    assert buttons(escalated) == {} and all(b["type"] != "actions" for b in escalated["blocks"])

    monthly = render("anomaly", anomaly_payload(grain="monthly", period_start="2024-09-01", service_name=None,
                                                impact_pct=None, root_cause=[], project="a&b <x>"),
                     {"dagster": None, "api": "http://api"})
    shown = check_block_kit(monthly)
    assert "Monthly cost in 2024-09" in shown and "Root cause" not in shown and "*a&amp;b &lt;x&gt;*" in shown
    assert "impact +6,662.47 USD" in monthly["text"] and "%" not in monthly["text"]
    assert buttons(monthly) == {"Anomalies in the API": "http://api/api/v1/anomalies?project=a%26b+%3Cx%3E"}


def test_long_root_cause_list_is_cut_within_limits():
    causes = [{"dimension": "sub_account_id", "member": f"account-{i:04d}-" + "x" * 400, "impact": 10.0 + i, "share": 0.001}
              for i in range(300)]
    message = render("anomaly", anomaly_payload(root_cause=causes), LINKS)
    shown = check_block_kit(message)
    root = next(b["text"]["text"] for b in message["blocks"] if b["type"] == "section" and "Root cause" in b.get("text", {}).get("text", ""))
    assert len(root) <= MAX_SECTION_CHARS and root.count("\n• ") >= 5
    assert root.endswith(f"…and {300 - root.count(chr(10) + '• ')} more")
    assert "account-0000" in shown and "account-0299" not in shown

    short = [{"dimension": "region", "member": f"r{i}", "impact": 1.0, "share": 0.01} for i in range(25)]
    root = render("anomaly", anomaly_payload(root_cause=short), LINKS)["blocks"][3]["text"]["text"]
    assert root.count("\n• ") == 10 and root.endswith("…and 15 more")


@pytest.mark.parametrize("status, header, line", [
    ("over", "Budget exceeded — search 2024-10", "Spend has passed the budget by 1,234.50 EUR."),
    ("projected_over", "Budget projected to be exceeded — search 2024-10",
     "At the current pace the month ends at 12,500.00 EUR, 2,500.00 EUR over the budget."),
    ("warning", "Budget warning — search 2024-10", "Spend has reached 85.0% of the budget (warning at 80%)."),
])
def test_budget_message(status, header, line):
    message = render("budget", budget_payload(status), LINKS)
    shown = check_block_kit(message)
    assert message["blocks"][0]["text"]["text"] == header and message["text"].startswith(header + ": ")
    assert line in shown and "*search* · team discovery · owner bob@example.com · month 2024-10" in shown
    assert "*Budget*\n10,000.00 EUR" in shown and "*Projected month end*\n12,500.00 EUR" in shown
    assert buttons(message) == {"Open in Dagster": "http://dagster.local:3000/assets/fct_budget_vs_actual",
                                "Budgets in the API": "http://api.local:8000/api/v1/budgets?project=search&month=2024-10"}
    assert buttons(render("budget", budget_payload(status), NO_LINKS)) == {}


def test_run_failure_message():
    message = render("run_failure", RUN_FAILURE, LINKS)
    shown = check_block_kit(message)
    assert message["blocks"][0]["text"]["text"] == "Pipeline run failed — monthly_job"
    assert message["text"] == "Pipeline run failed — monthly_job (run 0f1e2d3c), steps stg_billing, fct_costs_daily: KeyError: 'BilledCost'"
    assert "• stg_billing\n• fct_costs_daily" in shown and "```KeyError: 'BilledCost'\n  at line 3```" in shown
    assert "*Partitions* 2024-09...2024-10" in shown
    assert buttons(message) == {"Open run in Dagster": f"http://dagster.local:3000/runs/{RUN_FAILURE['run_id']}"}

    long = render("run_failure", {**RUN_FAILURE, "error": "Traceback\n" + "frame ```x```\n" * 2000,
                                  "failed_steps": [f"step_{i}" for i in range(100)], "partition_range": None}, NO_LINKS)
    shown = check_block_kit(long)
    assert "… (truncated)```" in shown and "…and 90 more" in shown and "Partitions" not in shown and buttons(long) == {}


def test_digest_message():
    message = render("digest", DIGEST, LINKS)
    shown = check_block_kit(message)
    assert message["blocks"][0]["text"]["text"] == "Weekly cost digest — 2024-10-07 to 2024-10-13"
    assert message["text"] == ("Weekly cost digest — 2024-10-07 to 2024-10-13: 123,456.79 USD, +6,456.79 USD (+5.5%) "
                               "vs the week before; 1 open anomaly, 1 budget at risk")
    for expected in ("*Total*\n123,456.79 USD", "*Week before*\n117,000.00 USD",
                     "• checkout: 1,000.00 USD → 1,500.00 USD (+500.00 USD)", "• search: 900.00 USD → 700.00 USD (-200.00 USD)",
                     "• checkout / Amazon EC2 on 2024-10-12: +6,462.47 USD (critical)",
                     "• search 2024-10: projected over budget, 45.0% used, projected 12,500.00 USD of 10,000.00 USD"):
        assert expected in shown, expected
    assert buttons(message) == {"Open in Dagster": "http://dagster.local:3000/assets",
                                "Open anomalies in the API": "http://api.local:8000/api/v1/anomalies?status=open"}

    quiet = render("digest", {**DIGEST, "top_movers": [], "open_anomalies": [], "budgets_at_risk": []}, NO_LINKS)
    shown = check_block_kit(quiet)
    assert "No open anomalies." in shown and "No budget at risk." in shown and "0 open anomalies, 0 budgets at risk" in quiet["text"]

    crowded = render("digest", {**DIGEST, "open_anomalies": DIGEST["open_anomalies"] * 500}, LINKS)
    assert "…and 490 more" in check_block_kit(crowded)


def test_missing_numbers_render_as_na_and_unknown_kind_fails():
    message = render("anomaly", anomaly_payload(actual_cost=None, expected_cost=float("nan"), score=None), LINKS)
    shown = check_block_kit(message)
    assert "*Actual*\nn/a" in shown and "*Expected*\nn/a" in shown and "*Score*\nn/a" in shown
    with pytest.raises(ValueError, match="unknown alert kind"):
        render("pager", {}, LINKS)
