"""fct_cost_anomalies and fct_cost_forecasts materialized by the monthly job in process against
SQLite, and what survives a re-run: anomaly ids, first_seen and a user's acknowledgement.

The small landing folder of tests/conftest.py spends too little to be anomalous, so a second AWS
FOCUS file is added: 2024-08-01 .. 2024-10-17 of steady spend with a weekday pattern and a planted
spike on 2024-09-18 in checkout's Amazon EC2 (its own account). Data stops mid-October: 2024-10
is the open month, the first forecast month."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, insert

from finops_pipeline.warehouse import schema
from tests.helpers import SPIKE_DAY, add_spiked_billing, check_results, read_whole_table, run_job

HORIZON = 2
NOTE = "planned: load test"


def _run(data_dir: Path, url: str):
    result = run_job(data_dir, url, "2024-08", "2024-10")
    for asset in ("fct_cost_anomalies", "fct_cost_forecasts"):
        assert result.is_node_success(asset), asset
    assert check_results(result)["intervals_ordered"] == (True, "ERROR")
    anomalies, forecasts = read_whole_table(url, "fct_cost_anomalies"), read_whole_table(url, "fct_cost_forecasts")
    assert list(anomalies.columns) == [c.name for c in schema.fct_cost_anomalies.columns]
    assert list(forecasts.columns) == [c.name for c in schema.fct_cost_forecasts.columns]
    return anomalies, forecasts


def test_anomalies_and_forecasts_survive_a_rerun_with_an_acknowledgement(data_dir, sqlite_url, monkeypatch):
    monkeypatch.setenv("FINOPS_FORECAST_HORIZON", str(HORIZON))
    add_spiked_billing(data_dir)
    anomalies, forecasts = _run(data_dir, sqlite_url)

    # the planted spike, at daily grain for the project and for the project x service series
    spike = anomalies[(anomalies["grain"] == "daily") & (pd.to_datetime(anomalies["period_start"]) == pd.Timestamp(SPIKE_DAY))
                      & (anomalies["project"] == "checkout")]
    assert set(spike["service_name"].fillna("*")) == {"*", "Amazon EC2"}, anomalies
    assert anomalies["status"].isin(["open", "acknowledged", "resolved"]).all()
    assert (spike["status"] == "resolved").all()  # the days after it are normal again
    assert not anomalies["anomaly_id"].duplicated().any()

    # forecasts: the total and each project, the open month first, HORIZON months
    assert set(forecasts["level"]) == {"total", "project"}
    assert forecasts.loc[forecasts["level"] == "total", "project"].isna().all()
    assert {"checkout", "search"} <= set(forecasts["project"].dropna())
    for _, rows in forecasts.groupby(["level", "project"], dropna=False):
        assert list(rows.sort_values("month")["month"]) == ["2024-10", "2024-11"]
    opened = forecasts[forecasts["month"] == "2024-10"]
    assert opened["actual_to_date"].notna().all() and (opened["forecast"] >= opened["actual_to_date"]).all()
    values = forecasts[["lower_95", "lower_80", "forecast", "upper_80", "upper_95"]].to_numpy(dtype="float64")
    assert np.isfinite(values).all() and (np.diff(values, axis=1) >= -1e-6 * (1 + np.abs(values[:, 1:]))).all()

    # a user acknowledges the project x service anomaly; the pipeline runs again
    target = spike.loc[spike["service_name"] == "Amazon EC2"].iloc[0]
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(insert(schema.anomaly_feedback), [{
            "anomaly_id": target["anomaly_id"], "status": "acknowledged", "note": NOTE,
            "updated_by": "ann@example.com", "updated_at": pd.Timestamp.now(tz="UTC").to_pydatetime(),
        }])
    engine.dispose()
    again, forecasts_again = _run(data_dir, sqlite_url)

    assert sorted(again["anomaly_id"]) == sorted(anomalies["anomaly_id"])
    before, after = anomalies.set_index("anomaly_id"), again.set_index("anomaly_id")
    row = after.loc[target["anomaly_id"]]
    assert (row["status"], row["status_note"]) == ("acknowledged", NOTE)
    others = after.drop(index=target["anomaly_id"])
    assert (others["status"] == before.loc[others.index, "status"]).all() and others["status_note"].isna().all()
    first_before = pd.to_datetime(before["first_seen"])
    assert (pd.to_datetime(after["first_seen"]) == first_before.reindex(after.index)).all()
    assert (pd.to_datetime(after["last_seen"]) > first_before.reindex(after.index)).all()
    assert pd.to_datetime(forecasts_again["generated_at"]).min() > pd.to_datetime(forecasts["generated_at"]).max()
    assert len(forecasts_again) == len(forecasts)
