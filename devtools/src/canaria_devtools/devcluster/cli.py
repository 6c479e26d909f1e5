"""``canaria dev-cluster build|up|down|status|env`` (registration only; work is lazy-imported)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def _build(args: argparse.Namespace) -> int:
    from .gatewayapi import crd_files
    from .gobuild import BuildError, ensure_built
    from .versions import COMPONENTS

    try:
        dirs = ensure_built(COMPONENTS)
        crds = crd_files()
    except BuildError as exc:
        print(f"canaria dev-cluster build: {exc}")
        return 2
    for name, folder in dirs.items():
        print(f"{name}: {folder}")
    print(f"gateway-api CRDs: {crds[0].parent}")
    return 0


def _exports(env: dict[str, str], bin_dirs: list[str]) -> str:
    """Shell export lines; PATH is prepended to the caller's ``$PATH``, not frozen."""
    import shlex

    lines = []
    for key, value in env.items():
        if key == "PATH":
            lines.append(f'export PATH={shlex.quote(":".join(bin_dirs))}:"$PATH"')
        else:
            lines.append(f"export {key}={shlex.quote(value)}")
    return "\n".join(lines)


def _up(args: argparse.Namespace) -> int:
    from .cluster import up

    try:
        cluster = up(kwok_nodes=args.kwok_nodes)
    except (RuntimeError, OSError) as exc:  # BuildError, ClusterError, a process not started
        print(f"canaria dev-cluster up: {exc}")
        return 2
    print(f"dev cluster is up: API {cluster.api_server}, Prometheus {cluster.prometheus_url}")
    print(f"node {cluster.net.node_ip} in network namespace {cluster.net.name}")
    print(f'kubeconfig: {cluster.kubeconfig}   (use: eval "$(canaria dev-cluster env)")')
    return 0


def _image(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .cluster import build_image

    try:
        ref, size, loaded = build_image(Path(args.context) if args.context else None)
    except (RuntimeError, OSError) as exc:  # ClusterError, ImageError
        print(f"canaria dev-cluster image: {exc}")
        return 2
    where = "loaded into the node" if loaded else "built (no dev cluster is up to load it into)"
    print(f"{ref} ({size / 1e6:.0f} MB): {where}")
    return 0


def _down(args: argparse.Namespace) -> int:
    from .cluster import down

    print("dev cluster stopped and removed" if down() else "no dev cluster was up")
    return 0


def _status(args: argparse.Namespace) -> int:
    import json

    from .cluster import load

    cluster = load()
    if cluster is None:
        print("no dev cluster is up (run `canaria dev-cluster up`)")
        return 3
    rows = cluster.status()
    if args.json:
        print(json.dumps([r.__dict__ for r in rows], indent=2))
    else:
        for r in rows:
            state = "running" if r.running else "NOT RUNNING (crashed or stopped)"
            print(f"{r.name:<24} pid {r.pid!s:<8} {state:<34} log {r.log}")
        print(f"API {cluster.api_server}  Prometheus {cluster.prometheus_url}")
    return 0 if all(r.running for r in rows) else 1


def _env(args: argparse.Namespace) -> int:
    from .cluster import load

    cluster = load()
    if cluster is None:
        print("# no dev cluster is up (run `canaria dev-cluster up`)")
        return 3
    print(_exports(cluster.env(), [str(d) for d in cluster.bin_dirs]))
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dev-cluster",
        help="a local Kubernetes control plane (no Docker) for development and tests",
        description=(
            "Build (once, cached under ~/.cache/canaria/testbin) and run a real single-node "
            "Kubernetes: kube-apiserver, controller-manager, scheduler, etcd, containerd, "
            "kubelet, kube-proxy, CoreDNS and Prometheus, in a network namespace of its own."
        ),
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    verbs.add_parser("build", help="build the binaries (what CI calls)").set_defaults(func=_build)
    up = verbs.add_parser("up", help="start the cluster (idempotent; restarts crashed parts)")
    up.add_argument(
        "--kwok-nodes", type=int, default=0, help="simulated nodes too (scale benchmarks)"
    )
    up.set_defaults(func=_up)
    image = verbs.add_parser("image", help="build the project's image and load it into the node")
    image.add_argument("--context", help="source checkout to build (default: this one)")
    image.set_defaults(func=_image)
    verbs.add_parser("down", help="stop everything and remove the state").set_defaults(func=_down)
    status = verbs.add_parser("status", help="what runs (exit 1 if a component crashed)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)
    verbs.add_parser("env", help="print export lines (KUBECONFIG, PATH, ...)").set_defaults(
        func=_env
    )
