"""`canaria fetch` against a real local HTTP server and real files."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from canaria_operator.cli import main
from canaria_operator.fetch import CHUNK, FetchError, fetch, s3_request, verify
from tests.operator.modelserver import Behaviour, model_server

PAYLOAD = bytes(range(256)) * (3 * CHUNK // 256 + 17)  # several chunks, not a multiple
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "model.onnx").write_bytes(PAYLOAD)
    return tmp_path / "srv"


def test_http_fetch_verifies_digest(root: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "model.onnx"
    with model_server(Behaviour(root)) as base:
        size = fetch(f"{base}/model.onnx", dest, DIGEST)
    assert size == len(PAYLOAD)
    assert dest.read_bytes() == PAYLOAD
    assert list(dest.parent.iterdir()) == [dest]  # no temporary file left


def test_wrong_digest_is_refused_and_nothing_is_left(root: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "model.onnx"
    with model_server(Behaviour(root)) as base, pytest.raises(FetchError) as info:
        fetch(f"{base}/model.onnx", dest, "0" * 64)
    assert info.value.code == 3
    assert f"expected {'0' * 64}, got {DIGEST}" in info.value.message
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_transient_errors_are_retried_with_backoff(root: Path, tmp_path: Path) -> None:
    waits: list[float] = []
    behaviour = Behaviour(root, fail_first=2)
    with model_server(behaviour) as base:
        fetch(
            f"{base}/model.onnx",
            tmp_path / "m.onnx",
            DIGEST,
            sleep=waits.append,
            log=lambda _: None,
        )
    assert waits == [1.0, 2.0]
    assert len(behaviour.requests) == 3


def test_client_errors_are_not_retried(root: Path, tmp_path: Path) -> None:
    behaviour = Behaviour(root)
    with model_server(behaviour) as base, pytest.raises(FetchError) as info:
        fetch(f"{base}/missing.onnx", tmp_path / "m.onnx", sleep=lambda _: None)
    assert info.value.code == 5
    assert "HTTP 404" in info.value.message
    assert len(behaviour.requests) == 1


def test_unreachable_gives_up_after_retries(tmp_path: Path) -> None:
    waits: list[float] = []
    with model_server(Behaviour(tmp_path)) as base:
        pass  # the port is closed again: connection refused
    with pytest.raises(FetchError) as info:
        fetch(
            f"{base}/m.onnx", tmp_path / "m.onnx", retries=2, sleep=waits.append, log=lambda _: None
        )
    assert info.value.code == 4
    assert "gave up after 3 attempts" in info.value.message
    assert waits == [1.0, 2.0]


def test_bearer_token_is_sent(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANARIA_FETCH_BEARER_TOKEN", "s3cret")
    behaviour = Behaviour(root)
    with model_server(behaviour) as base:
        fetch(f"{base}/model.onnx", tmp_path / "m.onnx")
    assert behaviour.headers[0]["Authorization"] == "Bearer s3cret"


def test_file_and_bad_sources(root: Path, tmp_path: Path) -> None:
    assert fetch(f"file://{root}/model.onnx", tmp_path / "m.onnx", DIGEST) == len(PAYLOAD)
    for uri, words in [
        (f"file://{root}/nope.onnx", "cannot read"),
        ("pvc://claim/m.onnx", "unsupported uri"),
        ("ftp://host/m.onnx", "unsupported uri"),
    ]:
        with pytest.raises(FetchError, match=words) as info:
            fetch(uri, tmp_path / "x.onnx")
        assert info.value.code == 6


def test_verify_only_checks_the_file_where_it_is(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pvc:// model is mounted: its digest is checked in place, nothing is written."""
    model = root / "model.onnx"
    assert verify(f"file://{model}", DIGEST) == len(PAYLOAD)
    with pytest.raises(FetchError, match="sha256 mismatch") as info:
        verify(f"file://{model}", "1" * 64)
    assert info.value.code == 3
    before = sorted(p.name for p in root.iterdir())
    ok = main(["fetch", f"file://{model}", "--sha256", DIGEST, "--verify-only"])
    bad = main(["fetch", f"file://{model}", "--sha256", "2" * 64, "--verify-only"])
    no_digest = main(["fetch", f"file://{model}", "--verify-only"])
    no_dest = main(["fetch", f"file://{model}"])
    assert (ok, bad, no_digest, no_dest) == (0, 3, 2, 2)
    assert sorted(p.name for p in root.iterdir()) == before
    err = capsys.readouterr().err
    assert "sha256 mismatch" in err
    assert "--verify-only needs --sha256" in err
    assert "--dest is required" in err


def test_cli_exit_codes_and_messages(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with model_server(Behaviour(root)) as base:
        ok = main(
            ["fetch", f"{base}/model.onnx", "--dest", str(tmp_path / "a.onnx"), "--sha256", DIGEST]
        )
        bad = main(
            [
                "fetch",
                f"{base}/model.onnx",
                "--dest",
                str(tmp_path / "b.onnx"),
                "--sha256",
                "1" * 64,
            ]
        )
    assert (ok, bad) == (0, 3)
    err = capsys.readouterr().err
    assert "canaria fetch: sha256 mismatch" in err


def test_s3_request_is_signed_with_sigv4(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    url, headers = s3_request("s3://models/iris/v1.onnx", now=when)
    assert url == "https://models.s3.eu-west-1.amazonaws.com/iris/v1.onnx"
    auth = headers["authorization"]
    assert auth.startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/eu-west-1/s3/aws4_request"
    )
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date" in auth
    assert headers["x-amz-date"] == "20260102T030405Z"
    # deterministic: same inputs, same signature; another key, another signature
    assert s3_request("s3://models/iris/v1.onnx", now=when)[1] == headers
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "other")
    assert s3_request("s3://models/iris/v1.onnx", now=when)[1]["authorization"] != auth


def test_s3_custom_endpoint_is_path_style(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    url, headers = s3_request("s3://models/a b.onnx")
    assert (url, headers) == ("http://127.0.0.1:9000/models/a%20b.onnx", {})
