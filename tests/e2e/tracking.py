"""A real MLflow tracking server for the end-to-end tests: `mlflow server` from PyPI with a
SQLite backend and artifact proxying (``--serve-artifacts`` into a local folder), started
inside the dev cluster's network namespace on the node IP, so that the operator's pod and
the fetch init containers reach it (and the host does too)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

__all__ = ["TrackingServer"]


ADMIN = "admin"


class TrackingServer:
    """``password``: run MLflow's basic-auth app with that admin password (clients in this
    process and its children authenticate through MLflow's own environment variables)."""

    def __init__(
        self,
        netns: str | None,
        host: str,
        folder: Path,
        password: str | None = None,
        artifact_root: str | None = None,
    ) -> None:
        """``artifact_root``: clients write artifacts there themselves (e.g. s3://bucket/x)
        and the server does not proxy them; default: proxied into ``folder``."""
        self.netns, self.host, self.folder, self.password = netns, host, folder, password
        self.artifact_root = artifact_root
        self.port = _free_port(netns, host)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 120) -> TrackingServer:
        from canaria_devtools.devcluster.inside import popen_inside

        self.folder.mkdir(parents=True, exist_ok=True)
        mlflow = str(Path(sys.executable).with_name("mlflow"))
        argv = [
            mlflow, "server", "--host", self.host, "--port", str(self.port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
        ]  # fmt: skip
        if self.artifact_root is None:
            argv += ["--artifacts-destination", str(self.folder / "artifacts"), "--serve-artifacts"]
        else:
            argv += ["--default-artifact-root", self.artifact_root, "--no-serve-artifacts"]
        auth: dict[str, str] = {}
        if self.password is not None:
            argv += ["--app-name", "basic-auth"]
            auth = {
                "MLFLOW_AUTH_ADMIN_PASSWORD": self.password,
                "MLFLOW_FLASK_SERVER_SECRET_KEY": "canaria-tests",
            }
            os.environ["MLFLOW_TRACKING_USERNAME"] = ADMIN
            os.environ["MLFLOW_TRACKING_PASSWORD"] = self.password
        with (self.folder / "server.log").open("ab") as log:
            opts: dict[str, Any] = {
                "stdout": log, "stderr": subprocess.STDOUT, "start_new_session": True,
                # webhooks to the operator, on a private address (MLflow refuses them otherwise)
                "env": {
                    **os.environ,
                    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
                    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
                    "MLFLOW_WEBHOOK_CACHE_TTL": "1",
                    **auth,
                },
            }  # fmt: skip
            if self.netns is None:  # on 127.0.0.1, for the client's own tests
                self.proc = subprocess.Popen(argv, **opts)
            else:
                self.proc = popen_inside(self.netns, argv, **opts)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"mlflow server not healthy after {timeout}s: {self.log_tail()}")

    def stop(self, *, for_good: bool = True) -> None:
        """Stop the server and everything it started (its workers): a process group."""
        if for_good and self.password is not None:
            os.environ.pop("MLFLOW_TRACKING_USERNAME", None)
            os.environ.pop("MLFLOW_TRACKING_PASSWORD", None)
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def log_tail(self, lines: int = 30) -> str:
        path = self.folder / "server.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )

    def client(self) -> Any:
        import mlflow

        mlflow.set_tracking_uri(self.url)
        return mlflow.MlflowClient(self.url)


def _free_port(netns: str | None, host: str) -> int:
    """A port nothing listens on at ``host`` (tried from the host side, through the veth)."""
    for _ in range(50):
        port = random.randint(20000, 40000)
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) != 0:
                return port
    raise RuntimeError(f"no free port found on {host} ({netns})")
