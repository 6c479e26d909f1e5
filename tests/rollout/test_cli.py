"""`canaria promote|abort|pause|resume|retry|status`: pure rendering; commands on the cluster."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any

import pytest
from rich.console import Console

from canaria_operator.cli_rollout import render_status

MD: dict[str, Any] = {
    "metadata": {"name": "iris", "namespace": "ml"},
    "spec": {"rollout": {"steps": [{"weight": 10}, {"weight": 50, "pauseUntilResumed": True}]}},
    "status": {
        "phase": "Progressing",
        "stable": {"version": "v1"},
        "canary": {"version": "v2"},
        "rollout": {
            "canaryWeight": 50,
            "stage": "Steps",
            "stepIndex": 1,
            "successes": 1,
            "reason": "WaitingForAnalysis",
            "message": "1 successful checks",
        },
        "analysis": [
            {
                "metric": "error-rate",
                "verdict": "Failed",
                "value": 0.031,
                "stableValue": 0.002,
                "threshold": 0.01,
                "samples": 812,
                "message": "canary error rate 3.10% above 1.00%",
            }
        ],
    },
}


def text(md: dict[str, Any]) -> str:
    console = Console(width=160, record=True, color_system=None)
    console.print(render_status(md))
    return console.export_text()


def test_render_status_shows_steps_weights_and_checks() -> None:
    out = text(MD)
    assert "ml/iris" in out
    assert "v1  weight 50%" in out
    assert "v2  weight 50%" in out
    assert "until resumed" in out
    assert "passed" in out
    assert "current (1 ok)" in out
    assert "0.031" in out
    assert "812" in out
    assert "above 1.00%" in out


def test_render_status_of_a_fresh_object() -> None:
    assert "phase" in text({"metadata": {"name": "x"}})


def canaria(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "canaria_operator.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.cluster
def test_action_commands_set_the_annotation(dev_cluster: Any) -> None:
    import json
    import os

    env = {**os.environ, **dev_cluster.env()}
    ns = f"cli-{uuid.uuid4().hex[:6]}"
    kubectl = str(
        dev_cluster.kubeconfig.parent.parent / "testbin" / "kubernetes-v1.36.3" / "kubectl"
    )
    kubectl = kubectl if os.path.exists(kubectl) else "kubectl"

    def k(*a: str, stdin: str | None = None) -> str:
        return subprocess.run(
            [kubectl, *a],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=60,
        ).stdout

    k("create", "namespace", ns)
    try:
        k(
            "apply",
            "-n",
            ns,
            "-f",
            "-",
            stdin=json.dumps(
                {
                    "apiVersion": "canaria.dev/v1alpha1",
                    "kind": "ModelDeployment",
                    "metadata": {"name": "m"},
                    "spec": {
                        "model": {
                            "uri": "http://127.0.0.1:9/m.onnx",
                            "version": "v1",
                            "sha256": "0" * 64,
                        }
                    },
                }
            ),
        )
        for action in ("pause", "promote"):
            out = canaria(action, "m", "-n", ns, env=env)
            assert out.returncode == 0, out.stderr
            got = k(
                "get",
                "md",
                "m",
                "-n",
                ns,
                "-o",
                "jsonpath={.metadata.annotations.canaria\\.dev/action}",
            )
            # the operator (if one runs) may already have consumed it
            assert got in (action, "")
        out = canaria("status", "m", "-n", ns, env=env)
        assert out.returncode == 0, out.stderr
        assert f"{ns}/m" in out.stdout
        out = canaria("abort", "nope", "-n", ns, env=env)
        assert out.returncode == 1
        assert "nope" in out.stderr
        assert "not found" in out.stderr.lower()
    finally:
        k("delete", "namespace", ns, "--wait=false")
