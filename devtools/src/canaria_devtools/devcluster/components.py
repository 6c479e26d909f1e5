"""Command lines of the dev cluster's processes (pure: paths and ports in, :class:`Proc` out)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from .certs import Pki
from .kwokconfig import FAKE_NODE_ANNOTATION, POD_CIDR
from .supervisor import Proc

__all__ = ["PORT_NAMES", "Layout", "processes"]

PORT_NAMES = (
    "etcd_client",
    "etcd_peer",
    "apiserver",
    "controller_manager",
    "scheduler",
    "prometheus",
)
SERVICE_CIDR = "10.0.0.0/24"  # required by the apiserver; no traffic ever goes there
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass(frozen=True)
class Layout:
    """Everything the command lines need to know."""

    state: Path
    bins: dict[str, Path]  # component name -> folder with its binaries
    ports: dict[str, int]
    pki: Pki
    canaria: Path  # the installed `canaria` console script the runner starts

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def api_server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['prometheus']}"

    def log(self, name: str) -> str:
        return str(self.state / "logs" / f"{name}.log")

    def bin(self, component: str, binary: str) -> str:
        return str(self.bins[component] / binary)


def _etcd(lay: Layout) -> Proc:
    client = f"http://127.0.0.1:{lay.ports['etcd_client']}"
    peer = f"http://127.0.0.1:{lay.ports['etcd_peer']}"
    argv = [
        lay.bin("etcd", "etcd"),
        "--name=dev",
        f"--data-dir={lay.state / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=dev={peer}",
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]
    return Proc("etcd", argv, lay.log("etcd"))


def _apiserver(lay: Layout) -> Proc:
    p = lay.pki
    argv = [
        lay.bin("kubernetes", "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{lay.ports['etcd_client']}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={lay.ports['apiserver']}",
        "--endpoint-reconciler-type=none",
        f"--cert-dir={lay.state / 'apiserver'}",
        f"--tls-cert-file={p.server_crt}",
        f"--tls-private-key-file={p.server_key}",
        f"--client-ca-file={p.ca_crt}",
        f"--service-account-issuer={SA_ISSUER}",
        f"--service-account-key-file={p.sa_pub}",
        f"--service-account-signing-key-file={p.sa_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",
        "--profiling=false",
        "--v=1",
    ]
    return Proc("kube-apiserver", argv, lay.log("kube-apiserver"))


def _client_flags(lay: Layout, name: str, port_name: str) -> list[str]:
    kc = str(lay.kubeconfig)
    return [
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        f"--secure-port={lay.ports[port_name]}",
        f"--cert-dir={lay.state / name}",
        "--leader-elect=false",
        "--v=1",
    ]


def _controller_manager(lay: Layout) -> Proc:
    p = lay.pki
    argv = [
        lay.bin("kubernetes", "kube-controller-manager"),
        *_client_flags(lay, "kube-controller-manager", "controller_manager"),
        f"--service-account-private-key-file={p.sa_key}",
        f"--root-ca-file={p.ca_crt}",
        f"--cluster-signing-cert-file={p.ca_crt}",
        f"--cluster-signing-key-file={p.ca_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        # The default client limit (20 QPS, burst 30) makes the Deployment and ReplicaSet
        # controllers the bottleneck of any test with hundreds of Deployments (each needs
        # about six writes); production control planes are usually tuned well above it.
        "--kube-api-qps=100",
        "--kube-api-burst=200",
    ]
    return Proc("kube-controller-manager", argv, lay.log("kube-controller-manager"))


def _scheduler(lay: Layout) -> Proc:
    argv = [
        lay.bin("kubernetes", "kube-scheduler"),
        *_client_flags(lay, "kube-scheduler", "scheduler"),
    ]
    return Proc("kube-scheduler", argv, lay.log("kube-scheduler"))


def _kwok(lay: Layout) -> Proc:
    key, value = FAKE_NODE_ANNOTATION
    argv = [
        lay.bin("kwok", "kwok"),
        f"--kubeconfig={lay.kubeconfig}",
        f"--config={lay.state / 'kwok.yaml'}",
        f"--manage-nodes-with-annotation-selector={key}={value}",
        "--node-lease-duration-seconds=40",
        f"--cidr={POD_CIDR}",
        "--node-ip=127.0.0.1",
    ]
    return Proc("kwok", argv, lay.log("kwok"))


def _prometheus(lay: Layout) -> Proc:
    argv = [
        lay.bin("prometheus", "prometheus"),
        f"--config.file={lay.state / 'prometheus.yml'}",
        f"--storage.tsdb.path={lay.state / 'prometheus'}",
        f"--web.listen-address=127.0.0.1:{lay.ports['prometheus']}",
        "--web.enable-lifecycle",
        "--storage.tsdb.retention.time=1d",
        "--log.level=warn",
    ]
    return Proc("prometheus", argv, lay.log("prometheus"), cwd=str(lay.state))


def _runner(lay: Layout) -> Proc:
    argv = [
        sys.executable,
        "-m",
        "canaria_devtools.devcluster.runner",
        f"--kubeconfig={lay.kubeconfig}",
        f"--work-dir={lay.state / 'pods'}",
        f"--canaria={lay.canaria}",
    ]
    return Proc("pod-runner", argv, lay.log("pod-runner"))


def processes(lay: Layout) -> list[Proc]:
    """All processes, in start order (``down`` stops them in reverse)."""
    makers = (_etcd, _apiserver, _controller_manager, _scheduler, _kwok, _prometheus, _runner)
    return [make(lay) for make in makers]
