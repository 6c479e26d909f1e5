"""Operator metrics (prometheus-client), served on contract.OPERATOR_METRICS_PORT."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from canaria_operator.analysis.result import CheckResult

__all__ = ["PHASES", "OperatorMetrics"]

PHASES: Final = ("Pending", "Ready", "Progressing", "Paused", "RolledBack", "Degraded", "Retired")


class OperatorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.reconciles = Counter(
            "canaria_operator_reconciles",
            "Reconciles by kind and result (ok, error, skipped).",
            ["kind", "result"],
            registry=self.registry,
        )
        self.errors = Counter(
            "canaria_operator_errors",
            "Reconcile errors by kind and error class (temporary, permanent, invalid).",
            ["kind", "error"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "canaria_operator_reconcile_duration_seconds",
            "Time of one reconcile (observe, decide, write).",
            ["kind"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.writes = Counter(
            "canaria_operator_writes",
            "Writes to the API server by operation (apply, delete, status, event).",
            ["op"],
            registry=self.registry,
        )
        self.phase = Gauge(
            "canaria_modeldeployment_phase",
            "1 for the current phase of each ModelDeployment, 0 for the others.",
            ["namespace", "name", "phase"],
            registry=self.registry,
        )
        self.canary_weight = Gauge(
            "canaria_modeldeployment_canary_weight",
            "Percent of traffic routed to the canary track.",
            ["namespace", "name"],
            registry=self.registry,
        )
        self.checks = Counter(
            "canaria_analysis_checks",
            "Analysis checks by ModelDeployment, metric and verdict "
            "(Successful, Failed, Inconclusive, Error).",
            ["namespace", "name", "metric", "verdict"],
            registry=self.registry,
        )
        self.check_value = Gauge(
            "canaria_analysis_value",
            "Last measured value of an analysis metric, for the canary and the stable track.",
            ["namespace", "name", "metric", "track"],
            registry=self.registry,
        )

    def record_checks(self, namespace: str, name: str, checks: Iterable[CheckResult]) -> None:
        """One analysis round: a verdict count per check and the measured values."""
        for check in checks:
            self.checks.labels(namespace, name, check.metric, check.verdict.value).inc()
            for track, value in (("canary", check.value), ("stable", check.stable_value)):
                if value is not None:
                    self.check_value.labels(namespace, name, check.metric, track).set(value)

    def set_state(self, namespace: str, name: str, phase: str, weight: int) -> None:
        for p in PHASES:
            self.phase.labels(namespace, name, p).set(1.0 if p == phase else 0.0)
        self.canary_weight.labels(namespace, name).set(weight)

    def forget(self, namespace: str, name: str) -> None:
        for p in PHASES:
            with contextlib.suppress(KeyError):
                self.phase.remove(namespace, name, p)
        with contextlib.suppress(KeyError):
            self.canary_weight.remove(namespace, name)

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        start_http_server(port, addr=addr, registry=self.registry)
