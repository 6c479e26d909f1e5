"""Files the pod runner keeps in its work folder (shared with ``down`` and ``status``)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PID_SUFFIX", "READY_FILE", "kill_leftovers", "pid_files"]

READY_FILE = ".runner-ready"  # written once the runner watches pods
PID_SUFFIX = ".pid"  # <work>/<pod folder>/<container>.pid while a container process runs


def pid_files(work_dir: Path) -> Iterator[Path]:
    """Pid files of container processes that may still run."""
    if work_dir.is_dir():
        yield from work_dir.glob(f"*/*{PID_SUFFIX}")


def kill_leftovers(work_dir: Path) -> int:
    """SIGKILL the process group of every recorded container process; returns how many."""
    killed = 0
    for pid_file in pid_files(work_dir):
        with contextlib.suppress(ValueError, OSError):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)
            killed += 1
        pid_file.unlink(missing_ok=True)
    return killed
