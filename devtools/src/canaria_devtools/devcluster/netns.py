"""The dev cluster's network: one network namespace that holds every non-loopback address.

Rule (hard): traffic goes only to 127.0.0.0/8 or to addresses inside a network namespace the
dev cluster made, with no route out of the machine. So the node, its pods, the CNI bridge and
the Service CIDR all live in ``canaria-dc<slot>``, which has no default route. The host
reaches it through one veth pair; host routes send the pod and Service CIDRs into that veth, so
a packet to a pod or Service address can never follow the host's default route (with no
kube-proxy rule yet it dies in the namespace: "network unreachable"). Routes are added after
the namespace and its end of the veth exist, and vanish with the veth.

Each running cluster takes a free slot (0-7), which picks its names and address blocks:
node ``10.203.<slot>.2`` (host end ``.1``, a /30), pods ``10.<210+slot>.0.0/16``, Services
``10.<220+slot>.0.0/16``.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MAX_SLOTS",
    "NETNS_DIR",
    "Network",
    "NetworkError",
    "create",
    "destroy",
    "exists",
    "routes",
]

MAX_SLOTS = 8
NETNS_DIR = Path("/run/netns")


class NetworkError(RuntimeError):
    """The namespace or its links cannot be set up; the message names the command."""


@dataclass(frozen=True)
class Network:
    slot: int

    @property
    def name(self) -> str:
        return f"canaria-dc{self.slot}"

    @property
    def host_if(self) -> str:
        return f"cdc{self.slot}h"

    @property
    def ns_if(self) -> str:
        return f"cdc{self.slot}n"

    @property
    def link_cidr(self) -> str:
        return f"10.203.{self.slot}.0/30"

    @property
    def host_ip(self) -> str:
        return f"10.203.{self.slot}.1"

    @property
    def node_ip(self) -> str:
        """The node's InternalIP: the API server, kubelet, Prometheus and DNS listen here."""
        return f"10.203.{self.slot}.2"

    @property
    def pod_cidr(self) -> str:
        return f"10.{210 + self.slot}.0.0/16"

    @property
    def service_cidr(self) -> str:
        return f"10.{220 + self.slot}.0.0/16"

    @property
    def kubernetes_service_ip(self) -> str:
        """The first Service IP: the ``kubernetes`` Service (in the API server's certificate)."""
        return str(ipaddress.ip_network(self.service_cidr)[1])

    @property
    def dns_ip(self) -> str:
        return self.node_ip

    def contains(self, address: str) -> bool:
        """True if ``address`` is one of this cluster's (node, pod or Service) addresses."""
        ip = ipaddress.ip_address(address)
        nets = (self.link_cidr, self.pod_cidr, self.service_cidr)
        return any(ip in ipaddress.ip_network(n) for n in nets) and address != self.host_ip


def _ip() -> str:
    exe = shutil.which("ip")
    if exe is None:
        raise NetworkError("the `ip` command (Debian package iproute2) is needed")
    return exe


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([_ip(), *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise NetworkError(f"`ip {' '.join(args)}` failed: {proc.stderr.strip()}")
    return proc


def exists(net: Network) -> bool:
    return (NETNS_DIR / net.name).exists()


def free_slot() -> Network:
    """The first slot whose namespace does not exist (call under the machine-wide lock)."""
    for slot in range(MAX_SLOTS):
        net = Network(slot)
        if not exists(net):
            return net
    raise NetworkError(f"all {MAX_SLOTS} dev-cluster network slots are in use (`ip netns`)")


def _sysctl_in(net: Network, key: str, value: str) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    proc = subprocess.run(
        [_ip(), "netns", "exec", net.name, "sh", "-c", f"echo {value} > {path}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise NetworkError(f"sysctl {key}={value} in {net.name}: {proc.stderr.strip()}")


def _fence_host(net: Network) -> None:
    """The host end of the veth is the one outside address the namespace can route to: new
    connections to it, from pods (FORWARD) or the node's processes (OUTPUT), are refused.
    Replies to connections the host opened pass."""
    for chain in ("FORWARD", "OUTPUT"):
        rule = ["-d", f"{net.host_ip}/32", "-m", "conntrack", "--ctstate", "NEW", "-j", "REJECT"]
        proc = subprocess.run(
            [_ip(), "netns", "exec", net.name, "iptables", "-w", "-I", chain, *rule],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise NetworkError(f"iptables {chain} rule in {net.name}: {proc.stderr.strip()}")


def create(net: Network) -> None:
    """Namespace, veth pair, addresses, host routes into it; no default route inside."""
    if exists(net):
        raise NetworkError(f"network namespace {net.name} already exists")
    _run("netns", "add", net.name)
    try:
        _run("link", "add", net.host_if, "type", "veth", "peer", "name", net.ns_if)
        _run("link", "set", net.ns_if, "netns", net.name)
        _run("addr", "add", f"{net.host_ip}/30", "dev", net.host_if)
        _run("link", "set", net.host_if, "up")
        _run("-n", net.name, "link", "set", "lo", "up")
        _run("-n", net.name, "addr", "add", f"{net.node_ip}/30", "dev", net.ns_if)
        _run("-n", net.name, "link", "set", net.ns_if, "up")
        # Pods reach each other, the node and Services through the namespace's routing.
        _sysctl_in(net, "net.ipv4.ip_forward", "1")
        _sysctl_in(net, "net.bridge.bridge-nf-call-iptables", "1")
        for cidr in (net.pod_cidr, net.service_cidr):
            _run("route", "add", cidr, "via", net.node_ip, "dev", net.host_if)
        _fence_host(net)
    except NetworkError:
        destroy(net)
        raise


def destroy(net: Network) -> None:
    """Delete the namespace (its end of the veth, and with it the host end and the routes).
    Call after every process inside has gone, or the namespace outlives its name."""
    _run("link", "del", net.host_if, check=False)
    _run("netns", "del", net.name, check=False)


def routes(net: Network) -> list[str]:
    """The namespace's IPv4 routing table, one route a line."""
    out = _run("-n", net.name, "-4", "route", "show", "table", "all")
    return [line for line in out.stdout.splitlines() if line.strip()]
