"""Small API pieces: durations, the rollout engine mapping, object parsing errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from canaria_operator.api import InvalidObject, ModelDeployment, parse_duration, to_rollout_spec
from canaria_operator.rollout.model import Strategy
from tests.operator.helpers import make_md, md_body


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("10m", 600), ("1h30m", 5400), ("1.5h", 5400), ("250ms", 0.25), ("0s", 0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "30", "s", "1d", "5m ", "-1s", "1h-5m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_rollout_spec_for_the_engine() -> None:
    md = make_md(
        {
            "model": {"uri": "file:///m.onnx", "version": "v1"},
            "rollout": {
                "strategy": "Shadow",
                "steps": [{"weight": 20, "pause": "1m"}, {"weight": 60, "pauseUntilResumed": True}],
                "analysisInterval": "15s",
                "traffic": {"mirrorPercent": 40},
            },
        }
    )
    spec = to_rollout_spec(md.spec.rollout)
    assert spec.strategy is Strategy.SHADOW
    assert [s.weight for s in spec.steps] == [20, 60]
    assert spec.steps[0].pause == timedelta(minutes=1)
    assert spec.steps[1].pause_until_resumed
    assert spec.analysis_interval == timedelta(seconds=15)
    assert spec.progress_deadline == timedelta(minutes=10)
    assert spec.mirror_percent == 40


def test_unreadable_object_names_the_field() -> None:
    body = md_body()
    body["spec"]["model"]["version"] = None
    with pytest.raises(InvalidObject, match=r"spec\.model.*version"):
        ModelDeployment.parse(body)
