"""``open_run_store`` by URL and environment, and the small helpers the CLI calls (ages, cursors, settings)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from graflow.exceptions import ConfigError, GraflowError
from graflow.runs import MemoryRunStore, RunStoreError, age_seconds, default_store_url, memory_store, open_run_store
from graflow.runs.models import decode_cursor, encode_cursor, parameter_value, preview
from graflow.runs.settings import heartbeat_seconds
from graflow.runs.sql import SqlRunStore
from graflow.testing.contracts.run_store import make_run


def test_memory_urls_name_stores_shared_in_the_process() -> None:
    store = open_run_store("memory://named")
    assert isinstance(store, MemoryRunStore)
    assert open_run_store("memory://named") is store
    assert open_run_store("memory://other") is not store
    store.close()
    assert open_run_store("memory://named") is not store  # a closed one is replaced


def test_a_store_object_is_returned_as_it_is() -> None:
    store = MemoryRunStore()
    assert open_run_store(store) is store


def test_a_sqlite_url_creates_the_file_and_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "runs.db"
    store = open_run_store(f"sqlite:///{path}")
    try:
        assert isinstance(store, SqlRunStore)
        assert path.is_file()
    finally:
        store.close()


def test_the_default_store_is_a_file_under_graflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFLOW_HOME", str(tmp_path / "home"))
    assert default_store_url() == f"sqlite:///{tmp_path / 'home' / 'runs.db'}"
    store = open_run_store()
    try:
        store.create_run(make_run("r1"))
        assert (tmp_path / "home" / "runs.db").is_file()
    finally:
        store.close()


def test_graflow_run_store_names_the_default_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFLOW_RUN_STORE", "memory://from-env")
    assert open_run_store() is memory_store("from-env")


def test_the_home_default_is_the_users_graflow_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAFLOW_HOME", raising=False)
    assert default_store_url() == f"sqlite:///{Path.home() / '.graflow' / 'runs.db'}"


def test_postgres_urls_are_driven_by_psycopg(postgres_url: str) -> None:
    store = open_run_store(postgres_url.replace("postgresql://", "postgres://", 1))
    try:
        assert isinstance(store, SqlRunStore)
        assert store.engine.dialect.driver == "psycopg"
    finally:
        store.close()


def test_an_unknown_scheme_is_refused_with_the_known_ones() -> None:
    with pytest.raises(RunStoreError, match="sqlite:///path"):
        open_run_store("mongodb://localhost/runs")


def test_an_unreachable_database_is_a_graflow_error() -> None:
    with pytest.raises(GraflowError, match="Could not open the run store"):
        open_run_store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")


@pytest.mark.parametrize(
    ("age", "seconds"),
    [("90s", 90), ("15m", 900), ("12h", 43_200), ("7d", 604_800), ("2w", 1_209_600), ("1.5h", 5400), (30, 30),
     (timedelta(days=1), 86_400), ("45", 45)],
)
def test_ages_read_as_seconds(age: object, seconds: float) -> None:
    assert age_seconds(age) == seconds  # type: ignore[arg-type]


@pytest.mark.parametrize("age", ["soon", "-1d", "7 days", -5])
def test_bad_ages_are_refused(age: object) -> None:
    with pytest.raises(RunStoreError):
        age_seconds(age)  # type: ignore[arg-type]


def test_a_cursor_round_trips_its_time_exactly() -> None:
    run = make_run("r/ü", created_at=1_700_000_000.123456789)
    assert decode_cursor(encode_cursor(run)) == (run.created_at, "r/ü")


def test_previews_are_bounded_and_never_raise() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert len(preview(list(range(10_000)))) <= 200
    assert len(preview("x" * 10_000)) <= 200
    assert "Broken" in preview(Broken())
    assert parameter_value(3) == 3
    assert parameter_value(float("nan")) == "nan"
    assert parameter_value({"a": 1}) == "{'a': 1}"


def test_the_heartbeat_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert heartbeat_seconds() == 10.0
    monkeypatch.setenv("GRAFLOW_RUN_HEARTBEAT_SECONDS", "0.25")
    assert heartbeat_seconds() == 0.25
    monkeypatch.setenv("GRAFLOW_RUN_HEARTBEAT_SECONDS", "often")
    with pytest.raises(ConfigError):
        heartbeat_seconds()
