"""Traffic mode ``GatewayAPI``: the weights of a referenced HTTPRoute's backendRefs (pure).

Every rule of the route that sends traffic to the ``<md>-stable`` Service gets the stable
weight on that backendRef and a ``<md>-canary`` backendRef with the canary weight (added
while a canary exists, removed when there is none). Other backendRefs and everything else in
the route are left as the user wrote them.
"""

from __future__ import annotations

import copy
from typing import Any

from canaria_operator.workloads.names import service_name
from canaria_serving import contract

__all__ = ["weighted_rules"]

Json = dict[str, Any]


def _is_service(ref: Json, name: str) -> bool:
    return (
        ref.get("name") == name
        and ref.get("kind", "Service") == "Service"
        and ref.get("group", "") in ("", "core")
    )


def weighted_rules(route: Json, md: str, *, canary_weight: int, canary: bool) -> list[Json] | None:
    """The route's ``spec.rules`` with the weights set; None when no rule references the
    stable Service (the route is not wired to this ModelDeployment)."""
    stable_svc = service_name(md, contract.TRACK_STABLE)
    canary_svc = service_name(md, contract.TRACK_CANARY)
    rules: list[Json] = copy.deepcopy(((route.get("spec") or {}).get("rules")) or [])
    touched = False
    for rule in rules:
        refs: list[Json] = rule.get("backendRefs") or []
        if not any(_is_service(r, stable_svc) for r in refs):
            continue
        touched = True
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
            port = next((r.get("port") for r in refs if _is_service(r, stable_svc)), None)
            out.append(
                {"name": canary_svc, "port": port or contract.SERVING_PORT, "weight": canary_weight}
            )
        rule["backendRefs"] = out
    return rules if touched else None
