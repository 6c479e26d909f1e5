"""The conformance report: every case's outcome, counted by source, printed at the end."""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.serving.conformance.check import Outcome

OUTCOMES: dict[str, tuple[str, Outcome]] = {}  # case id -> (source, outcome)


def record(case_id: str, source: str, outcome: Outcome) -> None:
    OUTCOMES[case_id] = (source, outcome)


def summary() -> dict[str, Any]:
    by_source: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: dict[str, list[str]] = defaultdict(list)
    for case_id, (source, outcome) in sorted(OUTCOMES.items()):
        by_source[source][outcome.kind] += 1
        if outcome.reason:
            reasons[outcome.kind].append(f"{case_id}: {outcome.reason}")
    return {"by_source": {s: dict(c) for s, c in by_source.items()}, "reasons": reasons}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not OUTCOMES:
        return
    data = summary()
    tr = terminalreporter
    tr.section("conformance: ONNX backend test models served by canaria")
    total: Counter[str] = Counter()
    for source, counts in sorted(data["by_source"].items()):
        total.update(counts)
        tr.write_line(f"  {source:20s} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    tr.write_line(f"  {'all':20s} " + ", ".join(f"{k} {v}" for k, v in sorted(total.items())))
    out = os.environ.get("CANARIA_CONFORMANCE_REPORT")
    if out:
        Path(out).write_text(json.dumps(data, indent=1))
        tr.write_line(f"  report with every reason: {out}")


@pytest.fixture
def report() -> Any:
    return record
