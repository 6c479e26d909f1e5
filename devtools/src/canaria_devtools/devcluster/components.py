"""Command lines of the dev cluster's processes (pure: a layout in, :class:`Proc` out).

Every process runs in the cluster's network namespace and in its own cgroup below the
cluster's cgroup root. Ports are the usual ones (the namespace is the cluster's alone):
etcd on the namespace's loopback, everything else on the node IP, which the host reaches
through the veth (:mod:`.netns`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .certs import Pki
from .kwokconfig import FAKE_NODE_ANNOTATION, POD_CIDR
from .netns import Network
from .nodeconfig import NODE_NAME, NodeLayout
from .supervisor import Proc

__all__ = ["PORTS", "Layout", "api_server_url", "processes", "prometheus_url"]

PORTS = {
    "etcd_client": 2379,
    "etcd_peer": 2380,
    "apiserver": 6443,
    "controller_manager": 10257,
    "scheduler": 10259,
    "prometheus": 9090,
}
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"


def api_server_url(net: Network) -> str:
    return f"https://{net.node_ip}:{PORTS['apiserver']}"


def prometheus_url(net: Network) -> str:
    return f"http://{net.node_ip}:{PORTS['prometheus']}"


@dataclass(frozen=True)
class Layout:
    """Everything the command lines need to know."""

    state: Path
    bins: dict[str, Path]  # component name -> folder with its binaries
    net: Network
    pki: Pki
    kwok_nodes: int = 0

    @property
    def cgroup_root(self) -> str:
        return self.net.name

    @property
    def node(self) -> NodeLayout:
        return NodeLayout(self.state / "node", self.cgroup_root)

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def api_server(self) -> str:
        return api_server_url(self.net)

    @property
    def prometheus_url(self) -> str:
        return prometheus_url(self.net)

    def log(self, name: str) -> str:
        return str(self.state / "logs" / f"{name}.log")

    def bin(self, component: str, binary: str) -> str:
        return str(self.bins[component] / binary)

    def proc(self, name: str, argv: list[str], **kwargs: str) -> Proc:
        return Proc(
            name,
            argv,
            self.log(name),
            netns=self.net.name,
            cgroup=f"{self.cgroup_root}/system/{name}",
            **kwargs,  # type: ignore[arg-type]
        )


def _etcd(lay: Layout) -> Proc:
    client = f"http://127.0.0.1:{PORTS['etcd_client']}"
    peer = f"http://127.0.0.1:{PORTS['etcd_peer']}"
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
    return lay.proc("etcd", argv)


def _apiserver(lay: Layout) -> Proc:
    p, net = lay.pki, lay.net
    argv = [
        lay.bin("kubernetes", "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{PORTS['etcd_client']}",
        f"--bind-address={net.node_ip}",
        f"--advertise-address={net.node_ip}",  # the `kubernetes` Service's endpoint
        f"--secure-port={PORTS['apiserver']}",
        f"--cert-dir={lay.state / 'apiserver'}",
        f"--tls-cert-file={p.server_crt}",
        f"--tls-private-key-file={p.server_key}",
        f"--client-ca-file={p.ca_crt}",
        f"--kubelet-client-certificate={p.admin_crt}",
        f"--kubelet-client-key={p.admin_key}",
        f"--kubelet-certificate-authority={p.ca_crt}",
        "--kubelet-preferred-address-types=InternalIP",
        f"--service-account-issuer={SA_ISSUER}",
        f"--service-account-key-file={p.sa_pub}",
        f"--service-account-signing-key-file={p.sa_key}",
        f"--service-cluster-ip-range={net.service_cidr}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--profiling=false",
        "--v=1",
    ]
    return lay.proc("kube-apiserver", argv)


def _client_flags(lay: Layout, name: str, port_name: str) -> list[str]:
    kc = str(lay.kubeconfig)
    return [
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        f"--bind-address={lay.net.node_ip}",
        f"--secure-port={PORTS[port_name]}",
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
        f"--service-cluster-ip-range={lay.net.service_cidr}",
        # The default client limit (20 QPS, burst 30) makes the Deployment and ReplicaSet
        # controllers the bottleneck of any test with hundreds of Deployments (each needs
        # about six writes); production control planes are usually tuned well above it.
        "--kube-api-qps=100",
        "--kube-api-burst=200",
    ]
    return lay.proc("kube-controller-manager", argv)


def _scheduler(lay: Layout) -> Proc:
    argv = [
        lay.bin("kubernetes", "kube-scheduler"),
        *_client_flags(lay, "kube-scheduler", "scheduler"),
    ]
    return lay.proc("kube-scheduler", argv)


def _containerd(lay: Layout) -> Proc:
    exe = shutil.which("containerd") or "/usr/bin/containerd"
    return lay.proc("containerd", [exe, f"--config={lay.node.containerd_config}"])


def _kubelet(lay: Layout) -> Proc:
    node = lay.node
    argv = [
        lay.bin("kubernetes-node", "kubelet"),
        f"--config={node.kubelet_config}",
        f"--kubeconfig={node.kubelet_kubeconfig}",
        f"--root-dir={node.kubelet_dir}",
        f"--node-ip={lay.net.node_ip}",
        f"--hostname-override={NODE_NAME}",
        "--v=1",
    ]
    return lay.proc("kubelet", argv)


def _kube_proxy(lay: Layout) -> Proc:
    argv = [lay.bin("kubernetes-node", "kube-proxy"), f"--config={lay.node.proxy_config}"]
    return lay.proc("kube-proxy", argv)


def _coredns(lay: Layout) -> Proc:
    argv = [lay.bin("coredns", "coredns"), "-conf", str(lay.node.corefile)]
    return lay.proc("coredns", argv)


def _prometheus(lay: Layout) -> Proc:
    argv = [
        lay.bin("prometheus", "prometheus"),
        f"--config.file={lay.state / 'prometheus.yml'}",
        f"--storage.tsdb.path={lay.state / 'prometheus'}",
        f"--web.listen-address={lay.net.node_ip}:{PORTS['prometheus']}",
        "--web.enable-lifecycle",
        "--storage.tsdb.retention.time=1d",
        "--log.level=warn",
    ]
    return lay.proc("prometheus", argv, cwd=str(lay.state))


def _kwok(lay: Layout) -> Proc:
    """Simulated nodes for the scale benchmark only (pods on them never run)."""
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
    return lay.proc("kwok", argv)


def processes(lay: Layout) -> list[Proc]:
    """All processes, in start order (``down`` stops them in reverse)."""
    makers = [
        _etcd,
        _apiserver,
        _controller_manager,
        _scheduler,
        _containerd,
        _kubelet,
        _kube_proxy,
        _coredns,
        _prometheus,
    ]
    if lay.kwok_nodes:
        makers.append(_kwok)
    return [make(lay) for make in makers]
