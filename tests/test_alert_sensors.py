"""The alert sensors and the weekly digest schedule, evaluated with Dagster's context builders
against a small warehouse (checkout's EC2 spend jumps on the last two days of the data and its
2024-10 budget is projected to be exceeded) and a local fake Slack.

The warehouse is materialized once per module by the monthly job, in an instance kept for the
module, so the outbox sensor sees the materializations of a real run; each test copies the file.
"""

from __future__ import annotations

import functools
import json
import shutil
from datetime import datetime, timezone

import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    SkipReason,
    build_multi_asset_sensor_context,
    build_run_status_sensor_context,
    build_schedule_context,
    build_sensor_context,
    job,
    op,
)

from finops_pipeline.alerts import delivery
from finops_pipeline.alerts.slack import SlackSender
from finops_pipeline.defs.alerts.sensors import (
    WATCHED,
    alert_delivery_sensor,
    alert_outbox_sensor,
    run_failure_alert_sensor,
    weekly_digest_job,
    weekly_digest_schedule,
)
from finops_pipeline.resources import FinopsResource
from finops_pipeline.warehouse.engine import make_engine
from tests.fakes.slack_server import FakeSlack, unused_port
from tests.helpers import code_location, run_job
from tests.test_alerts_end_to_end import NO_SLACK, OUTSIDE_VARS, TOKEN, copy_sqlite, outbox_rows, write_small_dataset

CHANNEL = "C0FINOPS"
DAGSTER_URL = "http://dagster.example:3000"
ANOMALIES, BUDGETS = AssetKey("fct_cost_anomalies"), AssetKey("fct_budget_vs_actual")


@pytest.fixture(autouse=True)
def _no_outside_slack(monkeypatch):
    for name in OUTSIDE_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def small(tmp_path_factory, isolated_run_job):
    """(warehouse file, data dir, the instance that recorded the run's materializations)."""
    root = tmp_path_factory.mktemp("small")
    data = write_small_dataset(root / "data")
    with DagsterInstance.ephemeral() as instance:
        result = isolated_run_job(data, f"sqlite:///{root / 'warehouse.db'}", "2024-08", "2024-10", instance=instance)
        assert result.success
        yield root / "warehouse.db", data, instance


@pytest.fixture
def finops(small, tmp_path) -> FinopsResource:
    warehouse, data, _ = small
    return FinopsResource(data_dir=str(data), warehouse_url=copy_sqlite(warehouse, tmp_path / "warehouse.db"),
                          state_dir=str(tmp_path / "state"))


@pytest.fixture
def engine(finops):
    engine = make_engine(finops.warehouse_url)
    yield engine
    engine.dispose()


@pytest.fixture
def slack():
    with FakeSlack(token=TOKEN, channels={CHANNEL}) as fake:
        yield fake


@pytest.fixture
def no_waits(monkeypatch):
    """The deliverer's sender without real retry waits (the retries themselves still happen)."""
    monkeypatch.setattr(delivery, "SlackSender", functools.partial(SlackSender, sleep=lambda seconds: None))


def use_bot(monkeypatch, base_url: str) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_CHANNEL", CHANNEL)
    monkeypatch.setenv("FINOPS_SLACK_BASE_URL", base_url)


def outbox_context(instance, finops, cursor=None):
    return build_multi_asset_sensor_context(monitored_assets=WATCHED, instance=instance, definitions=code_location(),
                                            resources={"finops": finops}, cursor=cursor)


def cursor_storage_ids(cursor: str | None) -> dict[str, int | None]:
    """{asset key: storage id of the latest materialization the sensor has consumed}."""
    return {key: value[1] for key, value in json.loads(cursor or "{}").items()}


def latest_storage_id(instance: DagsterInstance, key: AssetKey) -> int:
    return instance.fetch_materializations(key, limit=1).records[0].storage_id


# --------------------------------------------------------------------------- definitions


def test_alert_sensors_and_digest_schedule_are_in_the_code_location_and_running_by_default():
    assert {alert_outbox_sensor.name, alert_delivery_sensor.name, run_failure_alert_sensor.name} <= \
        {s.name for s in code_location().sensors}
    assert weekly_digest_schedule in code_location().schedules
    for sensor in (alert_outbox_sensor, alert_delivery_sensor, run_failure_alert_sensor):
        assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert weekly_digest_schedule.default_status == DefaultScheduleStatus.RUNNING
    assert set(WATCHED) == {ANOMALIES, BUDGETS} and set(WATCHED) <= set(code_location().resolve_all_asset_keys())


# --------------------------------------------------------------------------- alert_outbox_sensor


def test_outbox_sensor_skips_until_a_watched_table_is_materialized(finops, engine):
    with DagsterInstance.ephemeral() as instance, outbox_context(instance, finops) as context:
        result = alert_outbox_sensor(context)
        assert result == SkipReason("no new materialization of the anomaly or budget tables")
        assert context.cursor is None
    assert outbox_rows(engine) == []


def test_outbox_sensor_fills_after_a_run_and_advances_its_cursor(small, finops, engine, monkeypatch):
    instance = small[2]  # the instance of the module's run: both tables materialized
    fills = []
    real_fill = delivery.fill
    monkeypatch.setattr(delivery, "fill", lambda *a, **k: fills.append(1) or real_fill(*a, **k))

    with outbox_context(instance, finops) as context:
        result = alert_outbox_sensor(context)
        cursor = context.cursor
    assert result == SkipReason("outbox: 1 new anomaly alert(s), 1 new budget alert(s)")
    rows = outbox_rows(engine)
    assert sorted((r["kind"], r["status"]) for r in rows) == [("anomaly", "pending"), ("budget", "pending")]
    assert {r["dedup_key"] for r in rows if r["kind"] == "budget"} == {"budget:checkout:2024-10:projected_over"}
    anomaly = next(r["payload"] for r in rows if r["kind"] == "anomaly")
    assert (anomaly["project"], anomaly["service_name"]) == ("checkout", "Amazon EC2")
    assert cursor_storage_ids(cursor) == {str(k): latest_storage_id(instance, k) for k in WATCHED}

    # the next tick, with the cursor the daemon kept: nothing new, no work
    with outbox_context(instance, finops, cursor=cursor) as context:
        assert alert_outbox_sensor(context) == SkipReason("no new materialization of the anomaly or budget tables")
        assert context.cursor == cursor
    assert fills == [1] and outbox_rows(engine) == rows


def test_outbox_sensor_wakes_for_each_new_materialization_and_stays_idempotent(finops, engine):
    with DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(AssetMaterialization(asset_key=BUDGETS))
        with outbox_context(instance, finops) as context:
            assert alert_outbox_sensor(context) == SkipReason("outbox: 1 new anomaly alert(s), 1 new budget alert(s)")
            first = context.cursor
        assert cursor_storage_ids(first)[str(BUDGETS)] == latest_storage_id(instance, BUDGETS)
        assert cursor_storage_ids(first)[str(ANOMALIES)] is None

        instance.report_runless_asset_event(AssetMaterialization(asset_key=ANOMALIES))
        with outbox_context(instance, finops, cursor=first) as context:
            # a new materialization wakes it; the tables say nothing new, so the outbox is unchanged
            assert alert_outbox_sensor(context) == SkipReason("outbox: 0 new anomaly alert(s), 0 new budget alert(s)")
            second = context.cursor
        assert cursor_storage_ids(second) == {str(k): latest_storage_id(instance, k) for k in WATCHED}
        assert cursor_storage_ids(second)[str(ANOMALIES)] > cursor_storage_ids(first)[str(BUDGETS)]

        with outbox_context(instance, finops, cursor=second) as context:
            assert alert_outbox_sensor(context).skip_message.startswith("no new materialization")
    assert len(outbox_rows(engine)) == 2


# --------------------------------------------------------------------------- alert_delivery_sensor


def delivery_tick(finops: FinopsResource) -> str:
    with build_sensor_context(resources={"finops": finops}) as context:
        result = alert_delivery_sensor(context)
    assert isinstance(result, SkipReason)  # it launches no runs
    return result.skip_message


def test_delivery_sensor_drains_pending_alerts_once(finops, engine, slack, monkeypatch):
    use_bot(monkeypatch, slack.api_base_url)
    delivery.fill(engine, finops.settings())
    assert delivery_tick(finops) == "alerts: 2 sent, 0 failed, 0 skipped"
    assert delivery_tick(finops) == "alerts: 0 sent, 0 failed, 0 skipped"
    assert [(m["channel"], m["thread_ts"]) for m in slack.messages] == [(CHANNEL, None)] * 2
    rows = outbox_rows(engine)
    assert {r["status"] for r in rows} == {"sent"} and all(r["slack_ts"] for r in rows)
    assert sorted(r["slack_ts"] for r in rows) == sorted(m["ts"] for m in slack.messages)


def test_delivery_sensor_retries_on_the_next_tick_when_slack_was_unreachable(finops, engine, slack, monkeypatch, no_waits):
    use_bot(monkeypatch, f"http://127.0.0.1:{unused_port()}/api/")
    delivery.fill(engine, finops.settings())
    message = delivery_tick(finops)
    assert message.startswith("alerts: 0 sent, 2 failed, 0 skipped (") and "Connection refused" in message
    assert TOKEN not in message
    use_bot(monkeypatch, slack.api_base_url)
    assert delivery_tick(finops) == "alerts: 2 sent, 0 failed, 0 skipped"
    assert delivery_tick(finops) == "alerts: 0 sent, 0 failed, 0 skipped"
    assert len(slack.messages) == 2 and len({m["text"] for m in slack.messages}) == 2
    assert [r["attempts"] for r in outbox_rows(engine)] == [2, 2]


def test_delivery_sensor_without_slack_skips_with_the_reason(finops, engine):
    delivery.fill(engine, finops.settings())
    assert delivery_tick(finops) == f"alerts: 0 sent, 0 failed, 2 skipped ({NO_SLACK})"
    assert delivery_tick(finops) == "alerts: 0 sent, 0 failed, 0 skipped"
    assert {(r["status"], r["last_error"]) for r in outbox_rows(engine)} == {("skipped", NO_SLACK)}


# --------------------------------------------------------------------------- run_failure_alert_sensor


def failure_context(instance: DagsterInstance, result, finops: FinopsResource):
    return build_run_status_sensor_context(
        sensor_name=run_failure_alert_sensor.name, dagster_event=result.get_run_failure_event(),
        dagster_instance=instance, dagster_run=result.dagster_run, resources={"finops": finops},
    ).for_run_failure()


def test_run_failure_sensor_posts_the_failed_step_and_a_link_to_the_run_once(small, finops, engine, slack, monkeypatch,
                                                                             tmp_path):
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.webhook_url)
    monkeypatch.setenv("FINOPS_DAGSTER_URL", DAGSTER_URL + "/")
    broken = tmp_path / "broken"
    shutil.copytree(small[1], broken, ignore=shutil.ignore_patterns(".finops"))
    (broken / "landing" / "billing" / "bad.csv").write_text("foo,bar\n1,2\n")
    with DagsterInstance.ephemeral() as instance:
        result = run_job(broken, finops.warehouse_url, "2024-08", "2024-10", instance=instance)
        assert not result.success
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        assert failed
        for _ in range(2):  # the daemon may evaluate the same failure again: one alert
            context = failure_context(instance, result, finops)
            run_failure_alert_sensor(context)
    run_id = result.run_id
    rows = outbox_rows(engine)
    assert [(r["kind"], r["dedup_key"], r["status"]) for r in rows] == [("run_failure", f"run_failure:{run_id}", "sent")]
    payload = rows[0]["payload"]
    assert (payload["run_id"], payload["job_name"], payload["failed_steps"], payload["partition_range"]) == \
        (run_id, "monthly_costs_job", failed, "2024-08..2024-10")
    assert "bad.csv" in payload["error"]

    assert len(slack.messages) == 1
    message = slack.messages[0]
    assert message["text"].startswith(f"Pipeline run failed — monthly_costs_job (run {run_id[:8]}), steps {failed[0]}")
    assert "bad.csv" in message["text"]
    urls = [e["url"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert urls == [f"{DAGSTER_URL}/runs/{run_id}"]


@op
def explode():
    raise ValueError("warehouse unreachable: connection reset by peer")


@job
def exploding_job():
    explode()


def test_run_failure_alert_says_what_the_unexpected_error_was(finops, engine, monkeypatch):
    with DagsterInstance.ephemeral() as instance:
        result = exploding_job.execute_in_process(instance=instance, raise_on_error=False)
        run_failure_alert_sensor(failure_context(instance, result, finops))
    payload = outbox_rows(engine)[0]["payload"]
    assert payload["failed_steps"] == ["explode"]
    assert "warehouse unreachable" in payload["error"], payload["error"]


# --------------------------------------------------------------------------- weekly digest


def test_weekly_digest_schedule_requests_the_digest_job_mondays_at_8_utc(finops):
    assert (weekly_digest_schedule.cron_schedule, weekly_digest_schedule.execution_timezone) == ("0 8 * * 1", "UTC")
    assert weekly_digest_schedule.job_name == weekly_digest_job.name == "weekly_digest_job"
    ticks = [datetime(2024, 10, 21, 8, tzinfo=timezone.utc), datetime(2024, 10, 28, 8, tzinfo=timezone.utc)]
    requests = []
    for tick in ticks:
        with build_schedule_context(scheduled_execution_time=tick, resources={"finops": finops}) as context:
            data = weekly_digest_schedule.evaluate_tick(context)
        assert data.skip_message is None and len(data.run_requests) == 1
        requests.append(data.run_requests[0])
    for request in requests:
        assert isinstance(request, RunRequest)
        # no run key: the scheduler launches one run per tick; the digest's outbox key makes a repeat harmless
        assert request.run_key is None
        assert request.tags == {"dagster/schedule_name": "weekly_digest_schedule"}
        assert request.job_name in (None, "weekly_digest_job")
    assert requests[0] == requests[1]


def test_weekly_digest_job_writes_and_delivers_one_digest_per_week(finops, engine, slack, monkeypatch):
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.webhook_url)
    with DagsterInstance.ephemeral() as instance:
        for _ in range(2):
            result = weekly_digest_job.execute_in_process(resources={"finops": finops}, instance=instance)
            assert result.success
    rows = outbox_rows(engine)
    assert [(r["kind"], r["dedup_key"], r["status"]) for r in rows] == [("digest", "digest:2024-10-17", "sent")]
    payload = rows[0]["payload"]
    assert (payload["week_start"], payload["week_end"]) == ("2024-10-11", "2024-10-17")
    assert [a["project"] for a in payload["open_anomalies"]] and {a["project"] for a in payload["open_anomalies"]} == {"checkout"}
    assert [(b["project"], b["status"]) for b in payload["budgets_at_risk"]] == [("checkout", "projected_over")]
    assert len(slack.messages) == 1
    assert slack.messages[0]["text"].startswith("Weekly cost digest — 2024-10-11 to 2024-10-17: ")
