"""The operator as users run it: `helm install` of the chart from the image built here, one
Pod under the chart's ServiceAccount (in-cluster config), on the dev cluster's real node."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import yaml

from tests.chart.support import CHART
from tests.cluster.kube import attempt, is_ready, kill_container, kubectl_json, run, wait_for

# Quicker than production defaults, so tests do not wait on timers.
TEST_ENV = {
    "CANARIA_OPERATOR_RESYNC_INTERVAL": "2",
    "CANARIA_OPERATOR_RETRY_DELAY": "1",
    "CANARIA_OPERATOR_PEERING_LIFETIME": "6",
}


def image_values(image: str) -> dict[str, Any]:
    repository, tag = image.rsplit(":", 1)
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "servingImagePullPolicy": "Never",
    }


class ChartOperator:
    """A Helm release of the chart watching one namespace."""

    def __init__(
        self,
        cluster: Any,
        namespace: str,
        image: str,
        workdir: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.cluster, self.namespace, self.image = cluster, namespace, image
        self.env = {**TEST_ENV, **(env or {})}
        self.release = f"c{uuid.uuid4().hex[:5]}"
        self.values_file = workdir / f"{self.release}-values.yaml"

    def values(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        env = [{"name": k, "value": v} for k, v in self.env.items()]
        return {
            **image_values(self.image),
            "watchNamespaces": [self.namespace],
            "prometheusUrl": self.cluster.prometheus_url,
            "peering": {"name": self.release},
            "operator": {"extraEnv": env},
            **(extra or {}),
        }

    def install(self, extra: dict[str, Any] | None = None) -> ChartOperator:
        self.values_file.write_text(yaml.safe_dump(self.values(extra)))
        run(
            self.cluster,
            "helm", "install", self.release, str(CHART), "-n", self.namespace,
            "-f", str(self.values_file), "--wait", "--timeout", "120s",
            timeout=150,
        )  # fmt: skip
        self.pod()
        return self

    def pod(self, timeout: float = 90) -> dict[str, Any]:
        """The operator's Ready pod."""

        def ready() -> dict[str, Any] | None:
            selector = (
                f"app.kubernetes.io/component=operator,app.kubernetes.io/instance={self.release}"
            )
            pods = kubectl_json(self.cluster, "get", "pods", "-n", self.namespace, "-l", selector)[
                "items"
            ]
            live = [p for p in pods if is_ready(p) and not p["metadata"].get("deletionTimestamp")]
            return live[0] if live else None

        found: dict[str, Any] = wait_for("the operator pod Ready", ready, timeout=timeout)
        return found

    def restarts(self) -> int:
        return int(self.pod()["status"]["containerStatuses"][0]["restartCount"])

    def kill(self) -> int:
        """SIGKILL the operator's container through the container runtime (a crash, an OOM
        kill); the kubelet restarts it. Returns the restart count before the kill."""
        pod = self.pod()
        before = int(pod["status"]["containerStatuses"][0]["restartCount"])
        kill_container(self.cluster, pod, "operator")
        return before

    def wait_restarted(self, before: int, timeout: float = 120) -> None:
        def restarted() -> bool:
            try:
                return self.restarts() > before
            except AssertionError:
                return False

        wait_for("the operator container restarted and Ready", restarted, timeout=timeout)

    def tail(self, lines: int = 60) -> str:
        proc = attempt(
            self.cluster, "kubectl", "logs", "-n", self.namespace,
            f"deployment/{self.release}-canaria-operator", f"--tail={lines}",
        )  # fmt: skip
        return proc.stdout + proc.stderr

    def uninstall(self) -> None:
        attempt(self.cluster, "helm", "uninstall", self.release, "-n", self.namespace, "--wait",
                timeout=120)  # fmt: skip
