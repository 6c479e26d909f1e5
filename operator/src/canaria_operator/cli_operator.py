"""`canaria operator`: run the ModelDeployment operator (kopf, configured deliberately)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "operator",
        help="run the ModelDeployment operator",
        description=(
            "Reconcile ModelDeployments into serving Deployments and Services. Settings come "
            "from CANARIA_OPERATOR_* environment variables; flags override them."
        ),
    )
    p.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then KUBECONFIG)")
    p.add_argument(
        "-n",
        "--namespace",
        action="append",
        dest="namespaces",
        metavar="NS",
        help="watch only this namespace (repeatable; default: all namespaces)",
    )
    p.add_argument("--image", help="default serving image")
    p.add_argument("--prometheus-url", help="default Prometheus for analysis")
    p.add_argument("--log-format", choices=["text", "json"], help="log format (default json)")
    p.add_argument("--priority", type=int, default=0, help="peering priority (highest is active)")
    p.add_argument("--metrics-port", type=int, help="port of /metrics (default 8000)")
    p.add_argument("--health-port", type=int, help="port of the liveness endpoint (default 8081)")
    p.add_argument(
        "--pod-annotation",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra annotation on every serving pod (repeatable)",
    )
    p.set_defaults(func=run)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {
        "kubeconfig": args.kubeconfig,
        "image": args.image,
        "prometheus_url": args.prometheus_url,
        "log_format": args.log_format,
        "metrics_port": args.metrics_port,
        "health_port": args.health_port,
    }
    if args.namespaces:
        values["namespaces"] = tuple(args.namespaces)
    if args.pod_annotation:
        pairs = [item.split("=", 1) for item in args.pod_annotation]
        if any(len(p) != 2 for p in pairs):
            raise SystemExit("--pod-annotation needs KEY=VALUE")
        values["pod_annotations"] = dict(pairs)
    return {k: v for k, v in values.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    from canaria_operator.runner import run_operator
    from canaria_operator.settings import OperatorSettings

    settings = OperatorSettings(**_overrides(args))
    return run_operator(settings, priority=args.priority)
