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
        cluster = up(nodes=args.nodes)
    except (RuntimeError, OSError) as exc:  # BuildError, ClusterError, a process not started
        print(f"canaria dev-cluster up: {exc}")
        return 2
    print(f"dev cluster is up: API {cluster.api_server}, Prometheus {cluster.prometheus_url}")
    print(f'kubeconfig: {cluster.kubeconfig}   (use: eval "$(canaria dev-cluster env)")')
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


def _logs(args: argparse.Namespace) -> int:
    """kubectl logs cannot work without a kubelet: read the runner's log files instead."""
    from .paths import state_dir

    namespace, _, name = args.pod.rpartition("/")
    pattern = f"{namespace or 'default'}_{name}_*/logs/{args.container or '*'}.log"
    files = sorted((state_dir() / "pods").glob(pattern))
    if not files:
        print(f"no logs for pod {args.pod!r} (only pods run by the dev-cluster runner have logs)")
        return 1
    if len(files) > 1 and not args.container:
        names = ", ".join(f.stem for f in files)
        print(f"pod {args.pod!r} has several containers ({names}): choose one with -c")
        return 1
    lines = files[-1].read_text(errors="replace").splitlines()
    print("\n".join(lines[-args.tail :] if args.tail else lines))
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dev-cluster",
        help="a local Kubernetes control plane (no Docker) for development and tests",
        description=(
            "Build (once, cached under ~/.cache/canaria/testbin) and run kube-apiserver, "
            "controller-manager, scheduler, etcd, kwok fake nodes, Prometheus and a local pod "
            "runner on 127.0.0.1."
        ),
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    verbs.add_parser("build", help="build the binaries (what CI calls)").set_defaults(func=_build)
    up = verbs.add_parser("up", help="start the cluster (idempotent; restarts crashed parts)")
    up.add_argument("--nodes", type=int, default=3, help="fake nodes (default 3)")
    up.set_defaults(func=_up)
    verbs.add_parser("down", help="stop everything and remove the state").set_defaults(func=_down)
    status = verbs.add_parser("status", help="what runs (exit 1 if a component crashed)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)
    verbs.add_parser("env", help="print export lines (KUBECONFIG, PATH, ...)").set_defaults(
        func=_env
    )
    logs = verbs.add_parser("logs", help="logs of a pod run by the local pod runner")
    logs.add_argument("pod", help="[NAMESPACE/]POD")
    logs.add_argument("-c", "--container")
    logs.add_argument("--tail", type=int, default=0, help="last N lines (default: all)")
    logs.set_defaults(func=_logs)
