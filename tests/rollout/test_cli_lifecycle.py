"""`canaria history` and `canaria retire`'s time parsing, and the registry line of
`canaria status` (rendering is pure; the commands' cluster side runs in the MLflow e2e)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console

from canaria_operator.cli_lifecycle import parse_time, render_history
from canaria_operator.cli_rollout import render_status

MD: dict[str, Any] = {
    "metadata": {"name": "iris", "namespace": "ml"},
    "spec": {"model": {"uri": "models:/iris@champion"}},
    "status": {
        "registry": {"version": "3", "stableAlias": "canaria-stable", "stableAliasVersion": "2"},
        "history": [
            {
                "version": "2",
                "source": "models:/iris/2",
                "result": "Promoted",
                "reason": "Promoted",
                "startedAt": "2026-12-02T07:00:00Z",
                "finishedAt": "2026-12-02T07:01:00Z",
                "checks": [{"metric": "error-rate", "verdict": "Successful", "value": 0.0}],
            },
            {
                "version": "3",
                "source": "models:/iris/3",
                "result": "RolledBack",
                "reason": "AnalysisFailed",
                "checks": [{"metric": "latency-p99", "verdict": "Failed"}],
            },
        ],
        "retirement": {"at": "2027-01-01T00:00:00Z"},
    },
}


def _text(renderable: Any) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_history_lists_every_rollout_with_its_registry_version_and_checks() -> None:
    out = _text(render_history(MD))
    lines = [line for line in out.splitlines() if "models:/iris/" in line]
    assert len(lines) == 2
    assert "Promoted" in lines[0]
    assert "error-rate=Successful" in lines[0]
    assert "2026-12-02 07:01:00" in lines[0]
    assert "RolledBack" in lines[1]
    assert "latency-p99=Failed" in lines[1]
    assert "retiring at 2027-01-01 00:00:00" in out


def test_status_shows_the_registry() -> None:
    out = _text(render_status(MD))
    assert "models:/iris@champion -> version 3; canaria-stable on 2" in out


def test_retire_times() -> None:
    assert parse_time("2027-01-01T00:00:00Z") == datetime(2027, 1, 1, tzinfo=UTC)
    assert parse_time("2027-01-01T00:00:00") == datetime(2027, 1, 1, tzinfo=UTC)
    assert (datetime.now(UTC) - parse_time("now")).total_seconds() < 5
    with pytest.raises(argparse.ArgumentTypeError, match="RFC 3339"):
        parse_time("tomorrow")
