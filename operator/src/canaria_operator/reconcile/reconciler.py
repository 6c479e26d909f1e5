"""The shell of one reconcile: read -> observe once -> analyse when due -> decide -> execute.

All the deciding is :func:`canaria_operator.reconcile.decide.decide` (pure); this module does
the I/O around it, in this order: read the ModelDeployment, observe (:mod:`.observe`), run
the analysis round if one is due (:mod:`.analyze`), decide, then execute the Outcome: apply
the writes, update the route, delete what is no longer wanted, write status once, remove a
handled action annotation, emit the Events. A write the API server refuses for good joins
the Degraded condition of that same status write; one that may succeed later (unreachable,
conflict) is retried after status is written. Scheduling lives in :mod:`.queue`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from canaria_operator import conditions as C
from canaria_operator.api.model import InvalidObject, ModelDeployment
from canaria_operator.conditions import Problem
from canaria_operator.kube import HTTPROUTES, MODELDEPLOYMENTS, Kube, KubeError, resource_for
from canaria_operator.metrics import OperatorMetrics
from canaria_operator.reconcile.analyze import AnalysisRunner
from canaria_operator.reconcile.decide import Outcome, decide
from canaria_operator.reconcile.desired import Write
from canaria_operator.reconcile.emit import emit_events
from canaria_operator.reconcile.hooks import HookRunner
from canaria_operator.reconcile.observe import observe
from canaria_operator.reconcile.patch import merge_patch
from canaria_operator.reconcile.queue import ReconcileError, Result
from canaria_operator.reconcile.registry import mark_written
from canaria_operator.reconcile.registry_io import RegistryIO
from canaria_operator.reconcile.snapshot import inputs_of
from canaria_operator.reconcile.status import invalid_status
from canaria_operator.settings import OperatorSettings
from canaria_serving import contract

__all__ = ["Reconciler"]

log = logging.getLogger(__name__)
KIND = "ModelDeployment"


@dataclass
class _Done:
    """What executing an Outcome achieved."""

    writes: int = 0
    refused: list[Problem] = field(default_factory=list)
    transient: list[str] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Reconciler:
    def __init__(
        self,
        kube: Kube,
        settings: OperatorSettings,
        metrics: OperatorMetrics | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.metrics = metrics or OperatorMetrics()
        self.analysis = AnalysisRunner(settings.prometheus_url)
        self.registry = RegistryIO(kube)
        self.hooks = HookRunner()
        self._clock = clock

    async def aclose(self) -> None:
        await self.analysis.aclose()
        await self.registry.aclose()
        await self.hooks.aclose()

    def forget(self, namespace: str, name: str) -> None:
        self.metrics.forget(namespace, name)
        self.registry.forget(namespace, name)

    def _retry(self, what: str, exc: KubeError) -> ReconcileError:
        return ReconcileError(f"{what}: {exc}", delay=self.settings.retry_delay)

    async def reconcile(self, namespace: str, name: str) -> Result:
        """One reconcile of one ModelDeployment (timed and counted)."""
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
            raise self._retry("read", exc) from exc
        if body is None or (body.get("metadata") or {}).get("deletionTimestamp"):
            self.forget(namespace, name)
            return Result(gone=True)
        try:
            md = ModelDeployment.parse(body)
            inputs = inputs_of(md)
        except InvalidObject as exc:
            return await self._invalid(body, str(exc))
        now = self._clock()
        try:
            snap = await observe(self.kube, md, inputs)
        except KubeError as exc:
            raise self._retry("observe", exc) from exc
        snap = replace(snap, registry=await self.registry.read(md))
        checks = await self.analysis.run_if_due(snap, now)
        answers, hook_checks = await self.hooks.run(snap, now, checks)  # spec.rollout.webhooks
        checks, snap = [*checks, *hook_checks], replace(snap, hooks=answers)
        if checks:
            self.metrics.record_checks(md.namespace, md.name, checks)
        return await self._execute(md, decide(snap, checks, now, self.settings), now)

    async def _execute(self, md: ModelDeployment, outcome: Outcome, now: datetime) -> Result:
        done = _Done()
        await self._write([w for w in outcome.writes if w.op == "apply"], done)
        if outcome.route is not None:
            ref = outcome.route.ref
            try:
                await self.kube.patch(HTTPROUTES, ref.namespace, ref.name, outcome.route.patch)
                self.metrics.writes.labels("route").inc()
                done.writes += 1
            except KubeError as exc:
                if exc.permanent:
                    done.refused.append(Problem(C.R_ROUTE_INVALID, f"HTTPRoute {ref}: {exc}"))
                else:
                    done.transient.append(f"patch HTTPRoute {ref}: {exc.message}")
        await self._write([w for w in outcome.writes if w.op == "delete"], done)
        told, problems = await self.registry.write(md, outcome.registry_writes)
        outcome = replace(outcome, status=mark_written(outcome.status, told))
        done.refused += problems
        if done.refused:
            outcome = outcome.refused(md, done.refused, now)
        written = await self._status(md, outcome)
        if outcome.clear_action:
            await self._clear_action(md)
        sent = await emit_events(self.kube, md, outcome.events)
        self.metrics.writes.labels("event").inc(sent)
        status = outcome.status
        weight = status.canary.weight or 0 if status.canary is not None else 0
        self.metrics.set_state(md.namespace, md.name, status.phase or "Pending", weight)
        log.log(
            logging.INFO if done.writes or written else logging.DEBUG,
            "reconciled %s/%s: phase %s, %d writes, status %s, %d events",
            md.namespace,
            md.name,
            status.phase,
            done.writes,
            "written" if written else "unchanged",
            sent,
            extra={"modeldeployment": f"{md.namespace}/{md.name}", "phase": status.phase},
        )
        if done.transient:
            raise ReconcileError(done.transient[0], delay=self.settings.retry_delay)
        return Result(
            writes=done.writes,
            status_written=written,
            events=sent,
            requeue_after=outcome.requeue_after,
        )

    async def _write(self, writes: list[Write], done: _Done) -> None:
        """Apply or delete in order: a write refused for good becomes a problem, one that
        may succeed later (unreachable, conflict) a retry."""
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
                    done.refused.append(Problem(C.R_APPLY_FAILED, what))
                else:
                    done.transient.append(what)
                continue
            self.metrics.writes.labels(w.op).inc()
            done.writes += 1

    async def _status(self, md: ModelDeployment, outcome: Outcome) -> bool:
        """Write status once, as a merge patch from the stored one (nothing if equal)."""
        old_json, new_json = md.status.to_json(), outcome.status.to_json()
        if old_json == new_json:
            return False
        try:
            await self.kube.patch_status(
                MODELDEPLOYMENTS, md.namespace, md.name, merge_patch(old_json, new_json)
            )
        except KubeError as exc:
            raise self._retry("status", exc) from exc
        self.metrics.writes.labels("status").inc()
        return True

    async def _clear_action(self, md: ModelDeployment) -> None:
        """Remove the handled ``canaria.dev/action`` annotation (after status is written, so
        a crash in between re-reads the action and the state machine refuses it as done)."""
        patch = {"metadata": {"annotations": {contract.ANNOTATION_ACTION: None}}}
        try:
            await self.kube.patch(MODELDEPLOYMENTS, md.namespace, md.name, patch)
        except KubeError as exc:
            raise self._retry("clear action", exc) from exc
        self.metrics.writes.labels("annotation").inc()

    async def _invalid(self, body: dict[str, Any], message: str) -> Result:
        """An object the API server accepted but the operator cannot read: Degraded, once."""
        meta = body.get("metadata") or {}
        ns, name = str(meta.get("namespace")), str(meta.get("name"))
        status = invalid_status(body, message, self._clock())
        if status is None:
            return Result()
        try:
            await self.kube.patch_status(MODELDEPLOYMENTS, ns, name, status)
        except KubeError as exc:
            raise self._retry("status", exc) from exc
        self.metrics.errors.labels(KIND, "invalid").inc()
        self.metrics.set_state(ns, name, "Degraded", 0)
        log.warning(
            "ModelDeployment %s/%s cannot be read: %s",
            ns,
            name,
            message,
            extra={"modeldeployment": f"{ns}/{name}", "reason": C.R_INVALID_SPEC},
        )
        return Result(status_written=True)
