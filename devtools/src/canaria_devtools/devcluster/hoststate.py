"""What a real node changes on the machine outside its own folders, and putting it back.

* Kernel settings: the kubelet sets machine-wide sysctls (``setupKernelTunables``:
  overcommit, panic behaviour, key quotas) and kube-proxy may touch conntrack's. The values
  from before the first cluster came up are saved once (``/run/canaria-dev-cluster``) and
  written back when the last cluster goes down.
* Mounts: containerd (overlay root filesystems, sandbox ``/dev/shm``, pod network namespaces)
  and the kubelet (tmpfs Secrets and service-account tokens) mount under the cluster's state
  folder; ``unmount_under`` removes them, deepest first.

Network namespaces and iptables rules are the namespace's own (:mod:`.netns`), processes and
cgroups go with :mod:`.cgroups`.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

__all__ = [
    "GLOBAL_SYSCTLS",
    "RUN_DIR",
    "mounts_under",
    "read_sysctls",
    "restore_sysctls",
    "save_sysctls",
    "unmount_under",
]

RUN_DIR = Path("/run/canaria-dev-cluster")
_SAVED = "sysctls.json"
# Written by the kubelet (pkg/kubelet/cm/container_manager_linux.go, setupKernelTunables) and
# by kube-proxy's conntrack setup; all are machine-wide, not per network namespace.
GLOBAL_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/netfilter/nf_conntrack_max",
    "net/nf_conntrack_max",
)
_CONNTRACK_HASHSIZE = Path("/sys/module/nf_conntrack/parameters/hashsize")


def read_sysctls() -> dict[str, str]:
    values = {}
    for key in GLOBAL_SYSCTLS:
        with contextlib.suppress(OSError):
            values[key] = (Path("/proc/sys") / key).read_text().strip()
    with contextlib.suppress(OSError):
        values[str(_CONNTRACK_HASHSIZE)] = _CONNTRACK_HASHSIZE.read_text().strip()
    return values


def save_sysctls() -> None:
    """Record the machine's values, unless a running cluster recorded them already."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    saved = RUN_DIR / _SAVED
    if not saved.exists():
        saved.write_text(json.dumps(read_sysctls(), indent=2) + "\n")


def restore_sysctls() -> dict[str, str]:
    """Write the recorded values back and forget them; returns what had changed."""
    saved = RUN_DIR / _SAVED
    try:
        before = json.loads(saved.read_text())
    except (OSError, ValueError):
        return {}
    changed = {}
    now = read_sysctls()
    for key, value in before.items():
        if now.get(key) == value:
            continue
        path = Path(key) if key.startswith("/") else Path("/proc/sys") / key
        with contextlib.suppress(OSError):
            path.write_text(value)
            changed[key] = f"{now.get(key)} -> {value}"
    saved.unlink(missing_ok=True)
    return changed


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    return field.encode().decode("unicode_escape")


def mounts_under(root: Path) -> list[Path]:
    """Mount points at or below ``root`` (of this process's mount namespace), deepest first."""
    prefix = os.path.realpath(root)
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = _unescape(line.split()[4])
            if point == prefix or point.startswith(prefix + "/"):
                found.append(Path(point))
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def unmount_under(root: Path) -> list[Path]:
    """Unmount everything below ``root`` (lazily where a mount is busy); returns them."""
    done = []
    for _ in range(5):  # stacked mounts on one point need one umount each
        points = mounts_under(root)
        if not points:
            break
        for point in points:
            proc = subprocess.run(["umount", str(point)], capture_output=True, check=False)
            if proc.returncode != 0:
                subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)
            done.append(point)
    return done
