"""`up` is idempotent, a crashed component is reported and repaired, `down` removes all.

Uses its own cluster in a temporary state folder, so the shared session cluster is untouched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from canaria_devtools.devcluster.cluster import down, up
from canaria_devtools.devcluster.paths import ENV_STATE_DIR
from canaria_devtools.devcluster.supervisor import alive

from .kube import wait_for

pytestmark = pytest.mark.cluster


def _status(state: Path) -> subprocess.CompletedProcess[str]:
    canaria = Path(sys.executable).with_name("canaria")
    env = dict(os.environ, **{ENV_STATE_DIR: str(state)})
    return subprocess.run(
        [str(canaria), "dev-cluster", "status"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_up_twice_crash_report_repair_and_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "dc"
    monkeypatch.setenv(ENV_STATE_DIR, str(state))
    first = up(nodes=1)
    procs = list(first.procs)
    try:
        again = up(nodes=1)
        assert [p.pid for p in again.procs] == [p.pid for p in procs]

        victim = next(p for p in procs if p.name == "kube-scheduler")
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        wait_for("the crash to show", lambda: not alive(victim), timeout=10)
        report = _status(state)
        assert report.returncode == 1
        line = next(x for x in report.stdout.splitlines() if x.startswith("kube-scheduler"))
        assert "NOT RUNNING" in line

        repaired = up(nodes=1)
        new = next(p for p in repaired.procs if p.name == "kube-scheduler")
        assert new.pid != victim.pid
        assert repaired.healthy()
        assert _status(state).returncode == 0
        procs = list(repaired.procs)
    finally:
        assert down() is True
    assert not state.exists()
    assert not any(alive(p) for p in procs)
    assert down() is False
