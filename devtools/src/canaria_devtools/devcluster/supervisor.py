"""Start, check and stop the dev cluster's long-running processes by pid.

Processes are started detached (through a short-lived launcher, in their own session), so
they are never children of the CLI or of a test process: they outlive ``canaria dev-cluster up``
and leave no zombies behind. Each one logs to its own file.
"""

from __future__ import annotations

import contextlib
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

__all__ = ["Proc", "alive", "free_ports", "launch", "stop"]


@dataclass
class Proc:
    """One supervised process, as recorded in the cluster's state file."""

    name: str
    argv: list[str]
    log: str
    env: dict[str, str] = field(default_factory=dict)  # added to the environment
    cwd: str | None = None
    pid: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Proc:
        return cls(**data)


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (all held open until all are chosen)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


_LAUNCHER = """
import json, os, subprocess, sys
spec = json.loads(sys.argv[1])
env = dict(os.environ, **spec["env"])
with open(spec["log"], "ab") as log:
    proc = subprocess.Popen(spec["argv"], stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, env=env, cwd=spec["cwd"],
                            start_new_session=True)
print(proc.pid)
"""


def launch(proc: Proc) -> int:
    """Start ``proc`` detached; records and returns its pid."""
    Path(proc.log).parent.mkdir(parents=True, exist_ok=True)
    spec = json.dumps({"argv": proc.argv, "log": proc.log, "env": proc.env, "cwd": proc.cwd})
    out = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, spec], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"cannot start {proc.name} ({proc.argv[0]}): {out.stderr.strip()}")
    proc.pid = int(out.stdout.strip())
    return proc.pid


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[0]


def alive(proc: Proc) -> bool:
    """True if the recorded pid runs and is still the recorded program (not a reused pid)."""
    if proc.pid is None:
        return False
    with contextlib.suppress(ChildProcessError):  # reap it if it happens to be our child
        os.waitpid(proc.pid, os.WNOHANG)
    if _state(proc.pid) in ("", "Z", "X"):
        return False
    cmd = _cmdline(proc.pid)
    return bool(cmd) and cmd[0] == proc.argv[0]


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
