"""Dockerfile, wheels and kind-config.yaml, checked without building the image (the image
itself is built and run on the dev cluster's node: tests/cluster, tests/e2e)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from canaria_serving import contract
from tests.chart.support import ROOT

DOCKERFILE = ROOT / "Dockerfile"
ROLES = ("operator", "serve", "route", "fetch")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _stages() -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for word, rest in _instructions():
        if word == "FROM":
            m = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", rest, re.IGNORECASE)
            assert m, f"every stage is named: FROM {rest}"
            current = stages.setdefault(m.group(2), [])
            current.append((word, m.group(1)))
        elif current is not None:
            current.append((word, rest))
    return stages


def test_dockerfile_needs_no_registry_but_its_base() -> None:
    """No `# syntax=` line (BuildKit would fetch a frontend image from a registry)."""
    first = DOCKERFILE.read_text().splitlines()
    assert not [line for line in first if re.match(r"#\s*syntax\s*=", line)]


def test_dockerfile_is_multi_stage_with_an_overridable_base() -> None:
    instructions = _instructions()
    assert instructions[0][0] == "ARG"
    assert instructions[0][1].startswith("PYTHON_IMAGE=python:3.11-slim")
    stages = _stages()
    assert list(stages) == ["build", "runtime"]
    assert stages["build"][0][1] == stages["runtime"][0][1] == "${PYTHON_IMAGE}"


def test_runtime_stage_is_non_root_without_compilers_or_healthcheck() -> None:
    runtime = _stages()["runtime"]
    words = [w for w, _ in runtime]
    users = [rest for w, rest in runtime if w == "USER"]
    assert users, "the runtime stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "numeric USER (runAsNonRoot can check it)"
    assert int(uid) != 0, "non-root USER"
    # the pods' runAsUser (operator-made and chart) is the image's user
    assert int(uid) == contract.RUN_AS_UID
    chart = (ROOT / "charts" / "canaria" / "templates" / "deployment.yaml").read_text()
    assert f"runAsUser: {contract.RUN_AS_UID}" in chart
    assert "HEALTHCHECK" not in words
    run_text = " ".join(rest for w, rest in runtime if w == "RUN")
    for tool in ("gcc", "build-essential", "apt-get install", "python -m build"):
        assert tool not in run_text, tool
    assert "--no-index" in run_text, "the runtime installs only the wheels built in stage 1"
    assert ("ENTRYPOINT", '["canaria"]') in runtime
    assert ("EXPOSE", str(contract.SERVING_PORT)) in runtime


def test_copied_sources_exist() -> None:
    for word, rest in _stages()["build"]:
        if word == "COPY" and "--from" not in rest:
            *sources, _dest = rest.split()
            for src in sources:
                assert (ROOT / src).exists(), src


def _build_wheel(source: Path, out: Path, pattern: str) -> Path:
    argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    proc = subprocess.run(
        [*argv, "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (built,) = out.glob(pattern)
    return built


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_wheel(ROOT, tmp_path_factory.mktemp("wheel"), "canaria-0*.whl")


@pytest.fixture(scope="module")
def devtools_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("devtools-wheel")
    return _build_wheel(ROOT / "devtools", out, "canaria_devtools-*.whl")


def test_the_product_wheel_has_no_developer_tools(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        assert not [n for n in zf.namelist() if n.startswith("canaria_devtools")]


def test_the_demo_works_from_installed_packages(
    wheel: Path, devtools_wheel: Path, tmp_path: Path
) -> None:
    """Installed from wheels (no checkout): the devtools find the CRDs and the chart in their
    package, and assemble the image's build context from the installed sources."""
    target = tmp_path / "site"
    for built in (wheel, devtools_wheel):
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target),
             str(built)],
            capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    context = tmp_path / "context"
    context.mkdir()
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import canaria_devtools, canaria_operator\n"
        f"assert canaria_devtools.__file__.startswith({str(target)!r}), canaria_devtools.__file__\n"
        "from canaria_devtools.demo import run\n"
        "from canaria_devtools.devcluster import images\n"
        "print(*run._crds(), run._chart(), sep='\\n')\n"
        f"ctx = images.installed_context(Path({str(context)!r}))\n"
        "print(images.context_digest(ctx))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    *crds, chart, digest = out.stdout.split()
    assert all(c.startswith(str(target)) for c in crds)
    assert len(crds) == 2
    assert chart.startswith(str(target))
    assert Path(chart, "Chart.yaml").is_file()
    for name in ("Dockerfile", "pyproject.toml", "README.md", ".dockerignore"):
        assert (context / name).read_bytes() == (ROOT / name).read_bytes(), name
    for rel in ("serving/src/canaria_serving/contract.py", "operator/src/canaria_operator/cli.py"):
        assert (context / rel).read_bytes() == (ROOT / rel).read_bytes(), rel
    # the same build context as this checkout: the image would be the same
    from canaria_devtools.devcluster.images import context_digest

    assert digest == context_digest(ROOT)


def test_wheel_has_the_entrypoint_and_every_role(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (entry,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "canaria = canaria_operator.cli:main" in zf.read(entry).decode()
        for module in ("cli_operator.py", "cli_fetch.py", "router/cli.py"):
            assert f"canaria_operator/{module}" in names, module
        assert "canaria_serving/contract.py" in names
    helptext = subprocess.run(
        [sys.executable, "-m", "canaria_operator.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    for role in ROLES:
        assert re.search(rf"^\s+{role}\s", helptext, re.MULTILINE), role


def test_kind_config_maps_the_router_and_prometheus_to_loopback() -> None:
    config = yaml.safe_load((ROOT / "kind-config.yaml").read_text())
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    (control,) = [n for n in config["nodes"] if n["role"] == "control-plane"]
    mappings = {m["containerPort"]: m for m in control["extraPortMappings"]}
    assert {30080, 30090} <= set(mappings)
    for m in mappings.values():
        assert m["listenAddress"].startswith("127."), "only loopback on the host"
        assert 30000 <= m["containerPort"] <= 32767, "a NodePort"
    assert any(n["role"] == "worker" for n in config["nodes"])
