"""Reconciliation of ModelDeployments: observe -> decide -> write -> status once -> Events."""

from canaria_operator.reconcile.plan import (
    Observed,
    Problem,
    Write,
    desired_objects,
    new_status,
    plan_writes,
)
from canaria_operator.reconcile.reconciler import ReconcileError, Reconciler, Result
from canaria_operator.reconcile.seam import (
    RolloutPlan,
    RolloutPlanner,
    TrackHealth,
    basic_plan,
    get_rollout_planner,
    set_rollout_planner,
)

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
    "basic_plan",
    "desired_objects",
    "get_rollout_planner",
    "new_status",
    "plan_writes",
    "set_rollout_planner",
]
