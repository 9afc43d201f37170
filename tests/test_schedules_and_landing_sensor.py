"""nightly_schedule and landing_sensor evaluated in process.

The schedule: which months a tick re-loads (open month; previous month too in the first days of a
month; across the year boundary; in the schedule's timezone), its run key and tags, and the
validation of FINOPS_NIGHTLY_CRON / FINOPS_NIGHTLY_TIMEZONE.
The sensor, on a small landing folder: first tick (baseline), new / touched / restated / deleted
files, several files in one tick, unreadable files, the cursor and the run keys."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dagster import (
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    SensorResult,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
)

from finops_pipeline.defs.landing import sensors as landing
from finops_pipeline.defs.landing.sensors import landing_sensor, landing_sensor_interval_seconds
from finops_pipeline.defs.schedules import build_nightly_schedule, nightly_cron, nightly_schedule, nightly_timezone
from finops_pipeline.ingest.billing import stage_billing_months
from finops_pipeline.resources import FinopsResource
from finops_pipeline.runs import RANGE_END_TAG, RANGE_START_TAG
from finops_pipeline.warehouse.schema import quarantine_billing_rows, stg_billing
from finops_pipeline.warehouse.writer import replace_month
from tests.helpers import FOCUS_HEADER, focus_row, local_definitions, write_csv

UTC = timezone.utc


# --- nightly_schedule -------------------------------------------------------------------------

def nightly(when: datetime, schedule=nightly_schedule) -> RunRequest:
    request = schedule(build_schedule_context(scheduled_execution_time=when))
    assert isinstance(request, RunRequest)
    return request


def span(request: RunRequest) -> tuple[str, str]:
    return request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]


def test_nightly_schedule_definition():
    assert nightly_schedule.name == "nightly_schedule"
    assert nightly_schedule.job_name == "monthly_costs_job"
    assert nightly_schedule.cron_schedule == "0 2 * * *"
    assert nightly_schedule.execution_timezone == "UTC"
    assert nightly_schedule.default_status == DefaultScheduleStatus.RUNNING


def test_a_normal_day_reloads_the_open_month_with_every_asset():
    request = nightly(datetime(2026, 3, 17, 2, 0, tzinfo=UTC))
    assert span(request) == ("2026-03", "2026-03")
    assert request.run_key == "nightly:2026-03-17:2026-03..2026-03"
    assert request.tags["finops/trigger"] == "nightly"
    assert request.asset_selection is None  # the whole job: everything downstream is recomputed
    assert nightly(datetime(2026, 3, 17, 2, 0, tzinfo=UTC)).run_key == request.run_key  # deterministic


@pytest.mark.parametrize(("day", "expected"), [
    (1, ("2026-02", "2026-03")), (3, ("2026-02", "2026-03")), (5, ("2026-02", "2026-03")), (6, ("2026-03", "2026-03")),
])
def test_the_first_five_days_also_reload_the_previous_month(day, expected):
    request = nightly(datetime(2026, 3, day, 2, 0, tzinfo=UTC))
    assert span(request) == expected
    assert request.run_key == f"nightly:2026-03-{day:02d}:{expected[0]}..{expected[1]}"


def test_year_boundary():
    request = nightly(datetime(2027, 1, 2, 2, 0, tzinfo=UTC))
    assert span(request) == ("2026-12", "2027-01")
    assert request.run_key == "nightly:2027-01-02:2026-12..2027-01"


def test_the_open_month_is_the_month_in_the_schedule_timezone():
    new_york = build_nightly_schedule(tz="America/New_York")
    assert new_york.execution_timezone == "America/New_York"
    when = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 2026-11-30 20:00 in New York
    assert span(nightly(when, new_york)) == ("2026-11", "2026-11")
    assert nightly(when, new_york).run_key == "nightly:2026-11-30:2026-11..2026-11"
    assert span(nightly(when)) == ("2026-11", "2026-12")  # in UTC it is already the 1st of December
    # the daemon passes the time in the schedule's timezone: same instant, same request
    local = when.astimezone(ZoneInfo("America/New_York"))
    assert nightly(local, new_york).run_key == nightly(when, new_york).run_key


def test_a_timezone_ahead_of_utc_never_requests_a_month_that_is_not_a_partition_yet():
    tokyo = build_nightly_schedule(tz="Asia/Tokyo")
    when = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)  # 2026-12-01 05:00 in Tokyo, 2026-11 in UTC
    request = nightly(when, tokyo)
    assert span(request) == ("2026-11", "2026-11")
    assert request.run_key == "nightly:2026-12-01:2026-11..2026-11"


def test_nightly_env_defaults_and_values():
    assert nightly_cron({}) == "0 2 * * *"
    assert nightly_cron({"FINOPS_NIGHTLY_CRON": " "}) == "0 2 * * *"
    assert nightly_cron({"FINOPS_NIGHTLY_CRON": "30 3 * * 1-5"}) == "30 3 * * 1-5"
    assert nightly_timezone({}) == "UTC"
    assert nightly_timezone({"FINOPS_NIGHTLY_TIMEZONE": "Europe/Paris"}) == "Europe/Paris"
    assert landing_sensor_interval_seconds({}) == 60
    assert landing_sensor_interval_seconds({"FINOPS_LANDING_SENSOR_INTERVAL_SECONDS": "15"}) == 15
    assert landing_sensor_interval_seconds({"FINOPS_LANDING_SENSOR_INTERVAL_SECONDS": "0"}) == 1


@pytest.mark.parametrize("cron", ["every night", "0 2 * *", "61 2 * * *", "0 2 * * * *"])
def test_an_invalid_cron_is_a_clear_error(cron):
    with pytest.raises(ValueError, match="FINOPS_NIGHTLY_CRON=.* is not a valid cron schedule"):
        nightly_cron({"FINOPS_NIGHTLY_CRON": cron})


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "EST+5 hours", "../etc/passwd"])
def test_an_unknown_timezone_is_a_clear_error(tz):
    with pytest.raises(ValueError, match="FINOPS_NIGHTLY_TIMEZONE=.* is not a known timezone"):
        nightly_timezone({"FINOPS_NIGHTLY_TIMEZONE": tz})


def test_an_invalid_interval_is_a_clear_error():
    with pytest.raises(ValueError, match="FINOPS_LANDING_SENSOR_INTERVAL_SECONDS='1m'"):
        landing_sensor_interval_seconds({"FINOPS_LANDING_SENSOR_INTERVAL_SECONDS": "1m"})


def test_the_schedule_is_built_from_the_environment(monkeypatch):
    monkeypatch.setenv("FINOPS_NIGHTLY_CRON", "15 4 * * *")
    monkeypatch.setenv("FINOPS_NIGHTLY_TIMEZONE", "Europe/Paris")
    built = build_nightly_schedule()
    assert (built.cron_schedule, built.execution_timezone) == ("15 4 * * *", "Europe/Paris")
    monkeypatch.setenv("FINOPS_NIGHTLY_TIMEZONE", "Europe/Pariss")
    with pytest.raises(ValueError, match="Europe/Pariss"):
        build_nightly_schedule()


def test_schedule_and_sensor_resolve_in_a_code_location(tmp_path):
    local = local_definitions(FinopsResource(data_dir=str(tmp_path)), schedules=[nightly_schedule], sensors=[landing_sensor])
    repo = local.get_repository_def()
    assert repo.get_schedule_def("nightly_schedule").job_name == "monthly_costs_job"
    sensor = repo.get_sensor_def("landing_sensor")
    assert sensor.job_name == "monthly_costs_job"
    assert sensor.minimum_interval_seconds == 60
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert "finops" in sensor.required_resource_keys


# --- landing_sensor ---------------------------------------------------------------------------

@dataclass
class Tick:
    requests: list[RunRequest]
    skip: str | None
    cursor: str | None  # after the tick (unchanged when the sensor sets none)

    @property
    def ranges(self) -> list[tuple[str, str]]:
        return [span(r) for r in self.requests]

    @property
    def files(self) -> dict:
        return json.loads(self.cursor)["files"]


@dataclass
class Landing:
    data: Path
    url: str

    @property
    def billing(self) -> Path:
        return self.data / "landing" / "billing"

    def resource(self) -> FinopsResource:
        return FinopsResource(data_dir=str(self.data), warehouse_url=self.url)

    def tick(self, cursor: str | None, budget_seconds: float | None = None) -> Tick:
        context = build_sensor_context(cursor=cursor, resources={"finops": self.resource()})
        if budget_seconds is None:
            out = landing_sensor(context)
        else:
            out = landing.evaluate(context, self.resource(), budget_seconds=budget_seconds)
        if isinstance(out, SkipReason):
            return Tick([], out.skip_message, cursor)
        assert isinstance(out, SensorResult), out
        skip = out.skip_reason.skip_message if out.skip_reason else None
        return Tick(list(out.run_requests or []), skip, out.cursor if out.cursor is not None else cursor)

    def export(self, relative: str, *days_and_costs: tuple[str, float]) -> Path:
        rows = [focus_row(f"{day} 00:00:00", cost, period=f"{day[:7]}-01 00:00:00") for day, cost in days_and_costs]
        return write_csv(self.billing / relative, FOCUS_HEADER, rows)

    def load_months(self, months: list[str]) -> None:
        """Write the months into stg_billing as the billing asset does (without a Dagster run)."""
        resource = self.resource()
        staged = stage_billing_months(resource.settings(), months)
        for month in months:
            replace_month(resource.engine(), month, {stg_billing: staged.daily[month],
                                                     quarantine_billing_rows: staged.quarantine[month]})


@pytest.fixture
def env(tmp_path) -> Landing:
    env = Landing(tmp_path / "data", f"sqlite:///{tmp_path / 'warehouse.db'}")
    env.billing.mkdir(parents=True)
    return env


def bump_mtime(path: Path, seconds: int = 5) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


A_ROWS = (("2024-09-01", 10.0), ("2024-10-02", 20.0))


def baseline(env: Landing) -> Tick:
    """a.csv (2024-09, 2024-10) recorded by a first tick on an empty warehouse."""
    env.export("aws/a.csv", *A_ROWS)
    first = env.tick(None)
    assert first.ranges == [("2024-09", "2024-10")]
    return first


def test_first_tick_on_an_empty_warehouse_requests_every_month_of_landing(env):
    env.export("aws/a.csv", *A_ROWS)
    env.export("azure/2025-01/b.csv", ("2025-01-15", 5.0))
    first = env.tick(None)
    assert first.skip is None
    assert first.ranges == [("2024-09", "2024-10"), ("2025-01", "2025-01")]
    for request in first.requests:
        assert request.tags["finops/trigger"] == "landing"
        assert request.asset_selection is None
        assert request.run_key.startswith("landing:1:")
    cursor = json.loads(first.cursor)
    assert cursor["generation"] == 1 and cursor["baseline_pending"] is False
    assert cursor["files"]["aws/a.csv"]["months"] == ["2024-09", "2024-10"]
    assert cursor["files"]["azure/2025-01/b.csv"]["months"] == ["2025-01"]
    assert set(cursor["files"]["aws/a.csv"]) == {"size", "mtime_ns", "sha256", "months"}

    second = env.tick(first.cursor)
    assert second.requests == [] and second.skip == "no landing file changed"
    assert second.cursor == first.cursor


def test_first_tick_requests_only_the_months_the_warehouse_lacks(env):
    env.export("aws/a.csv", *A_ROWS)
    env.load_months(["2024-09", "2024-10"])
    env.export("aws/b.csv", ("2024-11-03", 1.0))
    first = env.tick(None)
    assert first.ranges == [("2024-11", "2024-11")]
    assert set(first.files) == {"aws/a.csv", "aws/b.csv"}  # both recorded as the baseline


def test_first_tick_with_every_month_loaded_only_records_the_baseline(env):
    env.export("aws/a.csv", *A_ROWS)
    env.load_months(["2024-09", "2024-10"])
    first = env.tick(None)
    assert first.requests == []
    assert first.skip == "first tick: recorded the landing files; the warehouse already holds their months"
    assert first.files["aws/a.csv"]["months"] == ["2024-09", "2024-10"]
    # later changes are ordinary changes: every month of the file is re-loaded
    env.export("aws/a.csv", ("2024-09-01", 11.0), ("2024-10-02", 20.0))
    assert env.tick(first.cursor).ranges == [("2024-09", "2024-10")]


def test_a_new_file_requests_its_months_only(env):
    base = baseline(env)
    env.export("gcp/b.csv", ("2024-12-01", 3.0), ("2024-12-31", 4.0))
    tick = env.tick(base.cursor)
    assert tick.ranges == [("2024-12", "2024-12")]
    request = tick.requests[0]
    prefix, generation, content, months = request.run_key.split(":")
    assert (prefix, generation, months) == ("landing", "2", "2024-12..2024-12") and len(content) == 16
    assert request.tags["finops/trigger"] == "landing"
    assert request.tags["finops/landing_files"] == "gcp/b.csv (new)"
    assert tick.files["gcp/b.csv"]["months"] == ["2024-12"]


def test_touching_or_copying_the_same_bytes_requests_nothing(env):
    base = baseline(env)
    path = env.billing / "aws" / "a.csv"
    bump_mtime(path)
    touched = env.tick(base.cursor)
    assert touched.requests == [] and touched.skip == "no landing file changed"
    entry, before = touched.files["aws/a.csv"], base.files["aws/a.csv"]
    assert entry["mtime_ns"] == path.stat().st_mtime_ns != before["mtime_ns"]  # not re-hashed next tick
    assert entry["sha256"] == before["sha256"] and entry["months"] == before["months"]

    content = path.read_bytes()
    path.unlink()
    path.write_bytes(content)  # the same export delivered again
    bump_mtime(path, 10)
    copied = env.tick(touched.cursor)
    assert copied.requests == [] and copied.skip == "no landing file changed"


def test_unchanged_files_are_not_read(env, monkeypatch):
    base = baseline(env)
    env.export("gcp/b.csv", ("2024-12-01", 3.0))
    hashed = []
    real = landing.file_sha256
    monkeypatch.setattr(landing, "file_sha256", lambda p: hashed.append(Path(p).name) or real(p))
    tick = env.tick(base.cursor)
    assert hashed == ["b.csv"]
    hashed.clear()
    assert env.tick(tick.cursor).requests == [] and hashed == []


def test_a_restated_file_runs_again_with_a_new_key_and_a_reevaluated_tick_keeps_its_key(env):
    base = baseline(env)
    env.export("aws/a.csv", ("2024-09-01", 10.0), ("2024-10-02", 25.0))  # the provider restates October
    restated = env.tick(base.cursor)
    assert restated.ranges == [("2024-09", "2024-10")]
    assert restated.requests[0].run_key != base.requests[0].run_key
    assert restated.requests[0].tags["finops/landing_files"] == "aws/a.csv (restated)"

    # e.g. a tick whose cursor update was lost, evaluated again: same run key (Dagster launches once)
    again = env.tick(base.cursor)
    assert [r.run_key for r in again.requests] == [r.run_key for r in restated.requests]
    assert again.cursor == restated.cursor
    assert env.tick(restated.cursor).requests == []


def test_content_changed_back_is_a_new_change(env):
    base = baseline(env)
    original = (env.billing / "aws" / "a.csv").read_bytes()
    env.export("aws/a.csv", ("2024-09-01", 10.0), ("2024-10-02", 25.0))
    b = env.tick(base.cursor)
    (env.billing / "aws" / "a.csv").write_bytes(original)  # A -> B -> A: the warehouse holds B's rows
    back = env.tick(b.cursor)
    assert back.ranges == [("2024-09", "2024-10")]
    keys = {base.requests[0].run_key, b.requests[0].run_key, back.requests[0].run_key}
    assert len(keys) == 3  # a content-only key would equal the first one and Dagster would skip the run


def test_a_restated_file_also_reloads_the_months_it_no_longer_holds(env):
    base = baseline(env)
    env.export("aws/a.csv", ("2024-10-02", 20.0), ("2024-12-05", 1.0))  # September rows moved out
    tick = env.tick(base.cursor)
    assert tick.ranges == [("2024-09", "2024-10"), ("2024-12", "2024-12")]
    assert tick.files["aws/a.csv"]["months"] == ["2024-10", "2024-12"]


def test_several_files_in_one_tick_are_merged_into_contiguous_ranges(env):
    base = baseline(env)
    env.export("gcp/b.csv", ("2024-11-01", 1.0))
    env.export("gcp/c.csv", ("2024-12-01", 1.0), ("2025-02-01", 1.0))
    env.export("azure/d.csv", ("2024-10-20", 1.0))
    tick = env.tick(base.cursor)
    assert tick.ranges == [("2024-10", "2024-12"), ("2025-02", "2025-02")]
    keys = [r.run_key for r in tick.requests]
    assert len(set(keys)) == 2 and len({k.rsplit(":", 1)[0] for k in keys}) == 1  # one change, one key
    assert tick.requests[0].tags["finops/landing_files"] == "azure/d.csv (new), gcp/b.csv (new), gcp/c.csv (new)"
    assert tick.requests[1].tags["finops/landing_files"] == "gcp/c.csv (new)"


def test_a_deleted_file_reloads_its_months(env):
    base = baseline(env)
    env.export("gcp/b.csv", ("2025-03-01", 1.0))
    added = env.tick(base.cursor)
    (env.billing / "aws" / "a.csv").unlink()
    tick = env.tick(added.cursor)
    assert tick.ranges == [("2024-09", "2024-10")]
    assert tick.requests[0].tags["finops/landing_files"] == "aws/a.csv (deleted)"
    assert set(tick.files) == {"gcp/b.csv"}
    assert env.tick(tick.cursor).requests == []

    # copied back with the same content: its months must be loaded again
    env.export("aws/a.csv", *A_ROWS)
    back = env.tick(tick.cursor)
    assert back.ranges == [("2024-09", "2024-10")]
    assert back.requests[0].run_key not in {base.requests[0].run_key, tick.requests[0].run_key}


def test_hidden_and_other_files_are_ignored(env):
    base = baseline(env)
    env.export(".uploading/x.csv", ("2024-11-01", 1.0))
    env.export("aws/.a.csv.swp.csv", ("2024-11-01", 1.0))
    (env.billing / "aws" / "notes.txt").write_text("not billing")
    tick = env.tick(base.cursor)
    assert tick.requests == [] and tick.skip == "no landing file changed"


def test_an_unreadable_file_counts_for_the_month_its_path_names_or_is_skipped(env):
    base = baseline(env)
    (env.billing / "aws" / "2024-11").mkdir()
    (env.billing / "aws" / "2024-11" / "broken.csv").write_bytes(b"")
    named = env.tick(base.cursor)
    assert named.ranges == [("2024-11", "2024-11")]
    assert named.files["aws/2024-11/broken.csv"]["months"] == ["2024-11"]

    (env.billing / "aws" / "nameless.csv").write_bytes(b"")
    nameless = env.tick(named.cursor)
    assert nameless.requests == []
    assert nameless.skip == "1 landing file(s) new; no billing month to re-load"
    assert nameless.files["aws/nameless.csv"]["months"] == []  # recorded: not retried until it changes
    assert env.tick(nameless.cursor).skip == "no landing file changed"

    env.export("aws/nameless.csv", ("2025-04-01", 1.0))  # fixed
    assert env.tick(nameless.cursor).ranges == [("2025-04", "2025-04")]


def test_months_that_are_not_partitions_are_not_requested(env):
    base = baseline(env)
    (env.billing / "aws" / "2099-01").mkdir()
    (env.billing / "aws" / "2099-01" / "broken.csv").write_bytes(b"")
    tick = env.tick(base.cursor)
    assert tick.requests == []
    assert tick.skip == "1 landing file(s) new; no billing month to re-load"


def test_an_invalid_projects_file_skips_the_tick_and_keeps_the_cursor(env):
    base = baseline(env)
    env.export("gcp/b.csv", ("2024-12-01", 1.0))
    (env.data / "reference").mkdir()
    projects = env.data / "reference" / "projects.csv"
    projects.write_text("project,code,owner,team,account_id\n,CC-1,ann@example.com,payments,111\n")
    tick = env.tick(base.cursor)
    assert tick.requests == [] and "landing files not examined" in tick.skip
    assert tick.cursor == base.cursor
    projects.unlink()
    assert env.tick(base.cursor).ranges == [("2024-12", "2024-12")]


def test_a_tick_over_its_time_budget_leaves_files_to_the_next_ticks(env):
    env.export("aws/a.csv", *A_ROWS)
    env.export("aws/b.csv", ("2025-01-01", 1.0))
    env.load_months(["2024-09", "2024-10"])
    first = env.tick(None, budget_seconds=0)  # at least one file per tick
    assert first.requests == [] and set(first.files) == {"aws/a.csv"}
    assert json.loads(first.cursor)["baseline_pending"] is True
    second = env.tick(first.cursor, budget_seconds=0)  # still the baseline: only months not loaded
    assert second.ranges == [("2025-01", "2025-01")]
    assert set(second.files) == {"aws/a.csv", "aws/b.csv"}
    assert json.loads(second.cursor)["baseline_pending"] is False


def test_the_cursor_round_trips_as_json_and_an_unknown_cursor_is_a_first_tick(env):
    base = baseline(env)
    cursor = json.loads(base.cursor)
    assert json.dumps(cursor, sort_keys=True, separators=(",", ":")) == base.cursor
    assert cursor["version"] == landing.CURSOR_VERSION
    shutil.rmtree(env.data / ".finops", ignore_errors=True)  # the scan cache is not needed to compare
    assert env.tick(json.dumps(cursor, indent=2)).cursor == base.cursor
    env.load_months(["2024-09", "2024-10"])
    restarted = env.tick(json.dumps({"version": 0, "whatever": []}))
    assert restarted.requests == [] and restarted.skip.startswith("first tick")


def test_a_file_that_vanishes_during_the_tick_is_looked_at_again(env, monkeypatch):
    base = baseline(env)
    env.export("aws/a.csv", ("2024-09-01", 12.0), ("2024-10-02", 20.0))
    env.export("gcp/b.csv", ("2024-12-01", 1.0))

    def gone(path):
        raise FileNotFoundError(path)

    monkeypatch.setattr(landing, "file_sha256", gone)
    tick = env.tick(base.cursor)
    assert tick.requests == [] and tick.files == base.files  # a.csv keeps its old entry, b.csv is not recorded
    monkeypatch.undo()
    assert env.tick(tick.cursor).ranges == [("2024-09", "2024-10"), ("2024-12", "2024-12")]
