"""Write Kubernetes Events (events.k8s.io/v1) about a ModelDeployment."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Iterable
from datetime import UTC, datetime

from canaria_operator.api.model import GROUP, KIND, VERSION, ModelDeployment
from canaria_operator.kube import EVENTS, Kube, KubeError
from canaria_operator.rollout.decision import Event

__all__ = ["REPORTING_CONTROLLER", "emit_events"]

log = logging.getLogger(__name__)
REPORTING_CONTROLLER = "canaria.dev/operator"
_INSTANCE = os.environ.get("POD_NAME") or socket.gethostname()


async def emit_events(kube: Kube, md: ModelDeployment, events: Iterable[Event]) -> int:
    """Create one Event per spec; a failure to record an Event is logged, never raised."""
    sent = 0
    for ev in events:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": f"{md.name}.{secrets.token_hex(8)}", "namespace": md.namespace},
            "eventTime": now,
            "reportingController": REPORTING_CONTROLLER,
            "reportingInstance": _INSTANCE[:128],
            "action": "Reconcile",
            "type": ev.type,
            "reason": ev.reason[:128],
            "note": ev.message[:1024],
            "regarding": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": md.name,
                "namespace": md.namespace,
                "uid": md.metadata.uid,
            },
        }
        try:
            await kube.create(EVENTS, md.namespace, body)
            sent += 1
        except KubeError as exc:
            log.warning(
                "could not record event %s for %s/%s: %s", ev.reason, md.namespace, md.name, exc
            )
    return sent
