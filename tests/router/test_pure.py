"""Routing table, split, sticky hashing, routing-file parsing and shadow comparison (pure)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from canaria_operator.router.shadow import compare_bodies
from canaria_operator.router.sources import StaticSource, table_from_mapping
from canaria_operator.router.table import Backend, RoutingTable, choose_track, sticky_bucket


@pytest.mark.parametrize("text", ["nonsense", "host:", ":80", "h:0", "h:70000", "h:x"])
def test_backend_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="expected host:port"):
        Backend.parse(text)


def test_backend_parse() -> None:
    assert Backend.parse("http://127.0.0.1:8080/") == Backend("127.0.0.1", 8080)


@given(st.text(min_size=1), st.integers(0, 100), st.integers(0, 100))
def test_sticky_is_monotonic_in_weight(key: str, w1: int, w2: int) -> None:
    lo, hi = sorted((w1, w2))
    b = sticky_bucket(key)
    assert 0 <= b < 10_000
    if choose_track(lo, b) == "canary":
        assert choose_track(hi, b) == "canary"  # raising the weight never moves keys back
    assert choose_track(0, b) == "stable"
    assert choose_track(100, b) == "canary"


def test_sticky_buckets_spread_evenly() -> None:
    counts = Counter(choose_track(30, sticky_bucket(f"user-{i}")) for i in range(10_000))
    assert abs(counts["canary"] / 10_000 - 0.30) < 0.02


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "mapping"),
        ({"stable": "a:1"}, "stable must be a list"),
        ({"stable": ["a:1"], "canaryWeight": 101}, "canaryWeight"),
        ({"stable": ["a:1"], "mirrorPercent": True}, "mirrorPercent"),
        ({"stabel": ["a:1"]}, "unknown field"),
        ({"canary": ["bad"]}, "expected host:port"),
    ],
)
def test_routing_file_errors_name_the_field(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        table_from_mapping(data)


def test_table_rejects_weights_outside_range() -> None:
    with pytest.raises(ValueError, match="canary_weight"):
        RoutingTable(canary_weight=-1)


async def test_static_source_keeps_last_good_table(tmp_path: Path) -> None:
    import asyncio

    path = tmp_path / "r.json"
    path.write_text(json.dumps({"stable": ["a:1"], "canary": ["b:2"], "canaryWeight": 5}))
    src = StaticSource(path=path, poll=0.02)
    task = asyncio.ensure_future(src.run())
    try:
        path.write_text('{"stable": ["a:1"], "canaryWeight": 500}')
        await asyncio.sleep(0.2)
        assert src.current.canary_weight == 5  # broken file ignored
        path.write_text(json.dumps({"stable": ["a:1"], "canaryWeight": 40}))
        await asyncio.sleep(0.2)
        assert src.current.canary_weight == 40
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def v2(*outputs: tuple[str, list[object]]) -> bytes:
    return orjson.dumps({"outputs": [{"name": n, "data": d} for n, d in outputs]})


@pytest.mark.parametrize(
    ("stable", "canary", "expected"),
    [
        (
            v2(("label", [1, 0]), ("probabilities", [0.9, 0.1])),
            v2(("label", [1, 0]), ("probabilities", [0.6, 0.4])),
            "agree",
        ),  # labels decide
        (v2(("label", [1, 0])), v2(("label", [1, 1])), "disagree"),
        (v2(("variable", [1.0])), v2(("variable", [1.0000001])), "agree"),
        (v2(("variable", [1.0])), v2(("variable", [1.1])), "disagree"),
        (b'{"predictions": [[1], [2]]}', b'{"predictions": [1, 2]}', "agree"),
        (b'{"predictions": [1, 2]}', b'{"predictions": [1]}', "disagree"),
        (b'{"predictions": ["cat"]}', b'{"predictions": ["dog"]}', "disagree"),
        (b'{"predictions": [1]}', b"not json", "error"),
        (b'{"predictions": [1]}', b'{"error": "bad input"}', "error"),
    ],
)
def test_compare_bodies(stable: bytes, canary: bytes, expected: str) -> None:
    assert compare_bodies(stable, canary) == expected
