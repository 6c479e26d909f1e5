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
from canaria_devtools.devcluster.cluster import DevCluster, build_image, down, load, up
from canaria_devtools.devcluster.inside import FileServer
from canaria_devtools.devcluster.versions import Component

__all__ = ["DemoOptions", "run_demo"]

PACKAGED = Path(__file__).resolve().parents[1]  # the installed canaria_devtools
PACKAGED_CRDS = PACKAGED / "crds"
RELEASE = "canaria-demo"
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


def _chart() -> Path:
    """The Helm chart: the installed package's copy, else this source checkout's."""
    for folder in (PACKAGED / "chart", Path(__file__).resolve().parents[4] / "charts" / "canaria"):
        if (folder / "Chart.yaml").is_file():
            return folder
    raise RuntimeError("the Helm chart is neither in the installed package nor in a checkout")


def _kubectl(cluster: DevCluster, *args: str, stdin: str | None = None) -> str:
    env = {**os.environ, **cluster.env()}
    proc = subprocess.run(
        ["kubectl", *args], input=stdin, capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args[:3])}: {proc.stderr.strip()}")
    return proc.stdout


def _manifest(model: DemoModel, url: str, strategy: str, interval: int) -> dict[str, Any]:
    return {
        "apiVersion": "canaria.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": NAME},
        "spec": {
            "model": {
                "uri": url,
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
        self.files: FileServer | None = None
        self.installed = False

    # --- setup ----------------------------------------------------------------------------
    def install(self) -> None:
        for path in _crds():
            _kubectl(self.cluster, "apply", "--server-side", "--force-conflicts", "-f", str(path))
        _kubectl(
            self.cluster, "wait", "--for=condition=Established", "crd/modeldeployments.canaria.dev"
        )
        namespace = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": self.opts.namespace,
                # the API server proves every pod the operator makes meets this standard
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            },
        }
        _kubectl(self.cluster, "apply", "-f", "-", stdin=json.dumps(namespace))

    def serve_models(self, folder: Path) -> str:
        """The model files, served from inside the cluster's network namespace."""
        net = self.cluster.net
        self.files = FileServer(net.name, folder, net.node_ip).start()
        return self.files.url

    def start_operator(self, image: str) -> None:
        """`helm install` of the chart: the operator as a pod, in-cluster config."""
        repository, tag = image.rsplit(":", 1)
        values = {
            "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
            "servingImagePullPolicy": "Never",
            "watchNamespaces": [self.opts.namespace],
            "prometheusUrl": self.cluster.prometheus_url,
            "peering": {"name": RELEASE},
            "operator": {"extraEnv": [{"name": "CANARIA_OPERATOR_RESYNC_INTERVAL", "value": "2"}]},
        }
        values_file = self.opts.workdir / "values.yaml"
        values_file.write_text(json.dumps(values))
        env = {**os.environ, **self.cluster.env()}
        argv = ["helm", "upgrade", "--install", RELEASE, str(_chart()), "-n", self.opts.namespace,
                "-f", str(values_file), "--wait", "--timeout", "180s"]  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"helm install of the operator failed: {proc.stderr.strip()}")
        self.installed = True
        self.console.log(
            f"operator installed by Helm (release {RELEASE}; "
            f"`kubectl logs -n {self.opts.namespace} deploy/{RELEASE}-canaria-operator`)"
        )

    def stop(self) -> None:
        if self.load is not None:
            self.load.stop()
        if self.files is not None:
            self.files.stop()
        if self.installed and not self.opts.keep:
            subprocess.run(
                ["helm", "uninstall", RELEASE, "-n", self.opts.namespace],
                env={**os.environ, **self.cluster.env()},
                capture_output=True,
                check=False,
            )

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
        assert self.files is not None
        url = f"{self.files.url}/{model.path.name}"
        body = _manifest(model, url, strategy, self.opts.interval)
        _kubectl(
            self.cluster, "apply", "-n", self.opts.namespace, "-f", "-", stdin=json.dumps(body)
        )
        self.marks.append((time.time(), f"apply v{model.version} ({strategy})"))

    def model_url(self) -> str:
        """The model's address: its Service (ClusterIP via kube-proxy, then the router)."""
        svc = json.loads(
            _kubectl(self.cluster, "get", "service", NAME, "-n", self.opts.namespace, "-o", "json")
        )
        return f"http://{svc['spec']['clusterIP']}:8080"


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
    url = demo.model_url()
    demo.load = LoadGenerator(url, iris_rows(), rate=25.0).start()  # type: ignore[arg-type]
    demo.console.log(f"sending ~25 requests/s to the model's Service {url} (router in front)")
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
    for r in [r for r in (demo.load.records if demo.load else []) if r.failed][:5]:
        when = time.strftime("%H:%M:%S", time.localtime(r.at))
        console.print(f"  failed at {when}: {r.status or 'no answer'} {(r.error or '')[:160]}")
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
    console.log(
        "bringing up the dev cluster (control plane and a real node, in a network namespace)"
    )
    cluster = up(progress=_BuildBar(console))
    demo = Demo(opts, cluster, console)
    code = 1
    try:
        console.log("building the image from the Dockerfile (first time ~3 min) and loading it")
        image, size, _ = build_image()
        console.log(f"  {image} ({size / 1e6:.0f} MB)")
        demo.install()
        console.log("making models v1, v2, v3 with `canaria package`")
        models = make_demo_models(opts.workdir / "models")
        for m in models.values():
            console.log(f"  v{m.version}: {m.about}, sha256 {m.sha256[:12]}...")
        console.log(f"models served to the pods from {demo.serve_models(opts.workdir / 'models')}")
        demo.start_operator(image)
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
