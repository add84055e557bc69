"""The Grafana dashboard only queries metrics and labels that Graflow really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

prometheus_client = pytest.importorskip("prometheus_client")

from prometheus_client.parser import text_string_to_metric_families

from graflow.observability.metrics import MetricsHook

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "graflow.json"
# Series Prometheus makes itself for every scrape target; labels it adds to every series.
PROMETHEUS_SERIES = {"up"}
PROMETHEUS_LABELS = {"job", "instance", "le", "__name__"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}

_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\[)")
_GRAFLOW_NAME = re.compile(r"\bgraflow_[a-zA-Z0-9_:]*")
_LABEL_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def _dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the dashboard: panel targets and template variable queries."""
    dash = _dashboard()
    queries = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    for var in dash["templating"]["list"]:
        if var.get("type") == "query":
            text = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            match = re.fullmatch(r"label_values\((.*),\s*([a-zA-Z_]+)\)", text)
            assert match, f"unexpected variable query {text!r}"
            queries.append(match.group(1))
    return queries


def _exported() -> tuple[set[str], set[str]]:
    """Sample names and label names of a registry that saw one of every event."""
    registry = prometheus_client.CollectorRegistry()
    hook = MetricsHook(registry=registry)
    collector = hook.collector
    collector.record_task_started("t", workflow="w")
    collector.record_task_execution("t", 0.1, "success", workflow="w")
    collector.record_task_retry("t", workflow="w")
    collector.record_workflow_execution("w", 1.0, 1, status="success")
    collector.record_queue_depth("q", 1)
    collector.record_queue_wait("q", 0.1)
    collector.record_redelivery("q")
    collector.record_dead_letter("q", "max_deliveries")
    collector.record_payload_rejected("q", "bad_signature")
    collector.record_checkpoint_write(0.1, workflow="w")
    names: set[str] = set()
    labels: set[str] = set()
    text = prometheus_client.generate_latest(registry).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            names.add(sample.name)
            labels.update(sample.labels)
    return names, labels


def test_dashboard_is_valid_grafana_json_with_the_required_panels() -> None:
    dash = _dashboard()
    assert dash["uid"] and dash["title"] == "Graflow"
    titles = " | ".join(p["title"].lower() for p in dash["panels"])
    for topic in ("workflow runs", "task attempts", "latency quantiles", "failure", "queue depth", "queue wait",
                  "dead letters", "workers up", "retries"):
        assert topic in titles, f"no panel about {topic!r} in: {titles}"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    exported, _ = _exported()
    for query in dashboard_queries():
        for name in set(_GRAFLOW_NAME.findall(query)) | set(_SELECTOR.findall(query)):
            if name in PROMQL_WORDS:
                continue
            assert name in exported or name in PROMETHEUS_SERIES, f"{name!r} in {query!r} is not exported"


def test_every_label_the_dashboard_uses_exists() -> None:
    _, labels = _exported()
    known = labels | PROMETHEUS_LABELS
    for query in dashboard_queries():
        used = set(_LABEL_MATCHER.findall(query))
        for group in _GROUPING.findall(query):
            used.update(label.strip() for label in group.split(",") if label.strip())
        unknown = used - known
        assert not unknown, f"labels {sorted(unknown)} in {query!r} are not exported"


def test_the_checker_catches_an_unknown_metric() -> None:
    # guard against a checker that accepts anything
    exported, _ = _exported()
    bogus = 'sum(rate(graflow_task_runs_total{job=~"$job"}[5m]))'
    names = set(_GRAFLOW_NAME.findall(bogus)) | set(_SELECTOR.findall(bogus))
    assert names - exported - PROMETHEUS_SERIES == {"graflow_task_runs_total"}
