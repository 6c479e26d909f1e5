"""Is each dev-cluster component up? The checks ``up`` waits on, one per component.

Each check asks the component what it serves, from the host, over the namespace's veth
(node IP). etcd listens only on the namespace's loopback, which the host cannot reach: its
check reads the socket table of etcd's own network namespace (``/proc/PID/net/tcp``) for its
listening client port. A process that exits while starting fails at once, with its log.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from .components import PORTS, Layout
from .kwokconfig import node_manifest
from .nodeconfig import COREDNS_READY_PORT, KUBE_PROXY_HEALTH_PORT, NODE_NAME
from .supervisor import Proc, alive

__all__ = ["ClusterError", "StartChecks"]

START_TIMEOUT_S = 120.0
_LISTEN = "0A"


class ClusterError(RuntimeError):
    """The dev cluster cannot be brought up; the message names the component and its log."""


def log_tail(proc: Proc, lines: int = 25) -> str:
    try:
        text = Path(proc.log).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(the log is empty)"


def listening(pid: int, port: int, address: str = "0100007F") -> bool:
    """True if ``address:port`` (hex, as in /proc/net/tcp) listens in ``pid``'s namespace."""
    want = f"{address}:{port:04X}"
    try:
        rows = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(r.split()[1] == want and r.split()[3] == _LISTEN for r in rows)


class StartChecks:
    def __init__(self, lay: Layout) -> None:
        self.lay = lay
        pki = lay.pki
        tls = ssl.create_default_context(cafile=str(pki.ca_crt))
        tls.load_cert_chain(str(pki.admin_crt), str(pki.admin_key))
        self.api = httpx.Client(base_url=lay.api_server, verify=tls, timeout=5.0)
        self.node_ip = lay.net.node_ip

    def close(self) -> None:
        self.api.close()

    def _ok(self, url: str, verify: bool = False) -> bool:
        return httpx.get(url, verify=verify, timeout=2.0).status_code == 200

    def _api_ok(self, path: str) -> bool:
        return self.api.get(path).status_code == 200

    def _node_ready(self, name: str) -> bool:
        node = self.api.get(f"/api/v1/nodes/{name}")
        if node.status_code != 200:
            return False
        conds = (node.json().get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)

    def _containerd(self) -> bool:
        sock = self.lay.node.containerd_socket
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(1.0)
            s.connect(str(sock))
        return True

    def _kwok_nodes(self) -> bool:
        names = [f"kwok-node-{i}" for i in range(self.lay.kwok_nodes)]
        for name in names:
            resp = self.api.post("/api/v1/nodes", json=node_manifest(name))
            if resp.status_code not in (201, 409):
                raise ClusterError(f"creating node {name} failed: {resp.status_code} {resp.text}")
        return all(self._node_ready(n) for n in names)

    def _check(self, proc: Proc) -> Callable[[], bool]:
        ip = self.node_ip
        checks: dict[str, Callable[[], bool]] = {
            "etcd": lambda: proc.pid is not None and listening(proc.pid, PORTS["etcd_client"]),
            "kube-apiserver": lambda: self._api_ok("/readyz"),
            "kube-controller-manager": lambda: self._ok(
                f"https://{ip}:{PORTS['controller_manager']}/healthz"
            ),
            "kube-scheduler": lambda: self._ok(f"https://{ip}:{PORTS['scheduler']}/healthz"),
            "containerd": self._containerd,
            "kubelet": lambda: self._node_ready(NODE_NAME),
            "kube-proxy": lambda: self._ok(f"http://{ip}:{KUBE_PROXY_HEALTH_PORT}/healthz"),
            "coredns": lambda: self._ok(f"http://{ip}:{COREDNS_READY_PORT}/ready"),
            "prometheus": lambda: self._ok(f"{self.lay.prometheus_url}/-/ready"),
            "kwok": self._kwok_nodes,
        }
        return checks[proc.name]

    def wait(self, proc: Proc, timeout: float = START_TIMEOUT_S) -> None:
        check = self._check(proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive(proc):
                raise ClusterError(
                    f"{proc.name} exited while starting (log {proc.log}):\n{log_tail(proc)}"
                )
            try:
                if check():
                    return
            except (httpx.HTTPError, OSError, ValueError):
                pass
            time.sleep(0.25)
        raise ClusterError(
            f"{proc.name} did not become ready in {timeout:.0f}s (log {proc.log}):\n"
            f"{log_tail(proc)}"
        )

    def cluster_ready(self) -> None:
        """The default ServiceAccount exists and the ``kubernetes`` Service has its endpoint
        (in-cluster clients can reach the API server)."""
        deadline = time.monotonic() + 60.0
        wanted = (
            "/api/v1/namespaces/default/serviceaccounts/default",
            "/api/v1/namespaces/default/endpoints/kubernetes",
        )
        while time.monotonic() < deadline:
            try:
                if all(self._api_ok(p) for p in wanted):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise ClusterError(
            "the default ServiceAccount or the `kubernetes` Service's endpoints never appeared"
        )
