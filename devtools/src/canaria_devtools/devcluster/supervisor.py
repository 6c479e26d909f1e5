"""Start, check and stop the dev cluster's long-running processes.

Processes are started detached (through a short-lived launcher, in their own session), so
they are never children of the CLI or of a test process: they outlive ``canaria dev-cluster up``
and leave no zombies behind. Each one logs to its own file. Before ``exec`` the launcher's
child joins the cluster's cgroup (:mod:`.cgroups`: everything the cluster starts, and everything
those processes start, stays findable and killable) and, for the node's processes, the
cluster's network namespace (:mod:`.netns`).

A process is identified by its pid AND its start time (``/proc/PID/stat`` field 22). An
earlier version compared ``/proc/PID/cmdline`` with the command instead, but right after
``execve`` begins that file is empty for a moment: a process that was starting looked dead,
``up`` failed with "etcd exited while starting" and an empty log, and the clean-up, which asked
the same question, left that etcd running untracked. The start time is in ``stat`` from the
first instant and changes when a pid is reused.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Proc", "alive", "free_ports", "launch", "start_time", "stop"]


@dataclass
class Proc:
    """One supervised process, as recorded in the cluster's state file."""

    name: str
    argv: list[str]
    log: str
    env: dict[str, str] = field(default_factory=dict)  # added to the environment
    cwd: str | None = None
    netns: str | None = None  # a network namespace (``ip netns`` name) to run in
    cgroup: str | None = None  # a cgroup path (same in every v1 controller) to run in
    pid: int | None = None
    started: int | None = None  # start time of ``pid`` in clock ticks since boot

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Proc:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (all held open until all are chosen)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


# Runs as its own short-lived interpreter: joins the cgroup and the network namespace in the
# child between fork and exec (so nothing the program starts can escape either), prints the pid.
_LAUNCHER = """
import ctypes, json, os, subprocess, sys
spec = json.loads(sys.argv[1])
env = dict(os.environ, **spec["env"])
def enter():
    for procs in spec["cgroup_procs"]:
        with open(procs, "w") as fh:
            fh.write("0")
    if spec["netns"]:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open("/run/netns/" + spec["netns"], os.O_RDONLY)
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), "setns " + spec["netns"])
        os.close(fd)
with open(spec["log"], "ab") as log:
    proc = subprocess.Popen(spec["argv"], stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, env=env, cwd=spec["cwd"],
                            start_new_session=True, preexec_fn=enter)
print(proc.pid)
"""


def start_time(pid: int) -> int | None:
    """The start time of ``pid`` (clock ticks since boot), None if there is no such process
    or it is a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])  # field 22 of stat; fields[0] is field 3


def launch(proc: Proc, cgroup_procs: list[str] | None = None) -> int:
    """Start ``proc`` detached (in ``cgroup_procs``' cgroups when given); records and
    returns its pid."""
    Path(proc.log).parent.mkdir(parents=True, exist_ok=True)
    spec = json.dumps(
        {
            "argv": proc.argv,
            "log": proc.log,
            "env": proc.env,
            "cwd": proc.cwd,
            "netns": proc.netns,
            "cgroup_procs": cgroup_procs or [],
        }
    )
    out = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, spec], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"cannot start {proc.name} ({proc.argv[0]}): {out.stderr.strip()}")
    pid = int(out.stdout.strip())
    started = start_time(pid)
    if started is None:
        # it exited (or failed) at once: recorded as not running, the caller reads its log
        proc.pid, proc.started = pid, -1
        return pid
    proc.pid, proc.started = pid, started
    return pid


def alive(proc: Proc) -> bool:
    """True if the recorded process still runs (same pid, same start time: not a reused pid)."""
    if proc.pid is None or proc.started is None:
        return False
    return start_time(proc.pid) == proc.started


def stop(proc: Proc, timeout: float = 10.0) -> None:
    """SIGTERM the process group, wait up to ``timeout`` seconds, then SIGKILL it."""
    if not alive(proc) or proc.pid is None:
        return
    pid = proc.pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive(proc):
                return
            time.sleep(0.1)
