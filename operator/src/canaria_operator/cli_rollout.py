"""``canaria promote|abort|pause|resume|retry|status NAME``: manual rollout control.

The action commands set the annotation ``canaria.dev/action`` on the ModelDeployment (the
operator consumes and removes it); ``status`` prints the steps, weights and last checks, and
``--watch`` refreshes it. It lives outside the rollout package, which holds no I/O.
Registration imports nothing heavy.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from canaria_serving.contract import ANNOTATION_ACTION

__all__ = ["common_arguments", "patch_modeldeployment", "register", "render_status"]

_ACTIONS = {
    "promote": "promote the canary now, skipping the remaining steps and analysis",
    "abort": "roll back now (canary weight 0; after a promotion: back to the warm old stable)",
    "pause": "hold the rollout at its current step (analysis keeps running)",
    "resume": "continue a paused rollout",
    "retry": "restart a rolled-back rollout from the first step",
}


def common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="ModelDeployment name")
    p.add_argument("-n", "--namespace", default="default")
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))


def register(subparsers: Any) -> None:
    for action, text in _ACTIONS.items():
        p = subparsers.add_parser(action, help=text, description=text)
        common_arguments(p)
        p.set_defaults(func=_run_action, action=action)
    p = subparsers.add_parser("status", help="show a rollout: steps, weights, last checks")
    common_arguments(p)
    p.add_argument("-w", "--watch", action="store_true", help="refresh every 2 s")
    p.set_defaults(func=_run_status)


def _run_action(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_action(args))


async def patch_modeldeployment(args: argparse.Namespace, body: dict[str, Any], what: str) -> bool:
    """A merge patch of the ModelDeployment; False (said on stderr) when refused."""
    import sys

    from canaria_operator.kube.client import Kube
    from canaria_operator.kube.errors import KubeError
    from canaria_operator.kube.paths import MODELDEPLOYMENTS

    kube = await Kube.connect(args.kubeconfig)
    try:
        await kube.request(
            "PATCH",
            MODELDEPLOYMENTS.path(args.namespace, args.name),
            body=body,
            content_type="application/merge-patch+json",
        )
    except KubeError as exc:
        print(f"canaria {what}: {args.namespace}/{args.name}: {exc}", file=sys.stderr)
        return False
    finally:
        await kube.close()
    return True


async def _action(args: argparse.Namespace) -> int:
    body = {"metadata": {"annotations": {ANNOTATION_ACTION: args.action}}}
    if not await patch_modeldeployment(args, body, args.action):
        return 1
    print(f"{args.action} requested for modeldeployment {args.namespace}/{args.name}")
    return 0


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_status(md: dict[str, Any]) -> Any:
    """A rich renderable of one ModelDeployment's rollout (pure; tested)."""
    from rich.console import Group
    from rich.table import Table

    meta, spec, status = md.get("metadata", {}), md.get("spec", {}), md.get("status") or {}
    rollout = status.get("rollout") or {}
    stable, canary = status.get("stable") or {}, status.get("canary") or {}
    weight = int(rollout.get("canaryWeight") or 0)
    head = Table.grid(padding=(0, 2))
    head.add_row("name", f"{meta.get('namespace', '')}/{meta.get('name', '')}")
    head.add_row("phase", f"{status.get('phase', '-')} ({rollout.get('reason', '-')})")
    head.add_row("message", str(rollout.get("message", "-")))
    head.add_row("stable", f"{stable.get('version', '-')}  weight {100 - weight}%")
    head.add_row(
        "canary",
        f"{canary.get('version', '-')}  weight {weight}%"
        + (f", mirror {rollout['mirrorPercent']}%" if rollout.get("mirrorPercent") else ""),
    )
    registry = status.get("registry") or {}
    if registry:
        follows = spec.get("model", {}).get("uri", "-")
        head.add_row(
            "registry",
            f"{follows} -> version {registry.get('version', '-')}; "
            f"{registry.get('stableAlias', '-')} on {registry.get('stableAliasVersion', '-')}",
        )
    steps = Table(title="steps")
    for col in ("#", "weight", "pause", "state"):
        steps.add_column(col)
    current = int(rollout.get("stepIndex", -1))
    stage = rollout.get("stage")
    for i, step in enumerate((spec.get("rollout") or {}).get("steps") or []):
        pause = "until resumed" if step.get("pauseUntilResumed") else step.get("pause") or "-"
        if stage == "Steps" and i == current:
            state = f"current ({rollout.get('successes', 0)} ok)"
        elif stage == "Steps" and i < current:
            state = "passed"
        else:
            state = ""
        steps.add_row(str(i + 1), f"{step.get('weight')}%", str(pause), state)
    checks = Table(title="last checks")
    for col in ("metric", "verdict", "value", "stable", "threshold", "samples", "message"):
        checks.add_column(col)
    colours = {"Successful": "green", "Failed": "red", "Error": "magenta"}
    for r in status.get("analysis") or []:
        verdict = str(r.get("verdict", "-"))
        colour = colours.get(verdict, "yellow")
        checks.add_row(
            r.get("metric", "-"),
            f"[{colour}]{verdict}[/]",
            _fmt(r.get("value")),
            _fmt(r.get("stableValue")),
            _fmt(r.get("threshold")),
            _fmt(r.get("samples")),
            str(r.get("message", "")),
        )
    return Group(head, steps, checks)


def _run_status(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_status(args))


async def _status(args: argparse.Namespace) -> int:
    import asyncio
    import sys

    from rich.console import Console
    from rich.live import Live

    from canaria_operator.kube.client import Kube
    from canaria_operator.kube.paths import MODELDEPLOYMENTS

    console = Console()
    kube = await Kube.connect(args.kubeconfig)
    try:
        md = await kube.get(MODELDEPLOYMENTS, args.namespace, args.name)
        if md is None:
            print(f"modeldeployment {args.namespace}/{args.name} not found", file=sys.stderr)
            return 1
        if not args.watch:
            console.print(render_status(md))
            return 0
        with Live(render_status(md), console=console, auto_refresh=False) as live:
            while True:
                await asyncio.sleep(2)
                md = await kube.get(MODELDEPLOYMENTS, args.namespace, args.name) or md
                live.update(render_status(md), refresh=True)
    except KeyboardInterrupt:
        return 0
    finally:
        await kube.close()
