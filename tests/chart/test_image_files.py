"""Dockerfile and kind-config.yaml, checked without a Docker engine (none runs here)."""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (built,) = out.glob("canaria-*.whl")
    return built


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
