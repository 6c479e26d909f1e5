"""The dev cluster's cgroup subtree: everything it starts lives under one root.

These machines run cgroup v1 (hybrid). Each cluster gets ``/<root>`` in every v1 controller:
its own processes in ``/<root>/system/<component>``, and the kubelet's pods under
``/<root>/kubepods`` (``cgroupRoot`` in the kubelet's configuration). A process joins its
cgroup before it execs (see :mod:`.supervisor`), so its children (containerd's shims, the
containers themselves) are inside too. ``kill_all`` freezes the subtree, SIGKILLs every
process in it and removes the cgroups: nothing the cluster started can outlive ``down``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["CGROUP_FS", "controllers", "create", "kill_all", "pids", "procs_files", "remove"]

CGROUP_FS = Path("/sys/fs/cgroup")
# v1 controllers a process joins (the kubelet and runc manage the same ones for pods).
# "systemd" is a named hierarchy the kubelet checks for its cgroup root; "unified" is the
# cgroup2 mount of the hybrid layout, where runc and dockerd create cgroups too.
_WANTED = (
    "cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "blkio", "devices", "systemd",
    "unified",
)  # fmt: skip


def controllers() -> list[Path]:
    """Mount points of the v1 controllers this machine has (``/sys/fs/cgroup/<name>``)."""
    return [CGROUP_FS / c for c in _WANTED if (CGROUP_FS / c / "cgroup.procs").is_file()]


def _init_cpuset(path: Path) -> None:
    """A new cpuset cgroup has no CPUs and no memory nodes: copy its parent's."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        own = path / name
        if own.is_file() and not own.read_text().strip():
            own.write_text((path.parent / name).read_text())


def create(cgroup: str) -> list[str]:
    """Create ``cgroup`` (e.g. ``canaria-dc0/system/etcd``) in every controller; returns the
    ``cgroup.procs`` files a process writes ``0`` to, to join it."""
    files = []
    for ctrl in controllers():
        path = ctrl / cgroup
        parts = Path(cgroup).parts
        for depth in range(1, len(parts) + 1):
            level = ctrl.joinpath(*parts[:depth])
            level.mkdir(exist_ok=True)
            if ctrl.name == "cpuset":
                _init_cpuset(level)
        files.append(str(path / "cgroup.procs"))
    return files


def procs_files(cgroup: str) -> list[str]:
    return [str(ctrl / cgroup / "cgroup.procs") for ctrl in controllers()]


def _walk(top: Path) -> Iterator[Path]:
    """``top`` and every cgroup below it, deepest first."""
    if not top.is_dir():
        return
    for dirpath, dirnames, _ in os.walk(top, topdown=False):
        del dirnames
        yield Path(dirpath)


def pids(root: str) -> set[int]:
    """Every process in ``root``'s subtree (read from the pids controller, else any)."""
    found: set[int] = set()
    ctrls = controllers()
    preferred = [c for c in ctrls if c.name == "pids"] or ctrls[:1]
    for ctrl in preferred:
        for cg in _walk(ctrl / root):
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (cg / "cgroup.procs").read_text().split())
    return found


def _freeze(root: str, state: str) -> None:
    path = CGROUP_FS / "freezer" / root / "freezer.state"
    with contextlib.suppress(OSError):
        path.write_text(state)


def kill_all(root: str, timeout: float = 10.0) -> set[int]:
    """SIGKILL every process in the subtree (frozen first, so none can fork meanwhile), wait
    for them to go, remove the cgroups. Returns the pids that were killed."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while True:
        found = pids(root)
        if not found:
            break
        _freeze(root, "FROZEN")
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed |= found
        _freeze(root, "THAWED")  # a killed task must run to exit
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {sorted(pids(root))} in cgroup {root} would not die")
        time.sleep(0.1)
    remove(root)
    return killed


def remove(root: str) -> None:
    """Remove the (empty) subtree from every controller, deepest first."""
    for ctrl in controllers():
        for cg in _walk(ctrl / root):
            for _ in range(50):  # a cgroup whose last task just exited can be busy briefly
                try:
                    cg.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
