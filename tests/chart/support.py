"""Helpers of the chart tests: render the chart, extract its PromQL, find upstream CRDs."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.cluster.kube import HasEnv, run

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "canaria"
DASHBOARDS = sorted((CHART / "dashboards").glob("*.json"))
EXAMPLES = ROOT / "examples" / "manifests"

# Every optional template on (Prometheus Operator objects, alerts, dashboard).
ALL_FEATURES = (
    "metrics.podMonitor.enabled=true",
    "metrics.serviceMonitor.enabled=true",
    "metrics.servingPodMonitor.enabled=true",
    "prometheusRule.enabled=true",
    "grafanaDashboard.enabled=true",
)
# The Prometheus Operator's CRDs ship in its Go module (example/prometheus-operator-crd).
PROMETHEUS_OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator@v0.79.2"
MONITORING_CRDS = ("podmonitors", "servicemonitors", "prometheusrules")


def helm_args(*sets: str) -> list[str]:
    out: list[str] = []
    for item in sets:
        out += ["--set", item]
    return out


def template(cluster: HasEnv, *sets: str, namespace: str = "canaria-system") -> str:
    return run(cluster, "helm", "template", "t", str(CHART), "-n", namespace, *helm_args(*sets))


def documents(rendered: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(rendered) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def rule_groups(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (rule,) = by_kind(docs, "PrometheusRule")
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def rule_exprs(docs: list[dict[str, Any]]) -> dict[str, str]:
    return {r["alert"]: r["expr"] for g in rule_groups(docs) for r in g["rules"]}


def dashboard_targets() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every dashboard."""
    out = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            out += [(panel["title"], t["expr"]) for t in panel["targets"]]
    return out


def fill(expr: str, variables: dict[str, str]) -> str:
    """Grafana's variables replaced by values (``$__rate_interval`` by a fixed window)."""
    values = {"__rate_interval": "1m", **variables}
    return re.sub(r"\$(\w+)", lambda m: values[m.group(1)], expr)


def monitoring_crds() -> list[Path]:
    """The Prometheus Operator CRDs from its Go module (``go mod download``, cached)."""
    proc = subprocess.run(
        ["go", "mod", "download", "-json", PROMETHEUS_OPERATOR_MODULE],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "GOFLAGS": "-mod=mod"},
    )
    assert proc.returncode == 0, f"go mod download failed: {proc.stdout}{proc.stderr}"
    crd_dir = Path(json.loads(proc.stdout)["Dir"]) / "example" / "prometheus-operator-crd"
    return [crd_dir / f"monitoring.coreos.com_{name}.yaml" for name in MONITORING_CRDS]
