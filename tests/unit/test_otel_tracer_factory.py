"""create_tracer: a tracer from ``{"type": ..., **options}``."""

from __future__ import annotations

import io

import pytest

from graflow.exceptions import ConfigError
from graflow.trace.console import ConsoleTracer
from graflow.trace.factory import create_tracer
from graflow.trace.noop import NoopTracer


@pytest.mark.parametrize("config", [None, {}, {"type": "noop"}, {"type": " NOOP "}])
def test_default_and_noop_configs_give_a_noop_tracer(config: dict[str, str] | None) -> None:
    assert type(create_tracer(config)) is NoopTracer


def test_options_reach_the_tracer() -> None:
    stream = io.StringIO()
    tracer = create_tracer({"type": "console", "enable_colors": False, "stream": stream, "indent_size": 4})
    assert isinstance(tracer, ConsoleTracer)
    assert tracer.indent_size == 4 and tracer.enable_colors is False
    noop = create_tracer({"type": "noop", "enable_runtime_graph": False})
    assert noop.get_runtime_graph() is None


def test_otel_type() -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider

    from graflow.trace.otel import OtelTracer

    provider = TracerProvider()
    tracer = create_tracer({"type": "otel", "tracer_provider": provider, "messaging_system": "redis"})
    assert isinstance(tracer, OtelTracer)
    assert create_tracer({"type": "opentelemetry"}).__class__ is OtelTracer


def test_langfuse_type_passes_keys_and_validates_them(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    pytest.importorskip("langfuse")
    from graflow.trace.langfuse import LangFuseTracer

    for key in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_HOST"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(str(tmp_path))
    assert isinstance(create_tracer({"type": "langfuse", "enabled": False}), LangFuseTracer)
    with pytest.raises(ValueError, match="LANGFUSE_PUBLIC_KEY"):
        create_tracer({"type": "langfuse"})


def test_unknown_type_is_a_config_error_listing_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"'zipkin'.*console"):
        create_tracer({"type": "zipkin"})


def test_unknown_option_is_a_config_error_naming_the_type() -> None:
    with pytest.raises(ConfigError, match="'console'"):
        create_tracer({"type": "console", "colour": True})
