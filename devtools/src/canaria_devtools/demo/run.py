"""``canaria demo``: one command from nothing to a promoted and a rolled-back model.

Brings up the dev cluster (building it on first use, with a progress bar), installs the CRD,
runs the operator, deploys iris v1 made by `canaria package`, sends steady traffic through the
router, rolls out a good v2 (Canary: promoted step by step) and a bad v3 (Shadow: it answers
fast and without errors but disagrees with v1/v2; rolled back before any client sees it), with
a live view; then prints a summary, writes a PNG timeline and cleans up.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from canaria_devtools.demo.models import DemoModel, iris_rows, make_demo_models
from canaria_devtools.demo.timeline import Sample, write_timeline
from canaria_devtools.demo.traffic import LoadGenerator
from canaria_devtools.demo.view import render
from canaria_devtools.devcluster import gobuild
from canaria_devtools.devcluster.cluster import DevCluster, down, load, up
from canaria_devtools.devcluster.versions import Component

__all__ = ["DemoOptions", "run_demo"]

PACKAGED_CRDS = Path(__file__).resolve().parents[1] / "crds"
NAME = "iris"
Status = dict[str, Any]


@dataclass
class DemoOptions:
    namespace: str = "canaria-demo"
    keep: bool = False  # leave the cluster (and the namespace) running
    live: bool = True
    out: Path = field(default_factory=lambda: Path("canaria-demo-timeline.png"))
    interval: int = 10  # analysis interval (seconds)
    timeout: float = 240.0  # per rollout
    workdir: Path = field(default_factory=lambda: Path.home() / ".cache" / "canaria" / "demo")


class _BuildBar(gobuild.Progress):
    """The dev cluster's Go builds as a rich progress bar (first run only)."""

    def __init__(self, console: Console) -> None:
        super().__init__(stream=sys.stderr)
        self.console = console
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
        )
        self.tasks: dict[str, TaskID] = {}

    def say(self, message: str) -> None:
        self.console.log(message)

    def update(self, comp: Component, done: int, total: int, started: float) -> None:
        if comp.name not in self.tasks:
            self.bar.start()
            self.tasks[comp.name] = self.bar.add_task(f"building {comp.name}", total=total)
        self.bar.update(self.tasks[comp.name], completed=done, total=total)


def _crds() -> list[Path]:
    """The CRDs from the installed package (the wheel carries them), else the source checkout
    this module lives in (an editable install)."""
    names = ("modeldeployment.yaml", "kopf-peering.yaml")
    for folder in (PACKAGED_CRDS, Path(__file__).resolve().parents[4] / "crds"):
        if all((folder / n).is_file() for n in names):
            return [folder / n for n in names]
    raise RuntimeError(f"the CRD files are neither in {PACKAGED_CRDS} nor in a source checkout")


def _kubectl(cluster: DevCluster, *args: str, stdin: str | None = None) -> str:
    env = {**os.environ, **cluster.env()}
    proc = subprocess.run(
        ["kubectl", *args], input=stdin, capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args[:3])}: {proc.stderr.strip()}")
    return proc.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _manifest(model: DemoModel, strategy: str, interval: int) -> dict[str, Any]:
    return {
        "apiVersion": "canaria.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": NAME},
        "spec": {
            "model": {
                "uri": f"file://{model.path}",
                "version": model.version,
                "sha256": model.sha256,
            },
            "rollout": {
                "strategy": strategy,
                "steps": [{"weight": 20}, {"weight": 50}],
                "analysisInterval": f"{interval}s",
                "scaleDownDelay": "20s",
                "progressDeadline": "90s",
                "analysis": {
                    "minRequests": 20,
                    "metrics": {
                        "errorRate": {"max": 0.05},
                        "latencyP99": {"maxRatio": 2.0},
                        "predictionDrift": {"maxPsi": 0.2},
                        "shadowAgreement": {"min": 0.9},
                    },
                },
            },
        },
    }


class Demo:
    def __init__(self, opts: DemoOptions, cluster: DevCluster, console: Console) -> None:
        self.opts, self.cluster, self.console = opts, cluster, console
        self.samples: list[Sample] = []
        self.events: list[str] = []
        self.marks: list[tuple[float, str]] = []
        self.load: LoadGenerator | None = None
        self.operator: subprocess.Popen[bytes] | None = None

    # --- setup ----------------------------------------------------------------------------
    def install(self) -> None:
        for path in _crds():
            _kubectl(self.cluster, "apply", "--server-side", "--force-conflicts", "-f", str(path))
        _kubectl(
            self.cluster, "wait", "--for=condition=Established", "crd/modeldeployments.canaria.dev"
        )
        ns = self.opts.namespace
        _kubectl(
            self.cluster,
            "apply",
            "-f",
            "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        _kubectl(
            self.cluster,
            "apply",
            "-n",
            ns,
            "-f",
            "-",
            stdin=json.dumps(
                {
                    "apiVersion": "kopf.dev/v1",
                    "kind": "KopfPeering",
                    "metadata": {"name": "canaria"},
                }
            ),
        )

    def start_operator(self) -> None:
        log = self.opts.workdir / "operator.log"
        env = {
            **os.environ,
            **self.cluster.env(),
            "CANARIA_OPERATOR_RESYNC_INTERVAL": "2",
            "CANARIA_OPERATOR_ROUTER_REPLICAS": "1",
            "CANARIA_OPERATOR_HEALTH_PORT": str(_free_port()),
            "CANARIA_OPERATOR_METRICS_PORT": str(_free_port()),
        }
        argv = [sys.executable, "-m", "canaria_operator.cli", "operator", "-n", self.opts.namespace]
        argv += ["--kubeconfig", str(self.cluster.kubeconfig)]
        with log.open("ab") as out:
            self.operator = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.console.log(f"operator running (pid {self.operator.pid}, log {log})")

    def stop(self) -> None:
        if self.load is not None:
            self.load.stop()
        if self.operator is not None and self.operator.poll() is None:
            self.operator.terminate()
            try:
                self.operator.wait(20)
            except subprocess.TimeoutExpired:
                self.operator.kill()

    # --- observing ------------------------------------------------------------------------
    def md(self) -> dict[str, Any] | None:
        try:
            out = _kubectl(self.cluster, "get", "md", NAME, "-n", self.opts.namespace, "-o", "json")
        except RuntimeError:
            return None
        body: dict[str, Any] = json.loads(out)
        return body

    def _note(self, status: Status) -> None:
        rollout = status.get("rollout") or {}
        line = f"{rollout.get('reason', '')}: {rollout.get('message', '')}"
        if rollout and (not self.events or not self.events[-1].endswith(line)):
            self.events.append(f"{time.strftime('%H:%M:%S')} {line}")
            if not self.opts.live:
                self.console.log(line)

    def _counts(self) -> dict[tuple[str, str], int]:
        return self.load.counts() if self.load is not None else {}

    def watch(self, title: str, done: Callable[[Status], bool]) -> dict[str, Any]:
        """Poll (and show) the ModelDeployment until ``done(status)``."""
        deadline = time.monotonic() + self.opts.timeout
        with (
            Live(
                render(title, None, {}, []),
                console=self.console,
                refresh_per_second=4,
                transient=False,
            )
            if self.opts.live
            else _NoLive() as live
        ):
            while time.monotonic() < deadline:
                if self.operator is not None and self.operator.poll() is not None:
                    raise RuntimeError(
                        f"the operator exited ({self.operator.returncode}); see its log"
                    )
                md = self.md()
                if md is not None:
                    status = md.get("status") or {}
                    self.samples.append(Sample(time.time(), status))
                    self._note(status)
                    live.update(render(title, md, self._counts(), self.events))
                    if done(status):
                        return md
                time.sleep(0.5)
        raise RuntimeError(f"{title}: not done after {self.opts.timeout:.0f} s")

    def apply(self, model: DemoModel, strategy: str) -> None:
        body = _manifest(model, strategy, self.opts.interval)
        _kubectl(
            self.cluster, "apply", "-n", self.opts.namespace, "-f", "-", stdin=json.dumps(body)
        )
        self.marks.append((time.time(), f"apply v{model.version} ({strategy})"))

    def router_url(self) -> str | None:
        pods = json.loads(
            _kubectl(
                self.cluster,
                "get",
                "pods",
                "-n",
                self.opts.namespace,
                "-l",
                f"canaria.dev/model={NAME},app.kubernetes.io/component=router",
                "-o",
                "json",
            )
        )["items"]
        for pod in pods:
            conds = (pod.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
                return f"http://{pod['status']['podIP']}:8080"
        return None


class _NoLive:
    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, _: object) -> None:
        return None


def _promoted(version: str) -> Callable[[Status], bool]:
    return lambda s: (s.get("stable") or {}).get("version") == version and s.get("phase") == "Ready"


def _rolled_back(version: str) -> Callable[[Status], bool]:
    def check(s: Status) -> bool:
        hist = s.get("history") or []
        return bool(hist) and hist[-1]["version"] == version and hist[-1]["result"] == "RolledBack"

    return check


def _story(demo: Demo, models: dict[str, DemoModel]) -> dict[str, Any]:
    demo.apply(models["1"], "Canary")
    demo.watch("v1: first deployment", lambda s: s.get("phase") == "Ready")
    deadline = time.monotonic() + 60
    url = demo.router_url()
    while url is None and time.monotonic() < deadline:
        time.sleep(0.5)
        url = demo.router_url()
    if url is None:
        raise RuntimeError("the router never became Ready")
    demo.load = LoadGenerator(url, iris_rows(), rate=25.0).start()  # type: ignore[arg-type]
    demo.console.log(f"sending ~25 requests/s through the router at {url}")
    time.sleep(5)
    demo.apply(models["2"], "Canary")
    demo.watch("v2 (good): Canary steps 20% -> 50% -> promote", _promoted("2"))
    demo.apply(models["3"], "Shadow")
    final = demo.watch("v3 (mispredicts): Shadow, judged on mirrored traffic", _rolled_back("3"))
    time.sleep(3)
    return final


def _summary(console: Console, demo: Demo, final: dict[str, Any]) -> None:
    table = Table(title="rollout history")
    for col in ("version", "result", "reason", "took"):
        table.add_column(col)
    for h in (final.get("status") or {}).get("history") or []:
        took = ""
        if h.get("startedAt") and h.get("finishedAt"):
            from datetime import datetime

            s = datetime.fromisoformat(h["startedAt"].replace("Z", "+00:00"))
            f = datetime.fromisoformat(h["finishedAt"].replace("Z", "+00:00"))
            took = f"{(f - s).total_seconds():.0f} s"
        table.add_row(f"v{h['version']}", h["result"], (h.get("reason") or "")[:70], took)
    console.print(table)
    counts = demo.load.counts() if demo.load else {}
    failed = sum(n for (_, what), n in counts.items() if what == "failed")
    by_version = {w: n for (w, what), n in counts.items() if what == "ok"}
    console.print(f"client requests answered: {by_version}; failed: {failed}")
    console.print(
        "v3 answered no client request: it only ever saw mirrored traffic"
        if "3" not in by_version
        else "[red]v3 answered clients[/red]"
    )


def run_demo(opts: DemoOptions) -> int:
    console = Console()
    opts.workdir.mkdir(parents=True, exist_ok=True)
    console.rule("[bold]canaria demo")
    existed = load() is not None
    console.log("bringing up the dev cluster (kube-apiserver, etcd, kwok, Prometheus; no Docker)")
    cluster = up(progress=_BuildBar(console))
    demo = Demo(opts, cluster, console)
    code = 1
    try:
        demo.install()
        console.log("making models v1, v2, v3 with `canaria package`")
        models = make_demo_models(opts.workdir / "models")
        for m in models.values():
            console.log(f"  v{m.version}: {m.about}, sha256 {m.sha256[:12]}...")
        demo.start_operator()
        final = _story(demo, models)
        _summary(console, demo, final)
        assert demo.load is not None
        path = write_timeline(
            opts.out,
            demo.samples,
            demo.load.records,
            prometheus=cluster.prometheus_url,
            namespace=opts.namespace,
            model=NAME,
            marks=demo.marks,
        )
        console.log(f"timeline written to {path.resolve()}")
        code = 0
    except (RuntimeError, OSError) as exc:
        console.print(f"[red]canaria demo: {exc}[/red]")
    finally:
        demo.stop()
        if opts.keep:
            console.log(f"kept: namespace {opts.namespace} (`canaria dev-cluster down` stops all)")
        else:
            subprocess.run(
                ["kubectl", "delete", "namespace", opts.namespace, "--wait=false"],
                env={**os.environ, **cluster.env()},
                capture_output=True,
                check=False,
            )
            if not existed:
                down()
                console.log("dev cluster stopped (it was not running before the demo)")
    return code
