"""The local pod runner: runs the Canaria pods of the dev cluster as real local processes.

``python -m canaria_devtools.devcluster.runner --kubeconfig K --work-dir D --canaria C``
(started by ``canaria dev-cluster up``). It watches all pods; for each pod selected by
:mod:`.podrule` that kwok has given an IP, it runs the init containers in order, then the
containers (see :mod:`.podspec` for how a container becomes a process and
:mod:`.container` for readiness and restarts), and writes the pod's status as a kubelet would.
Pods with a service account get ``KUBECONFIG`` pointing at a kubeconfig with a token from the
TokenRequest API (bound to the pod), so RBAC applies as in a real cluster. Processes are
stopped when their pod goes away, and when the runner itself is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from .podrule import is_runner_pod
from .podworker import PodWorker
from .runner_files import READY_FILE, kill_leftovers

__all__ = ["Runner", "main"]

log = logging.getLogger("canaria.devcluster.runner")
_TOKEN_SECONDS = 86400
_RELIST_S = 300


class Runner:
    def __init__(self, api: client.ApiClient, kubeconfig: Path, work_dir: Path, canaria: Path):
        self.v1 = client.CoreV1Api(api)
        self.work_dir = work_dir
        self.canaria = canaria
        self.python = Path(sys.executable)
        cfg = yaml.safe_load(kubeconfig.read_text())
        cluster = cfg["clusters"][0]["cluster"]
        self.server: str = cluster["server"]
        self.ca_data: str = cluster["certificate-authority-data"]
        self.workers: dict[str, PodWorker] = {}
        self._stopping: set[asyncio.Task[None]] = set()

    # --- ClusterAccess (used by pod workers) ----------------------------------------------
    async def read_config(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        try:
            if kind == "configmap":
                cm = await self.v1.read_namespaced_config_map(name, namespace)
                return dict(cm.data or {})
            secret = await self.v1.read_namespaced_secret(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        data = secret.data or {}
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}

    async def sa_kubeconfig(self, pod: dict[str, Any], pod_dir: Path) -> tuple[Path, str] | None:
        spec, meta = pod["spec"], pod["metadata"]
        if spec.get("automountServiceAccountToken") is False:
            return None
        account = spec.get("serviceAccountName") or "default"
        body = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(
                audiences=[],
                expiration_seconds=_TOKEN_SECONDS,
                bound_object_ref=client.V1BoundObjectReference(
                    api_version="v1", kind="Pod", name=meta["name"], uid=meta["uid"]
                ),
            )
        )
        try:
            req = await self.v1.create_namespaced_service_account_token(
                account, meta["namespace"], body
            )
        except ApiException as exc:
            log.warning("no token for service account %s: %s", account, exc.reason)
            return None
        token: str = req.status.token
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "dev",
                    "cluster": {"server": self.server, "certificate-authority-data": self.ca_data},
                }
            ],
            "users": [{"name": account, "user": {"token": token}}],
            "contexts": [
                {
                    "name": "dev",
                    "context": {"cluster": "dev", "user": account, "namespace": meta["namespace"]},
                }
            ],
            "current-context": "dev",
        }
        path = pod_dir / "kubeconfig"
        await asyncio.to_thread(path.write_text, yaml.safe_dump(kubeconfig))
        return path, token

    async def claim_path(self, namespace: str, claim: str) -> Path | str:
        """The local folder of a bound claim's volume, or why there is none (yet)."""
        try:
            pvc = await self.v1.read_namespaced_persistent_volume_claim(claim, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return f"persistentvolumeclaim {claim!r} not found"
            raise
        if not pvc.spec.volume_name or (pvc.status and pvc.status.phase != "Bound"):
            return f"persistentvolumeclaim {claim!r} is not bound"
        pv = await self.v1.read_persistent_volume(pvc.spec.volume_name)
        source: Any = pv.spec.host_path or pv.spec.local
        if source is None:
            return (
                f"volume {pv.metadata.name} of claim {claim!r} has no hostPath or local path "
                "(the dev-cluster runner can only use those)"
            )
        return Path(source.path)

    async def patch_status(self, namespace: str, name: str, body: dict[str, Any]) -> bool:
        try:
            await self.v1.patch_namespaced_pod_status(name, namespace, body)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    # --- pods ------------------------------------------------------------------------------
    def on_pod(self, pod: dict[str, Any]) -> None:
        if not is_runner_pod(pod) or not (pod.get("spec") or {}).get("nodeName"):
            return
        uid = pod["metadata"]["uid"]
        if pod["metadata"].get("deletionTimestamp"):
            self.forget(uid)
            return
        worker = self.workers.get(uid)
        if worker is not None:
            worker.update(pod)
        elif (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            log.info("running pod %s/%s", pod["metadata"]["namespace"], pod["metadata"]["name"])
            self.workers[uid] = PodWorker(pod, self.work_dir, self)

    def forget(self, uid: str) -> None:
        worker = self.workers.pop(uid, None)
        if worker is None:
            return
        log.info("stopping pod %s", worker.name)
        task = asyncio.create_task(worker.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _sync(self) -> str:
        resp: Any = await self.v1.list_pod_for_all_namespaces(_preload_content=False)
        data = json.loads(await resp.read())
        current = {p["metadata"]["uid"] for p in data["items"]}
        for uid in set(self.workers) - current:
            self.forget(uid)
        for pod in data["items"]:
            self.on_pod(pod)
        return str(data["metadata"]["resourceVersion"])

    async def watch_pods(self) -> None:
        while True:
            try:
                rv = await self._sync()
                await asyncio.to_thread((self.work_dir / READY_FILE).touch)
                stream = watch.Watch().stream(
                    self.v1.list_pod_for_all_namespaces,
                    resource_version=rv,
                    timeout_seconds=_RELIST_S,
                )
                async for event in stream:
                    kind, pod = event["type"], event["raw_object"]
                    if kind == "ERROR":
                        break
                    if kind == "DELETED":
                        self.forget(pod["metadata"]["uid"])
                    else:
                        self.on_pod(pod)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pod watch failed; listing again")
                await asyncio.sleep(2.0)

    async def shutdown(self) -> None:
        for uid in list(self.workers):
            self.forget(uid)
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)


async def _amain(args: argparse.Namespace) -> int:
    work_dir = Path(args.work_dir)
    await asyncio.to_thread(work_dir.mkdir, parents=True, exist_ok=True)
    # Processes of a previous runner (crashed or killed) would hold their pod IP:port.
    await asyncio.to_thread(kill_leftovers, work_dir)
    await config.load_kube_config(config_file=args.kubeconfig)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with client.ApiClient() as api:
        runner = Runner(api, Path(args.kubeconfig), work_dir, Path(args.canaria))
        watcher = asyncio.create_task(runner.watch_pods())
        await stop.wait()
        log.info("stopping all pods")
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await runner.shutdown()
    (work_dir / READY_FILE).unlink(missing_ok=True)
    return 0


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": record.created, "level": record.levelname, "msg": record.getMessage()}
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="canaria-dev-cluster-runner")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--canaria", required=True, help="the `canaria` executable to run")
    parser.add_argument("--log-json", action="store_true")
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    if args.log_json:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("httpx").setLevel(logging.WARNING)  # readiness probes, once a second
    return asyncio.run(_amain(args))


if __name__ == "__main__":
    sys.exit(main())
