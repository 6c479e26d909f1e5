"""``canaria route``: registration (imports nothing heavy until the command runs)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from canaria_serving import contract as c

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "route",
        help="run the traffic router (stable/canary split, mirroring, sticky routing)",
        description="Async reverse proxy splitting requests between the stable and canary "
        "tracks of one ModelDeployment. Backends and weights come from Kubernetes "
        "(--kubernetes) or from flags / a routing file re-read on change.",
    )
    p.add_argument("--model", required=True, help="ModelDeployment name (metrics label)")
    p.add_argument("--host", default=os.environ.get(c.ENV_HOST, "0.0.0.0"))
    p.add_argument("--port", type=int, default=int(os.environ.get(c.ENV_PORT, c.ROUTER_PORT)))
    p.add_argument("--stable", action="append", default=[], metavar="HOST:PORT")
    p.add_argument("--canary", action="append", default=[], metavar="HOST:PORT")
    p.add_argument("--canary-weight", type=int, default=0, metavar="0..100")
    p.add_argument("--mirror-percent", type=int, default=0, metavar="0..100")
    p.add_argument("--routes", type=Path, help="JSON/YAML routing file, re-read on change")
    p.add_argument(
        "--kubernetes",
        action="store_true",
        help="watch Ready pods and the ModelDeployment status (in-cluster/KUBECONFIG)",
    )
    p.add_argument("--namespace", default=os.environ.get("POD_NAMESPACE", "default"))
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    p.add_argument("--backend-port", type=int, default=c.SERVING_PORT)
    p.add_argument("--sticky-header", help="requests with this header stick to one track")
    p.add_argument("--timeout", type=float, default=30.0, help="backend timeout (seconds)")
    p.add_argument("--max-body", type=int, default=64 * 1024 * 1024, help="bytes (413 above)")
    p.add_argument("--log-format", choices=("text", "json"), default="text")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from canaria_operator.router.server import serve

    return serve(args)
