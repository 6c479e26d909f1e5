"""The router's Prometheus metrics, named by ``canaria_serving.contract``."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from canaria_serving import contract as c

__all__ = ["RouterMetrics"]


class RouterMetrics:
    def __init__(self, model: str) -> None:
        self.model = model
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            c.M_ROUTER_REQUESTS,
            "Requests routed, by track and HTTP status code.",
            [c.L_MODEL, c.L_TRACK, c.L_CODE],
            registry=self.registry,
        )
        duration = Histogram(
            c.M_ROUTER_DURATION,
            "Routed request duration (router in to router out).",
            [c.L_MODEL, c.L_TRACK],
            buckets=c.LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.duration = {t: duration.labels(model, t) for t in c.TRACKS}
        shadow = Counter(
            c.M_SHADOW_COMPARISONS,
            "Mirrored requests: canary prediction vs stable.",
            [c.L_MODEL, c.L_RESULT],
            registry=self.registry,
        )
        self.shadow = {r: shadow.labels(model, r) for r in ("agree", "disagree", "error")}
        weight = Gauge(
            c.M_ROUTER_WEIGHT,
            "Traffic weight the router applies now (percent).",
            [c.L_MODEL, c.L_TRACK],
            registry=self.registry,
        )
        self.weight = {t: weight.labels(model, t) for t in c.TRACKS}
        self.resent = Counter(
            c.M_ROUTER_RESENT,
            "Requests sent once more to another backend: the first closed before answering.",
            [c.L_MODEL],
            registry=self.registry,
        ).labels(model)
        replayed = Counter(
            c.M_ROUTER_REPLAYED,
            "Payload-log records replayed to the canary: its prediction vs the stable's then.",
            [c.L_MODEL, c.L_RESULT],
            registry=self.registry,
        )
        self.replayed = {r: replayed.labels(model, r) for r in ("agree", "disagree", "error")}
        self._children: dict[tuple[str, int], Any] = {}

    def request(self, track: str, code: int, seconds: float) -> None:
        child = self._children.get((track, code))
        if child is None:
            child = self._requests.labels(self.model, track, str(code))
            self._children[(track, code)] = child
        child.inc()
        self.duration[track].observe(seconds)

    def set_weight(self, canary: int) -> None:
        self.weight[c.TRACK_CANARY].set(canary)
        self.weight[c.TRACK_STABLE].set(100 - canary)

    def render(self) -> bytes:
        return generate_latest(self.registry)
