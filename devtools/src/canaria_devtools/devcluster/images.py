"""Container images for the real node, made on this machine without any registry.

* The project's image: the repository's own ``Dockerfile``, built by Docker (Debian's
  ``docker.io``) exactly as on any machine, except for the base: ``--build-arg
  PYTHON_IMAGE=`` a Python image made here from Debian's packages (``mmdebstrap``), with this
  machine's CA certificates so that pip inside the build reaches PyPI. Its tag is a hash of
  the build context, so a changed source gives a new tag and an unchanged one is not rebuilt.
* The pod sandbox ("pause") image: one static binary (:data:`.versions.PAUSE`), written as an
  OCI image layout by hand (no Docker needed to bring a node up).

Docker runs only while it builds: ``dockerd`` without a bridge, iptables or IP forwarding (it
adds no address, rule or route to the machine), in its own cgroup; build steps use the host's
network, like pip on the host. Images reach the node's containerd through ``ctr import``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

from . import cgroups
from .hoststate import RUN_DIR
from .paths import cache_root
from .supervisor import Proc, alive, launch, stop

__all__ = [
    "BASE_IMAGE",
    "IMAGE_REPOSITORY",
    "ImageError",
    "build_project_image",
    "context_digest",
    "docker_daemon",
    "image_in_containerd",
    "load_into_containerd",
    "write_pause_image",
]

IMAGE_REPOSITORY = "canaria.local/canaria"
BASE_IMAGE = "canaria.local/python:3.11-bookworm-1"
DOCKER_CGROUP = "canaria-docker"
_BASE_PACKAGES = "python3,python3-venv,python3-pip,python-is-python3,ca-certificates"
# What the Dockerfile copies (its .dockerignore is an allowlist of the same).
CONTEXT_PATHS = ("Dockerfile", "pyproject.toml", "README.md", "serving/src", "operator/src")


class ImageError(RuntimeError):
    """An image cannot be made or loaded; the message names the command and its output."""


def _need(cmd: str, package: str) -> str:
    exe = shutil.which(cmd, path="/usr/bin:/usr/sbin:/bin:/sbin:" + os.environ.get("PATH", ""))
    if exe is None:
        raise ImageError(f"`{cmd}` is needed: apt-get install {package}")
    return exe


def _run(argv: list[str], *, env: dict[str, str] | None = None, stdin: int | None = None,
         what: str = "") -> str:  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=stdin, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise ImageError(f"{what or argv[0]} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


# ---- Docker --------------------------------------------------------------------------------


def _docker_paths() -> tuple[Path, Path, Path]:
    run = RUN_DIR / "docker"
    return run / "docker.sock", run, cache_root() / "docker"


@contextlib.contextmanager
def docker_daemon() -> Iterator[dict[str, str]]:
    """A dockerd for the length of the block (one at a time on the machine: builds of several
    clusters wait for each other); yields the environment of its clients."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with (RUN_DIR / "docker.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with _docker_running() as env:
            yield env


@contextlib.contextmanager
def _docker_running() -> Iterator[dict[str, str]]:
    sock, run, data = _docker_paths()
    run.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    argv = [
        _need("dockerd", "docker.io"),
        f"--data-root={data}",
        f"--exec-root={run / 'exec'}",
        f"--pidfile={run / 'dockerd.pid'}",
        f"--host=unix://{sock}",
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        f"--cgroup-parent=/{DOCKER_CGROUP}/containers",
    ]
    proc = Proc("dockerd", argv, str(run / "dockerd.log"), cgroup=f"{DOCKER_CGROUP}/dockerd")
    launch(proc, cgroups.create(f"{DOCKER_CGROUP}/dockerd"))
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_BUILDKIT": "1"}
    docker = _need("docker", "docker.io")
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(
            [docker, "version"], env=env, capture_output=True, check=False
        ).returncode:
            if not alive(proc) or time.monotonic() > deadline:
                log = Path(proc.log).read_text(errors="replace")[-2000:]
                raise ImageError(f"dockerd did not start (log {proc.log}):\n{log}")
            time.sleep(0.2)
        yield env
    finally:
        stop(proc, timeout=20)
        cgroups.kill_all(DOCKER_CGROUP)
        shutil.rmtree(run, ignore_errors=True)


def stop_docker() -> None:
    """Whatever an interrupted build left running (``down`` calls it)."""
    cgroups.kill_all(DOCKER_CGROUP)
    shutil.rmtree(RUN_DIR / "docker", ignore_errors=True)


def _docker(env: dict[str, str], *args: str, what: str = "") -> str:
    # Debian's CLI: it drives BuildKit without the buildx plugin a newer CLI on PATH may want.
    return _run([_need("docker", "docker.io"), *args], env=env, what=what or f"docker {args[0]}")


def _has_image(env: dict[str, str], ref: str) -> bool:
    docker = _need("docker", "docker.io")
    inspect = [docker, "image", "inspect", ref]
    return subprocess.run(inspect, env=env, capture_output=True, check=False).returncode == 0


def ensure_base_image(env: dict[str, str]) -> str:
    """The Python base made from Debian's packages (once per machine, ~75 s)."""
    if _has_image(env, BASE_IMAGE):
        return BASE_IMAGE
    mmdebstrap = _need("mmdebstrap", "mmdebstrap")
    # This machine's CA bundle (it may hold a proxy's CA) goes in, so pip in the build works.
    hooks = [
        "--customize-hook=copy-in /etc/ssl/certs/ca-certificates.crt "
        "/usr/local/share/ca-certificates/",
        '--customize-hook=mv "$1/usr/local/share/ca-certificates/ca-certificates.crt" '
        '"$1/usr/local/share/ca-certificates/canaria-host.crt"; chroot "$1" update-ca-certificates',
        # the official python images have no PEP 668 marker either
        '--customize-hook=rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',
    ]
    argv = [mmdebstrap, "--variant=minbase", f"--include={_BASE_PACKAGES}", *hooks, "bookworm", "-"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as debs:
        assert debs.stdout is not None
        imported = subprocess.run(
            [_need("docker", "docker.io"), "import", "-", BASE_IMAGE],
            stdin=debs.stdout, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        err = debs.stderr.read().decode(errors="replace") if debs.stderr else ""
    if debs.returncode or imported.returncode:
        raise ImageError(f"making {BASE_IMAGE} failed:\n{err[-2000:]}\n{imported.stderr}")
    return BASE_IMAGE


def context_digest(root: Path) -> str:
    """sha256 over the files the Dockerfile copies (paths and contents), 12 hex digits."""
    digest = hashlib.sha256()
    for rel in CONTEXT_PATHS:
        top = root / rel
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


_PACKAGES = (("canaria_serving", "serving/src"), ("canaria_operator", "operator/src"))


def installed_context(dest: Path) -> Path:
    """A build context assembled from the installed packages, for an install without a
    source checkout: the Dockerfile, pyproject.toml and README the wheel carries next to the
    installed sources (the same files a checkout would give the Dockerfile)."""
    own = Path(__file__).resolve().parents[1]  # the installed canaria_devtools
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md"):
        if not (own / "image" / name).is_file():
            raise ImageError(f"{own / 'image' / name} is missing: reinstall canaria")
        shutil.copyfile(own / "image" / name, dest / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for module, rel in _PACKAGES:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise ImageError(f"{module} is not installed")
        shutil.copytree(Path(spec.origin).parent, dest / rel / module, ignore=skip)
    return dest


def build_project_image(env: dict[str, str], root: Path) -> str:
    """Build ``root``'s Dockerfile on the local base; returns the image reference."""
    ref = f"{IMAGE_REPOSITORY}:dev-{context_digest(root)}"
    if _has_image(env, ref):
        return ref
    base = ensure_base_image(env)
    _docker(
        env, "build", "--network=host", f"--build-arg=PYTHON_IMAGE={base}", "-t", ref, str(root),
        what=f"docker build of {root}",
    )  # fmt: skip
    return ref


def image_size(env: dict[str, str], ref: str) -> int:
    return int(_docker(env, "image", "inspect", "--format", "{{.Size}}", ref).strip())


# ---- containerd ----------------------------------------------------------------------------


def _ctr(socket: Path, *args: str) -> list[str]:
    return [_need("ctr", "containerd"), f"--address={socket}", "--namespace=k8s.io", *args]


def image_in_containerd(socket: Path, ref: str) -> bool:
    out = _run(_ctr(socket, "images", "ls", "-q"), what="ctr images ls")
    return ref in out.split() or f"docker.io/library/{ref}" in out.split()


def load_into_containerd(env: dict[str, str], socket: Path, ref: str) -> None:
    """``docker save | ctr import`` (layers the node has already are not unpacked again)."""
    docker = _need("docker", "docker.io")
    with subprocess.Popen([docker, "save", ref], stdout=subprocess.PIPE, env=env) as save:
        assert save.stdout is not None
        _run(_ctr(socket, "images", "import", "-"), stdin=save.stdout.fileno(),
             what=f"ctr import of {ref}")  # fmt: skip
    if save.returncode:
        raise ImageError(f"docker save {ref} failed (exit {save.returncode})")


def _blob(out: tarfile.TarFile, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest[7:]}")
    info.size = len(data)
    out.addfile(info, io.BytesIO(data))
    return digest, len(data)


def _file(out: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    out.addfile(info, io.BytesIO(data))


def write_pause_image(binary: Path, ref: str, dest: Path) -> Path:
    """An OCI image layout tar holding only ``/pause`` (named ``ref`` for ``ctr import``)."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tar.gettarinfo(str(binary), arcname="pause")
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o755
        info.mtime = 0
        with binary.open("rb") as fh:
            tar.addfile(info, fh)
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w") as out:
        layer_digest, layer_size = _blob(out, layer_bytes)
        config_digest, config_size = _blob(out, json.dumps(config).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": layer_size,
                }
            ],
        }
        manifest_digest, manifest_size = _blob(out, json.dumps(manifest).encode())
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": manifest_digest,
                    "size": manifest_size,
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": ref,
                        "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[-1],
                    },
                }
            ],
        }
        _file(out, "index.json", json.dumps(index).encode())
        _file(out, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    return dest


def import_tar(socket: Path, tar: Path) -> None:
    _run(_ctr(socket, "images", "import", str(tar)), what=f"ctr import of {tar.name}")
