"""The demo's live terminal view (rich): rollout, weights, checks, traffic (pure rendering)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

__all__ = ["render"]

_VERDICT_STYLE = {
    "Successful": "green",
    "Failed": "bold red",
    "Inconclusive": "yellow",
    "Error": "magenta",
}
_PHASE_STYLE = {"Ready": "green", "Progressing": "cyan", "RolledBack": "bold red"}


def _bar(weight: int, width: int = 40) -> Text:
    filled = round(width * weight / 100)
    text = Text("stable ", style="bold")
    text.append("█" * (width - filled), style="green")
    text.append("█" * filled, style="yellow")
    text.append(f" canary {weight}%", style="bold yellow" if weight else "dim")
    return text


def _steps(status: Mapping[str, Any], spec: Mapping[str, Any]) -> Text:
    steps = [int(s["weight"]) for s in (spec.get("rollout") or {}).get("steps") or []]
    current = status.get("currentStep")
    rollout = status.get("rollout") or {}
    text = Text("steps ")
    if rollout.get("stage") == "Shadow":
        text.append(f"[shadow: {rollout.get('mirrorPercent', 0)}% mirrored] ", style="bold cyan")
    for i, w in enumerate(steps):
        style = (
            "bold reverse cyan"
            if i == current
            else ("green" if current is not None and i < current else "dim")
        )
        text.append(f" {w}% ", style=style)
        text.append(" ")
    return text


def _checks(status: Mapping[str, Any]) -> Table:
    table = Table(title="last analysis round", expand=True, title_justify="left")
    for col in ("check", "verdict", "canary", "stable", "limit", "n", "why"):
        table.add_column(col, overflow="fold", ratio=3 if col == "why" else 1)
    for a in status.get("analysis") or []:

        def fmt(v: object) -> str:
            return "" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)

        table.add_row(
            a.get("metric", ""),
            Text(a.get("verdict", ""), style=_VERDICT_STYLE.get(a.get("verdict", ""), "")),
            fmt(a.get("value")),
            fmt(a.get("stableValue")),
            fmt(a.get("threshold")),
            fmt(a.get("samples")),
            (a.get("message") or "")[:90],
        )
    return table


def _traffic(counts: Mapping[tuple[str, str], int]) -> Table:
    table = Table(title="client requests through the router", expand=True, title_justify="left")
    table.add_column("answered by")
    table.add_column("ok", justify="right")
    table.add_column("errors", justify="right")
    table.add_column("failed (no answer)", justify="right")
    for who in sorted({w for w, _ in counts}):
        ok = counts.get((who, "ok"), 0)
        failed = counts.get((who, "failed"), 0)
        errors = sum(
            n for (w, what), n in counts.items() if w == who and what not in ("ok", "failed")
        )
        table.add_row(f"v{who}" if who[:1].isdigit() else who, str(ok), str(errors), str(failed))
    return table


def render(
    title: str,
    md: Mapping[str, Any] | None,
    counts: Mapping[tuple[str, str], int],
    events: list[str],
) -> RenderableType:
    if md is None:
        return Panel("waiting for the ModelDeployment...", title=title)
    status, spec = md.get("status") or {}, md.get("spec") or {}
    rollout = status.get("rollout") or {}
    phase = str(status.get("phase", "Pending"))
    stable = (status.get("stable") or {}).get("version", "-")
    canary = (status.get("canary") or {}).get("version")
    head = Text(f"phase {phase}", style=_PHASE_STYLE.get(phase, "bold"))
    head.append(f"   stable v{stable}")
    if canary:
        head.append(f"   canary v{canary}", style="yellow")
    weight = int(rollout.get("canaryWeight") or 0) if canary else 0
    reason = Text(
        f"{rollout.get('reason', '')}: {rollout.get('message', '')}"[:200], style="italic"
    )
    body = Group(
        head,
        _bar(weight),
        _steps(status, spec),
        reason,
        _checks(status),
        _traffic(counts),
        Text("\n".join(events[-5:]), style="dim"),
    )
    return Panel(body, title=title, border_style="cyan")
