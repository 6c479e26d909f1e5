"""Run an analysis round when one is due (I/O: queries Prometheus).

The round is judged by the rollout state machine; this module only asks whether one is due
for the state in status and measures canary against stable over the last analysis interval,
all queries evaluated at the same instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from canaria_operator.analysis import (
    AnalysisConfig,
    CheckResult,
    PrometheusProvider,
    Target,
    planned_checks,
    run_analysis,
)
from canaria_operator.reconcile.snapshot import Snapshot
from canaria_operator.rollout import analysis_due
from canaria_serving import contract

__all__ = ["MAX_TRUTH_WINDOW", "AnalysisRunner", "Round", "due_round"]

MAX_TRUTH_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Round:
    """One analysis round to run: canary against stable over ``window`` ending at ``at``;
    ``compared``: the router compares mirrored answers now (shadow agreement is measured)."""

    canary: Target
    stable: Target
    window: timedelta
    at: datetime
    compared: bool
    config: AnalysisConfig
    # The ground-truth checks' window: since the rollout started (at least ``window``).
    truth_window: timedelta | None = None

    @property
    def checks(self) -> tuple[str, ...]:
        return planned_checks(self.config, mirrored=self.compared)


def _target_version(snap: Snapshot) -> str | None:
    """spec.model.version, or the registry version a models:/ reference resolves to (the
    last one resolved while the registry cannot be read)."""
    if snap.md.spec.model.version is not None:
        return snap.md.spec.model.version
    if snap.registry is not None and snap.registry.resolved is not None:
        return snap.registry.resolved.version
    return snap.md.status.registry.version if snap.md.status.registry else None


def due_round(snap: Snapshot, now: datetime) -> Round | None:
    """The round due at ``now`` for the state in status (pure), or None."""
    md, spec = snap.md, snap.inputs.spec
    state = md.status.rollout
    if (
        state is None
        or state.stable_version is None
        or state.canary_version is None
        or state.canary_version != _target_version(snap)
        or not analysis_due(state, spec, now)
    ):
        return None

    def target(version: str, track: str) -> Target:
        return Target(
            name=md.name, version=version, track=track, namespace=md.namespace, model=md.model_name
        )

    since = state.started_at or now
    truth = min(max(now - since, spec.analysis_interval), MAX_TRUTH_WINDOW)
    return Round(
        canary=target(state.canary_version, contract.TRACK_CANARY),
        stable=target(state.stable_version, contract.TRACK_STABLE),
        window=spec.analysis_interval,
        at=now,
        compared=state.mirror_percent > 0 and snap.mode.compares,
        config=snap.inputs.config,
        truth_window=truth,
    )


class AnalysisRunner:
    """One pooled HTTP client for every Prometheus the ModelDeployments name."""

    def __init__(self, default_url: str, *, timeout: float = 5.0) -> None:
        self.default_url = default_url
        self._client = httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def run_if_due(self, snap: Snapshot, now: datetime) -> list[CheckResult]:
        """The checks of a round if one is due at ``now``, else nothing."""
        due = due_round(snap, now)
        if due is None:
            return []
        url = snap.md.spec.rollout.analysis.prometheus_url or self.default_url
        provider = PrometheusProvider(url, at=now, client=self._client)
        return await run_analysis(
            provider,
            due.config,
            due.canary,
            due.stable,
            window=due.window,
            at=due.at,
            mirroring=due.compared,
            truth_window=due.truth_window,
        )
