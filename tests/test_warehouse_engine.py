"""The engine factory: one engine per process and warehouse URL, its tables ensured once, when it
is made; a failure is not kept, and a test can make it forget an URL."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError

from finops_pipeline.warehouse import engine as engines
from finops_pipeline.warehouse.schema import metadata


@pytest.fixture
def ensured(monkeypatch) -> list[str]:
    """The URLs ensure_tables was called for, in order (it still runs)."""
    calls: list[str] = []
    real = engines.ensure_tables

    def counting(engine):
        calls.append(engine.url.render_as_string())
        real(engine)

    monkeypatch.setattr(engines, "ensure_tables", counting)
    return calls


def test_one_engine_per_url_with_its_tables_ensured_once(tmp_path, ensured):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    first = engines.warehouse_engine(url)
    assert set(metadata.tables) <= set(inspect(first).get_table_names())
    assert engines.warehouse_engine(url) is first
    other = engines.warehouse_engine(f"sqlite:///{tmp_path / 'other.db'}")
    assert other is not first
    assert ensured == [url, f"sqlite:///{tmp_path / 'other.db'}"]


def test_a_warehouse_down_is_not_remembered(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    real, calls = engines.ensure_tables, []

    def down_the_first_time(engine):
        calls.append(engine)
        if len(calls) == 1:
            raise OperationalError("connect", {}, Exception("connection refused"))
        real(engine)

    monkeypatch.setattr(engines, "ensure_tables", down_the_first_time)
    with pytest.raises(OperationalError):
        engines.warehouse_engine(url)
    engine = engines.warehouse_engine(url)  # up again: a new engine, checked, and now kept
    assert engine is not calls[0] and engines.warehouse_engine(url) is engine
    assert len(calls) == 2


def test_a_forgotten_url_gets_a_new_engine_and_its_tables_again(tmp_path, ensured):
    """What a test does that drops a database and creates another under the same URL."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    first = engines.warehouse_engine(url)
    engines.forget_warehouse_engine(url)
    (tmp_path / "w.db").unlink()
    second = engines.warehouse_engine(url)
    assert second is not first and set(metadata.tables) <= set(inspect(second).get_table_names())
    assert ensured == [url, url]
    engines.forget_warehouse_engine(url)
    engines.forget_warehouse_engine(url)  # an URL it does not hold: nothing to do
