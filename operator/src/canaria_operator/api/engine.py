"""Map ``spec.rollout`` onto the rollout engine's input type (``RolloutSpec``)."""

from __future__ import annotations

from canaria_operator.api.base import parse_duration
from canaria_operator.api.spec import Rollout
from canaria_operator.rollout.model import RolloutSpec, Step, Strategy

__all__ = ["to_rollout_spec"]


def to_rollout_spec(rollout: Rollout) -> RolloutSpec:
    return RolloutSpec(
        strategy=Strategy(rollout.strategy),
        steps=tuple(
            Step(
                weight=s.weight,
                pause=None if s.pause is None else parse_duration(s.pause),
                pause_until_resumed=s.pause_until_resumed,
            )
            for s in rollout.steps
        ),
        analysis_interval=parse_duration(rollout.analysis_interval),
        failure_threshold=rollout.failure_threshold,
        successful_checks_per_step=rollout.successful_checks_per_step,
        error_threshold=rollout.error_threshold,
        progress_deadline=parse_duration(rollout.progress_deadline),
        scale_down_delay=parse_duration(rollout.scale_down_delay),
        mirror_percent=rollout.traffic.mirror_percent,
    )
