"""Traffic router ``GatewayAPI``: write the weights into the referenced HTTPRoute (I/O)."""

from __future__ import annotations

from canaria_operator import conditions as C
from canaria_operator.api.model import ModelDeployment
from canaria_operator.kube import HTTPROUTES, Kube, KubeError
from canaria_operator.reconcile.plan import Problem
from canaria_operator.reconcile.seam import RolloutPlan
from canaria_operator.workloads.httproute import weighted_rules
from canaria_serving import contract

__all__ = ["sync_route"]


async def sync_route(
    kube: Kube, md: ModelDeployment, plan: RolloutPlan, problems: list[Problem]
) -> str | None:
    """Write the weights into the referenced HTTPRoute; a transient error or None."""
    ref = md.spec.rollout.traffic.http_route_ref
    if ref is None:
        problems.append(Problem(C.R_ROUTE_INVALID, "spec.rollout.traffic.httpRouteRef: required"))
        return None
    ns = ref.namespace or md.namespace
    try:
        route = await kube.get(HTTPROUTES, ns, ref.name)
    except KubeError as exc:
        if exc.permanent:
            problems.append(Problem(C.R_ROUTE_INVALID, f"HTTPRoute {ns}/{ref.name}: {exc}"))
            return None
        return f"get HTTPRoute {ns}/{ref.name}: {exc.message}"
    if route is None:
        msg = f"HTTPRoute {ns}/{ref.name} not found (spec.rollout.traffic.httpRouteRef)"
        problems.append(Problem(C.R_ROUTE_NOT_FOUND, msg))
        return None
    rules = weighted_rules(
        route, md.name, canary_weight=plan.canary_weight, canary=plan.canary is not None
    )
    if rules is None:
        stable = f"{md.name}-{contract.TRACK_STABLE}"
        msg = f"HTTPRoute {ns}/{ref.name}: no rule has a backendRef to Service {stable}"
        problems.append(Problem(C.R_ROUTE_INVALID, msg))
        return None
    if rules == (route.get("spec") or {}).get("rules"):
        return None
    try:
        await kube.patch(HTTPROUTES, ns, ref.name, {"spec": {"rules": rules}})
    except KubeError as exc:
        if exc.permanent:
            problems.append(Problem(C.R_ROUTE_INVALID, f"HTTPRoute {ns}/{ref.name}: {exc}"))
            return None
        return f"patch HTTPRoute {ns}/{ref.name}: {exc.message}"
    return None
