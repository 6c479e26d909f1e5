"""Feedback on real `canaria serve` processes: ids assigned and returned, truths matched to
the process that answered (also when the call arrives at another one), per-version metrics,
and every kind of bad feedback answered with a 4xx that names it and counted."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression

from canaria_serving import contract
from tests.serving.conftest import stop_server, wait_ready, write_model

N = 4


def _port(*hosts: str) -> int:
    """A port free on every one of ``hosts``."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((hosts[0], 0))
            port = int(s.getsockname()[1])
        try:
            for h in hosts[1:]:
                with socket.socket() as s:
                    s.bind((h, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no common free port")


def _env(retention: float = 60, peers: str = "", db: Path | None = None) -> dict[str, str]:
    env = {contract.ENV_FEEDBACK_RETENTION_S: str(retention), "CANARIA_FEEDBACK_PEERS": peers}
    if db is not None:
        env[contract.ENV_FEEDBACK_DB] = str(db)
    return env


class Server:
    def __init__(self, path: Path, host: str, port: int, env: dict[str, str], *args: str) -> None:
        cmd = [sys.executable, "-m", "canaria_operator.cli", "serve", str(path)]
        cmd += ["--host", host, "--port", str(port), *args]
        self.proc = subprocess.Popen(cmd, env={**os.environ, **env}, stderr=subprocess.PIPE)
        self.url = f"http://{host}:{port}"
        wait_ready(self.url, self.proc)
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def infer(self, rows: np.ndarray, rid: str | None = None, header: str | None = None) -> Any:
        body: dict[str, Any] = {
            "inputs": [
                {
                    "name": "X",
                    "shape": list(rows.shape),
                    "datatype": "FP32",
                    "data": rows.ravel().tolist(),
                }
            ]
        }
        if rid is not None:
            body["id"] = rid
        headers = {contract.HEADER_REQUEST_ID: header} if header else {}
        return self.http.post(contract.v2_infer_path(self.model), json=body, headers=headers)

    model = "clf"

    def feedback(self, *items: tuple[str, object]) -> httpx.Response:
        body = {"feedback": [{"id": i, "truth": t} for i, t in items]}
        return self.http.post(contract.v2_feedback_path(self.model), json=body)

    def metric(self, name: str, **labels: str) -> float:
        text = self.http.get(contract.PATH_METRICS).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self) -> None:
        self.http.close()
        stop_server(self.proc)


@pytest.fixture(scope="module")
def clf_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, np.ndarray]:
    x, y = make_classification(
        n_samples=300, n_features=N, n_informative=3, n_redundant=0, n_classes=3, random_state=3
    )
    x = x.astype(np.float32)
    est = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(x, y)
    path = write_model(tmp_path_factory.mktemp("fb") / "clf.onnx", est, x, "clf", "classification")
    return path, est, x


@pytest.fixture(scope="module")
def pair(
    clf_model: tuple[Path, Any, np.ndarray], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    """Two pods of one model (127.0.0.2 and .3, the same port), each the other's peer."""
    path, _, _ = clf_model
    port = _port("127.0.0.2", "127.0.0.3")
    peers = "127.0.0.2,127.0.0.3"
    tmp = tmp_path_factory.mktemp("fbdb")
    a = Server(path, "127.0.0.2", port, _env(peers=peers, db=tmp / "a.db"), "--track", "stable")
    b = Server(path, "127.0.0.3", port, _env(peers=peers, db=tmp / "b.db"), "--track", "canary")
    yield a, b
    a.stop()
    b.stop()


def _rows(x: np.ndarray, i: int, n: int = 1) -> np.ndarray:
    return x[i : i + n]


def test_an_id_is_assigned_and_returned_when_the_client_sends_none(
    pair: tuple[Server, Server],
) -> None:
    a, _ = pair
    x = np.ones((1, N), np.float32)
    first, second = a.infer(x), a.infer(x)
    assert first.status_code == 200
    ids = {first.headers[contract.HEADER_REQUEST_ID], second.headers[contract.HEADER_REQUEST_ID]}
    assert len(ids) == 2
    assert a.infer(x, header="mine-1").headers[contract.HEADER_REQUEST_ID] == "mine-1"
    answered = a.infer(x, rid="body-1", header="hdr-1")  # the V2 body's id wins
    assert answered.headers[contract.HEADER_REQUEST_ID] == "body-1"
    assert answered.json()["id"] == "body-1"


def test_truth_reaches_the_pod_that_answered_whichever_pod_receives_it(
    pair: tuple[Server, Server], clf_model: tuple[Path, Any, np.ndarray]
) -> None:
    a, b = pair
    _, _, x = clf_model
    before = {
        s: (s.metric("canaria_feedback_labelled_total"), s.metric("canaria_feedback_correct_total"))
        for s in pair
    }
    truths = {}
    for i in range(6):
        server = b if i % 2 else a
        resp = server.infer(_rows(x, i), rid=f"t-{i}")
        predicted = resp.json()["outputs"][0]["data"][0]
        truths[f"t-{i}"] = int(predicted) if i < 4 else (int(predicted) + 1) % 3  # 2 wrong
    time.sleep(0.2)
    # all six truths sent to a: a's three through a, b's three fanned out to b
    resp = a.feedback(*truths.items())
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"accepted": 6}
    labelled = {s: s.metric("canaria_feedback_labelled_total") - before[s][0] for s in pair}
    correct = {s: s.metric("canaria_feedback_correct_total") - before[s][1] for s in pair}
    assert labelled == {a: 3, b: 3}
    assert correct == {a: 2, b: 2}  # t-4 (a) and t-5 (b) wrong
    assert "canaria_feedback_absolute_error_total" not in a.http.get("/metrics").text
    assert b.metric("canaria_feedback_labelled_total", track="canary") >= 3


def test_bad_feedback_gets_a_4xx_naming_it_and_unmatched_items_are_counted(
    pair: tuple[Server, Server], clf_model: tuple[Path, Any, np.ndarray]
) -> None:
    a, b = pair
    _, _, x = clf_model
    unknown_before = a.metric("canaria_feedback_unmatched_total", reason="unknown")
    a.infer(_rows(x, 0), rid="dup-1")
    time.sleep(0.1)
    assert a.feedback(("dup-1", 0)).status_code == 200
    dup = b.feedback(("dup-1", 0))
    assert dup.status_code == 409
    assert dup.json()["unmatched"] == [{"id": "dup-1", "reason": "duplicate"}]
    missing = a.feedback(("never-seen", 1))
    assert missing.status_code == 404
    assert "'never-seen' (unknown)" in missing.json()["error"]
    assert a.metric("canaria_feedback_unmatched_total", reason="unknown") == unknown_before + 1
    wrong = a.feedback(("x", 0.5))
    assert wrong.status_code == 400
    assert "wrong type" in wrong.json()["error"]
    malformed = a.http.post(contract.v2_feedback_path("clf"), content=b"{nope")
    assert malformed.status_code == 400
    assert "malformed JSON" in malformed.json()["error"]
    assert a.http.post(contract.v2_feedback_path("other"), json={"feedback": []}).status_code == 404
    a.infer(_rows(x, 1, 2), rid="two-rows")
    time.sleep(0.1)
    misfit = a.feedback(("two-rows", 1))
    assert misfit.status_code == 422
    assert a.feedback(("two-rows", [1, 2])).status_code == 200  # corrected: taken


def test_a_truth_after_the_retention_is_expired_and_counted(
    clf_model: tuple[Path, Any, np.ndarray], tmp_path: Path
) -> None:
    path, _, x = clf_model
    port = _port("127.0.0.4")
    server = Server(path, "127.0.0.4", port, _env(retention=1, db=tmp_path / "e.db"))
    try:
        server.infer(_rows(x, 0), rid="late")
        time.sleep(2.5)  # past the retention, and swept
        resp = server.feedback(("late", 0))
        assert resp.status_code == 404
        assert resp.json()["unmatched"] == [{"id": "late", "reason": "expired"}]
        assert server.metric("canaria_feedback_unmatched_total", reason="expired") == 1
        assert server.metric("canaria_feedback_dropped_total", reason="expired") == 1
    finally:
        server.stop()


def test_a_pod_that_does_not_answer_makes_its_share_unreachable(
    clf_model: tuple[Path, Any, np.ndarray], tmp_path: Path
) -> None:
    path, _, _ = clf_model
    port = _port("127.0.0.5", "127.0.0.6")
    env = _env(peers="127.0.0.5,127.0.0.6", db=tmp_path / "u.db")
    server = Server(path, "127.0.0.5", port, env)  # nobody listens on 127.0.0.6
    try:
        resp = server.feedback(("somewhere", 1))
        assert resp.status_code == 404
        assert resp.json()["unmatched"] == [{"id": "somewhere", "reason": "unreachable"}]
    finally:
        server.stop()


def test_regressors_export_absolute_and_squared_error(tmp_path: Path) -> None:
    x, y = make_regression(n_samples=100, n_features=N, random_state=0)
    x = x.astype(np.float32)
    est = LinearRegression().fit(x, y)
    path = write_model(tmp_path / "reg.onnx", est, x, "reg", "regression")
    server = Server(path, "127.0.0.7", _port("127.0.0.7"), _env(db=tmp_path / "r.db"))
    server.model = "reg"
    try:
        predicted = float(server.infer(_rows(x, 0), rid="r1").json()["outputs"][0]["data"][0])
        time.sleep(0.1)
        assert server.feedback(("r1", predicted + 2.0)).status_code == 200
        assert server.metric("canaria_feedback_labelled_total") == 1
        assert server.metric("canaria_feedback_absolute_error_total") == pytest.approx(
            2.0, rel=1e-4
        )
        assert server.metric("canaria_feedback_squared_error_total") == pytest.approx(4.0, rel=1e-4)
        assert server.feedback(("r2", "high")).status_code == 400
    finally:
        server.stop()


def test_feedback_is_off_unless_a_retention_is_set(
    clf_model: tuple[Path, Any, np.ndarray],
) -> None:
    path, _, _ = clf_model
    server = Server(path, "127.0.0.8", _port("127.0.0.8"), {})
    try:
        resp = server.feedback(("a", 1))
        assert resp.status_code == 404
        assert "feedback is off" in resp.json()["error"]
        assert server.infer(np.ones((1, N), np.float32)).headers[contract.HEADER_REQUEST_ID]
    finally:
        server.stop()


def test_recent_payloads_come_back_as_v2_requests_that_replay_the_same_answer(
    clf_model: tuple[Path, Any, np.ndarray], tmp_path: Path
) -> None:
    path, _, x = clf_model
    log = tmp_path / "payloads.jsonl"
    server = Server(path, "127.0.0.9", _port("127.0.0.9"), {}, "--payload-log", str(log))
    try:
        answers = [server.infer(_rows(x, i), rid=f"p-{i}").json() for i in range(3)]
        server.http.post(
            contract.PATH_PREDICT_BATCH, json={"instances": x[3:5].tolist()}
        ).raise_for_status()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(log.read_text().splitlines()) < 4:
            time.sleep(0.1)
        got = server.http.get(contract.PATH_INTERNAL_PAYLOADS, params={"limit": 10}).json()
        assert got["model"] == "clf"
        records = got["records"]
        assert [r["id"] for r in records[:3]] == ["p-0", "p-1", "p-2"]
        assert records[3]["body"]["inputs"][0]["shape"] == [2, N]  # a /predict_batch request
        for record, answer in zip(records[:3], answers, strict=True):
            again = server.http.post(contract.v2_infer_path("clf"), json=record["body"]).json()
            label = next(o for o in again["outputs"] if o["name"] == "label")
            first = next(o for o in answer["outputs"] if o["name"] == "label")
            assert label["data"] == first["data"]
            assert record["outputs"]["label"] == first["data"]
        bad = server.http.get(contract.PATH_INTERNAL_PAYLOADS, params={"limit": 0})
        assert bad.status_code == 400
    finally:
        server.stop()
    off = Server(path, "127.0.0.9", _port("127.0.0.9"), {})
    try:
        assert off.http.get(contract.PATH_INTERNAL_PAYLOADS).status_code == 404
    finally:
        off.stop()


def test_every_worker_of_a_pod_matches_every_other_workers_predictions(
    clf_model: tuple[Path, Any, np.ndarray], tmp_path: Path
) -> None:
    """Several worker processes share the pod's store: a truth is matched whichever worker
    answered the request and whichever receives the truth. The ids the server assigns start
    with a per-process prefix, which shows that both workers answered."""
    path, _, x = clf_model
    env = _env(db=tmp_path / "w.db")
    server = Server(path, "127.0.0.10", _port("127.0.0.10"), env, "--workers", "2")
    try:
        ids: list[str] = []
        for i in range(60):
            with httpx.Client(base_url=server.url, timeout=10) as fresh:  # a new connection
                server.http = fresh
                resp = server.infer(_rows(x, i % len(x)))
                assert resp.status_code == 200
                ids.append(resp.headers[contract.HEADER_REQUEST_ID])
        assert len({rid.split("-")[0] for rid in ids}) == 2, "one worker answered everything"
        time.sleep(0.3)
        for rid in ids:  # one call per id, each on a new connection: either worker takes it
            with httpx.Client(base_url=server.url, timeout=10) as one:
                body = {"feedback": [{"id": rid, "truth": 0}]}
                resp = one.post(contract.v2_feedback_path("clf"), json=body)
                assert resp.status_code == 200, resp.text
        server.http = httpx.Client(base_url=server.url, timeout=10)
    finally:
        server.stop()
