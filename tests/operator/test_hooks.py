"""Calling the webhooks (real HTTP on 127.0.0.1): only the hooks due, a 2xx passes, anything
else or no answer in time fails with the answer, rollout hooks become checks of the round,
and every hook gets the JSON body Flagger users expect."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from canaria_operator.analysis import CheckResult, Verdict
from canaria_operator.reconcile import Snapshot
from canaria_operator.reconcile.hooks import HookRunner
from canaria_operator.rollout import HookType
from tests.operator.helpers import SHA, make_md

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[tuple[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                receiver.bodies.append((self.path, body))
                if self.path == "/slow":
                    time.sleep(1.5)
                code = {"/ok": 200, "/fail": 503, "/slow": 200}.get(self.path, 404)
                payload = b"not yet" if code == 503 else b"fine"
                self.send_response(code)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def _snap(receiver: Receiver, gate: str | None, **state: Any) -> Snapshot:
    hooks = [
        {
            "name": "ok",
            "type": "confirm-promotion",
            "url": f"{receiver.url}/ok",
            "metadata": {"team": "ml"},
        },
        {"name": "fail", "type": "confirm-promotion", "url": f"{receiver.url}/fail"},
        {"name": "slow", "type": "rollout", "url": f"{receiver.url}/slow", "timeout": "500ms"},
        {"name": "gone", "type": "rollback", "url": "http://127.0.0.1:9/"},
        {"name": "note", "type": "post-rollout", "url": f"{receiver.url}/ok"},
    ]
    rollout = {
        "phase": "Progressing",
        "stage": "Steps",
        "stableVersion": "v1",
        "canaryVersion": "v2",
        "canaryWeight": 50,
        "stepIndex": 1,
        "stepStartedAt": "2026-01-01T11:59:00Z",
        "lastAnalysisAt": "2026-01-01T11:59:59Z",
        "gate": gate,
        **state,
    }
    md = make_md(
        {
            "model": {"uri": "https://m.local/v2.onnx", "version": "v2", "sha256": SHA},
            "rollout": {"analysisInterval": "30s", "webhooks": hooks},
        },
        status={"rollout": rollout, "analysis": [{"metric": "error-rate", "verdict": "Failed"}]},
    )
    return Snapshot.of(md)


async def test_gate_hooks_are_called_and_answered(receiver: Receiver) -> None:
    runner = HookRunner()
    try:
        answers, checks = await runner.run(_snap(receiver, "ConfirmPromotion"), NOW, [])
    finally:
        await runner.aclose()
    got = {a.name: (a.type, a.passed, a.code, a.message) for a in answers}
    assert got["ok"] == (HookType.CONFIRM_PROMOTION, True, 200, "fine")
    assert got["fail"] == (HookType.CONFIRM_PROMOTION, False, 503, "not yet")
    assert got["gone"][1:3] == (False, None)  # rollback hook unreachable: not asked for
    assert set(got) == {"ok", "fail", "gone"}  # no round due: rollout hooks not called
    assert checks == []
    _, body = next(b for b in receiver.bodies if b[0] == "/ok")
    assert body["name"] == "iris"
    assert body["type"] == "confirm-promotion"
    assert body["phase"] == "Progressing"
    assert (body["canaryVersion"], body["stableVersion"], body["canaryWeight"]) == ("v2", "v1", 50)
    assert body["verdict"] == "Failed"  # the last round's, from status
    assert body["checks"][0]["metric"] == "error-rate"
    assert body["metadata"] == {"team": "ml"}


async def test_rollout_hooks_are_checks_of_the_round_and_time_out(receiver: Receiver) -> None:
    runner = HookRunner()
    snap = _snap(receiver, None, lastAnalysisAt="2026-01-01T11:59:00Z")
    round_checks = [CheckResult(metric="error-rate", verdict=Verdict.SUCCESSFUL, at=NOW)]
    try:
        started = time.monotonic()
        answers, checks = await runner.run(snap, NOW, round_checks)
        took = time.monotonic() - started
    finally:
        await runner.aclose()
    assert took < 1.4  # 500 ms timeout, not the receiver's 1.5 s
    assert {a.name for a in answers} == {"slow", "gone"}
    (check,) = checks
    assert check.metric == "webhook/slow"
    assert check.verdict is Verdict.FAILED
    assert "no answer in 0.5s" in check.message
    (_, body) = next(b for b in receiver.bodies if b[0] == "/slow")
    assert body["verdict"] == "Successful"  # this round's checks


async def test_post_rollout_hooks_are_called_once_pending(receiver: Receiver) -> None:
    runner = HookRunner()
    snap = _snap(receiver, None, phase="Promoted", postRolloutPending=True, stage=None)
    try:
        answers, _ = await runner.run(snap, NOW, [])
    finally:
        await runner.aclose()
    assert [(a.name, a.type, a.passed) for a in answers] == [("note", HookType.POST_ROLLOUT, True)]
