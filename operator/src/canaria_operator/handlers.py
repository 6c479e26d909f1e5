"""kopf registration: which events trigger a reconcile, and kopf's deliberate configuration.

* ModelDeployment create/update/resume -> reconcile through the queue
  (:mod:`canaria_operator.reconcile.queue`), which schedules the level-based re-check every
  ``resync_interval`` (kopf timers would put a finalizer on every
  object, and a finalizer without a running operator blocks deletion; owned objects go by
  garbage collection, so no finalizer is needed). Events of owned Deployments, and of owned
  pods that show a problem (failed fetch, crash loop), reconcile their owner (coalesced).
* Own finalizer name (``canaria.dev/finalizer``, used only if a handler ever needs one),
  handler progress and diff-base in annotations under ``canaria.dev``, watch timeouts,
  mandatory peering (one active operator), kopf's own Events only for warnings (ours come
  from status transitions).
* Errors: ``ReconcileError`` -> ``kopf.TemporaryError(delay=...)`` or ``kopf.PermanentError``.
  Nothing sleeps: retries and requeues are scheduled, never awaited.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from canaria_operator.api.model import GROUP, PLURAL, VERSION
from canaria_operator.kube import Kube
from canaria_operator.metrics import OperatorMetrics
from canaria_operator.reconcile import ReconcileError, ReconcileQueue, Reconciler, pod_problem
from canaria_operator.registry.webhook import WebhookServer
from canaria_operator.settings import OperatorSettings
from canaria_operator.workloads.names import ANNOTATION_PREFIX, COMPONENT_SERVING, MANAGED_BY
from canaria_serving import contract

__all__ = ["FINALIZER", "build_registry"]

log = logging.getLogger(__name__)
FINALIZER = f"{ANNOTATION_PREFIX}/finalizer"
OWNED_DEBOUNCE = 0.5  # seconds
_OWNED = {contract.LABEL_MANAGED_BY: MANAGED_BY, contract.LABEL_COMPONENT: COMPONENT_SERVING}


def configure_kopf(kopf_settings: kopf.OperatorSettings, settings: OperatorSettings) -> None:
    kopf_settings.persistence.finalizer = FINALIZER
    kopf_settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=ANNOTATION_PREFIX
    )
    kopf_settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    kopf_settings.watching.server_timeout = settings.watch_server_timeout
    kopf_settings.watching.client_timeout = settings.watch_client_timeout
    kopf_settings.watching.connect_timeout = 10
    kopf_settings.networking.request_timeout = 60
    kopf_settings.peering.name = settings.peering_name
    kopf_settings.peering.mandatory = True
    kopf_settings.peering.lifetime = settings.peering_lifetime
    kopf_settings.peering.clusterwide = not settings.namespaces
    kopf_settings.posting.level = logging.WARNING
    kopf_settings.posting.reporting_component = "canaria-operator"
    kopf_settings.queueing.error_delays = (1, 2, 5, 10, 20, 30, 60)


async def _reconcile(memo: Any, namespace: str, name: str) -> None:
    queue: ReconcileQueue = memo.queue
    try:
        await queue.run(namespace, name)
    except ReconcileError as exc:
        if exc.permanent:
            raise kopf.PermanentError(str(exc)) from exc
        raise kopf.TemporaryError(str(exc), delay=exc.delay) from exc


def _pod_has_problem(**kwargs: Any) -> bool:
    """Only pods with a problem wake their owner at once (normal pod churn shows up in the
    Deployment's status, which is watched); the rest wait for the periodic re-check."""
    return pod_problem(dict(kwargs["body"])) is not None


def _key(kwargs: dict[str, Any]) -> tuple[str, str]:
    return str(kwargs["namespace"]), str(kwargs["name"])


async def _start_webhook(
    settings: OperatorSettings, reconciler: Reconciler, queue: ReconcileQueue
) -> WebhookServer | None:
    """The MLflow webhook endpoint, when configured: an alias moved -> reconcile its
    followers now (their cached registry reads are dropped first)."""
    if not settings.webhook_port or not settings.webhook_secret:
        return None

    def on_alias(model: str, alias: str) -> int:
        woken = reconciler.registry.resolver.invalidate(model, alias)
        for f in woken:
            queue.soon(f.namespace, f.name, 0.0)
        return len(woken)

    server = WebhookServer(settings.webhook_secret, on_alias, port=settings.webhook_port)
    await server.start()
    log.info("MLflow webhook endpoint on port %d", server.port)
    return server


def build_registry(settings: OperatorSettings) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    g, v, p = GROUP, VERSION, PLURAL

    @kopf.on.startup(id="connect", registry=registry)
    async def startup(**kwargs: Any) -> None:
        memo = kwargs["memo"]
        kube = await Kube.connect(memo.settings.kubeconfig)
        memo.kube = kube
        reconciler = Reconciler(kube, memo.settings, memo.metrics)
        memo.reconciler = reconciler
        coalesced = memo.metrics.reconciles.labels("ModelDeployment", "coalesced").inc
        memo.queue = ReconcileQueue(
            reconciler.reconcile, resync=memo.settings.resync_interval, on_coalesced=coalesced
        )
        memo.webhook = await _start_webhook(memo.settings, reconciler, memo.queue)

    @kopf.on.cleanup(id="disconnect", registry=registry)
    async def cleanup(**kwargs: Any) -> None:
        queue: ReconcileQueue | None = getattr(kwargs["memo"], "queue", None)
        if queue is not None:
            queue.close()
        webhook: WebhookServer | None = getattr(kwargs["memo"], "webhook", None)
        if webhook is not None:
            await webhook.stop()
        reconciler: Reconciler | None = getattr(kwargs["memo"], "reconciler", None)
        if reconciler is not None:
            await reconciler.aclose()
        kube: Kube | None = getattr(kwargs["memo"], "kube", None)
        if kube is not None:
            await kube.close()

    @kopf.on.probe(id="reconciles", registry=registry)
    def probe_reconciles(**kwargs: Any) -> float:
        metrics: OperatorMetrics = kwargs["memo"].metrics
        return sum(
            s.value
            for family in metrics.reconciles.collect()
            for s in family.samples
            if s.name.endswith("_total")
        )

    @kopf.on.resume(g, v, p, id="reconcile", registry=registry)
    @kopf.on.create(g, v, p, id="reconcile", registry=registry)
    @kopf.on.update(g, v, p, id="reconcile", registry=registry)
    async def on_change(**kwargs: Any) -> None:
        await _reconcile(kwargs["memo"], *_key(kwargs))

    @kopf.on.delete(g, v, p, id="forget", optional=True, registry=registry)
    def on_delete(**kwargs: Any) -> None:
        # Owned objects go by garbage collection (ownerReferences); only local state is left.
        kwargs["memo"].queue.forget(*_key(kwargs))
        kwargs["memo"].reconciler.forget(*_key(kwargs))

    async def owned_changed(**kwargs: Any) -> None:
        owner = kwargs["labels"].get(contract.LABEL_MODEL)
        namespace = kwargs["namespace"]
        if not owner or not namespace:
            return
        queue: ReconcileQueue = kwargs["memo"].queue
        # A Deployment's status changes several times while its pods start: one reconcile a
        # moment later sees them all (and a failing reconcile reschedules itself).
        queue.soon(namespace, owner, OWNED_DEBOUNCE)

    kopf.on.event(
        "apps", "v1", "deployments", id="owned-deployment", labels=_OWNED, registry=registry
    )(owned_changed)
    kopf.on.event(
        "", "v1", "pods", id="owned-pod", labels=_OWNED, when=_pod_has_problem, registry=registry
    )(owned_changed)
    return registry
