"""`canaria demo` on the dev cluster: the newcomer's first command, run as they would."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]


def test_demo_promotes_v2_rolls_back_v3_and_draws_the_timeline(
    dev_cluster: Any, tmp_path: Path
) -> None:
    png = tmp_path / "timeline.png"
    ns = f"demo-{uuid.uuid4().hex[:6]}"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "canaria_operator.cli", "demo", "--no-live"),
            *("--timeline", str(png), "--namespace", ns),
        ],
        env={**os.environ, **dev_cluster.env(), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=800,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    lines = [line.split("│") for line in out.splitlines() if "│" in line]
    rows = {cells[1].strip(): cells[2].strip() for cells in lines if len(cells) > 3}
    assert rows.get("v2") == "Promoted", out[-3000:]
    assert rows.get("v3") == "RolledBack", out[-3000:]
    assert "failed: 0" in out
    assert "v3 answered no client request" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000
    # the dev cluster was up before: the demo leaves it running, and removes its namespace
    assert dev_cluster.healthy()
