"""Traffic modes (pure): Builtin (Canaria's router), Replicas (pod counts), GatewayAPI
(an HTTPRoute's weights and RequestMirror filter). See :mod:`canaria_operator.traffic.base`."""

from canaria_operator.api.model import ModelDeployment
from canaria_operator.traffic.base import (
    ROLE_CANARY,
    ROLE_PREVIOUS,
    ROLE_STABLE,
    Placement,
    RouteRead,
    RouteRef,
    RouteUpdate,
    TrafficMode,
)
from canaria_operator.traffic.builtin import Builtin
from canaria_operator.traffic.gatewayapi import GatewayAPI
from canaria_operator.traffic.replicas import Replicas

__all__ = [
    "MODES",
    "ROLE_CANARY",
    "ROLE_PREVIOUS",
    "ROLE_STABLE",
    "Builtin",
    "GatewayAPI",
    "Placement",
    "Replicas",
    "RouteRead",
    "RouteRef",
    "RouteUpdate",
    "TrafficMode",
    "traffic_mode",
]

MODES: dict[str, type[TrafficMode]] = {m.name: m for m in (Builtin, Replicas, GatewayAPI)}


def traffic_mode(md: ModelDeployment) -> TrafficMode:
    """The mode ``spec.rollout.traffic.router`` names (the API admits only these)."""
    return MODES[md.spec.rollout.traffic.router](md)
