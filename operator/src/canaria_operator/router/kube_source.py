"""``BackendSource`` from Kubernetes: Ready Pods of the model and the ModelDeployment status.

Pods are found by label ``canaria.dev/model=<name>`` (EndpointSlices are not used: they reject
the dev cluster's loopback pod IPs); a pod is a backend when it has a pod IP, its Ready
condition is True and it is not terminating. A pod belongs to the track whose version
(``status.stable.version`` / ``status.canary.version``) its ``canaria.dev/version`` label names;
this survives the role swap of a promotion (the promoted Deployment's pods keep their
``track=canary`` label but now serve the stable version). Pods whose version matches neither
(the warm previous stable) get no traffic; before status names any version, pods are grouped
by their ``canaria.dev/track`` label. Weights come from ``status.rollout``
(``canaryWeight``, ``mirrorPercent``); both watches apply a change within the watch latency.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from canaria_operator.router.table import Backend, RoutingTable
from canaria_serving import contract as c

__all__ = ["KubernetesSource", "build_table", "pod_backend"]

log = logging.getLogger("canaria.router")
Json = dict[str, Any]


def pod_backend(pod: Json, port: int) -> tuple[str, str, Backend] | None:
    """(track label, version label, backend) of a Ready pod, else None."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    ip = status.get("podIP")
    if not ip or meta.get("deletionTimestamp"):
        return None
    ready = any(
        cond.get("type") == "Ready" and cond.get("status") == "True"
        for cond in status.get("conditions") or []
    )
    if not ready:
        return None
    labels = meta.get("labels") or {}
    return labels.get(c.LABEL_TRACK, ""), labels.get(c.LABEL_VERSION, ""), Backend(ip, port)


def build_table(pods: Iterable[Json], md: Json | None, port: int) -> RoutingTable:
    status = (md or {}).get("status") or {}
    rollout = status.get("rollout") or {}
    versions = {
        t: str((status.get(t) or {}).get("version") or "") for t in (c.TRACK_STABLE, c.TRACK_CANARY)
    }
    known = bool(versions[c.TRACK_STABLE])
    tracks: dict[str, list[Backend]] = {c.TRACK_STABLE: [], c.TRACK_CANARY: []}
    for pod in pods:
        found = pod_backend(pod, port)
        if found is None:
            continue
        label, version, backend = found
        track = label
        if version and known and versions[c.TRACK_STABLE] != versions[c.TRACK_CANARY]:
            # status names the versions: a pod serving neither (the warm previous stable,
            # a superseded canary) gets no traffic
            track = next((t for t, v in versions.items() if v == version), "")
        if track in tracks:
            tracks[track].append(backend)
    weight = int(rollout.get("canaryWeight") or 0)
    mirror = int(rollout.get("mirrorPercent") or 0)
    return RoutingTable(
        stable=tuple(sorted(tracks[c.TRACK_STABLE])),
        canary=tuple(sorted(tracks[c.TRACK_CANARY])),
        canary_weight=min(max(weight, 0), 100),
        mirror_percent=min(max(mirror, 0), 100),
        replay_rps=max(float(rollout.get("replayRps") or 0.0), 0.0),
        versions={t: v for t, v in versions.items() if v},
    )


class KubernetesSource:
    def __init__(
        self, namespace: str, name: str, port: int = c.SERVING_PORT, kubeconfig: str | None = None
    ) -> None:
        self.namespace, self.name, self.port, self.kubeconfig = namespace, name, port, kubeconfig
        self._pods: dict[str, Json] = {}
        self._md: Json | None = None
        self._synced = {"pods": False, "md": False}
        self._table = RoutingTable()

    @property
    def current(self) -> RoutingTable:
        return self._table

    @property
    def synced(self) -> bool:
        return all(self._synced.values())

    def _rebuild(self) -> None:
        table = build_table(self._pods.values(), self._md, self.port)
        if table != self._table:
            log.info(
                "routing table: canary weight %d, mirror %d, stable %s, canary %s",
                table.canary_weight,
                table.mirror_percent,
                [b.host for b in table.stable],
                [b.host for b in table.canary],
            )
            self._table = table

    def _pods_sync(self, items: list[Json]) -> None:
        self._pods = {p["metadata"]["name"]: p for p in items}
        self._synced["pods"] = True
        self._rebuild()

    def _pod_event(self, kind: str, pod: Json) -> None:
        name = pod["metadata"]["name"]
        if kind == "DELETED":
            self._pods.pop(name, None)
        else:
            self._pods[name] = pod
        self._rebuild()

    def _md_sync(self, items: list[Json]) -> None:
        self._md = items[0] if items else None
        self._synced["md"] = True
        self._rebuild()

    def _md_event(self, kind: str, md: Json) -> None:
        self._md = None if kind == "DELETED" else md
        self._rebuild()

    async def run(self) -> None:
        from canaria_operator.kube.client import Kube
        from canaria_operator.kube.paths import MODELDEPLOYMENTS, PODS
        from canaria_operator.kube.pods_watch import list_watch

        kube = await Kube.connect(self.kubeconfig)
        try:
            await asyncio.gather(
                list_watch(
                    kube,
                    PODS,
                    self.namespace,
                    on_sync=self._pods_sync,
                    on_event=self._pod_event,
                    label_selector=f"{c.LABEL_MODEL}={self.name},{c.LABEL_COMPONENT}=serving",
                ),
                list_watch(
                    kube,
                    MODELDEPLOYMENTS,
                    self.namespace,
                    on_sync=self._md_sync,
                    on_event=self._md_event,
                    field_selector=f"metadata.name={self.name}",
                ),
            )
        finally:
            await kube.close()
