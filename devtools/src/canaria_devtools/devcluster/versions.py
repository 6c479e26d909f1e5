"""What the dev cluster is built from: one pinned Go module per component.

Each component is built through a small wrapper module (``require`` the upstream module, list
its commands as ``tool`` lines). The wrapper is needed because ``go install module@version``
refuses modules whose go.mod has ``replace`` (k8s.io/kubernetes, etcd) or ``exclude``
(Prometheus) directives; for k8s.io/kubernetes the wrapper also maps every
``./staging/src/k8s.io/<m>`` replace to the published ``k8s.io/<m>`` at ``staging_version``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field

__all__ = [
    "COMPONENTS",
    "COREDNS",
    "ETCD",
    "HELM",
    "KUBERNETES",
    "KUBERNETES_NODE",
    "KWOK",
    "PAUSE",
    "PROMETHEUS",
    "Component",
    "component",
]

# All Go builds use these: static binaries, and the same flags every time so that Go's build
# cache is reused across machines' rebuilds of a newer version.
CGO_ENABLED = "0"


@dataclass(frozen=True)
class Component:
    """A set of binaries built from one pinned upstream Go module."""

    name: str
    module: str
    version: str
    packages: tuple[str, ...]
    tags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    # k8s.io/kubernetes: the version of the published staging modules (k8s.io/api, ...).
    staging_version: str | None = None
    # Copy the upstream module's ``exclude`` directives (Prometheus needs them).
    copy_excludes: bool = False
    # Files copied from the module source into the component folder: (source, destination).
    data_files: tuple[tuple[str, str], ...] = field(default=())
    # Binaries renamed after the build: (name Go gives it, final name).
    renames: tuple[tuple[str, str], ...] = ()
    # A main package of our own in the wrapper module (its path is ``wrapper_module``), built
    # instead of upstream commands: a lean CoreDNS with only the plugins a cluster DNS needs.
    main_go: str | None = None

    @property
    def wrapper_module(self) -> str:
        return f"canaria.local/testbin/{self.name}"

    @property
    def go_binaries(self) -> tuple[str, ...]:
        """The names `go build -o dir/` gives: the last path element, skipping a /vN suffix."""
        names = []
        for pkg in self.packages:
            parts = pkg.split("/")
            last = parts[-1]
            if re.fullmatch(r"v[0-9]+", last) and len(parts) > 1:
                last = parts[-2]
            names.append(last)
        return tuple(names)

    @property
    def binaries(self) -> tuple[str, ...]:
        renamed = dict(self.renames)
        return tuple(renamed.get(name, name) for name in self.go_binaries)

    @property
    def dirname(self) -> str:
        return f"{self.name}-{self.version}"

    def recipe_key(self) -> str:
        """Changes whenever anything that affects the built binaries changes."""
        raw = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(raw).hexdigest()[:16]


def _k8s_ldflags(version: str, build_date: str) -> tuple[str, ...]:
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate={build_date}",
        ]
    return tuple(flags)


_K8S_VERSION = "v1.36.3"
KUBERNETES = Component(
    name="kubernetes",
    module="k8s.io/kubernetes",
    version=_K8S_VERSION,
    packages=tuple(
        f"k8s.io/kubernetes/cmd/{cmd}"
        for cmd in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
    ),
    tags=("selinux", "notest", "grpcnotrace"),
    ldflags=_k8s_ldflags(_K8S_VERSION, "2026-07-22T18:07:38Z"),
    staging_version="v0.36.3",
)

# The real node's kubelet and kube-proxy: the same module, version and flags as the control
# plane, so Go's build cache shares every package the two have in common.
KUBERNETES_NODE = Component(
    name="kubernetes-node",
    module=KUBERNETES.module,
    version=_K8S_VERSION,
    packages=tuple(f"k8s.io/kubernetes/cmd/{cmd}" for cmd in ("kubelet", "kube-proxy")),
    tags=KUBERNETES.tags,
    ldflags=KUBERNETES.ldflags,
    staging_version=KUBERNETES.staging_version,
)

_COREDNS_VERSION = "v1.14.7"
COREDNS = Component(
    name="coredns",
    module="github.com/coredns/coredns",
    version=_COREDNS_VERSION,
    packages=("canaria.local/testbin/coredns",),
    ldflags=("-s", "-w", f"-X github.com/coredns/coredns/coremain.GitCommit={_COREDNS_VERSION}"),
    # Cluster DNS only: no forwarding (nothing may leave the dev cluster's network namespace),
    # none of the cloud back ends that make the full build three times longer.
    main_go="""package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func init() {
	dnsserver.Directives = []string{"ready", "health", "errors", "log", "cache", "kubernetes"}
}

func main() {
	coremain.Run()
}
""",
)

# The pod sandbox ("pause") image's only binary: sleeps until SIGTERM/SIGINT, reaps children.
PAUSE = Component(
    name="pause",
    module="golang.org/x/sys",
    version="v0.50.0",
    packages=("canaria.local/testbin/pause",),
    ldflags=("-s", "-w"),
    main_go="""package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			for {
				pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
""",
)

ETCD = Component(
    name="etcd",
    module="go.etcd.io/etcd/server/v3",
    version="v3.6.16",
    packages=("go.etcd.io/etcd/server/v3",),
    renames=(("server", "etcd"),),
)

KWOK = Component(
    name="kwok",
    module="sigs.k8s.io/kwok",
    version="v0.8.0",
    packages=("sigs.k8s.io/kwok/cmd/kwok",),
    ldflags=("-s", "-w", "-X sigs.k8s.io/kwok/pkg/consts.Version=0.8.0"),
    # v0.8.0 has no built-in stages: ship the upstream "fast" stages next to the binary.
    data_files=(
        ("kustomize/stage/node/fast/node-initialize.yaml", "stages/node-initialize.yaml"),
        (
            "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
            "stages/node-heartbeat-with-lease.yaml",
        ),
        ("kustomize/stage/pod/fast/pod-ready.yaml", "stages/pod-ready.yaml"),
        ("kustomize/stage/pod/fast/pod-complete.yaml", "stages/pod-complete.yaml"),
        ("kustomize/stage/pod/fast/pod-delete.yaml", "stages/pod-delete.yaml"),
    ),
)

PROMETHEUS = Component(
    name="prometheus",
    module="github.com/prometheus/prometheus",
    version="v0.309.1",  # Prometheus 3.9.1
    packages=("github.com/prometheus/prometheus/cmd/prometheus",),
    # No "builtinassets": the web UI is not embedded; the HTTP API is all the tests need.
    tags=("netgo",),
    ldflags=(
        "-s",
        "-w",
        "-X github.com/prometheus/common/version.Version=3.9.1",
        "-X github.com/prometheus/common/version.Branch=canaria-dev-cluster",
    ),
    copy_excludes=True,
)

HELM = Component(
    name="helm",
    module="helm.sh/helm/v3",
    version="v3.21.4",
    packages=("helm.sh/helm/v3/cmd/helm",),
    ldflags=(
        "-s",
        "-w",
        "-X helm.sh/helm/v3/internal/version.version=v3.21.4",
        "-X helm.sh/helm/v3/internal/version.gitTreeState=clean",
    ),
)

# Build order: the small ones first, so a broken toolchain or proxy shows up early; the
# kubelet right after the control plane, whose packages it reuses from Go's build cache.
COMPONENTS: tuple[Component, ...] = (
    PAUSE,
    ETCD,
    KWOK,
    HELM,
    COREDNS,
    PROMETHEUS,
    KUBERNETES,
    KUBERNETES_NODE,
)


def component(name: str) -> Component:
    for comp in COMPONENTS:
        if comp.name == name:
            return comp
    known = ", ".join(c.name for c in COMPONENTS)
    raise KeyError(f"unknown dev-cluster component {name!r} (known: {known})")
