"""One image serves every role, so the serving role must not pay for the others: a real
`canaria serve` process answers without importing kopf or the Kubernetes client (the modules a
process imported are read from ``python -X importtime``)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

MODEL = Path(__file__).resolve().parents[2] / "examples" / "models" / "iris-v1.onnx"
OPERATOR_ONLY = ("kopf", "kubernetes_asyncio", "aiohttp", "canaria_operator.reconcile")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_answers_without_the_operators_modules(tmp_path: Path) -> None:
    port = _free_port()
    argv = [sys.executable, "-X", "importtime", "-m", "canaria_operator.cli", "serve", str(MODEL)]
    err = tmp_path / "stderr.txt"
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [*argv, "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready").is_success:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None, err.read_text()[-2000:]
                time.sleep(0.2)
            else:
                raise AssertionError("canaria serve did not become ready")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    imported = {
        line.split("|")[-1].strip()
        for line in err.read_text().splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "onnxruntime" in imported, "the importtime listing is what it should be"
    loaded = sorted(
        m for m in imported for bad in OPERATOR_ONLY if m == bad or m.startswith(bad + ".")
    )
    assert loaded == [], f"the serving role imported {loaded}"
