"""``canaria retire NAME --at TIME`` and ``canaria history NAME``: a model's lifecycle.

``retire`` sets (or, with ``--cancel``, removes) ``spec.retire``: until the time the model
serves with Deprecation and Sunset headers, then it is scaled to zero and reported Retired.
``history`` prints ``status.history``: every rollout's version, registry version, verdict,
reason, checks and times. Registration imports nothing heavy.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from canaria_operator.cli_rollout import common_arguments

__all__ = ["parse_time", "register", "render_history"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "retire",
        help="retire a model at a time (Deprecation/Sunset headers until then, then zero pods)",
    )
    common_arguments(p)
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--at", type=parse_time, help="RFC 3339 time, or 'now'")
    when.add_argument("--cancel", action="store_true", help="remove spec.retire")
    p.add_argument("--reason", help="why (kept in status and the registry tags)")
    p.set_defaults(func=lambda a: asyncio.run(_retire(a)))
    p = subparsers.add_parser("history", help="every rollout: version, verdict, reason, checks")
    common_arguments(p)
    p.set_defaults(func=lambda a: asyncio.run(_history(a)))


def parse_time(text: str) -> datetime:
    if text.strip().lower() == "now":
        return datetime.now(UTC).replace(microsecond=0)
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an RFC 3339 time") from exc
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def _retire(args: argparse.Namespace) -> int:
    from canaria_operator.cli_rollout import patch_modeldeployment

    if args.cancel:
        body: dict[str, Any] = {"spec": {"retire": None}}
        done = "retirement cancelled"
    else:
        retire: dict[str, Any] = {"at": args.at.isoformat().replace("+00:00", "Z")}
        if args.reason:
            retire["reason"] = args.reason
        body = {"spec": {"retire": retire}}
        done = f"retiring at {retire['at']}"
    if await patch_modeldeployment(args, body, "retire"):
        print(f"modeldeployment {args.namespace}/{args.name}: {done}")
        return 0
    return 1


def _when(value: Any) -> str:
    return str(value).replace("T", " ").replace("Z", "") if value else "-"


def render_history(md: dict[str, Any]) -> Any:
    """A rich table of ``status.history``, oldest first (pure; tested)."""
    from rich.table import Table

    status = md.get("status") or {}
    table = Table(title=f"history of {md['metadata']['namespace']}/{md['metadata']['name']}")
    for col in ("version", "registry", "result", "reason", "checks", "started", "finished"):
        table.add_column(col)
    for h in status.get("history") or []:
        checks = ", ".join(f"{c.get('metric')}={c.get('verdict')}" for c in h.get("checks") or [])
        table.add_row(
            str(h.get("version")),
            str(h.get("source") or "-"),
            str(h.get("result")),
            str(h.get("reason") or "-"),
            checks or "-",
            _when(h.get("startedAt")),
            _when(h.get("finishedAt")),
        )
    retirement = status.get("retirement") or {}
    if retirement.get("retiredAt"):
        table.caption = f"retired at {_when(retirement['retiredAt'])}"
    elif retirement.get("at"):
        table.caption = f"retiring at {_when(retirement['at'])}"
    return table


async def _history(args: argparse.Namespace) -> int:
    from rich.console import Console

    from canaria_operator.kube.client import Kube
    from canaria_operator.kube.paths import MODELDEPLOYMENTS

    kube = await Kube.connect(args.kubeconfig)
    try:
        md = await kube.get(MODELDEPLOYMENTS, args.namespace, args.name)
    finally:
        await kube.close()
    if md is None:
        print(f"modeldeployment {args.namespace}/{args.name} not found", file=sys.stderr)
        return 1
    Console(width=160).print(render_history(md))
    return 0
