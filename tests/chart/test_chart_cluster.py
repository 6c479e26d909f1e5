"""The chart on the dev cluster: lint, server-side dry-run, install, RBAC, PromQL.

The installed operator runs as a Pod on the dev cluster's real node, from the image built
here, with the chart's ServiceAccount token: what it manages proves the RBAC suffices.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from canaria_serving import contract
from tests.chart.install import image_values
from tests.chart.support import (
    ALL_FEATURES,
    CHART,
    EXAMPLES,
    dashboard_targets,
    documents,
    fill,
    helm_args,
    monitoring_crds,
    rule_exprs,
    rule_groups,
    template,
)
from tests.cluster.kube import attempt, is_ready, kubectl_json, new_namespace, run, wait_for
from tests.cluster.models import add_one_model

pytestmark = pytest.mark.cluster


def _image_sets(image: str) -> tuple[str, ...]:
    values = image_values(image)
    return (
        f"image.repository={values['image']['repository']}",
        f"image.tag={values['image']['tag']}",
        "image.pullPolicy=Never",
        "servingImagePullPolicy=Never",
    )


@pytest.fixture(scope="module")
def monitoring(dev_cluster: Any) -> Any:
    """The CRDs rendered objects need: the chart's own (helm installs its crds/ before the
    templates; `helm template` leaves them out) and the Prometheus Operator's (PodMonitor,
    ServiceMonitor, PrometheusRule) and the Gateway API's, installed and Established."""
    from canaria_devtools.devcluster.gatewayapi import crd_files

    paths = [*sorted((CHART / "crds").glob("*.yaml")), *monitoring_crds(), *crd_files()]
    for path in paths:
        run(dev_cluster, "kubectl", "apply", "--server-side", "--force-conflicts", "-f", str(path))
    for path in paths:
        run(
            dev_cluster,
            "kubectl",
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "-f",
            str(path),
        )
    return dev_cluster


class Release:
    def __init__(self, cluster: Any, namespace: str, name: str, model_dir: Path) -> None:
        self.cluster, self.namespace, self.name, self.model_dir = (
            cluster,
            namespace,
            name,
            model_dir,
        )
        self.store: Any = None  # the model store pods fetch from

    @property
    def service_account(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}-canaria-operator"

    def can(self, verb: str, resource: str, namespace: str | None = None) -> bool:
        ns = ["-n", namespace] if namespace else []
        proc = attempt(
            self.cluster,
            "kubectl",
            "auth",
            "can-i",
            verb,
            resource,
            "--as",
            self.service_account,
            *ns,
        )
        answer = proc.stdout.strip()
        assert answer in ("yes", "no"), proc.stderr
        return answer == "yes"


@pytest.fixture(scope="module")
def release(monitoring: Any, dev_image: str, model_store: Any) -> Iterator[Release]:
    """`helm install` watching one namespace, every optional template on."""
    ns = new_namespace(monitoring, "chart")
    name = f"c{uuid.uuid4().hex[:5]}"
    model_dir = Path(tempfile.mkdtemp(prefix="canaria-chart-"))
    sets = (
        *ALL_FEATURES,
        *_image_sets(dev_image),
        f"watchNamespaces={{{ns}}}",
        f"prometheusUrl={monitoring.prometheus_url}",
        f"peering.name={name}",
    )
    run(
        monitoring,
        "helm",
        "install",
        name,
        str(CHART),
        "-n",
        ns,
        "--wait",
        "--timeout",
        "120s",
        *helm_args(*sets),
        timeout=150,
    )
    try:
        rel = Release(monitoring, ns, name, model_dir)
        rel.store = model_store
        yield rel
    finally:
        attempt(monitoring, "helm", "uninstall", name, "-n", ns, "--wait", timeout=120)
        attempt(monitoring, "kubectl", "delete", "namespace", ns, "--wait=false")
        shutil.rmtree(model_dir, ignore_errors=True)


def test_helm_lint_passes_with_every_option(dev_cluster: Any) -> None:
    out = run(dev_cluster, "helm", "lint", "--strict", str(CHART), *helm_args(*ALL_FEATURES))
    assert "0 chart(s) failed" in out


def test_values_schema_rejects_a_bad_value_naming_it(dev_cluster: Any) -> None:
    proc = attempt(dev_cluster, "helm", "template", "t", str(CHART), "--set", "logFormat=xml")
    assert proc.returncode != 0
    assert "logFormat" in proc.stderr


@pytest.mark.parametrize("scope", ["cluster-wide", "namespaced"])
def test_rendered_chart_passes_server_side_dry_run(monitoring: Any, scope: str) -> None:
    scoped = () if scope == "cluster-wide" else ("watchNamespaces={default}",)
    sets = (*ALL_FEATURES, *scoped)
    rendered = template(monitoring, *sets, namespace="default")
    kinds = {d["kind"] for d in documents(rendered)}
    assert {
        "Deployment",
        "ServiceAccount",
        "ClusterRole",
        "PodMonitor",
        "ServiceMonitor",
        "PrometheusRule",
        "ConfigMap",
    } <= kinds
    out = run(monitoring, "kubectl", "apply", "--dry-run=server", "-f", "-", stdin=rendered)
    assert "(server dry run)" in out


def test_alert_rules_pass_promtool(dev_cluster: Any, tmp_path: Path) -> None:
    docs = documents(template(dev_cluster, "prometheusRule.enabled=true"))
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups(docs)}))
    proc = subprocess.run(
        ["promtool", "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 7 rules found" in proc.stdout
    names = set(rule_exprs(docs))
    assert {
        "CanariaRolloutFailed",
        "CanariaCanaryRolledBack",
        "CanariaModelNotReady",
        "CanariaOperatorDown",
        "CanariaHighErrorRate",
    } <= names


def test_install_brings_up_the_operator(release: Release) -> None:
    c, ns = release.cluster, release.namespace

    def ready_pod() -> dict[str, Any] | None:
        pods = kubectl_json(
            c, "get", "pods", "-n", ns, "-l", "app.kubernetes.io/component=operator"
        )
        return next((p for p in pods["items"] if is_ready(p)), None)

    pod = wait_for("operator pod Ready", ready_pod, timeout=60)
    spec = pod["spec"]["containers"][0]
    assert spec["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    health = httpx.get(
        f"http://{pod['status']['podIP']}:{contract.OPERATOR_HEALTH_PORT}/healthz", timeout=5
    )
    assert health.status_code == 200
    peering = kubectl_json(c, "get", "kopfpeerings", release.name, "-n", ns)
    assert peering["metadata"]["name"] == release.name


NEEDED = [
    ("list", "modeldeployments.canaria.dev"),
    ("watch", "modeldeployments.canaria.dev"),
    ("patch", "modeldeployments.canaria.dev"),
    ("patch", "modeldeployments.canaria.dev/status"),
    ("create", "deployments.apps"),
    ("patch", "deployments.apps"),
    ("delete", "deployments.apps"),
    ("watch", "deployments.apps"),
    ("create", "services"),
    ("patch", "services"),
    ("delete", "services"),
    ("create", "horizontalpodautoscalers.autoscaling"),
    ("create", "poddisruptionbudgets.policy"),
    ("delete", "poddisruptionbudgets.policy"),
    ("list", "pods"),
    ("watch", "pods"),
    ("create", "events.events.k8s.io"),
    ("create", "events"),
    ("get", "secrets"),
    ("patch", "kopfpeerings.kopf.dev"),
    ("create", "serviceaccounts"),
    ("create", "roles.rbac.authorization.k8s.io"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
    ("patch", "httproutes.gateway.networking.k8s.io"),
    ("list", "jobs.batch"),
    ("create", "jobs.batch"),
    ("patch", "jobs.batch"),
    ("delete", "jobs.batch"),
]
FORBIDDEN = [
    ("list", "secrets"),
    ("watch", "secrets"),
    ("create", "pods"),
    ("delete", "pods"),
    ("update", "modeldeployments.canaria.dev"),
    ("delete", "modeldeployments.canaria.dev"),
    ("get", "configmaps"),
    ("create", "clusterroles.rbac.authorization.k8s.io"),
    ("bind", "clusterroles.rbac.authorization.k8s.io"),
    ("escalate", "roles.rbac.authorization.k8s.io"),
    ("create", "httproutes.gateway.networking.k8s.io"),
    ("get", "jobs.batch"),
    ("watch", "jobs.batch"),
    ("update", "jobs.batch"),
    ("create", "cronjobs.batch"),
]


def test_rbac_grants_what_the_operator_calls_and_nothing_broader(release: Release) -> None:
    ns = release.namespace
    for verb, resource in NEEDED:
        assert release.can(verb, resource, ns), f"operator cannot {verb} {resource}"
    assert release.can("list", "customresourcedefinitions.apiextensions.k8s.io")
    assert release.can("watch", "namespaces")
    for verb, resource in FORBIDDEN:
        assert not release.can(verb, resource, ns), f"operator may {verb} {resource}"
    # Outside the watched namespace nothing, Secrets included; no cluster-wide writes.
    assert not release.can("get", "secrets", "kube-system")
    assert not release.can("list", "modeldeployments.canaria.dev", "default")
    assert not release.can("create", "deployments.apps", "default")
    assert not release.can("delete", "namespaces")
    assert not release.can("create", "clusterrolebindings.rbac.authorization.k8s.io")


def test_examples_pass_server_side_dry_run(release: Release) -> None:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        if docs[0]["kind"] != "ModelDeployment":
            continue
        out = run(
            release.cluster,
            "kubectl",
            "apply",
            "--dry-run=server",
            "-n",
            release.namespace,
            "-f",
            str(path),
        )
        assert "created (server dry run)" in out, path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _md(release: Release, name: str, model: Path, version: str) -> None:
    url = release.store.publish(model, f"{release.namespace}/{model.name}")
    manifest = {
        "apiVersion": "canaria.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": release.namespace},
        "spec": {
            "model": {"uri": url, "version": version, "sha256": _sha256(model)},
            "rollout": {"strategy": "Canary", "analysisInterval": "10s"},
        },
    }
    run(release.cluster, "kubectl", "apply", "-f", "-", stdin=yaml.safe_dump(manifest))


def _phase(release: Release, name: str, phase: str, version: str) -> Any:
    def probe() -> dict[str, Any] | None:
        md = kubectl_json(release.cluster, "get", "md", name, "-n", release.namespace)
        status = md.get("status") or {}
        ok = status.get("phase") == phase and (status.get("stable") or {}).get("version") == version
        return md if ok else None

    return probe


@pytest.fixture(scope="module")
def served(release: Release) -> tuple[Release, str]:
    """A ModelDeployment served and rolled out (v1 -> v2 canary -> promoted) by the chart's
    operator, under the chart's ServiceAccount: its RBAC is enough for a whole rollout."""
    v1, v2 = release.model_dir / "v1.onnx", release.model_dir / "v2.onnx"
    add_one_model(v1)
    add_one_model(v2)
    _md(release, "adder", v1, "1")
    wait_for("v1 Ready", _phase(release, "adder", "Ready", "1"), timeout=120)
    _md(release, "adder", v2, "2")

    def at_first_step() -> bool:
        md = kubectl_json(release.cluster, "get", "md", "adder", "-n", release.namespace)
        status = md.get("status") or {}
        return (status.get("canary") or {}).get("version") == "2" and status.get("currentStep") == 0

    # no client traffic here, so analysis stays Inconclusive: promote by hand (the annotation
    # the operator consumes and clears), as `canaria promote` does
    wait_for("v2 canary at its first step", at_first_step, timeout=120)
    run(
        release.cluster,
        "kubectl",
        "annotate",
        "md",
        "adder",
        "-n",
        release.namespace,
        "canaria.dev/action=promote",
    )
    md = wait_for("v2 promoted and Ready", _phase(release, "adder", "Ready", "2"), timeout=120)
    assert md["status"]["history"][-1]["version"] == "2"
    assert md["status"]["history"][-1]["result"] == "Promoted"
    assert "canaria.dev/action" not in (md["metadata"].get("annotations") or {})
    return release, "adder"


def _query(prometheus: str, expr: str) -> list[Any]:
    resp = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = resp.json()
    assert resp.status_code == 200, f"{expr}: {body}"
    assert body["status"] == "success", f"{expr}: {body}"
    result: list[Any] = body["data"]["result"]
    return result


# Panels that must show data for a served model with traffic (others need a router,
# a classifier or a model card reference, and must still evaluate without error).
MUST_HAVE_DATA = (
    "Canary weight",
    "Rollout phase",
    "Request rate",
    "Error rate",
    "p99 latency",
    "Analysis outcomes",
)


def test_every_dashboard_and_alert_query_evaluates(served: tuple[Release, str]) -> None:
    release, name = served
    c, ns = release.cluster, release.namespace
    selector = f"{contract.LABEL_MODEL}={name},{contract.LABEL_VERSION}=2"

    def serving_ips() -> list[str] | None:
        pods = kubectl_json(c, "get", "pods", "-n", ns, "-l", selector)["items"]
        live = [p for p in pods if is_ready(p) and not p["metadata"].get("deletionTimestamp")]
        return [p["status"]["podIP"] for p in live] or None

    ips = wait_for("a Ready v2 pod", serving_ips, timeout=60)
    body = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}
    variables = {"namespace": ns, "name": name, "model": name}
    targets = [(t, fill(e, variables)) for t, e in dashboard_targets()]
    rate_expr = targets[[t for t, _ in targets].index("Request rate per track (req/s)")][1]

    def traffic_seen() -> list[Any] | None:
        for ip in ips:
            for _ in range(20):
                url = f"http://{ip}:{contract.SERVING_PORT}{contract.v2_infer_path(name)}"
                assert httpx.post(url, json=body, timeout=5).status_code == 200
        return _query(c.prometheus_url, rate_expr) or None

    wait_for("request rate in Prometheus", traffic_seen, timeout=60)
    with_data: dict[str, int] = {}
    for title, expr in targets:
        with_data[title] = with_data.get(title, 0) + bool(_query(c.prometheus_url, expr))
    empty = [t for t, n in with_data.items() if t.startswith(MUST_HAVE_DATA) and not n]
    assert not empty, f"panels without data: {empty}"
    for expr in rule_exprs(documents(template(c, "prometheusRule.enabled=true"))).values():
        _query(c.prometheus_url, expr)  # evaluates (status success), firing or not


def test_cluster_wide_rbac_without_secrets_access(dev_cluster: Any, dev_image: str) -> None:
    """Cluster-wide install (no operator replica runs, only the RBAC is checked) with
    rbac.secretsGet=false: everything the operator calls, in any namespace; no Secret at all."""
    ns = new_namespace(dev_cluster, "chartcw")
    name = f"w{uuid.uuid4().hex[:5]}"
    sets = (
        *_image_sets(dev_image),
        "operator.replicas=0",
        "rbac.secretsGet=false",
        f"peering.name={name}",
    )
    run(dev_cluster, "helm", "install", name, str(CHART), "-n", ns, *helm_args(*sets), timeout=90)
    try:
        rel = Release(dev_cluster, ns, name, Path(ns))
        for verb, resource in NEEDED:
            if resource != "secrets" and "kopfpeerings" not in resource:
                assert rel.can(verb, resource, "default"), f"cannot {verb} {resource}"
        assert rel.can("patch", "clusterkopfpeerings.kopf.dev")
        assert rel.can("list", "modeldeployments.canaria.dev", "kube-public")
        for verb, resource in (*FORBIDDEN, ("get", "secrets")):
            assert not rel.can(verb, resource, "default"), f"operator may {verb} {resource}"
        assert not rel.can("get", "secrets", "kube-system")
        assert not rel.can("delete", "namespaces")
        assert not rel.can("patch", "nodes")
        peering = kubectl_json(dev_cluster, "get", "clusterkopfpeerings", name)
        assert peering["metadata"]["name"] == name
    finally:
        attempt(dev_cluster, "helm", "uninstall", name, "-n", ns, "--wait", timeout=90)
        attempt(dev_cluster, "kubectl", "delete", "namespace", ns, "--wait=false")
