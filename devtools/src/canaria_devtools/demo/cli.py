"""``canaria demo`` (registration only; the demo is imported when it runs)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="dev cluster + operator + a promoted v2 and a rolled-back v3, live",
        description="Bring up the dev cluster, install Canaria, deploy iris v1, send traffic, "
        "roll out a good v2 (promoted) and a mispredicting v3 (rolled back on shadow "
        "agreement), show it live, write a PNG timeline, clean up.",
    )
    p.add_argument("--keep", action="store_true", help="leave the cluster and namespace up")
    p.add_argument("--no-live", action="store_true", help="log lines instead of a live view")
    p.add_argument(
        "--timeline", type=Path, default=Path("canaria-demo-timeline.png"), help="PNG path"
    )
    p.add_argument("--namespace", default="canaria-demo")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from canaria_devtools.demo.run import DemoOptions, run_demo

    opts = DemoOptions(
        namespace=args.namespace, keep=args.keep, live=not args.no_live, out=args.timeline
    )
    return run_demo(opts)
