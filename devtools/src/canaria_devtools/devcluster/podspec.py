"""Translate a pod (JSON as the API returns it) into local process plans (pure code).

How a container of a runner pod becomes a process:

- command: empty -> the image's entrypoint, taken to be ``canaria``; ``canaria`` (any
  directory) -> the installed console script; ``python*`` -> this virtualenv's Python. Anything
  else cannot run here: the container stays ``Waiting`` with reason ``UnsupportedCommand``.
- args and env: ``$(VAR)`` expanded as Kubernetes does; env ``value`` and ``valueFrom``
  (``fieldRef``, ``configMapKeyRef``, ``secretKeyRef``) and ``envFrom`` are supported.
- binding: each pod has its own loopback IP, so ports never clash; the runner sets
  ``CANARIA_HOST=<podIP>`` and rewrites ``--host``/``--host=`` arguments to the pod IP.
- volumes: every volume is a local folder (hostPath: the path itself; a PVC: the hostPath or
  ``local`` path of the PersistentVolume it is bound to); each
  ``volumeMount.mountPath`` (plus ``subPath``) is rewritten to that folder wherever it appears
  in args, env values and ``workingDir`` -- except paths that exist on this machine (so a test
  can hand ``file:///tmp/.../model.onnx`` to a pod that mounts an emptyDir at ``/tmp``). A
  volume mounted at ``/tmp`` also becomes ``TMPDIR``.
- ignored: securityContext (processes run as the runner's user), resources, image pulls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from canaria_serving.contract import ENV_HOST

__all__ = [
    "ContainerPlan",
    "PlanContext",
    "PodPlan",
    "Probe",
    "field_ref",
    "plan_pod",
    "rewrite_paths",
    "volume_dirs",
]

Json = Mapping[str, Any]
Match = re.Match[str]
_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_PATH_CHAR = r"[\w.-]"


@dataclass(frozen=True)
class Probe:
    kind: str  # "http" | "tcp" | "none" (exec probes: treated as passing)
    port: int | None = None
    path: str = "/"
    scheme: str = "HTTP"
    initial_delay: float = 0.0
    period: float = 10.0  # periodSeconds as written; the runner polls readiness every second
    timeout: float = 1.0
    failure_threshold: int = 3


@dataclass(frozen=True)
class ContainerPlan:
    name: str
    image: str
    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: str | None
    readiness: Probe | None
    liveness: Probe | None
    startup: Probe | None = None
    error: str | None = None  # set when the container cannot run locally
    # terminationMessagePolicy FallbackToLogsOnError: a failed container's message is its log tail
    message_from_logs: bool = False


@dataclass(frozen=True)
class PodPlan:
    init: list[ContainerPlan]
    main: list[ContainerPlan]
    restart_policy: str


@dataclass
class PlanContext:
    canaria: Path
    python: Path
    pod_ip: str
    volumes: dict[str, Path]
    configmaps: dict[str, dict[str, str]] = field(default_factory=dict)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    base_env: dict[str, str] = field(default_factory=dict)
    keep_path: Callable[[str], bool] = lambda _path: False  # see rewrite_paths


def volume_dirs(
    pod: Json, pod_dir: Path, claims: Mapping[str, Path] | None = None
) -> dict[str, Path]:
    """Local folder of every volume: hostPath is the path itself; a persistentVolumeClaim is the
    folder of its bound PersistentVolume (``claims``: claim name -> hostPath/local path); every
    other volume is a folder in the pod's directory."""
    dirs: dict[str, Path] = {}
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        name = vol["name"]
        host = vol.get("hostPath")
        claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
        if host:
            dirs[name] = Path(host["path"])
        elif claim and claims and claim in claims:
            dirs[name] = claims[claim]
        else:
            dirs[name] = pod_dir / "volumes" / name
    return dirs


def _mounts(container: Json, volumes: Mapping[str, Path]) -> list[tuple[str, str]]:
    pairs = []
    for mount in container.get("volumeMounts") or []:
        local = volumes.get(mount["name"])
        if local is None:
            continue
        sub = mount.get("subPath") or ""
        target = str(local / sub) if sub else str(local)
        pairs.append((mount["mountPath"].rstrip("/") or "/", target))
    return sorted(pairs, key=lambda p: len(p[0]), reverse=True)


def rewrite_paths(
    text: str, mounts: list[tuple[str, str]], keep: Callable[[str], bool] = lambda _p: False
) -> str:
    """Replace mount paths (as whole path prefixes) in ``text`` by their local folders.

    One pass, longest mount path first, so a replacement is never rewritten again. ``keep``
    may veto one occurrence (the whole path, up to a quote or blank; never the bare mount
    path): the runner keeps paths that exist on this machine, e.g.
    ``file:///tmp/test-data/model.onnx`` given to a container that mounts an emptyDir at /tmp.
    """
    if not mounts:
        return text
    targets = dict(mounts)
    alternatives = "|".join(re.escape(m) for m in sorted(targets, key=len, reverse=True))
    pattern = rf"(?<!{_PATH_CHAR})({alternatives})(?=/|$|[^\w.-])[^\s'\"]*"

    def sub(match: Match) -> str:
        whole, mount_path = match.group(0), match.group(1)
        if whole.rstrip("/") != mount_path and keep(whole):
            return whole
        return targets[mount_path] + whole[len(mount_path) :]

    return re.sub(pattern, sub, text)


def _expand(text: str, env: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)

    return _VAR.sub(sub, text)


def field_ref(pod: Json, path: str, pod_ip: str) -> str:
    """The value of a downward-API ``fieldRef.fieldPath``."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": (pod.get("status") or {}).get("hostIP", "127.0.0.1"),
    }
    return str(simple.get(path) or "")


def _env_from(container: Json, ctx: PlanContext) -> dict[str, str]:
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        if "configMapRef" in src:
            data = ctx.configmaps.get(src["configMapRef"]["name"], {})
        elif "secretRef" in src:
            data = ctx.secrets.get(src["secretRef"]["name"], {})
        else:
            continue
        env.update({prefix + k: v for k, v in data.items()})
    return env


def _env_value(pod: Json, item: Json, ctx: PlanContext, env: Mapping[str, str]) -> str | None:
    if "value" in item:
        return _expand(str(item["value"]), env)
    source = item.get("valueFrom") or {}
    if "fieldRef" in source:
        return field_ref(pod, source["fieldRef"]["fieldPath"], ctx.pod_ip)
    for key, store in (("configMapKeyRef", ctx.configmaps), ("secretKeyRef", ctx.secrets)):
        if key in source:
            ref = source[key]
            return store.get(ref["name"], {}).get(ref["key"])
    return None


def _resolve_port(port: Any, container: Json) -> int | None:
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for cport in container.get("ports") or []:
        if cport.get("name") == port:
            return int(cport["containerPort"])
    return None


def _probe(spec: Json | None, container: Json) -> Probe | None:
    if not spec:
        return None
    kind, port, path, scheme = "none", None, "/", "HTTP"
    if "httpGet" in spec:
        get = spec["httpGet"]
        kind, port = "http", _resolve_port(get.get("port"), container)
        path, scheme = str(get.get("path", "/")), str(get.get("scheme", "HTTP"))
    elif "tcpSocket" in spec:
        kind, port = "tcp", _resolve_port(spec["tcpSocket"].get("port"), container)
    return Probe(
        kind=kind,
        port=port,
        path=path,
        scheme=scheme,
        initial_delay=float(spec.get("initialDelaySeconds", 0)),
        period=float(spec.get("periodSeconds", 10)),
        timeout=float(spec.get("timeoutSeconds", 1)),
        failure_threshold=int(spec.get("failureThreshold", 3)),
    )


def _argv(container: Json, ctx: PlanContext) -> tuple[list[str], str | None]:
    command = list(container.get("command") or [])
    args = list(container.get("args") or [])
    if not command:
        return [str(ctx.canaria), *args], None
    exe = command[0].rsplit("/", 1)[-1]
    if exe == "canaria":
        return [str(ctx.canaria), *command[1:], *args], None
    if exe.startswith("python"):
        return [str(ctx.python), *command[1:], *args], None
    return [], (
        f"the dev-cluster runner only runs `canaria` or `python` commands, not {command[0]!r}"
    )


def _bind_host(argv: list[str], pod_ip: str) -> list[str]:
    out: list[str] = []
    for i, arg in enumerate(argv):
        if arg.startswith("--host="):
            out.append(f"--host={pod_ip}")
        elif i > 0 and argv[i - 1] == "--host":
            out.append(pod_ip)
        else:
            out.append(arg)
    return out


def plan_container(pod: Json, container: Json, ctx: PlanContext) -> ContainerPlan:
    mounts = _mounts(container, ctx.volumes)

    def local(text: str) -> str:
        return rewrite_paths(text, mounts, ctx.keep_path)

    env: dict[str, str] = dict(ctx.base_env)
    tmp = dict(mounts).get("/tmp")
    if tmp is not None:
        env["TMPDIR"] = tmp
    env.update(_env_from(container, ctx))
    for item in container.get("env") or []:
        value = _env_value(pod, item, ctx, env)
        if value is not None:
            env[item["name"]] = local(value)
    env[ENV_HOST] = ctx.pod_ip
    argv, error = _argv(container, ctx)
    argv = [argv[0], *(local(_expand(a, env)) for a in argv[1:])] if argv else []
    cwd = container.get("workingDir")
    return ContainerPlan(
        name=container["name"],
        image=str(container.get("image", "")),
        argv=tuple(_bind_host(argv, ctx.pod_ip)),
        env=env,
        cwd=local(cwd) if cwd else None,
        readiness=_probe(container.get("readinessProbe"), container),
        liveness=_probe(container.get("livenessProbe"), container),
        startup=_probe(container.get("startupProbe"), container),
        error=error,
        message_from_logs=container.get("terminationMessagePolicy") == "FallbackToLogsOnError",
    )


def plan_pod(pod: Json, ctx: PlanContext) -> PodPlan:
    spec = pod.get("spec") or {}
    return PodPlan(
        init=[plan_container(pod, c, ctx) for c in spec.get("initContainers") or []],
        main=[plan_container(pod, c, ctx) for c in spec.get("containers") or []],
        restart_policy=str(spec.get("restartPolicy", "Always")),
    )
