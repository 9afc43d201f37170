"""Fill the outbox from the tables, then drain it to Slack: the code behind the sensors and the
end of `finops run` / `finops demo`, so one command gives the whole experience without a daemon."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Engine

from finops_pipeline.alerts import outbox
from finops_pipeline.alerts.messages import render
from finops_pipeline.alerts.rules import anomaly_alerts, budget_alerts
from finops_pipeline.alerts.slack import SlackConfig, SlackSender
from finops_pipeline.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.sent} sent, {self.failed} failed, {self.skipped} skipped"
        return text + (f" ({self.errors[0]})" if self.errors else "")


def slack_config(settings: Settings) -> SlackConfig:
    return SlackConfig(webhook_url=settings.slack_webhook_url, bot_token=settings.slack_bot_token,
                       channel=settings.slack_channel, base_url=settings.slack_base_url)


def links(settings: Settings) -> dict:
    return {"dagster": settings.dagster_url, "api": settings.api_url}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def fill(engine: Engine, settings: Settings, now: datetime | None = None) -> dict[str, int]:
    """Write the alerts the anomaly and budget tables call for; returns new alerts per kind."""
    now = now or _now()
    return {
        "anomaly": outbox.write(engine, anomaly_alerts(engine, settings), now),
        "budget": outbox.write(engine, budget_alerts(engine, settings), now),
    }


def deliver(engine: Engine, settings: Settings, sender: SlackSender | None = None,
            now: datetime | None = None) -> DeliveryReport:
    """Send every due alert once. Without Slack, due alerts are marked skipped with the reason."""
    now = now or _now()
    report = DeliveryReport()
    config = slack_config(settings)
    reason = config.unconfigured_reason()
    if sender is None and reason:
        report.skipped = outbox.skip_all_due(engine, reason, now)
        if report.skipped:
            log.warning("%d alert(s) skipped: %s", report.skipped, reason)
            report.errors.append(reason)
        return report
    sender = sender or SlackSender(config)
    for row in outbox.due(engine, now):
        if not outbox.claim(engine, row, now):
            continue  # another deliverer has it
        message = render(row["kind"], json.loads(row["payload"]), links(settings))
        result = sender.send(message, thread_ts=outbox.thread_ts(engine, row["thread_key"]))
        if result.ok:
            outbox.finish(engine, row["alert_id"], "sent", _now(), slack_ts=result.ts)
            report.sent += 1
        else:
            error = result.error if result.retryable else f"not retried (fix the Slack settings): {result.error}"
            outbox.finish(engine, row["alert_id"], "failed", _now(), error=error, give_up=not result.retryable)
            report.failed += 1
            report.errors.append(f"{row['kind']} {row['dedup_key']}: {result.error}")
            log.warning("alert %s not delivered (attempt %d): %s", row["dedup_key"], row["attempts"] + 1, result.error)
    return report
