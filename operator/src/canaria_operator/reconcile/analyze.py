"""Run an analysis round when one is due (I/O: queries Prometheus).

The round is judged by the rollout engine; this module only decides whether one is due for
the state in status, and measures canary against stable over the last analysis interval, all
queries evaluated at the same instant.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from canaria_operator.analysis import (
    CheckResult,
    PrometheusProvider,
    Target,
    Verdict,
    run_analysis,
)
from canaria_operator.api.convert import to_analysis_config, to_rollout_spec
from canaria_operator.api.model import ModelDeployment
from canaria_operator.rollout import analysis_due
from canaria_serving import contract

__all__ = ["AnalysisRunner"]


class AnalysisRunner:
    """One pooled HTTP client for every Prometheus the ModelDeployments name."""

    def __init__(self, default_url: str, *, timeout: float = 5.0) -> None:
        self.default_url = default_url
        self._client = httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        await self._client.aclose()

    def url_for(self, md: ModelDeployment) -> str:
        return md.spec.rollout.analysis.prometheus_url or self.default_url

    async def maybe_run(self, md: ModelDeployment, now: datetime) -> list[CheckResult]:
        """The checks of a round if one is due for ``md`` at ``now``, else nothing."""
        state = md.status.rollout
        if (
            state is None
            or state.stable_version is None
            or state.canary_version != md.spec.model.version
        ):
            return []
        spec = to_rollout_spec(md.spec.rollout)
        if not analysis_due(state, spec, now):
            return []
        try:
            config = to_analysis_config(md.spec.rollout.analysis)
        except ValueError as exc:  # a custom check the CRD could not rule out
            msg = f"spec.rollout.analysis: {exc}".replace("\n", " ")
            return [CheckResult(metric="config", verdict=Verdict.ERROR, at=now, message=msg)]

        def target(version: str, track: str) -> Target:
            return Target(
                name=md.name,
                version=version,
                track=track,
                namespace=md.namespace,
                model=md.model_name,
            )

        provider = PrometheusProvider(self.url_for(md), at=now, client=self._client)
        return await run_analysis(
            provider,
            config,
            target(state.canary_version, contract.TRACK_CANARY),
            target(state.stable_version, contract.TRACK_STABLE),
            window=spec.analysis_interval,
            at=now,
            mirroring=state.mirror_percent > 0,
        )
