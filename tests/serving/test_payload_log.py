"""The payload logger never blocks: a full queue drops the record and counts it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from canaria_serving.payload_log import PayloadLogger


def make_logger(
    path: Path, rate: float = 1.0, max_queue: int = 10, on_drop: Callable[[], None] = lambda: None
) -> PayloadLogger:
    return PayloadLogger(
        path,
        sample_rate=rate,
        model="m",
        version="1",
        track="stable",
        max_queue=max_queue,
        on_drop=on_drop,
    )


def test_full_queue_drops_and_counts(tmp_path: Path) -> None:
    drops: list[int] = []
    log = make_logger(tmp_path / "p.jsonl", max_queue=2, on_drop=lambda: drops.append(1))
    # writer not started yet: the queue fills up, further records are dropped at once
    for i in range(5):
        log.record(f"r{i}", "v2", {"X": np.ones((1, 2), dtype=np.float32)}, {"y": np.array([i])})
    assert log.dropped == 3
    assert len(drops) == 3
    log.start()
    log.stop()
    lines = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [entry["request_id"] for entry in lines] == ["r0", "r1"]
    assert lines[0]["inputs"] == {"X": [[1.0, 1.0]]}
    assert lines[1]["outputs"] == {"y": [1]}


def test_sampling_rate_zero_logs_nothing(tmp_path: Path) -> None:
    log = make_logger(tmp_path / "p.jsonl", rate=0.0)
    assert not any(log.sampled() for _ in range(1000))
    half = make_logger(tmp_path / "q.jsonl", rate=0.5)
    share = sum(half.sampled() for _ in range(4000)) / 4000
    assert 0.4 < share < 0.6
