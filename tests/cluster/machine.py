"""What a dev cluster may change on the machine, read so that before and after compare."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from canaria_devtools.devcluster import cgroups, hoststate
from canaria_devtools.devcluster.netns import Network


def _out(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False).stdout


def _iptables() -> list[str]:
    """Host rules, without counters (they change with traffic)."""
    rules = _out("iptables-save")
    return [r for r in rules.splitlines() if r and not r.startswith(("#", ":"))]


@dataclass(frozen=True)
class MachineState:
    processes: frozenset[int]
    cgroup_dirs: frozenset[str]
    mounts: tuple[str, ...]
    netns: frozenset[str]
    links: frozenset[str]
    routes: tuple[str, ...]
    iptables: tuple[str, ...]
    sysctls: tuple[tuple[str, str], ...]

    def diff(self, other: MachineState) -> dict[str, tuple[object, object]]:
        return {
            name: (getattr(self, name), getattr(other, name))
            for name in self.__dataclass_fields__
            if getattr(self, name) != getattr(other, name)
        }


def machine_state(net: Network, state: Path, with_sysctls: bool = True) -> MachineState:
    """Everything the cluster of ``net`` (state folder ``state``) could leave behind."""
    dirs = [
        str(ctrl / root)
        for ctrl in cgroups.controllers()
        for root in (net.name, "canaria-docker")
        if (ctrl / root).exists()
    ]
    names = _out("ip", "netns", "list").split()
    return MachineState(
        processes=frozenset(cgroups.pids(net.name) | cgroups.pids("canaria-docker")),
        cgroup_dirs=frozenset(dirs),
        mounts=tuple(str(p) for p in hoststate.mounts_under(state)),
        netns=frozenset(n for n in names if n == net.name),
        links=frozenset(
            line.split()[0].split("@")[0]
            for line in _out("ip", "-br", "link").splitlines()
            if line.startswith((net.host_if, net.ns_if))
        ),
        routes=tuple(_out("ip", "route").splitlines()),
        iptables=tuple(_iptables()),
        sysctls=tuple(sorted(hoststate.read_sysctls().items())) if with_sysctls else (),
    )
