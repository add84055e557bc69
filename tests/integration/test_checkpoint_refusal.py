"""Resume refuses torn, truncated, tampered, foreign and incomplete checkpoints, naming the failed check (D22)."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from graflow import task, workflow
from graflow.checkpoints.base import CheckpointError
from graflow.core.checkpoint import CheckpointManager
from graflow.exceptions import GraflowError

SECRET = "s" * 40


def _make_checkpoint(tmp_path: Path, name: str = "ck") -> Path:
    with workflow("refusal") as wf:

        @task(inject_context=True)
        def first(ctx: Any) -> None:
            ctx.get_channel().set("k", "v")
            ctx.checkpoint({"note": "x"}, path=str(tmp_path / name))

        @task
        def second() -> str:
            return "done"

        first >> second

    wf.execute()
    return tmp_path / name


def _refused(base: Path) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        CheckpointManager.resume_from_checkpoint(str(base) + ".pkl")
    assert isinstance(info.value, GraflowError)
    return info.value


def _rewrite_meta(base: Path, **changes: Any) -> None:
    meta_path = Path(str(base) + ".meta.json")
    meta = json.loads(meta_path.read_text())
    meta.update(changes)
    meta_path.write_text(json.dumps(meta, indent=2))


@pytest.mark.parametrize("suffix", [".pkl", ".state.json", ".meta.json"])
def test_a_missing_file_is_refused(tmp_path: Path, suffix: str) -> None:
    # given a checkpoint with one of its three files gone
    base = _make_checkpoint(tmp_path)
    Path(str(base) + suffix).unlink()

    # when resumed, then it is refused for the missing file
    error = _refused(base)
    assert error.check == "missing"
    assert suffix in str(error)
    assert "missing check failed" in str(error)


def test_a_truncated_pickle_is_refused_by_checksum(tmp_path: Path) -> None:
    # given a checkpoint whose .pkl lost its tail (a torn write)
    base = _make_checkpoint(tmp_path)
    pkl = Path(str(base) + ".pkl")
    pkl.write_bytes(pkl.read_bytes()[: pkl.stat().st_size // 2])

    # when resumed, then the checksum check fails
    error = _refused(base)
    assert error.check == "checksum"
    assert ".pkl sha256" in str(error) and "checksum check failed" in str(error)


def test_a_flipped_byte_in_the_pickle_is_refused(tmp_path: Path) -> None:
    base = _make_checkpoint(tmp_path)
    pkl = Path(str(base) + ".pkl")
    data = bytearray(pkl.read_bytes())
    data[len(data) // 2] ^= 0x01
    pkl.write_bytes(bytes(data))

    assert _refused(base).check == "checksum"


def test_an_edited_state_file_is_refused(tmp_path: Path) -> None:
    # given a checkpoint whose state was edited to resume at another task
    base = _make_checkpoint(tmp_path)
    state_path = Path(str(base) + ".state.json")
    state = json.loads(state_path.read_text())
    state["resuming_task_id"] = "first"
    state_path.write_text(json.dumps(state, indent=2))

    # when resumed, then it is refused
    error = _refused(base)
    assert error.check == "checksum" and ".state.json" in str(error)


def test_a_meta_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    base = _make_checkpoint(tmp_path)
    Path(str(base) + ".meta.json").write_text('{"checkpoint_id": ')

    assert _refused(base).check == "meta"


def test_a_checkpoint_without_integrity_fields_is_refused(tmp_path: Path) -> None:
    # given an upstream-style meta file without our checksum fields
    base = _make_checkpoint(tmp_path)
    meta_path = Path(str(base) + ".meta.json")
    meta = json.loads(meta_path.read_text())
    for name in ("format_version", "pkl_sha256", "state_sha256", "channel_sha256", "graph_hash", "signature"):
        meta.pop(name)
    meta_path.write_text(json.dumps(meta))

    assert _refused(base).check == "format_version"


def test_an_unknown_format_version_is_refused(tmp_path: Path) -> None:
    base = _make_checkpoint(tmp_path)
    _rewrite_meta(base, format_version=99)

    error = _refused(base)
    assert error.check == "format_version" and "99" in str(error)


def test_a_pickle_is_never_loaded_before_its_checksum_matches(tmp_path: Path) -> None:
    # given a checkpoint whose .pkl was replaced by a pickle that would create a file when loaded
    base = _make_checkpoint(tmp_path)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> Any:
            return (open, (str(marker), "w"))

    Path(str(base) + ".pkl").write_bytes(pickle.dumps(Payload()))

    # when resumed, then it is refused and the payload never ran
    assert _refused(base).check == "checksum"
    assert not marker.exists()


def test_a_pickle_that_is_not_a_context_is_refused(tmp_path: Path) -> None:
    # given a checkpoint whose pickle (with matching checksum) holds something else
    base = _make_checkpoint(tmp_path)
    data = pickle.dumps({"not": "a context"})
    Path(str(base) + ".pkl").write_bytes(data)
    _rewrite_meta(base, pkl_sha256=hashlib.sha256(data).hexdigest())

    error = _refused(base)
    assert error.check == "unpickle" and "dict" in str(error)


def test_a_graph_hash_mismatch_is_refused_after_loading(tmp_path: Path) -> None:
    base = _make_checkpoint(tmp_path)
    _rewrite_meta(base, graph_hash="0" * 64)

    error = _refused(base)
    assert error.check == "graph_hash" and "0" * 12 in str(error)


def test_signed_checkpoint_resumes_with_the_same_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a secret configured while the checkpoint is written and read
    monkeypatch.setenv("GRAFLOW_SECRET_KEY", SECRET)
    base = _make_checkpoint(tmp_path)

    # when resumed, then it loads and the meta carries a signature
    ctx, meta = CheckpointManager.resume_from_checkpoint(str(base))
    assert meta.signature and len(meta.signature) > 64
    assert ctx.execute() == "done"


def test_tampering_with_recomputed_checksums_is_caught_by_the_signature(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a signed checkpoint whose pickle was replaced and whose checksum was recomputed by the attacker
    monkeypatch.setenv("GRAFLOW_SECRET_KEY", SECRET)
    base = _make_checkpoint(tmp_path)
    data = pickle.dumps({"evil": True})
    Path(str(base) + ".pkl").write_bytes(data)
    _rewrite_meta(base, pkl_sha256=hashlib.sha256(data).hexdigest())

    # when resumed, then the signature check fails
    error = _refused(base)
    assert error.check == "signature"


def test_a_checkpoint_signed_with_another_secret_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFLOW_SECRET_KEY", SECRET)
    base = _make_checkpoint(tmp_path)
    monkeypatch.setenv("GRAFLOW_SECRET_KEY", "t" * 40)

    assert _refused(base).check == "signature"


def test_an_unsigned_checkpoint_is_refused_when_a_secret_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRAFLOW_SECRET_KEY", raising=False)
    base = _make_checkpoint(tmp_path)
    monkeypatch.setenv("GRAFLOW_SECRET_KEY", SECRET)

    error = _refused(base)
    assert error.check == "signature" and "not signed" in str(error)


def test_a_signed_checkpoint_is_refused_without_the_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFLOW_SECRET_KEY", SECRET)
    base = _make_checkpoint(tmp_path)
    monkeypatch.delenv("GRAFLOW_SECRET_KEY")

    error = _refused(base)
    assert error.check == "signature" and "no signing secret" in str(error)


def test_a_location_nothing_was_written_to_is_refused(tmp_path: Path) -> None:
    error = _refused(tmp_path / "never-written")
    assert error.check == "missing"


def test_verify_checkpoint_checks_without_loading(tmp_path: Path) -> None:
    # given a good checkpoint and a corrupted copy of its pickle
    base = _make_checkpoint(tmp_path)
    meta = CheckpointManager.verify_checkpoint(str(base))
    Path(str(base) + ".pkl").write_bytes(b"garbage")

    # then verification passes before and fails after
    assert meta.steps == 1
    with pytest.raises(CheckpointError, match="checksum"):
        CheckpointManager.verify_checkpoint(str(base))


def test_an_unknown_scheme_is_refused_and_s3_is_not_implemented() -> None:
    with pytest.raises(CheckpointError, match="no checkpoint store"):
        CheckpointManager.resume_from_checkpoint("ftp://host/ck")
    with pytest.raises(NotImplementedError, match="s3"):
        CheckpointManager.resume_from_checkpoint("s3://bucket/ck")
