"""Reconciliation of ModelDeployments, shaped like Argo Rollouts' controller:

observe once (:mod:`.observe` -> :class:`.Snapshot`) -> analyse when due (:mod:`.analyze`)
-> one pure decision (:func:`.decide` -> :class:`.Outcome`: every write, the route update,
the new status, the Events, the requeue) -> one shell that executes it and writes status
once (:class:`.Reconciler`). :mod:`.queue` serialises, coalesces and schedules reconciles.
"""

from canaria_operator.reconcile.decide import Outcome, decide, placement_of
from canaria_operator.reconcile.desired import Write, desired_objects, plan_writes
from canaria_operator.reconcile.health import TrackHealth, pod_problem, track_health
from canaria_operator.reconcile.queue import ReconcileError, ReconcileQueue, Result
from canaria_operator.reconcile.reconciler import Reconciler
from canaria_operator.reconcile.snapshot import Inputs, Snapshot, inputs_of

__all__ = [
    "Inputs",
    "Outcome",
    "ReconcileError",
    "ReconcileQueue",
    "Reconciler",
    "Result",
    "Snapshot",
    "TrackHealth",
    "Write",
    "decide",
    "desired_objects",
    "inputs_of",
    "placement_of",
    "plan_writes",
    "pod_problem",
    "track_health",
]
