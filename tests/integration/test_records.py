"""SerializedTaskRecord: JSON round trips, upstream compatibility, rejection of garbage, and signed records on a
real Redis list (D20)."""

from __future__ import annotations

import json
import pickle
import time
from typing import Any

import pytest

from graflow.distributed.records import RecordDecodeError, SerializedTaskRecord
from graflow.exceptions import GraflowError
from graflow.security.signing import BadSignatureError, NullSigner, PayloadSigner

SECRET = b"r" * 32


def make_record(**overrides: Any) -> SerializedTaskRecord:
    fields: dict[str, Any] = {
        "task_id": "fetch",
        "session_id": "session-1",
        "graph_hash": "a" * 64,
        "trace_id": "trace-1",
        "created_at": 1_700_000_000.5,
    }
    fields.update(overrides)
    return SerializedTaskRecord(**fields)


def test_every_field_round_trips_through_json() -> None:
    record = make_record(
        group_id="g1",
        parent_span_id="span-9",
        attempt=2,
        trace_context={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01", "tracestate": "k=v"},
        workflow_name="etl",
    )
    assert SerializedTaskRecord.from_json(record.to_json()) == record
    assert SerializedTaskRecord.from_json(record.to_json().encode()) == record


def test_defaults_give_each_record_its_own_id_and_enqueue_time() -> None:
    before = time.time()
    first, second = make_record(), make_record()
    assert first.record_id != second.record_id and len(first.record_id) == 32
    int(first.record_id, 16)
    assert before <= first.enqueued_at <= time.time()
    assert (first.group_id, first.parent_span_id, first.attempt, first.trace_context, first.workflow_name) == (
        None,
        None,
        0,
        None,
        None,
    )


def test_a_record_in_upstream_format_decodes_with_defaults() -> None:
    upstream = {
        "task_id": "t",
        "session_id": "s",
        "graph_hash": "h",
        "trace_id": "tr",
        "created_at": 1.0,
        "group_id": "g",
        "parent_span_id": None,
    }
    record = SerializedTaskRecord.from_json(json.dumps(upstream))
    assert (record.task_id, record.group_id, record.attempt) == ("t", "g", 0)


def test_unknown_fields_from_a_newer_producer_are_ignored() -> None:
    data = json.loads(make_record().to_json())
    data["added_in_a_later_version"] = {"x": 1}
    assert SerializedTaskRecord.from_json(json.dumps(data)).task_id == "fetch"


def test_integer_timestamps_are_accepted() -> None:
    data = json.loads(make_record().to_json())
    data["created_at"] = 1_700_000_000
    assert SerializedTaskRecord.from_json(json.dumps(data)).created_at == 1_700_000_000


def _with(**changes: Any) -> str:
    data = json.loads(make_record().to_json())
    for key, value in changes.items():
        if value is _DROP:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data)


_DROP = object()


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xff\xfe\x00",
        "not json at all",
        "",
        "[]",
        '"a string"',
        "null",
        "{}",
        _with(task_id=_DROP),
        _with(created_at=_DROP),
        _with(task_id=7),
        _with(session_id=None),
        _with(created_at="yesterday"),
        _with(created_at=True),
        _with(attempt=True),
        _with(attempt=-1),
        _with(attempt=1.5),
        _with(trace_context=["not", "a", "dict"]),
        _with(group_id=3),
        "NaN",
        '{"task_id": "t", "session_id": "s", "graph_hash": "h", "trace_id": null, "created_at": NaN}',
    ],
)
def test_garbage_is_rejected_as_undecodable(garbage: str | bytes) -> None:
    with pytest.raises(RecordDecodeError) as info:
        SerializedTaskRecord.from_json(garbage)
    assert info.value.reason == "undecodable"
    assert isinstance(info.value, GraflowError)
    assert "Undecodable task record" in str(info.value)


def test_record_decode_error_pickles_with_its_reason() -> None:
    error = pickle.loads(pickle.dumps(RecordDecodeError("missing field(s) task_id")))
    assert error.reason == "undecodable" and "task_id" in str(error)


def test_signed_records_round_trip_and_forgeries_are_refused() -> None:
    signer = PayloadSigner(SECRET)
    record = make_record(group_id="g")
    blob = record.to_signed(signer)
    assert SerializedTaskRecord.from_signed(blob, signer) == record
    forged = blob.replace(b'"fetch"', b'"evil!"')
    with pytest.raises(BadSignatureError) as info:
        SerializedTaskRecord.from_signed(forged, signer)
    assert info.value.reason == "bad_signature"
    with pytest.raises(BadSignatureError) as info:
        SerializedTaskRecord.from_signed(record.to_json().encode(), signer)
    assert info.value.reason == "bad_magic"


def test_a_signed_frame_holding_garbage_is_undecodable() -> None:
    signer = PayloadSigner(SECRET)
    with pytest.raises(RecordDecodeError):
        SerializedTaskRecord.from_signed(signer.sign(b"[1, 2]"), signer)


def test_signed_records_cross_a_real_redis_list(redis_client: Any, key_prefix: str) -> None:
    # given a producer pushing signed records and a worker popping them
    signer = PayloadSigner(SECRET)
    queue = f"{key_prefix}:queue"
    records = [make_record(task_id=f"t{i}") for i in range(3)]
    redis_client.rpush(queue, *(r.to_signed(signer) for r in records))
    redis_client.rpush(queue, NullSigner().sign(make_record(task_id="unsigned").to_json().encode()))
    # when the worker decodes them, then the signed ones arrive intact and the unsigned one is refused
    received = [SerializedTaskRecord.from_signed(redis_client.lpop(queue), signer) for _ in range(3)]
    assert received == records
    with pytest.raises(BadSignatureError) as info:
        SerializedTaskRecord.from_signed(redis_client.lpop(queue), signer)
    assert info.value.reason == "unsigned"
