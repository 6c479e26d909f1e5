"""Configuration files of the real node: containerd, CNI, kubelet, kube-proxy, CoreDNS.

Pure text in, files out. Every path lives under the cluster's state folder (``node/``), so
``down`` removes all of it; every address is the cluster's network namespace's
(:class:`.netns.Network`). What matters on these machines, and why:

* cgroup v1 only: the kubelet runs with ``failCgroupV1: false`` and the ``cgroupfs`` driver,
  with its pods under the cluster's cgroup root (``<root>/kubepods``).
* root lacks CAP_SYS_RESOURCE: runc cannot set a negative ``oom_score_adj``, so containerd's
  CRI plugin restricts it (``restrict_oom_score_adj``); without it every container fails with
  "can't get final child's PID from pipe: EOF".
* no registry: the sandbox ("pause") image is made locally (:mod:`.images`); nothing is
  pulled (the kubelet's and containerd's image settings name only local images).
* no route out: CoreDNS answers only ``cluster.local`` and reverse zones (no ``forward``),
  and the pods' ``resolv.conf`` names only it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .certs import Pki
from .netns import Network

__all__ = [
    "CLUSTER_DOMAIN",
    "NODE_NAME",
    "PAUSE_IMAGE",
    "NodeLayout",
    "write_node_configs",
]

NODE_NAME = "canaria-node"
CLUSTER_DOMAIN = "cluster.local"
PAUSE_IMAGE = "canaria.local/pause:3.10"
CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")  # Debian's containernetworking-plugins first
KUBELET_PORT = 10250
KUBE_PROXY_HEALTH_PORT = 10256
COREDNS_HEALTH_PORT = 8080
COREDNS_READY_PORT = 8181


@dataclass(frozen=True)
class NodeLayout:
    """Paths of the node's files and folders, all under ``<state>/node``."""

    root: Path
    cgroup_root: str  # e.g. "canaria-dc0": the kubelet's pods go to <cgroup_root>/kubepods

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd" / "state"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd" / "config.toml"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def kubelet_dir(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet.yaml"

    @property
    def kubelet_kubeconfig(self) -> Path:
        return self.root / "kubelet.kubeconfig"

    @property
    def proxy_config(self) -> Path:
        return self.root / "kube-proxy.yaml"

    @property
    def proxy_kubeconfig(self) -> Path:
        return self.root / "kube-proxy.kubeconfig"

    @property
    def corefile(self) -> Path:
        return self.root / "Corefile"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    @property
    def resolv_conf(self) -> Path:
        return self.root / "resolv.conf"


def _containerd_toml(lay: NodeLayout, net: Network) -> str:
    bin_dirs = [d for d in CNI_BIN_DIRS if Path(d).is_dir()] or list(CNI_BIN_DIRS)
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{lay.containerd_root}"
state = "{lay.containerd_state}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "{lay.containerd_socket}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{lay.root / "containerd" / "opt"}"

[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"

[{cri}.cni]
  bin_dir = "{bin_dirs[0]}"
  conf_dir = "{lay.cni_conf_dir}"

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false

[{cri}.registry]
  config_path = ""
"""


def _cni_conflist(lay: NodeLayout, net: Network) -> dict[str, Any]:
    gateway = net.pod_cidr.split("/")[0].rsplit(".", 1)[0] + ".1"
    return {
        "cniVersion": "1.0.0",
        "name": "canaria-dev",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": False,  # nothing leaves the namespace: there is nothing to masquerade
                "hairpinMode": True,  # a pod reaches itself through its own Service
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": net.pod_cidr, "gateway": gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(lay.root / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def _kubeconfig(pki: Pki, server: str, user: str, cert: Path, key: Path) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "dev", "cluster": {"server": server, "certificate-authority": str(pki.ca_crt)}}
        ],
        "users": [
            {"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}
        ],
        "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": user}}],
        "current-context": "dev",
    }


def _kubelet_config(lay: NodeLayout, net: Network, pki: Pki) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": net.node_ip,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": net.node_ip,
        "healthzPort": 10248,
        "tlsCertFile": str(pki.root / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki.root / "kubelet-serving.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(pki.ca_crt)},
        },
        "authorization": {"mode": "AlwaysAllow"},  # only the API server holds a client cert
        "containerRuntimeEndpoint": f"unix://{lay.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{lay.cgroup_root}",
        "failCgroupV1": False,
        "failSwapOn": False,
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [net.dns_ip],
        "resolvConf": str(lay.resolv_conf),
        "podLogsDir": str(lay.pod_logs),
        "serializeImagePulls": False,
        "maxPods": 110,
        # A dev machine's disk is shared with everything else: evict late, never GC images.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "shutdownGracePeriod": "0s",
        "registerNode": True,
    }


def _proxy_config(lay: NodeLayout, net: Network) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(lay.proxy_kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "mode": "iptables",  # IPVS is not in these kernels
        "clusterCIDR": net.pod_cidr,
        "bindAddress": net.node_ip,
        "healthzBindAddress": f"{net.node_ip}:{KUBE_PROXY_HEALTH_PORT}",
        "metricsBindAddress": f"{net.node_ip}:10249",
        # 0 = leave the machine-wide conntrack table and timeouts as they are
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }


def _corefile(kubeconfig: Path) -> str:
    return f""".:53 {{
    errors
    health :{COREDNS_HEALTH_PORT}
    ready :{COREDNS_READY_PORT}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} canaria-dev
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 30
}}
"""


def _pair(pki: Pki, name: str) -> tuple[Path, Path]:
    return pki.root / f"{name}.crt", pki.root / f"{name}.key"


def write_node_configs(
    lay: NodeLayout, net: Network, pki: Pki, api_server: str, admin_kubeconfig: Path
) -> None:
    for folder in (lay.root, lay.cni_conf_dir, lay.kubelet_dir, lay.pod_logs, lay.containerd_root):
        folder.mkdir(parents=True, exist_ok=True)
    lay.containerd_config.write_text(_containerd_toml(lay, net))
    (lay.cni_conf_dir / "10-canaria.conflist").write_text(
        json.dumps(_cni_conflist(lay, net), indent=2) + "\n"
    )
    lay.resolv_conf.write_text(f"# pods use the cluster DNS ({net.dns_ip}); nothing upstream\n")
    kubelet_kc = _kubeconfig(pki, api_server, f"system:node:{NODE_NAME}", *_pair(pki, "kubelet"))
    lay.kubelet_kubeconfig.write_text(yaml.safe_dump(kubelet_kc, sort_keys=False))
    lay.kubelet_config.write_text(yaml.safe_dump(_kubelet_config(lay, net, pki), sort_keys=False))
    proxy_kc = _kubeconfig(pki, api_server, "system:kube-proxy", *_pair(pki, "kube-proxy"))
    lay.proxy_kubeconfig.write_text(yaml.safe_dump(proxy_kc, sort_keys=False))
    lay.proxy_config.write_text(yaml.safe_dump(_proxy_config(lay, net), sort_keys=False))
    lay.corefile.write_text(_corefile(admin_kubeconfig))
