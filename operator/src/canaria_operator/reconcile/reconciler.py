"""One reconcile of one ModelDeployment: observe -> decide -> write -> status once -> Events.

Concurrent triggers for the same object (its own watch, its Deployments' and pods' watches,
a scheduled re-check) are coalesced: while a reconcile runs, further triggers only mark it
dirty and it runs once more at the end. After every reconcile the next one is scheduled
(``resync_interval`` at the latest, sooner if the rollout plan asks): a level-based re-check
without kopf timers, whose finalizer would block deletions whenever the operator is down.
Nothing here sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from canaria_operator import conditions as C
from canaria_operator.api.model import InvalidObject, ModelDeployment
from canaria_operator.events import transition_events
from canaria_operator.kube import MODELDEPLOYMENTS, Kube, KubeError, resource_for
from canaria_operator.metrics import OperatorMetrics
from canaria_operator.reconcile.analyze import AnalysisRunner
from canaria_operator.reconcile.emit import emit_events
from canaria_operator.reconcile.engine import engine_plan
from canaria_operator.reconcile.health import track_health
from canaria_operator.reconcile.observe import observe
from canaria_operator.reconcile.patch import merge_patch
from canaria_operator.reconcile.plan import (
    Observed,
    Problem,
    Write,
    desired_objects,
    new_status,
    plan_writes,
    problems_from_pods,
)
from canaria_operator.reconcile.route import sync_route
from canaria_operator.reconcile.seam import RolloutPlan, RolloutPlanner, TrackHealth
from canaria_operator.settings import OperatorSettings
from canaria_operator.workloads.names import ANNOTATION_TEMPLATE_HASH, deployment_name
from canaria_serving import contract

__all__ = ["ReconcileError", "Reconciler", "Result"]

log = logging.getLogger(__name__)
Key = tuple[str, str]
KIND = "ModelDeployment"


class ReconcileError(Exception):
    """A reconcile that must be retried (``permanent=False``) or cannot succeed as is."""

    def __init__(self, message: str, *, permanent: bool = False, delay: float = 5.0):
        super().__init__(message)
        self.permanent = permanent
        self.delay = delay


@dataclass(frozen=True)
class Result:
    writes: int = 0
    status_written: bool = False
    events: int = 0
    requeue_after: float | None = None
    skipped: bool = False
    gone: bool = False  # the object no longer exists (or is being deleted)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Reconciler:
    def __init__(
        self,
        kube: Kube,
        settings: OperatorSettings,
        metrics: OperatorMetrics | None = None,
        planner: RolloutPlanner | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.metrics = metrics or OperatorMetrics()
        self.planner: RolloutPlanner = planner or engine_plan
        self.analysis = AnalysisRunner(settings.prometheus_url)
        self._clock = clock
        self._locks: dict[Key, asyncio.Lock] = {}
        self._dirty: set[Key] = set()
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[object]] = set()

    async def aclose(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        await self.analysis.aclose()

    async def reconcile(self, namespace: str, name: str) -> Result:
        key = (namespace, name)
        lock = self._locks.setdefault(key, asyncio.Lock())
        if lock.locked():
            self._dirty.add(key)
            self.metrics.reconciles.labels(KIND, "coalesced").inc()
            return Result(skipped=True)
        async with lock:
            while True:
                self._dirty.discard(key)
                result = await self._timed(namespace, name)
                if key not in self._dirty:
                    break
        if not result.gone:
            # Level-based re-check: the next look is never further away than the resync
            # interval (jittered so that many objects do not all wake at once).
            resync = self.settings.resync_interval * random.uniform(0.9, 1.1)
            wanted = [d for d in (result.requeue_after, resync) if d is not None]
            self.schedule(namespace, name, min(wanted))
        return result

    def schedule(self, namespace: str, name: str, delay: float) -> None:
        """Reconcile again after ``delay`` seconds (replaces an earlier schedule)."""
        key = (namespace, name)
        if (old := self._timers.pop(key, None)) is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(max(delay, 0.0), self._fire, namespace, name)

    def soon(self, namespace: str, name: str, delay: float) -> None:
        """Reconcile within ``delay`` seconds: keeps an earlier schedule, so a burst of
        triggers coalesces into one reconcile and a steady stream cannot postpone it."""
        key = (namespace, name)
        old = self._timers.get(key)
        if old is not None and old.when() <= asyncio.get_running_loop().time() + delay:
            return
        self.schedule(namespace, name, delay)

    def _fire(self, namespace: str, name: str) -> None:
        self._timers.pop((namespace, name), None)
        task: asyncio.Task[object] = asyncio.ensure_future(self._background(namespace, name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _background(self, namespace: str, name: str) -> None:
        try:
            await self.reconcile(namespace, name)
        except ReconcileError as exc:
            self.schedule(namespace, name, exc.delay)
        except Exception:
            log.exception("scheduled reconcile of %s/%s failed", namespace, name)

    def forget(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        if (timer := self._timers.pop(key, None)) is not None:
            timer.cancel()
        self._locks.pop(key, None)
        self.metrics.forget(namespace, name)

    async def _timed(self, namespace: str, name: str) -> Result:
        started = time.perf_counter()
        try:
            result = await self._once(namespace, name)
        except ReconcileError as exc:
            kind = "permanent" if exc.permanent else "temporary"
            self.metrics.errors.labels(KIND, kind).inc()
            self.metrics.reconciles.labels(KIND, "error").inc()
            raise
        finally:
            self.metrics.duration.labels(KIND).observe(time.perf_counter() - started)
        self.metrics.reconciles.labels(KIND, "ok").inc()
        return result

    async def _once(self, namespace: str, name: str) -> Result:
        try:
            body = await self.kube.get(MODELDEPLOYMENTS, namespace, name)
        except KubeError as exc:
            raise ReconcileError(str(exc), delay=self.settings.retry_delay) from exc
        if body is None or (body.get("metadata") or {}).get("deletionTimestamp"):
            self.forget(namespace, name)
            return Result(gone=True)
        try:
            md = ModelDeployment.parse(body)
        except InvalidObject as exc:
            return await self._invalid(body, str(exc))
        return await self._reconcile_md(md)

    async def _reconcile_md(self, md: ModelDeployment) -> Result:
        now = self._clock()
        secrets = _secrets(md)
        try:
            observed = await observe(self.kube, md, secrets)
        except KubeError as exc:
            raise ReconcileError(f"observe: {exc}", delay=self.settings.retry_delay) from exc
        health = self._health(md, observed)
        checks = await self.analysis.maybe_run(md, now)
        if checks:
            self.metrics.record_checks(md.namespace, md.name, checks)
        plan = self.planner(md, health, now, checks)
        problems = [
            Problem(C.R_SECRET_NOT_FOUND, f"Secret {s!r} not found in namespace {md.namespace}")
            for s in sorted(observed.missing_secrets)
        ]
        problems += self._stable_problems(md, plan, observed)
        skip = _versions_needing(plan, observed.missing_secrets)
        keep = frozenset(
            key
            for key in observed.objects
            for version in skip
            if key[1] == deployment_name(md.name, version)
        )
        desired = desired_objects(md, plan, self.settings, frozenset(skip), observed)
        writes = plan_writes(md, desired, observed, keep)
        applies = [w for w in writes if w.op == "apply"]
        applied, transient = await self._apply(applies, problems)
        if md.spec.rollout.traffic.router == "GatewayAPI":
            transient = await sync_route(self.kube, md, plan, problems) or transient
        deleted, transient_del = await self._apply(
            [w for w in writes if w.op == "delete"], problems
        )
        applied += deleted
        transient = transient or transient_del
        stable_updating = _stable_updating(md, plan, observed, applied)
        status = new_status(
            md,
            plan=plan,
            health=health,
            problems=problems,
            stable_updating=stable_updating,
            now=now,
        )
        old_json, new_json = md.status.to_json(), status.to_json()
        status_written = False
        if old_json != new_json:
            try:
                await self.kube.patch_status(
                    MODELDEPLOYMENTS, md.namespace, md.name, merge_patch(old_json, new_json)
                )
            except KubeError as exc:
                raise ReconcileError(f"status: {exc}", delay=self.settings.retry_delay) from exc
            status_written = True
            self.metrics.writes.labels("status").inc()
        if plan.clear_action:
            await self._clear_action(md)
        events = [*plan.events, *transition_events(md.status, status)] if status_written else []
        sent = await emit_events(self.kube, md, events)
        self.metrics.writes.labels("event").inc(sent)
        weight = status.canary.weight or 0 if status.canary is not None else 0
        self.metrics.set_state(md.namespace, md.name, status.phase or "Pending", weight)
        if transient is not None:
            raise ReconcileError(transient, delay=self.settings.retry_delay)
        return Result(
            writes=len(applied),
            status_written=status_written,
            events=sent,
            requeue_after=plan.requeue_after,
        )

    async def _clear_action(self, md: ModelDeployment) -> None:
        """Remove the handled ``canaria.dev/action`` annotation (after status is written, so
        a crash in between re-reads the action and the engine refuses it as done)."""
        patch = {"metadata": {"annotations": {contract.ANNOTATION_ACTION: None}}}
        try:
            await self.kube.patch(MODELDEPLOYMENTS, md.namespace, md.name, patch)
        except KubeError as exc:
            raise ReconcileError(f"clear action: {exc}", delay=self.settings.retry_delay) from exc
        self.metrics.writes.labels("annotation").inc()

    def _health(self, md: ModelDeployment, observed: Observed) -> dict[str, TrackHealth]:
        """Health of every version that has a Deployment."""
        health: dict[str, TrackHealth] = {}
        for (kind, _), dep in observed.objects.items():
            labels = (dep.get("metadata") or {}).get("labels") or {}
            version = labels.get(contract.LABEL_VERSION)
            if kind != "Deployment" or not version:
                continue
            if (dep.get("metadata") or {}).get("name") != deployment_name(md.name, version):
                continue
            health[version], _ = track_health(dep, observed.pods.get(version, []))
        return health

    def _stable_problems(
        self, md: ModelDeployment, plan: RolloutPlan, observed: Observed
    ) -> list[Problem]:
        """Pod problems of the stable version make the ModelDeployment Degraded; a failing
        canary is the rollout's business (held, then rolled back with the pods' reason)."""
        version = plan.stable.version
        dep = observed.objects.get(("Deployment", deployment_name(md.name, version)))
        if dep is None:
            return []
        _, problem = track_health(dep, observed.pods.get(version, []))
        return problems_from_pods(contract.TRACK_STABLE, problem)

    async def _apply(
        self, writes: list[Write], problems: list[Problem]
    ) -> tuple[list[Write], str | None]:
        """Apply writes in order; a rejected write becomes a problem, an unreachable server a
        retry. Returns the writes that succeeded and the first transient error."""
        done: list[Write] = []
        transient: str | None = None
        for w in writes:
            meta = w.obj["metadata"]
            try:
                if w.op == "apply":
                    await self.kube.apply(w.obj)
                else:
                    await self.kube.delete(resource_for(w.obj), meta["namespace"], meta["name"])
            except KubeError as exc:
                what = f"{w.op} {w.obj['kind']} {meta['name']}: {exc.message}"
                if exc.permanent:
                    problems.append(Problem(C.R_APPLY_FAILED, what))
                else:
                    transient = transient or what
                continue
            self.metrics.writes.labels(w.op).inc()
            done.append(w)
        return done, transient

    async def _invalid(self, body: dict[str, object], message: str) -> Result:
        """An object the API server accepted but the operator cannot read: Degraded, once."""
        meta = body.get("metadata") or {}
        assert isinstance(meta, dict)
        ns, name = str(meta.get("namespace")), str(meta.get("name"))
        raw_status = body.get("status") or {}
        assert isinstance(raw_status, dict)
        conds = raw_status.get("conditions") or []
        already = any(
            c.get("type") == C.DEGRADED
            and c.get("reason") == C.R_INVALID_SPEC
            and c.get("message") == message
            for c in conds
            if isinstance(c, dict)
        )
        if already:
            return Result()
        stamp = self._clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        status = {
            "phase": "Degraded",
            "observedGeneration": meta.get("generation"),
            "conditions": [
                {
                    "type": C.DEGRADED,
                    "status": "True",
                    "reason": C.R_INVALID_SPEC,
                    "message": message[:4000],
                    "lastTransitionTime": stamp,
                }
            ],
        }
        try:
            await self.kube.patch_status(MODELDEPLOYMENTS, ns, name, status)
        except KubeError as exc:
            raise ReconcileError(f"status: {exc}", delay=self.settings.retry_delay) from exc
        self.metrics.errors.labels(KIND, "invalid").inc()
        self.metrics.set_state(ns, name, "Degraded", 0)
        log.warning("ModelDeployment %s/%s cannot be read: %s", ns, name, message)
        return Result(status_written=True)


def _secrets(md: ModelDeployment) -> set[str]:
    """Secrets the artifacts of the object may need (spec.model and every role in status)."""
    names = set()
    if md.spec.model.credentials_secret_ref:
        names.add(md.spec.model.credentials_secret_ref.name)
    for track in (md.status.stable, md.status.canary, md.status.previous):
        if track is not None and track.credentials_secret:
            names.add(track.credentials_secret)
    return names


def _versions_needing(plan: RolloutPlan, missing: frozenset[str]) -> set[str]:
    """Versions whose artifact needs a missing Secret: leave their Deployments as they are
    (pods that would only fail with CreateContainerConfigError are not rolled out)."""
    artifacts = (plan.stable, plan.canary, plan.previous)
    return {a.version for a in artifacts if a is not None and a.credentials_secret in missing}


def _stable_updating(
    md: ModelDeployment, plan: RolloutPlan, observed: Observed, applied: list[Write]
) -> bool:
    name = deployment_name(md.name, plan.stable.version)
    dep = observed.objects.get(("Deployment", name))
    for w in applied:
        if w.op == "apply" and w.key == ("Deployment", name):
            # a role change only relabels the Deployment: not an update of the stable pods
            have = ((dep or {}).get("metadata") or {}).get("annotations") or {}
            want = w.obj["metadata"]["annotations"]
            if have.get(ANNOTATION_TEMPLATE_HASH) != want.get(ANNOTATION_TEMPLATE_HASH):
                return True
    if dep is None:
        return False
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    generation = (dep.get("metadata") or {}).get("generation", 0)
    replicas = spec.get("replicas", 1)
    return bool(
        status.get("observedGeneration", 0) < generation
        or status.get("updatedReplicas", 0) < replicas
        or status.get("replicas", 0) > replicas
    )
