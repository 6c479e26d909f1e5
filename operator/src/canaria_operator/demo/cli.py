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
    p.add_argument("--kind", action="store_true", help="use a kind cluster (needs Docker)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.kind:
        import shutil

        if shutil.which("docker") is None:
            print(
                "canaria demo --kind: no `docker` on PATH; run without --kind to use the "
                "dev cluster (no Docker needed)"
            )
            return 2
        print(
            "canaria demo --kind: see README 'kind quickstart' (the demo drives the dev "
            "cluster; with Docker, follow the kind steps there)"
        )
        return 2
    from canaria_operator.demo.run import DemoOptions, run_demo

    opts = DemoOptions(
        namespace=args.namespace, keep=args.keep, live=not args.no_live, out=args.timeline
    )
    return run_demo(opts)
