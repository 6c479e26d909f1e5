"""Running the real operator (`canaria operator`) against the dev cluster, and reading MDs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.cluster.kube import HasEnv, attempt, kubectl_json, run, wait_for

REPO = Path(__file__).resolve().parents[2]
CRDS = (REPO / "crds" / "modeldeployment.yaml", REPO / "crds" / "kopf-peering.yaml")
IRIS = REPO / "examples" / "models" / "iris-v1.onnx"
SHA = "0" * 64  # a well-formed digest no model has


class Models:
    """Real models for ModelDeployments: ``models("v2")`` publishes the example iris model as
    ``<version>.onnx`` in the model store and returns ``spec.model`` (URI, version, sha256)."""

    def __init__(self, store: Any, prefix: str) -> None:
        self.store, self.prefix = store, prefix

    def __call__(self, version: str, source: Path = IRIS) -> dict[str, str]:
        url = self.store.publish(source, f"{self.prefix}/{version}.onnx")
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        return {"uri": url, "version": version, "sha256": digest}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class OperatorProcess:
    """`canaria operator -n <ns>` as a subprocess; started, killed and restarted by tests."""

    def __init__(
        self,
        cluster: HasEnv,
        namespace: str,
        log: Path,
        *extra: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.cluster, self.namespace, self.log, self.extra = cluster, namespace, log, extra
        self.extra_env = env or {}
        self.health_port, self.metrics_port = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        env = {
            **os.environ,
            **self.cluster.env(),
            "CANARIA_OPERATOR_RESYNC_INTERVAL": "2",
            "CANARIA_OPERATOR_RETRY_DELAY": "1",
            "CANARIA_OPERATOR_PEERING_LIFETIME": "6",
            "CANARIA_OPERATOR_HEALTH_PORT": str(self.health_port),
            "CANARIA_OPERATOR_METRICS_PORT": str(self.metrics_port),
            "CANARIA_OPERATOR_ROUTER_REPLICAS": "1",
            **self.extra_env,
        }
        argv = [sys.executable, "-m", "canaria_operator.cli", "operator", "-n", self.namespace]
        argv += ["--kubeconfig", env["KUBECONFIG"], *self.extra]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        wait_for("operator liveness endpoint", self._healthy, timeout=30)
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"operator exited {self.proc.returncode}:\n{self.tail()}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.health_port}/healthz", timeout=1).is_success
        except httpx.HTTPError:
            return False

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text

    def kill(self) -> None:
        """SIGKILL: no cleanup, no graceful handover (what a crash or OOM does)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def install_crds(cluster: HasEnv) -> None:
    for path in CRDS:
        run(cluster, "kubectl", "apply", "--server-side", "--force-conflicts", "-f", str(path))
    run(
        cluster,
        "kubectl",
        "wait",
        "--for=condition=Established",
        "--timeout=30s",
        "crd/modeldeployments.canaria.dev",
    )


def install_gateway_crds(cluster: HasEnv) -> None:
    """The Gateway API CRDs (standard channel, from the Go module proxy): no controller."""
    from canaria_devtools.devcluster.gatewayapi import crd_files

    for path in crd_files():
        run(cluster, "kubectl", "apply", "--server-side", "--force-conflicts", "-f", str(path))
    run(
        cluster,
        "kubectl",
        "wait",
        "--for=condition=Established",
        "--timeout=30s",
        "crd/httproutes.gateway.networking.k8s.io",
    )


def peering(cluster: HasEnv, namespace: str) -> None:
    manifest = {
        "apiVersion": "kopf.dev/v1",
        "kind": "KopfPeering",
        "metadata": {"name": "canaria", "namespace": namespace},
    }
    run(cluster, "kubectl", "apply", "-f", "-", stdin=json.dumps(manifest))


def md_manifest(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "canaria.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": spec,
    }


def dry_run(cluster: HasEnv, manifest: dict[str, Any], timeout: float = 60) -> Any:
    """``kubectl create --dry-run=server``: what admission says, nothing stored."""
    return attempt(
        cluster,
        "kubectl",
        "create",
        "--dry-run=server",
        "-n",
        "default",
        "-f",
        "-",
        stdin=json.dumps(manifest),
        timeout=timeout,
    )


def apply_md(cluster: HasEnv, namespace: str, name: str, spec: dict[str, Any]) -> None:
    run(
        cluster,
        "kubectl",
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=json.dumps(md_manifest(name, spec)),
    )


def get(cluster: HasEnv, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
    proc = attempt(cluster, "kubectl", "get", kind, name, "-n", namespace, "-o", "json")
    if proc.returncode != 0:
        if "NotFound" in proc.stderr:
            return None
        raise AssertionError(proc.stderr)
    obj: dict[str, Any] = json.loads(proc.stdout)
    return obj


def condition(md: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for cond in (md.get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            return dict(cond)
    return None


def wait_md(
    cluster: HasEnv, namespace: str, name: str, what: str, check: Any, timeout: float = 60
) -> dict[str, Any]:
    """Wait until ``check(md)`` holds for the ModelDeployment."""

    def probe() -> dict[str, Any] | None:
        md = get(cluster, namespace, "md", name)
        return md if md is not None and check(md) else None

    return wait_for(f"{namespace}/{name}: {what}", probe, timeout=timeout)


def phase_is(phase: str) -> Any:
    return lambda md: (md.get("status") or {}).get("phase") == phase


def owned(
    cluster: HasEnv, namespace: str, kind: str, model: str, component: str | None = "serving"
) -> list[dict[str, Any]]:
    """Objects of ``kind`` labelled with the model (and the component: ``serving`` for the
    model versions and track Services, ``router``, or None for all)."""
    selector = f"canaria.dev/model={model}"
    if component is not None:
        selector += f",app.kubernetes.io/component={component}"
    items: list[dict[str, Any]] = kubectl_json(
        cluster, "get", kind, "-n", namespace, "-l", selector
    )["items"]
    return items


def events(cluster: HasEnv, namespace: str, name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kubectl_json(
        cluster,
        "get",
        "events.events.k8s.io",
        "-n",
        namespace,
        "--field-selector",
        f"regarding.name={name},regarding.kind=ModelDeployment",
    )["items"]
    return items


def settle(seconds: float) -> None:
    """Let the operator run (several resync periods) before checking nothing changed."""
    time.sleep(seconds)
