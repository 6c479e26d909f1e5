"""The prediction store: what a truth finds, what is lost when, and that it stays bounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from canaria_serving.feedback.store import Claimed, PredictionStore, Swept


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _store(tmp_path: Path, clock: Clock, retention: float = 60, most: int = 5) -> PredictionStore:
    return PredictionStore(
        tmp_path / "p.db", retention_s=retention, max_predictions=most, clock=clock
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_truth_claims_its_prediction_once(tmp_path: Path, clock: Clock) -> None:
    store = _store(tmp_path, clock)
    store.add([("a", clock.t, '["1"]'), ("b", clock.t, '["0"]')])
    assert store.claim(["a", "zzz"]) == [
        Claimed("a", prediction='["1"]'),
        Claimed("zzz", reason="unknown"),
    ]
    assert store.claim(["a"]) == [Claimed("a", reason="duplicate")]
    store.unclaim("a")  # a truth that did not fit may be sent again
    assert store.claim(["a"])[0].prediction == '["1"]'


@pytest.mark.parametrize(
    ("age", "seen", "want"),
    [
        (59.0, False, Claimed("a", prediction='["1"]')),  # within retention
        (61.0, False, Claimed("a", reason="expired")),  # late, not swept yet
        (61.0, True, Claimed("a", reason="expired")),  # late, swept into a tombstone
    ],
    ids=["fresh", "late", "late-swept"],
)
def test_retention(tmp_path: Path, clock: Clock, age: float, seen: bool, want: Claimed) -> None:
    store = _store(tmp_path, clock)
    store.add([("a", clock.t, '["1"]')])
    clock.t += age
    if seen:
        assert store.sweep() == Swept(expired=1)
    assert store.claim(["a"]) == [want]


def test_the_oldest_are_evicted_beyond_the_bound_and_counted(tmp_path: Path, clock: Clock) -> None:
    store = _store(tmp_path, clock, most=3)
    store.add([(f"r{i}", clock.t + i, "[0]") for i in range(5)])
    store.claim(["r0"])  # labelled before it went: not counted as lost
    assert store.sweep() == Swept(evicted=1)
    assert store.size() == 3
    got = {c.id: c.reason or "ok" for c in store.claim(["r0", "r1", "r2", "r4"])}
    assert got == {"r0": "evicted", "r1": "evicted", "r2": "ok", "r4": "ok"}


def test_tombstones_are_bounded_too(tmp_path: Path, clock: Clock) -> None:
    store = _store(tmp_path, clock, retention=1, most=2)
    for i in range(10):
        store.add([(f"r{i}", clock.t, "[0]")])
        clock.t += 2
        store.sweep()
    reasons = [c.reason for c in store.claim([f"r{i}" for i in range(10)])]
    assert reasons == ["unknown"] * 8 + ["expired"] * 2  # only the newest 2 remembered


def test_workers_of_a_pod_share_one_file(tmp_path: Path, clock: Clock) -> None:
    one, two = _store(tmp_path, clock), _store(tmp_path, clock)
    one.add([("a", clock.t, '["x"]')])
    assert two.claim(["a"]) == [Claimed("a", prediction='["x"]')]
    assert one.claim(["a"]) == [Claimed("a", reason="duplicate")]  # counted once


def test_an_id_sent_again_keeps_the_latest_answer(tmp_path: Path, clock: Clock) -> None:
    store = _store(tmp_path, clock, retention=1)
    store.add([("a", clock.t, '["old"]')])
    clock.t += 2
    store.sweep()
    store.add([("a", clock.t, '["new"]')])
    assert store.claim(["a"]) == [Claimed("a", prediction='["new"]')]
