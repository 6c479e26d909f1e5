"""Retirement (``spec.retire``), pure: until ``at`` the model serves with Deprecation and
Sunset headers (the serving pods get both dates as environment); from ``at`` on every
Deployment of the ModelDeployment is scaled to zero and the phase is ``Retired``. Removing
``spec.retire`` before ``at`` cancels it; after ``at`` it brings serving back."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from canaria_operator.api.model import ModelDeployment
from canaria_operator.api.status import RetirementStatus
from canaria_operator.reconcile.snapshot import Key
from canaria_operator.workloads.objects import stamp

__all__ = ["is_retired", "retirement_status", "scale_to_zero", "with_deprecation_date"]


def _deprecated_at(md: ModelDeployment, now: datetime) -> datetime:
    assert md.spec.retire is not None
    if md.spec.retire.deprecated_at is not None:
        return md.spec.retire.deprecated_at
    before = md.status.retirement
    if before is not None and before.deprecated_at is not None:
        return before.deprecated_at
    return now


def with_deprecation_date(md: ModelDeployment, now: datetime) -> ModelDeployment:
    """``md`` with ``spec.retire.deprecatedAt`` filled in (first seen: now; then as stored
    in status), so that the pods' environment does not change from one reconcile to the
    next."""
    retire = md.spec.retire
    if retire is None or retire.deprecated_at is not None:
        return md
    filled = retire.model_copy(update={"deprecated_at": _deprecated_at(md, now)})
    spec = md.spec.model_copy(update={"retire": filled})
    return md.model_copy(update={"spec": spec})


def is_retired(md: ModelDeployment, now: datetime) -> bool:
    return md.spec.retire is not None and now >= md.spec.retire.at


def retirement_status(md: ModelDeployment, now: datetime) -> RetirementStatus | None:
    retire = md.spec.retire
    if retire is None:
        return None
    retired_at = None
    if now >= retire.at:
        before = md.status.retirement
        retired_at = before.retired_at if before and before.retired_at else now
    return RetirementStatus(
        deprecated_at=_deprecated_at(md, now), at=retire.at, retired_at=retired_at
    )


def scale_to_zero(desired: Mapping[Key, dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """Every Deployment at zero replicas (model versions and the router); HPAs removed (an
    autoscaler would scale a version back up)."""
    out: dict[Key, dict[str, Any]] = {}
    for key, obj in desired.items():
        if key[0] == "HorizontalPodAutoscaler":
            continue
        if key[0] == "Deployment":
            zero = copy.deepcopy(obj)
            zero["spec"]["replicas"] = 0
            out[key] = stamp(zero)
        else:
            out[key] = obj
    return out
