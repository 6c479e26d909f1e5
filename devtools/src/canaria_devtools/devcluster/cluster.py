"""Bring the dev cluster up, report on it, tear it down.

State lives in :func:`.paths.state_dir` (``cluster.json``, logs, certificates, configs, etcd
data). ``up`` is idempotent: on a running cluster it only restarts components that crashed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import ssl
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from .certs import make_pki, write_kubeconfig
from .components import PORT_NAMES, Layout, processes
from .gobuild import Progress, ensure_built
from .kwokconfig import node_manifest, write_kwok_config
from .paths import ENV_STATE_DIR, state_dir
from .promconfig import write_prometheus_config
from .runner_files import READY_FILE, kill_leftovers
from .supervisor import Proc, alive, free_ports, launch, stop
from .versions import COMPONENTS

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
DEFAULT_NODES = 3
_START_TIMEOUT_S = 120.0


class ClusterError(RuntimeError):
    """The dev cluster cannot be brought up; the message names the component and its log."""


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
    kubeconfig: Path
    api_server: str
    prometheus_url: str
    bin_dirs: list[Path]
    procs: list[Proc]
    ca_file: Path

    def env(self) -> dict[str, str]:
        """Variables for processes that use the cluster: KUBECONFIG, PATH (built tools first)."""
        path = os.pathsep.join([*(str(d) for d in self.bin_dirs), os.environ.get("PATH", "")])
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": path,
            ENV_PROMETHEUS_URL: self.prometheus_url,
            ENV_OPERATOR_PROMETHEUS_URL: self.prometheus_url,
            ENV_STATE_DIR: str(self.state_dir),
        }

    def status(self) -> list[ComponentStatus]:
        return [ComponentStatus(p.name, p.pid, alive(p), p.log) for p in self.procs]

    def healthy(self) -> bool:
        return all(s.running for s in self.status())

    def save(self) -> None:
        data = {
            "kubeconfig": str(self.kubeconfig),
            "api_server": self.api_server,
            "prometheus_url": self.prometheus_url,
            "bin_dirs": [str(d) for d in self.bin_dirs],
            "ca_file": str(self.ca_file),
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
    except (OSError, ValueError):
        return None
    return DevCluster(
        state_dir=root,
        kubeconfig=Path(data["kubeconfig"]),
        api_server=data["api_server"],
        prometheus_url=data["prometheus_url"],
        bin_dirs=[Path(d) for d in data["bin_dirs"]],
        procs=[Proc.from_json(p) for p in data["procs"]],
        ca_file=Path(data["ca_file"]),
    )


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.parent.mkdir(parents=True, exist_ok=True)
    with root.with_name(root.name + ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _log_tail(proc: Proc, lines: int = 25) -> str:
    try:
        text = Path(proc.log).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def _wait(proc: Proc, check: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(proc):
            raise ClusterError(
                f"{proc.name} exited while starting (log {proc.log}):\n{_log_tail(proc)}"
            )
        try:
            if check():
                return
        except (httpx.HTTPError, OSError, ValueError):
            pass
        time.sleep(0.25)
    raise ClusterError(
        f"{proc.name} did not become ready ({what}) in {timeout:.0f}s "
        f"(log {proc.log}):\n{_log_tail(proc)}"
    )


class _Api:
    """Just enough of the Kubernetes REST API for bringing the cluster up."""

    def __init__(self, lay: Layout) -> None:
        tls = ssl.create_default_context(cafile=str(lay.pki.ca_crt))
        tls.load_cert_chain(str(lay.pki.admin_crt), str(lay.pki.admin_key))
        self.client = httpx.Client(base_url=lay.api_server, verify=tls, timeout=5.0)

    def ok(self, path: str) -> bool:
        return self.client.get(path).status_code == 200

    def create_node(self, name: str) -> None:
        resp = self.client.post("/api/v1/nodes", json=node_manifest(name))
        if resp.status_code not in (201, 409):
            raise ClusterError(f"creating node {name} failed: {resp.status_code} {resp.text}")

    def nodes_ready(self, names: list[str]) -> bool:
        items = self.client.get("/api/v1/nodes").json().get("items", [])
        ready = {
            n["metadata"]["name"]
            for n in items
            for c in (n.get("status") or {}).get("conditions") or []
            if c.get("type") == "Ready" and c.get("status") == "True"
        }
        return set(names) <= ready


def _health_check(proc: Proc, lay: Layout, api: _Api, nodes: list[str]) -> Callable[[], bool]:
    def http_ok(url: str, verify: bool = False) -> bool:
        return httpx.get(url, verify=verify, timeout=2.0).status_code == 200

    checks: dict[str, Callable[[], bool]] = {
        "etcd": lambda: http_ok(f"http://127.0.0.1:{lay.ports['etcd_client']}/health"),
        "kube-apiserver": lambda: api.ok("/readyz"),
        "kube-controller-manager": lambda: http_ok(
            f"https://127.0.0.1:{lay.ports['controller_manager']}/healthz"
        ),
        "kube-scheduler": lambda: http_ok(f"https://127.0.0.1:{lay.ports['scheduler']}/healthz"),
        "kwok": lambda: api.nodes_ready(nodes),
        "prometheus": lambda: http_ok(f"{lay.prometheus_url}/-/ready"),
        "pod-runner": (lay.state / "pods" / READY_FILE).is_file,
    }
    return checks[proc.name]


def _canaria_executable() -> Path:
    beside = Path(sys.executable).with_name("canaria")
    if beside.exists():
        return beside
    found = shutil.which("canaria")
    if found is None:
        raise ClusterError("the `canaria` command is not installed (pip install -e .)")
    return Path(found)


def _layout(root: Path, bins: dict[str, Path], ports: dict[str, int]) -> Layout:
    pki = make_pki(root / "pki")
    return Layout(state=root, bins=bins, ports=ports, pki=pki, canaria=_canaria_executable())


def _start(lay: Layout, procs: list[Proc], node_names: list[str], cluster: DevCluster) -> None:
    api = _Api(lay)
    try:
        for proc in procs:
            if alive(proc):
                continue
            if proc.pid is not None:
                print(f"dev-cluster: {proc.name} (pid {proc.pid}) is not running; restarting")
            if proc.name == "pod-runner":  # a killed runner leaves its ready file behind
                (lay.state / "pods" / READY_FILE).unlink(missing_ok=True)
            launch(proc)
            cluster.save()
            if proc.name == "kwok":
                for name in node_names:
                    api.create_node(name)
            _wait(proc, _health_check(proc, lay, api, node_names), "health", _START_TIMEOUT_S)
        default_sa = "/api/v1/namespaces/default/serviceaccounts/default"
        _wait(procs[2], lambda: api.ok(default_sa), "default service account", 60.0)
    finally:
        api.client.close()


def up(nodes: int = DEFAULT_NODES, progress: Progress | None = None) -> DevCluster:
    """Build what is missing, then start (or repair) the cluster; returns it when all is ready."""
    bins = ensure_built(COMPONENTS, progress)
    root = state_dir()
    node_names = [f"kwok-node-{i}" for i in range(nodes)]
    with _locked(root):
        cluster = load(root)
        if cluster is not None:
            ports = json.loads((root / "ports.json").read_text())
            lay = _layout(root, bins, ports)
            _start(lay, cluster.procs, node_names, cluster)
            return cluster
        shutil.rmtree(root, ignore_errors=True)
        (root / "logs").mkdir(parents=True)
        ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
        (root / "ports.json").write_text(json.dumps(ports, indent=2) + "\n")
        lay = _layout(root, bins, ports)
        write_kubeconfig(lay.pki, lay.api_server, lay.kubeconfig)
        write_kwok_config(bins["kwok"] / "stages", root / "kwok.yaml")
        write_prometheus_config(root / "prometheus.yml", lay.api_server, lay.pki)
        cluster = DevCluster(
            state_dir=root,
            kubeconfig=lay.kubeconfig,
            api_server=lay.api_server,
            prometheus_url=lay.prometheus_url,
            bin_dirs=[bins[c.name] for c in COMPONENTS],
            procs=processes(lay),
            ca_file=lay.pki.ca_crt,
        )
        try:
            _start(lay, cluster.procs, node_names, cluster)
        except BaseException:
            _stop_all(cluster)
            (root / STATE_FILE).unlink(missing_ok=True)
            raise
        return cluster


def _stop_all(cluster: DevCluster) -> None:
    for proc in reversed(cluster.procs):
        stop(proc)


def down() -> bool:
    """Stop every recorded process by pid and remove the state. False if nothing was up."""
    root = state_dir()
    with _locked(root):
        cluster = load(root)
        if cluster is None and not root.exists():
            return False
        if cluster is not None:
            _stop_all(cluster)
        kill_leftovers(root / "pods")  # in case the runner could not stop its pods
        shutil.rmtree(root, ignore_errors=True)
        return cluster is not None
