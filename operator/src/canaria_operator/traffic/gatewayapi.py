"""Traffic mode ``GatewayAPI``: weights and mirroring in a referenced HTTPRoute (pure).

Every rule of the route that sends traffic to the ``<md>-stable`` Service gets the stable
weight on that backendRef and a ``<md>-canary`` backendRef with the canary weight (added
while a canary exists, removed when there is none). While the rollout mirrors (the Shadow
stage, the BlueGreen preview) the rule also gets a ``RequestMirror`` filter to
``<md>-canary`` with ``percent: mirrorPercent``: the Gateway sends the canary a copy of each
request and discards its answer. The canary's own metrics (error rate, latency, prediction
and input drift) judge it; nobody compares the answers, so shadow agreement needs the
Builtin router. Other backendRefs, filters and everything else in the route are the user's.
"""

from __future__ import annotations

import copy
from typing import ClassVar

from canaria_operator import conditions as C
from canaria_operator.conditions import Problem
from canaria_operator.settings import OperatorSettings
from canaria_operator.traffic.base import (
    Json,
    Placement,
    RouteRead,
    RouteRef,
    RouteUpdate,
    TrafficMode,
)
from canaria_operator.workloads.names import service_name
from canaria_serving import contract

__all__ = ["GatewayAPI", "weighted_rules"]

MIRROR = "RequestMirror"


def _is_service(ref: Json, name: str) -> bool:
    return (
        ref.get("name") == name
        and ref.get("kind", "Service") == "Service"
        and ref.get("group", "") in ("", "core")
    )


def _ours(flt: Json, canary_svc: str) -> bool:
    """A RequestMirror filter to the canary Service: the one this mode manages."""
    mirror = flt.get("requestMirror") or {}
    return flt.get("type") == MIRROR and _is_service(mirror.get("backendRef") or {}, canary_svc)


def weighted_rules(
    route: Json, md: str, *, canary_weight: int, canary: bool, mirror_percent: int = 0
) -> list[Json] | None:
    """The route's ``spec.rules`` with the weights (and the mirror filter) set; None when no
    rule references the stable Service (the route is not wired to this ModelDeployment)."""
    stable_svc = service_name(md, contract.TRACK_STABLE)
    canary_svc = service_name(md, contract.TRACK_CANARY)
    rules: list[Json] = copy.deepcopy(((route.get("spec") or {}).get("rules")) or [])
    touched = False
    for rule in rules:
        refs: list[Json] = rule.get("backendRefs") or []
        if not any(_is_service(r, stable_svc) for r in refs):
            continue
        touched = True
        port = next((r.get("port") for r in refs if _is_service(r, stable_svc)), None)
        port = port or contract.SERVING_PORT
        out: list[Json] = []
        for ref in refs:
            if _is_service(ref, stable_svc):
                out.append({**ref, "weight": 100 - canary_weight if canary else 100})
            elif _is_service(ref, canary_svc):
                if canary:
                    out.append({**ref, "weight": canary_weight})
            else:
                out.append(ref)
        if canary and not any(_is_service(r, canary_svc) for r in refs):
            out.append({"name": canary_svc, "port": port, "weight": canary_weight})
        rule["backendRefs"] = out
        filters = [f for f in rule.get("filters") or [] if not _ours(f, canary_svc)]
        if canary and mirror_percent > 0:
            mirror: Json = {"backendRef": {"name": canary_svc, "port": port}}
            if mirror_percent < 100:
                mirror["percent"] = mirror_percent
            filters.append({"type": MIRROR, "requestMirror": mirror})
        if filters:
            rule["filters"] = filters
        else:
            rule.pop("filters", None)
    return rules if touched else None


class GatewayAPI(TrafficMode):
    name: ClassVar[str] = "GatewayAPI"
    can_mirror: ClassVar[bool] = True
    compares: ClassVar[bool] = False

    def objects(self, placement: Placement, settings: OperatorSettings) -> list[Json]:
        return []  # clients come through the user's Gateway; the track Services are enough

    def route_ref(self) -> RouteRef | None:
        ref = self.md.spec.rollout.traffic.http_route_ref
        if ref is None:
            return None
        return RouteRef(ref.namespace or self.md.namespace, ref.name)

    def route(
        self, placement: Placement, seen: RouteRead | None
    ) -> tuple[RouteUpdate | None, list[Problem]]:
        field = "spec.rollout.traffic.httpRouteRef"
        if seen is None:
            return None, [Problem(C.R_ROUTE_INVALID, f"{field}: required")]
        if seen.error is not None:
            return None, [Problem(C.R_ROUTE_INVALID, f"HTTPRoute {seen.ref}: {seen.error}")]
        if seen.obj is None:
            return None, [Problem(C.R_ROUTE_NOT_FOUND, f"HTTPRoute {seen.ref} not found ({field})")]
        rules = weighted_rules(
            seen.obj,
            self.md.name,
            canary_weight=placement.canary_weight,
            canary=placement.canary is not None,
            mirror_percent=placement.mirror_percent,
        )
        if rules is None:
            stable = service_name(self.md.name, contract.TRACK_STABLE)
            msg = f"HTTPRoute {seen.ref}: no rule has a backendRef to Service {stable}"
            return None, [Problem(C.R_ROUTE_INVALID, msg)]
        if rules == (seen.obj.get("spec") or {}).get("rules"):
            return None, []
        return RouteUpdate(seen.ref, {"spec": {"rules": rules}}), []
