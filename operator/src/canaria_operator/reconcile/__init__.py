"""Reconciliation of ModelDeployments: observe -> decide -> write -> status once -> Events."""

from canaria_operator.reconcile.engine import engine_plan
from canaria_operator.reconcile.plan import (
    Observed,
    Problem,
    Write,
    desired_objects,
    new_status,
    plan_writes,
)
from canaria_operator.reconcile.reconciler import ReconcileError, Reconciler, Result
from canaria_operator.reconcile.seam import RolloutPlan, RolloutPlanner, TrackHealth

__all__ = [
    "Observed",
    "Problem",
    "ReconcileError",
    "Reconciler",
    "Result",
    "RolloutPlan",
    "RolloutPlanner",
    "TrackHealth",
    "Write",
    "desired_objects",
    "engine_plan",
    "new_status",
    "plan_writes",
]
