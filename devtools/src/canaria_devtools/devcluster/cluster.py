"""Bring the dev cluster up, report on it, tear it down.

A real single-node Kubernetes: etcd, kube-apiserver, controller-manager, scheduler, containerd
+ runc + CNI, kubelet, kube-proxy, CoreDNS and Prometheus, all in one network namespace
(:mod:`.netns`) and one cgroup subtree (:mod:`.cgroups`). State lives in
:func:`.paths.state_dir` (``cluster.json``, logs, certificates, configs, etcd data, the node's
containerd and kubelet folders). ``up`` is idempotent: on a running cluster it restarts only
what crashed. A failed ``up`` tears down everything it started and says why; ``down`` leaves
the machine as it found it (processes, mounts, cgroups, the namespace with its veth, routes
and iptables rules, the sysctls the kubelet changed).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from . import cgroups, hoststate, images, netns
from .certs import Pki, make_pki, write_kubeconfig
from .components import Layout, api_server_url, processes, prometheus_url
from .gobuild import Progress, ensure_built
from .health import ClusterError, StartChecks
from .kwokconfig import write_kwok_config
from .netns import Network
from .nodeconfig import PAUSE_IMAGE, NodeLayout, write_node_configs
from .paths import ENV_STATE_DIR, state_dir
from .promconfig import write_prometheus_config
from .supervisor import Proc, alive, launch, stop
from .versions import COMPONENTS, KWOK, PAUSE, Component

__all__ = [
    "ClusterError",
    "ComponentStatus",
    "DevCluster",
    "down",
    "load",
    "up",
]

STATE_FILE = "cluster.json"
ENV_PROMETHEUS_URL = "CANARIA_PROMETHEUS_URL"
ENV_OPERATOR_PROMETHEUS_URL = "CANARIA_OPERATOR_PROMETHEUS_URL"  # read by `canaria operator`
ENV_NETNS = "CANARIA_DEV_CLUSTER_NETNS"
_MACHINE_LOCK = hoststate.RUN_DIR / "machine.lock"


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    running: bool
    log: str


@dataclass
class DevCluster:
    """A running (or recorded) dev cluster."""

    state_dir: Path
    slot: int
    bin_dirs: list[Path]
    procs: list[Proc]
    kwok_nodes: int = 0
    image: str | None = None  # the project image loaded into the node (`dev-cluster image`)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def net(self) -> Network:
        return Network(self.slot)

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self.state_dir / "pki" / "ca.crt"

    @property
    def api_server(self) -> str:
        return api_server_url(self.net)

    @property
    def prometheus_url(self) -> str:
        return prometheus_url(self.net)

    @property
    def containerd_socket(self) -> Path:
        return NodeLayout(self.state_dir / "node", self.net.name).containerd_socket

    def env(self) -> dict[str, str]:
        """Variables for processes that use the cluster: KUBECONFIG, PATH (built tools first)."""
        path = os.pathsep.join([*(str(d) for d in self.bin_dirs), os.environ.get("PATH", "")])
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": path,
            ENV_PROMETHEUS_URL: self.prometheus_url,
            ENV_OPERATOR_PROMETHEUS_URL: self.prometheus_url,
            ENV_STATE_DIR: str(self.state_dir),
            ENV_NETNS: self.net.name,
        }

    def status(self) -> list[ComponentStatus]:
        return [ComponentStatus(p.name, p.pid, alive(p), p.log) for p in self.procs]

    def healthy(self) -> bool:
        return all(s.running for s in self.status())

    def save(self) -> None:
        data = {
            "slot": self.slot,
            "bin_dirs": [str(d) for d in self.bin_dirs],
            "kwok_nodes": self.kwok_nodes,
            "image": self.image,
            "procs": [p.to_json() for p in self.procs],
        }
        tmp = self.state_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.state_dir / STATE_FILE)


def load(root: Path | None = None) -> DevCluster | None:
    """The recorded cluster, or None when none was brought up."""
    root = root or state_dir()
    try:
        data = json.loads((root / STATE_FILE).read_text())
        return DevCluster(
            state_dir=root,
            slot=int(data["slot"]),
            bin_dirs=[Path(d) for d in data["bin_dirs"]],
            procs=[Proc.from_json(p) for p in data["procs"]],
            kwok_nodes=int(data.get("kwok_nodes", 0)),
            image=data.get("image"),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _cluster_lock(root: Path) -> Path:
    return root.with_name(root.name + ".lock")


def needed_components(kwok_nodes: int) -> list[Component]:
    return [c for c in COMPONENTS if kwok_nodes or c is not KWOK]


def _check_host_tools() -> None:
    missing = {
        tool: pkg
        for tool, pkg in (
            ("containerd", "containerd"),
            ("runc", "runc"),
            ("ctr", "containerd"),
            ("iptables", "iptables"),
            ("conntrack", "conntrack"),
            ("ip", "iproute2"),
            ("openssl", "openssl"),
        )
        if shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") is None
    }
    if not Path("/usr/lib/cni/bridge").exists() and not Path("/opt/cni/bin/bridge").exists():
        missing["CNI plugins"] = "containernetworking-plugins"
    if missing:
        pkgs = " ".join(sorted(set(missing.values())))
        raise ClusterError(
            f"the real node needs {', '.join(sorted(missing))}: apt-get install {pkgs} "
            "(make system-deps installs them)"
        )
    if os.geteuid() != 0:
        raise ClusterError("the real node (network namespace, containerd, kubelet) needs root")


def _start(lay: Layout, cluster: DevCluster) -> None:
    checks = StartChecks(lay)
    try:
        for proc in cluster.procs:
            if alive(proc):
                continue
            if proc.pid is not None:
                print(f"dev-cluster: {proc.name} (pid {proc.pid}) is not running; restarting")
            assert proc.cgroup is not None
            launch(proc, cgroups.create(proc.cgroup))
            cluster.save()
            checks.wait(proc)
            if proc.name == "containerd":
                _load_pause_image(lay)
        checks.cluster_ready()
    finally:
        checks.close()


def _load_pause_image(lay: Layout) -> None:
    sock = lay.node.containerd_socket
    if not images.image_in_containerd(sock, PAUSE_IMAGE):
        tar = images.write_pause_image(lay.bins["pause"] / "pause", PAUSE_IMAGE,
                                       lay.state / "node" / "pause.tar")  # fmt: skip
        images.import_tar(sock, tar)


def _fresh(root: Path, bins: dict[str, Path], kwok_nodes: int) -> DevCluster:
    with _locked(_MACHINE_LOCK):
        net = netns.free_slot()
        hoststate.save_sysctls()
        netns.create(net)
    pki = make_pki(root / "pki", ips=(net.node_ip, net.kubernetes_service_ip))
    lay = Layout(state=root, bins=bins, net=net, pki=pki, kwok_nodes=kwok_nodes)
    write_kubeconfig(pki, lay.api_server, lay.kubeconfig)
    write_node_configs(lay.node, net, pki, lay.api_server, lay.kubeconfig)
    write_prometheus_config(root / "prometheus.yml", lay.api_server, pki)
    if kwok_nodes:
        write_kwok_config(bins["kwok"] / "stages", root / "kwok.yaml")
    return DevCluster(
        state_dir=root,
        slot=net.slot,
        bin_dirs=[bins[c.name] for c in needed_components(kwok_nodes) if c is not PAUSE],
        procs=processes(lay),
        kwok_nodes=kwok_nodes,
    )


def _add_kwok(root: Path, bins: dict[str, Path], cluster: DevCluster, nodes: int) -> None:
    """Simulated nodes added to a running cluster (the next ``_start`` launches kwok)."""
    write_kwok_config(bins["kwok"] / "stages", root / "kwok.yaml")
    lay = Layout(root, bins, cluster.net, Pki(root / "pki"), nodes)
    cluster.procs = [p for p in cluster.procs if p.name != "kwok"] + [processes(lay)[-1]]
    cluster.kwok_nodes = nodes
    if bins["kwok"] not in cluster.bin_dirs:
        cluster.bin_dirs.append(bins["kwok"])
    cluster.save()


def up(kwok_nodes: int = 0, progress: Progress | None = None) -> DevCluster:
    """Build what is missing, then start (or repair) the cluster; returns it when all is ready.

    ``kwok_nodes`` adds simulated nodes (the scale benchmark); pods run on the real node."""
    bins = ensure_built(needed_components(kwok_nodes), progress)
    _check_host_tools()
    root = state_dir()
    with _locked(_cluster_lock(root)):
        cluster = load(root)
        if cluster is not None and netns.exists(cluster.net):
            if kwok_nodes > cluster.kwok_nodes:
                _add_kwok(root, bins, cluster, kwok_nodes)
            lay = Layout(root, bins, cluster.net, Pki(root / "pki"), cluster.kwok_nodes)
            try:
                _start(lay, cluster)
            except BaseException as exc:
                raise ClusterError(f"repairing the dev cluster failed: {exc}") from exc
            return cluster
        if cluster is not None or root.exists():
            _teardown(root, cluster)  # stale: its namespace is gone (a reboot)
        (root / "logs").mkdir(parents=True)
        cluster = _fresh(root, bins, kwok_nodes)
        cluster.save()
        lay = Layout(root, bins, cluster.net, Pki(root / "pki"), kwok_nodes)
        try:
            _start(lay, cluster)
        except BaseException as exc:
            _teardown(root, cluster)
            if isinstance(exc, ClusterError):
                raise ClusterError(f"{exc}\n(everything `up` started was stopped again)") from exc
            raise
        return cluster


def _teardown(root: Path, cluster: DevCluster | None) -> None:
    """Stop everything the cluster started and remove what it changed on the machine."""
    if cluster is not None:
        for proc in reversed(cluster.procs):
            stop(proc, timeout=5.0)
        net = cluster.net
        cgroups.kill_all(net.name)  # shims, containers, anything a component started
        hoststate.unmount_under(root)
        with _locked(_MACHINE_LOCK):
            netns.destroy(net)
            if not any(netns.exists(Network(s)) for s in range(netns.MAX_SLOTS)):
                hoststate.restore_sysctls()
    else:
        hoststate.unmount_under(root)
    shutil.rmtree(root, ignore_errors=True)
    (root / STATE_FILE).unlink(missing_ok=True)


def down() -> bool:
    """Stop everything and remove the state. False if nothing was up."""
    root = state_dir()
    with _locked(_cluster_lock(root)):
        cluster = load(root)
        if cluster is None and not root.exists():
            return False
        _teardown(root, cluster)
        with suppress(OSError):
            images.stop_docker()
        return cluster is not None


def source_root() -> Path | None:
    """The source checkout this module is in (an editable install), if any."""
    candidate = Path(__file__).resolve().parents[4]
    if (candidate / "Dockerfile").is_file() and (candidate / "pyproject.toml").is_file():
        return candidate
    return None


def build_image(context: Path | None = None) -> tuple[str, int, bool]:
    """Build the project's image (if its context changed) and load it into the running node,
    if a cluster is up; returns (reference, size in bytes, loaded). The context: ``context``,
    else this source checkout, else one assembled from the installed packages."""
    root = state_dir()
    with _locked(_cluster_lock(root)), tempfile.TemporaryDirectory() as tmp:
        cluster = load(root)
        running = cluster is not None and netns.exists(cluster.net)
        context = context or source_root() or images.installed_context(Path(tmp))
        with images.docker_daemon() as env:
            ref = images.build_project_image(env, context)
            size = images.image_size(env, ref)
            if cluster is not None and running:
                if not images.image_in_containerd(cluster.containerd_socket, ref):
                    images.load_into_containerd(env, cluster.containerd_socket, ref)
                cluster.image = ref
                cluster.save()
        return ref, size, running
