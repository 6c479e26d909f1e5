"""What one reconcile knows, observed once (pure data; :mod:`.observe` fills it).

A :class:`Snapshot` holds the ModelDeployment, the inputs derived from its spec once (the
traffic mode, the rollout spec, the analysis config), the objects it owns, its serving pods
by version, the Secrets that do not exist and the route its traffic mode steers. Everything
after observing reads the snapshot; nothing asks the API server again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from canaria_operator.analysis.config import AnalysisConfig
from canaria_operator.api.convert import to_analysis_config, to_rollout_spec
from canaria_operator.api.model import InvalidObject, ModelDeployment
from canaria_operator.reconcile.health import TrackHealth, track_health
from canaria_operator.registry.read import RegistryRead
from canaria_operator.rollout.model import (
    ANALYSED_STAGES,
    AcceptanceRead,
    HookAnswer,
    HookType,
    RolloutSpec,
)
from canaria_operator.traffic import RouteRead, TrafficMode, traffic_mode
from canaria_operator.workloads.names import deployment_name
from canaria_serving import contract

__all__ = ["Inputs", "Key", "Snapshot", "inputs_of", "secrets_needed"]

Json = dict[str, Any]
Key = tuple[str, str]  # (kind, name)


@dataclass(frozen=True)
class Inputs:
    """What the spec asks for, read once: the traffic mode and what it makes of the rollout
    (no mirroring where it cannot mirror; the stages its checks can judge)."""

    mode: TrafficMode
    spec: RolloutSpec
    config: AnalysisConfig


def inputs_of(md: ModelDeployment) -> Inputs:
    """Raises :class:`InvalidObject` for a spec the CRD's rules should have refused (an object
    stored before the CRD was installed): reported as Degraded/InvalidSpec."""
    mode = traffic_mode(md)
    try:
        config = to_analysis_config(md.spec.rollout.analysis)
        spec = mode.rollout_spec(to_rollout_spec(md.spec.rollout), config)
        if HookType.ROLLOUT in spec.hooks:  # rollout hooks judge every stage, as checks do
            spec = spec.model_copy(update={"judged_stages": ANALYSED_STAGES})
    except (ValidationError, ValueError) as exc:
        raise InvalidObject(f"spec.rollout: {exc}".replace("\n", " ")) from exc
    return Inputs(mode=mode, spec=spec, config=config)


def secrets_needed(md: ModelDeployment) -> set[str]:
    """Secrets the artifacts of the object may need (spec.model and every role in status)."""
    names = set()
    if md.spec.model.credentials_secret_ref:
        names.add(md.spec.model.credentials_secret_ref.name)
    registry = md.spec.model.registry
    if registry is not None and registry.credentials_secret_ref is not None:
        names.add(registry.credentials_secret_ref.name)
    for track in (md.status.stable, md.status.canary, md.status.previous):
        if track is not None and track.credentials_secret:
            names.add(track.credentials_secret)
    return names


@dataclass(frozen=True)
class Snapshot:
    md: ModelDeployment
    inputs: Inputs
    # Owned objects as listed from the API server, keyed by (kind, name).
    objects: Mapping[Key, Json] = field(default_factory=dict)
    # Serving pods by their version label.
    pods: Mapping[str, list[Json]] = field(default_factory=dict)
    missing_secrets: frozenset[str] = frozenset()
    # The object the traffic mode steers (None: the mode steers none, or names none).
    route: RouteRead | None = None
    # What the MLflow registry said of spec.model (None: not a models:/ reference).
    registry: RegistryRead | None = None
    # The acceptance Job of the current attempt (None: no acceptance test in status).
    acceptance: AcceptanceRead | None = None
    # The hooks called before deciding, and their answers.
    hooks: tuple[HookAnswer, ...] = ()

    @classmethod
    def of(cls, md: ModelDeployment, **observed: Any) -> Snapshot:
        return cls(md=md, inputs=inputs_of(md), **observed)

    @property
    def mode(self) -> TrafficMode:
        return self.inputs.mode

    def deployment(self, version: str) -> Json | None:
        return self.objects.get(("Deployment", deployment_name(self.md.name, version)))

    def health(self) -> dict[str, TrackHealth]:
        """Health of every version that has a Deployment."""
        found: dict[str, TrackHealth] = {}
        for (kind, name), dep in self.objects.items():
            labels = (dep.get("metadata") or {}).get("labels") or {}
            version = labels.get(contract.LABEL_VERSION)
            if kind == "Deployment" and version and name == deployment_name(self.md.name, version):
                found[version], _ = track_health(dep, self.pods.get(version, []))
        return found
