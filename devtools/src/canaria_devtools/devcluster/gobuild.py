"""Build the dev-cluster components from their Go modules, once per machine, with progress.

Binaries land in ``<testbin>/<component>-<version>/`` next to a stamp file that records the
build recipe; a folder whose stamp matches is reused without running Go at all. Missing Go or
an unreachable module proxy fails at once with a message naming what is missing.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .paths import testbin_root
from .versions import CGO_ENABLED, Component

__all__ = [
    "BuildError",
    "GoToolchain",
    "Progress",
    "build",
    "component_dir",
    "ensure_built",
    "find_toolchain",
    "is_built",
]

STAMP = ".canaria-build.json"
_PROXY_TIMEOUT_S = 15.0


class BuildError(RuntimeError):
    """A component cannot be built; the message says why and what to do."""


@dataclass(frozen=True)
class GoToolchain:
    go: str
    version: str
    proxy: str
    env: dict[str, str]


def component_dir(comp: Component) -> Path:
    return testbin_root() / comp.dirname


def _read_stamp(comp: Component) -> dict[str, Any] | None:
    try:
        data = json.loads((component_dir(comp) / STAMP).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_built(comp: Component) -> bool:
    stamp = _read_stamp(comp)
    if stamp is None or stamp.get("recipe") != comp.recipe_key():
        return False
    folder = component_dir(comp)
    return all(os.access(folder / b, os.X_OK) for b in comp.binaries)


def _escape_module(path: str) -> str:
    """The module proxy's case encoding: an upper-case letter becomes ``!`` + lower case."""
    return "".join(f"!{c.lower()}" if c.isupper() else c for c in path)


def _check_proxy(proxy: str, comp: Component) -> None:
    entries = [p for p in proxy.replace("|", ",").split(",") if p]
    if not entries or entries[0] == "off":
        raise BuildError(
            f"GOPROXY is {proxy!r}: the Go module proxy is switched off, but building "
            f"{comp.module}@{comp.version} needs it. Set GOPROXY=https://proxy.golang.org."
        )
    base = entries[0]
    if base == "direct":
        return  # no proxy to probe; `go` will fetch from the origin and report failures
    url = f"{base.rstrip('/')}/{_escape_module(comp.module)}/@v/{comp.version}.info"
    try:
        with urllib.request.urlopen(url, timeout=_PROXY_TIMEOUT_S) as resp:
            resp.read()
    except (urllib.error.URLError, OSError) as exc:
        raise BuildError(
            f"the Go module proxy {base} is not reachable ({exc}); it is needed to build "
            f"{comp.module}@{comp.version}. Check the network or GOPROXY."
        ) from exc


def find_toolchain(probe: Component) -> GoToolchain:
    """Locate Go and check the module proxy, or raise :class:`BuildError` at once."""
    go = shutil.which("go")
    if go is None:
        raise BuildError(
            "Go is not installed (no `go` on PATH). The dev cluster builds kube-apiserver, etcd, "
            "kwok, Prometheus and helm from their Go modules: install Go >= 1.26 "
            "(https://go.dev/dl) and retry."
        )
    out = subprocess.run(
        [go, "env", "-json", "GOVERSION", "GOPROXY"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise BuildError(f"`go env` failed: {out.stderr.strip()}")
    info = json.loads(out.stdout)
    proxy = str(info.get("GOPROXY", ""))
    _check_proxy(proxy, probe)
    env = dict(os.environ, CGO_ENABLED=CGO_ENABLED, GOFLAGS="-buildvcs=false")
    return GoToolchain(go=go, version=str(info.get("GOVERSION", "")), proxy=proxy, env=env)


class Progress:
    """Reports build progress to a stream: a refreshed line on a terminal, else every 30 s."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self._last = 0.0

    def say(self, message: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(message + "\n")
        self.stream.flush()

    def update(self, comp: Component, done: int, total: int, started: float) -> None:
        now = time.monotonic()
        interval = 0.5 if self.tty else 30.0
        if now - self._last < interval:
            return
        self._last = now
        elapsed = int(now - started)
        line = (
            f"[{comp.name} {comp.version}] compiled {done} of at most {total} packages, "
            f"{elapsed // 60}m{elapsed % 60:02d}s"
        )
        if self.tty:
            self.stream.write("\r\033[K" + line)
            self.stream.flush()
        else:
            self.say(line)


def _go(tc: GoToolchain, args: list[str], cwd: Path) -> str:
    proc = subprocess.run(
        [tc.go, *args], cwd=cwd, env=tc.env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise BuildError(f"`go {' '.join(args[:3])} ...` failed in {cwd}:\n{proc.stderr.strip()}")
    return proc.stdout


def _write_wrapper(tc: GoToolchain, comp: Component, src: Path) -> None:
    """A throw-away main module that requires ``comp.module`` and lists its commands as tools."""
    src.mkdir(parents=True, exist_ok=True)
    info = json.loads(_go(tc, ["mod", "download", "-json", f"{comp.module}@{comp.version}"], src))
    upstream = json.loads(_go(tc, ["mod", "edit", "-json", info["GoMod"]], src))
    (src / "go.sum").unlink(missing_ok=True)
    go_version = upstream.get("Go") or "1.24"
    (src / "go.mod").write_text(f"module {comp.wrapper_module}\n\ngo {go_version}\n")
    if comp.main_go is not None:
        (src / "main.go").write_text(comp.main_go)
    edits = [f"-require={comp.module}@{comp.version}"]
    if comp.staging_version:
        for rep in upstream.get("Replace") or []:
            old, new = rep["Old"]["Path"], rep["New"]["Path"]
            if new.startswith("./staging/"):
                edits.append(f"-replace={old}={old}@{comp.staging_version}")
    if comp.copy_excludes:
        edits += [f"-exclude={ex['Path']}@{ex['Version']}" for ex in upstream.get("Exclude") or []]
    for g in upstream.get("Godebug") or []:
        edits.append(f"-godebug={g['Key']}={g['Value']}")
    edits += [f"-tool={pkg}" for pkg in comp.packages if not pkg.startswith(comp.wrapper_module)]
    _go(tc, ["mod", "edit", *edits], src)
    _go(tc, ["mod", "tidy"], src)


def _build_args(comp: Component, out_dir: Path) -> list[str]:
    args = ["build", "-v", "-trimpath", "-o", f"{out_dir}/"]
    if comp.tags:
        args.append("-tags=" + ",".join(comp.tags))
    if comp.ldflags:
        args.append("-ldflags=" + " ".join(comp.ldflags))
    return [*args, *comp.packages]


def _stream_build(
    tc: GoToolchain, comp: Component, src: Path, total: int, progress: Progress
) -> None:
    started = time.monotonic()
    log_path = component_dir(comp) / "build.log"
    tail: deque[str] = deque(maxlen=40)
    done = 0
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [tc.go, *_build_args(comp, component_dir(comp))],
            cwd=src,
            env=tc.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            tail.append(line.rstrip())
            if line and not line.startswith(("#", " ", "\t", "go: ")):
                done += 1
                progress.update(comp, done, total, started)
        code = proc.wait()
    if code != 0:
        detail = "\n".join(tail)
        raise BuildError(f"building {comp.name} {comp.version} failed (log: {log_path}):\n{detail}")


def _copy_data_files(tc: GoToolchain, comp: Component, src: Path) -> None:
    if not comp.data_files:
        return
    mod = json.loads(_go(tc, ["list", "-m", "-json", comp.module], src))
    root = Path(mod["Dir"])
    for source, dest in comp.data_files:
        target = component_dir(comp) / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / source, target)


@contextmanager
def _lock(comp: Component) -> Iterator[None]:
    testbin_root().mkdir(parents=True, exist_ok=True)
    with (testbin_root() / f"{comp.dirname}.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build(tc: GoToolchain, comp: Component, progress: Progress) -> float:
    """Build one component (under a per-component lock). Returns the seconds it took."""
    with _lock(comp):
        if is_built(comp):  # another process finished it while we waited for the lock
            return 0.0
        started = time.monotonic()
        folder = component_dir(comp)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / STAMP).unlink(missing_ok=True)
        src = folder / "src"
        progress.say(f"[{comp.name} {comp.version}] resolving modules ({comp.module})")
        _write_wrapper(tc, comp, src)
        deps = _go(tc, ["list", "-deps", "-tags=" + ",".join(comp.tags), *comp.packages], src)
        total = len(deps.split())
        progress.say(f"[{comp.name} {comp.version}] building {', '.join(comp.binaries)}")
        _stream_build(tc, comp, src, total, progress)
        for old, new in comp.renames:
            (folder / old).replace(folder / new)
        absent = [b for b in comp.binaries if not os.access(folder / b, os.X_OK)]
        if absent:
            raise BuildError(f"building {comp.name} left no binary {', '.join(absent)} in {folder}")
        _copy_data_files(tc, comp, src)
        seconds = round(time.monotonic() - started, 1)
        stamp = {
            "component": comp.name,
            "version": comp.version,
            "recipe": comp.recipe_key(),
            "binaries": list(comp.binaries),
            "go": tc.version,
            "seconds": seconds,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (folder / STAMP).write_text(json.dumps(stamp, indent=2) + "\n")
        progress.say(f"[{comp.name} {comp.version}] built in {seconds:.0f}s -> {folder}")
        return seconds


def ensure_built(
    components: Iterable[Component], progress: Progress | None = None
) -> dict[str, Path]:
    """Build what is missing; returns ``{component name: folder with its binaries}``."""
    comps = list(components)
    report = progress or Progress()
    missing = [c for c in comps if not is_built(c)]
    if missing:
        tc = find_toolchain(missing[0])
        report.say(
            f"building {', '.join(c.dirname for c in missing)} with {tc.version} "
            f"(once per machine; a cold build takes 20-40 minutes on 2 cores)"
        )
        for comp in missing:
            build(tc, comp, report)
    return {c.name: component_dir(c) for c in comps}
