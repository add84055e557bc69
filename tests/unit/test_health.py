"""HealthMonitor aggregation and the built-in checks that need no service."""

from __future__ import annotations

from pathlib import Path

import pytest

from graflow.observability.health import (
    HealthMonitor,
    Heartbeat,
    disk_writable_check,
    heartbeat_check,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_no_checks_is_healthy_and_ready_and_alive() -> None:
    monitor = HealthMonitor()
    report = monitor.get_health()
    assert report["status"] == "healthy"
    assert report["checks"] == {}
    assert "timestamp" in report
    assert monitor.is_ready() and monitor.is_alive()


def test_all_passing_checks_are_healthy_with_per_check_results() -> None:
    monitor = HealthMonitor()
    monitor.register_check("a", lambda: True, critical=True)
    monitor.register_check("b", lambda: (True, "fine"))
    report = monitor.get_health()
    assert report["status"] == "healthy"
    assert report["checks"]["a"]["status"] == "ok"
    assert report["checks"]["a"]["critical"] is True
    assert report["checks"]["b"]["detail"] == "fine"
    assert report["checks"]["b"]["duration_seconds"] >= 0


def test_failing_non_critical_check_degrades_but_stays_ready() -> None:
    monitor = HealthMonitor()
    monitor.register_check("cache", lambda: False)
    monitor.register_check("db", lambda: True, critical=True)
    assert monitor.get_health()["status"] == "degraded"
    assert monitor.get_health()["checks"]["cache"]["status"] == "fail"
    assert monitor.is_ready()


def test_failing_critical_check_is_unhealthy_and_not_ready() -> None:
    monitor = HealthMonitor()
    monitor.register_check("cache", lambda: False)
    monitor.register_check("db", lambda: (False, "connection refused"), critical=True)
    report = monitor.get_health()
    assert report["status"] == "unhealthy"
    assert report["checks"]["db"]["detail"] == "connection refused"
    assert not monitor.is_ready()


def test_check_that_raises_is_reported_as_error_with_message() -> None:
    def broken() -> bool:
        raise ConnectionError("redis down")

    monitor = HealthMonitor()
    monitor.register_check("redis", broken, critical=True)
    report = monitor.get_health()
    assert report["status"] == "unhealthy"
    assert report["checks"]["redis"]["status"] == "error"
    assert report["checks"]["redis"]["error"] == "redis down"
    assert report["checks"]["redis"]["error_type"] == "ConnectionError"


def test_raising_non_critical_check_makes_the_process_unhealthy() -> None:
    # given a passing critical check and a non-critical one that raises
    def broken() -> bool:
        raise RuntimeError("cache client not configured")

    monitor = HealthMonitor()
    monitor.register_check("db", lambda: True, critical=True)
    monitor.register_check("cache", broken)
    # when the health is asked for
    report = monitor.get_health()
    # then the raising check is an error with its message, and the whole process is unhealthy and not ready
    assert report["status"] == "unhealthy"
    assert {k: report["checks"]["cache"][k] for k in ("status", "error")} == {
        "status": "error",
        "error": "cache client not configured",
    }
    assert report["checks"]["db"]["status"] == "ok"
    assert not monitor.is_ready()


def test_raising_check_outweighs_a_failing_non_critical_one_whatever_the_order() -> None:
    def broken() -> bool:
        raise RuntimeError("x")

    monitor = HealthMonitor()
    monitor.register_check("broken", broken)
    monitor.register_check("optional", lambda: False)
    assert monitor.get_health()["status"] == "unhealthy"


def test_raising_check_without_a_message_is_described_by_its_exception_type() -> None:
    def broken() -> bool:
        raise TimeoutError

    monitor = HealthMonitor()
    monitor.register_check("slow", broken)
    assert monitor.get_health()["checks"]["slow"]["error"] == "TimeoutError"


def test_raising_check_message_has_credentials_masked() -> None:
    def broken() -> bool:
        raise ConnectionError("cannot reach redis://:s3cret@cache:6379/0")

    monitor = HealthMonitor()
    monitor.register_check("redis", broken, critical=True)
    error = monitor.get_health()["checks"]["redis"]["error"]
    assert "s3cret" not in error
    assert error.startswith("cannot reach redis://:***@cache:6379/0")


def test_raising_liveness_check_fails_liveness() -> None:
    def broken() -> bool:
        raise RuntimeError("loop state unreadable")

    monitor = HealthMonitor()
    monitor.register_check("loop", broken, liveness=True)
    report = monitor.get_liveness()
    assert report["status"] == "unhealthy"
    assert report["checks"]["loop"]["error"] == "loop state unreadable"
    assert not monitor.is_alive()


def test_register_replaces_and_unregister_removes() -> None:
    monitor = HealthMonitor()
    monitor.register_check("x", lambda: False, critical=True)
    monitor.register_check("x", lambda: True, critical=True)
    assert monitor.get_health()["status"] == "healthy"
    monitor.unregister_check("x")
    assert monitor.check_names == []


def test_liveness_uses_only_liveness_checks() -> None:
    # given a failing readiness dependency and a passing loop heartbeat
    monitor = HealthMonitor()
    monitor.register_check("redis", lambda: False, critical=True)
    monitor.register_check("loop", lambda: True, liveness=True)
    # then the process is alive but not ready
    assert monitor.is_alive()
    assert not monitor.is_ready()
    assert list(monitor.get_liveness()["checks"]) == ["loop"]


def test_failing_liveness_check_is_not_alive_even_if_not_critical() -> None:
    monitor = HealthMonitor()
    monitor.register_check("loop", lambda: False, liveness=True)
    assert monitor.get_liveness()["status"] == "unhealthy"
    assert not monitor.is_alive()


def test_heartbeat_check_fails_when_the_loop_stops_beating() -> None:
    # given a heartbeat on a controllable clock and a 30 s limit
    clock = FakeClock()
    beat = Heartbeat(clock=clock)
    check = heartbeat_check(beat, max_age=30)
    # when little time passes it is alive
    clock.now += 10
    assert check()[0] is True
    # when the loop stops beating for longer than the limit, it is not
    clock.now += 25
    healthy, detail = check()
    assert healthy is False
    assert "35.0s" in detail
    # and a new beat revives it
    beat.beat()
    assert check()[0] is True


def test_disk_writable_check_passes_on_a_writable_dir_and_leaves_nothing(tmp_path: Path) -> None:
    check = disk_writable_check(tmp_path)
    assert check()[0] is True
    assert list(tmp_path.iterdir()) == []


def test_disk_writable_check_fails_for_a_missing_dir_or_a_file(tmp_path: Path) -> None:
    missing = disk_writable_check(tmp_path / "nope")
    assert missing() == (False, f"{tmp_path / 'nope'} is not a directory")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert disk_writable_check(a_file)()[0] is False


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs procfs")
def test_disk_writable_check_fails_where_files_cannot_be_created() -> None:
    # /proc refuses new files even for root
    healthy, detail = disk_writable_check("/proc")()
    assert healthy is False
    assert "not writable" in detail
