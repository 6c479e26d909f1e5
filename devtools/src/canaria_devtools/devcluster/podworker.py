"""The life of one runner pod: volumes, init containers, containers, status updates."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import httpx

from .container import ContainerProcess
from .podspec import PlanContext, PodPlan, field_ref, plan_pod, volume_dirs
from .podstatus import ContainerState, PodState

__all__ = ["ClusterAccess", "PodWorker", "pod_key"]

log = logging.getLogger("canaria.devcluster.runner")
_RETRY_S = 2.0


class ClusterAccess(Protocol):
    """What a pod worker needs from the API (implemented by the runner)."""

    canaria: Path
    python: Path

    async def read_config(self, kind: str, namespace: str, name: str) -> dict[str, str] | None: ...

    async def sa_kubeconfig(
        self, pod: dict[str, Any], pod_dir: Path
    ) -> tuple[Path, str] | None: ...

    async def patch_status(self, namespace: str, name: str, body: dict[str, Any]) -> bool: ...

    async def claim_path(self, namespace: str, claim: str) -> Path | str: ...


def pod_key(pod: dict[str, Any]) -> str:
    meta = pod["metadata"]
    return f"{meta['namespace']}_{meta['name']}_{meta['uid'][:8]}"


class PodWorker:
    def __init__(self, pod: dict[str, Any], work_dir: Path, api: ClusterAccess) -> None:
        self.pod = pod
        self.api = api
        self.dir = work_dir / pod_key(pod)
        self.changed = asyncio.Event()
        self.dirty = asyncio.Event()
        self.containers: list[ContainerProcess] = []
        self.init: list[ContainerProcess] = []
        self.state: PodState | None = None
        self._conditions: dict[str, str] = {}
        self._http = httpx.AsyncClient()
        self.task = asyncio.create_task(self._main(), name=f"pod {pod_key(pod)}")

    @property
    def name(self) -> str:
        return f"{self.pod['metadata']['namespace']}/{self.pod['metadata']['name']}"

    def update(self, pod: dict[str, Any]) -> None:
        self.pod = pod
        self.changed.set()

    def _mark(self) -> None:
        self.dirty.set()

    async def _pod_ip(self) -> str:
        while not (ip := (self.pod.get("status") or {}).get("podIP")):
            self.changed.clear()
            await self.changed.wait()
        return str(ip)

    async def _configs(self) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]] | str:
        """ConfigMaps and Secrets the pod refers to, or the name of a missing one."""
        wanted: set[tuple[str, str, bool]] = set()
        spec = self.pod["spec"]
        for c in [*(spec.get("initContainers") or []), *spec["containers"]]:
            for src in c.get("envFrom") or []:
                for kind, key in (("configmap", "configMapRef"), ("secret", "secretRef")):
                    if key in src:
                        wanted.add((kind, src[key]["name"], bool(src[key].get("optional"))))
            for item in c.get("env") or []:
                vf = item.get("valueFrom") or {}
                for kind, key in (("configmap", "configMapKeyRef"), ("secret", "secretKeyRef")):
                    if key in vf:
                        wanted.add((kind, vf[key]["name"], bool(vf[key].get("optional"))))
        for vol in spec.get("volumes") or []:
            if "configMap" in vol:
                cm = vol["configMap"]
                wanted.add(("configmap", cm["name"], bool(cm.get("optional"))))
            if "secret" in vol:
                sec = vol["secret"]
                wanted.add(("secret", sec["secretName"], bool(sec.get("optional"))))
        found: dict[str, dict[str, dict[str, str]]] = {"configmap": {}, "secret": {}}
        ns = self.pod["metadata"]["namespace"]
        for kind, name, optional in sorted(wanted):
            data = await self.api.read_config(kind, ns, name)
            if data is None and not optional:
                return f"{kind} {name!r} not found"
            found[kind][name] = data or {}
        return found["configmap"], found["secret"]

    def _write_volumes(self, ctx: PlanContext, sa_token: str | None) -> None:
        """Create every volume folder and fill configMap/secret/projected/downwardAPI ones."""
        for vol in self.pod["spec"].get("volumes") or []:
            target = ctx.volumes[vol["name"]]
            if "hostPath" in vol:
                if vol["hostPath"].get("type") == "DirectoryOrCreate":
                    target.mkdir(parents=True, exist_ok=True)
                continue
            target.mkdir(parents=True, exist_ok=True)
            files: dict[str, str] = {}
            if "configMap" in vol:
                files.update(ctx.configmaps.get(vol["configMap"]["name"], {}))
            if "secret" in vol:
                files.update(ctx.secrets.get(vol["secret"]["secretName"], {}))
            sources = (vol.get("projected") or {}).get("sources") or []
            if "downwardAPI" in vol:
                sources = [{"downwardAPI": vol["downwardAPI"]}]
            for src in sources:
                if "serviceAccountToken" in src and sa_token:
                    files[src["serviceAccountToken"]["path"]] = sa_token
                for item in (src.get("downwardAPI") or {}).get("items") or []:
                    ref = item.get("fieldRef") or {}
                    if ref:
                        files[item["path"]] = field_ref(self.pod, ref["fieldPath"], ctx.pod_ip)
                if "configMap" in src:
                    data = ctx.configmaps.get(src["configMap"]["name"], {})
                    for item in src["configMap"].get("items") or []:
                        files[item["path"]] = data.get(item["key"], "")
            for rel, content in files.items():
                path = target / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content)

    async def _claims(self) -> dict[str, Path]:
        """Folders of the pod's PersistentVolumeClaims; waits while one is not bound."""
        ns = self.pod["metadata"]["namespace"]
        paths: dict[str, Path] = {}
        for vol in self.pod["spec"].get("volumes") or []:
            claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
            if not claim:
                continue
            while isinstance(found := await self.api.claim_path(ns, claim), str):
                self._set_waiting("ContainerCreating", found)
                await asyncio.sleep(_RETRY_S)
            paths[claim] = found
        return paths

    async def _prepare(self, pod_ip: str) -> PodPlan:
        while isinstance(configs := await self._configs(), str):
            self._set_waiting("CreateContainerConfigError", configs)
            await asyncio.sleep(_RETRY_S)
        configmaps, secrets = configs
        claims = await self._claims()
        await asyncio.to_thread(self.dir.mkdir, parents=True, exist_ok=True)
        base_env = {
            "PATH": f"{self.api.canaria.parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.dir / "home"),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "HOSTNAME": self.pod["metadata"]["name"],
        }
        sa = await self.api.sa_kubeconfig(self.pod, self.dir)
        if sa is not None:
            base_env["KUBECONFIG"] = str(sa[0])
        ctx = PlanContext(
            canaria=self.api.canaria,
            python=self.api.python,
            pod_ip=pod_ip,
            volumes=volume_dirs(self.pod, self.dir, claims),
            configmaps=configmaps,
            secrets=secrets,
            base_env=base_env,
            keep_path=os.path.exists,
        )
        await asyncio.to_thread(self._write_volumes, ctx, sa[1] if sa else None)
        await asyncio.to_thread((self.dir / "home").mkdir, exist_ok=True)
        return await asyncio.to_thread(plan_pod, self.pod, ctx)

    def _set_waiting(self, reason: str, message: str) -> None:
        if self.state is not None:
            for c in [*self.state.init, *self.state.main]:
                c.waiting(reason, message)
            self._mark()

    async def _prepare_until_ready(self, pod_ip: str) -> PodPlan:
        """Prepare the pod, retrying (and showing why in its status) until it works."""
        while True:
            try:
                return await self._prepare(pod_ip)
            except Exception as exc:  # an API or file error: visible, retried
                log.exception("preparing pod %s failed", self.name)
                self._set_waiting("RunContainerError", f"dev-cluster runner: {exc}")
                await asyncio.sleep(_RETRY_S)

    @staticmethod
    def _restart(policy: str) -> Callable[[int], bool]:
        def decide(code: int) -> bool:
            return policy == "Always" or (policy == "OnFailure" and code != 0)

        return decide

    async def _main(self) -> None:
        publisher = asyncio.create_task(self._publish())
        try:
            pod_ip = await self._pod_ip()
            spec = self.pod["spec"]
            grace = min(float(spec.get("terminationGracePeriodSeconds", 30)), 10.0)

            def proc(plan: Any) -> ContainerProcess:
                return ContainerProcess(
                    plan,
                    pod_dir=self.dir,
                    pod_ip=pod_ip,
                    on_change=self._mark,
                    http=self._http,
                    grace_s=grace,
                )

            self.state = PodState(
                [
                    ContainerState(c["name"], c.get("image", ""))
                    for c in spec.get("initContainers") or []
                ],
                [ContainerState(c["name"], c.get("image", "")) for c in spec["containers"]],
            )
            plan = await self._prepare_until_ready(pod_ip)
            self.init = [proc(p) for p in plan.init]
            self.containers = [proc(p) for p in plan.main]
            self.state.init = [c.state for c in self.init]
            self.state.main = [c.state for c in self.containers]
            self._mark()
            # Init containers are never restarted after success; on failure they are retried
            # unless the pod's restartPolicy is Never.
            policy = plan.restart_policy
            init_restart = self._restart("OnFailure" if policy == "Always" else policy)
            for init in self.init:
                code = await init.run_forever(init_restart)
                if code != 0:
                    self.state.phase = "Failed"
                    self._mark()
                    await asyncio.Event().wait()
                init.state.ready = True
            self.state.initialized = True
            self.state.phase = "Running"
            self._mark()
            codes = await asyncio.gather(
                *(c.run_forever(self._restart(plan.restart_policy)) for c in self.containers)
            )
            self.state.phase = "Succeeded" if all(c == 0 for c in codes) else "Failed"
            self._mark()
            await asyncio.Event().wait()
        finally:
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher

    async def _publish(self) -> None:
        meta = self.pod["metadata"]
        while True:
            await self.dirty.wait()
            self.dirty.clear()
            if self.state is None:
                continue
            body = self.state.status_patch(self._conditions)
            try:
                await self.api.patch_status(meta["namespace"], meta["name"], body)
            except Exception:  # keep the pod running; the next change retries
                log.exception("status update of %s failed", self.name)
                self.dirty.set()
                await asyncio.sleep(_RETRY_S)
            await asyncio.sleep(0.05)

    async def stop(self, remove: bool = True) -> None:
        """Stop every process of the pod (the pod went away) and drop its folder."""
        procs = [*self.init, *self.containers]
        for c in procs:
            c.stopping = True
        await asyncio.gather(*(c.stop() for c in procs))
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self._http.aclose()
        if remove:
            await asyncio.to_thread(shutil.rmtree, self.dir, True)
