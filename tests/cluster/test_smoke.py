"""Smoke tests of the dev cluster itself: a real control plane and a real node.

Pods run in containers (containerd + runc) started by a real kubelet; Services go through
kube-proxy; CoreDNS resolves Service names; the kubelet serves logs, exec and port-forward;
in-cluster clients reach the API server through the ``kubernetes`` Service; Prometheus scrapes
pod IPs. Everything with a non-loopback address is in the cluster's network namespace.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from canaria_devtools.devcluster import netns
from canaria_devtools.devcluster.nodeconfig import NODE_NAME, PAUSE_IMAGE

from .kube import apply, attempt, is_ready, kubectl_json, new_namespace, run, wait_for
from .pods import serving_pod

pytestmark = pytest.mark.cluster

EXAMPLE_MODEL = Path(__file__).resolve().parents[2] / "examples" / "models" / "iris-v1.onnx"


def test_version_stamp_and_a_real_node(dev_cluster: Any) -> None:
    version = json.loads(run(dev_cluster, "kubectl", "version", "-o", "json"))
    assert version["serverVersion"]["gitVersion"] == "v1.36.3"
    nodes = kubectl_json(dev_cluster, "get", "nodes")["items"]
    assert [n["metadata"]["name"] for n in nodes] == [NODE_NAME]
    node = nodes[0]
    assert is_ready(node)
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert addresses["InternalIP"] == dev_cluster.net.node_ip
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.36.3"
    endpoints = kubectl_json(dev_cluster, "get", "endpoints", "kubernetes", "-n", "default")
    ips = [a["ip"] for s in endpoints["subsets"] for a in s["addresses"]]
    assert ips == [dev_cluster.net.node_ip]


def test_rbac_is_enforced_for_service_accounts(dev_cluster: Any) -> None:
    who = "--as=system:serviceaccount:default:default"
    denied = attempt(dev_cluster, "kubectl", "get", "secrets", "-n", "kube-system", who)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()
    admin = attempt(dev_cluster, "kubectl", "get", "secrets", "-n", "kube-system")
    assert admin.returncode == 0, admin.stderr


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    container = {
        "name": "c",
        "image": PAUSE_IMAGE,
        "imagePullPolicy": "Never",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def test_deployment_runs_containers_and_is_garbage_collected(dev_cluster: Any) -> None:
    ns = new_namespace(dev_cluster, "deploy")
    manifest = _deployment("web", 3)
    manifest["metadata"]["namespace"] = ns
    apply(dev_cluster, manifest)

    def ready_pods() -> list[dict[str, Any]] | None:
        pods = kubectl_json(dev_cluster, "get", "pods", "-n", ns, "-l", "app=web")["items"]
        ok = [p for p in pods if is_ready(p) and p["status"].get("phase") == "Running"]
        return ok if len(ok) == 3 else None

    pods = wait_for("3 Running/Ready pods", ready_pods, timeout=90)
    pod_net = ipaddress.ip_network(dev_cluster.net.pod_cidr)
    for pod in pods:
        assert pod["spec"]["nodeName"] == NODE_NAME
        assert ipaddress.ip_address(pod["status"]["podIP"]) in pod_net
        state = pod["status"]["containerStatuses"][0]
        assert state["containerID"].startswith("containerd://")
    assert len({p["status"]["podIP"] for p in pods}) == 3

    run(dev_cluster, "kubectl", "delete", "deployment", "web", "-n", ns, "--wait=false")

    def all_gone() -> bool:
        rs = kubectl_json(dev_cluster, "get", "replicasets", "-n", ns)["items"]
        left = kubectl_json(dev_cluster, "get", "pods", "-n", ns)["items"]
        return not rs and not left

    wait_for("the ReplicaSet and pods to be garbage-collected", all_gone, timeout=90)
    run(dev_cluster, "kubectl", "delete", "namespace", ns, "--wait=false")


@pytest.fixture(scope="module")
def served(dev_cluster: Any, dev_image: str, model_store: Any) -> Any:
    """A `canaria serve` pod (restricted namespace, model fetched by an init container) with
    a Service, and a ServiceAccount that may read pods."""
    ns = new_namespace(dev_cluster, "smoke")
    url = model_store.publish(EXAMPLE_MODEL, "smoke/iris.onnx")
    apply(dev_cluster, serving_pod(ns, "srv", dev_image, url))
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "srv", "namespace": ns},
        "spec": {"selector": {"app": "srv"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    apply(dev_cluster, service)
    wait_for("the serving pod Ready", lambda: _ready(dev_cluster, ns, "srv"), timeout=120)
    yield ns
    attempt(dev_cluster, "kubectl", "delete", "namespace", ns, "--wait=false")


def _ready(cluster: Any, ns: str, name: str) -> bool:
    return is_ready(kubectl_json(cluster, "get", "pod", name, "-n", ns))


def _exec_python(cluster: Any, ns: str, code: str) -> str:
    argv = ("kubectl", "exec", "-n", ns, "srv", "-c", "serve", "--", "python", "-c", code)
    return run(cluster, *argv)


def test_service_through_kube_proxy_and_dns_inside_pods(dev_cluster: Any, served: str) -> None:
    svc = kubectl_json(dev_cluster, "get", "service", "srv", "-n", served)
    cluster_ip = svc["spec"]["clusterIP"]
    assert ipaddress.ip_address(cluster_ip) in ipaddress.ip_network(dev_cluster.net.service_cidr)

    def metadata() -> dict[str, Any] | None:
        try:
            return dict(httpx.get(f"http://{cluster_ip}/v2/models/iris", timeout=5).json())
        except httpx.HTTPError:  # the pod is Ready; kube-proxy has not written its rules yet
            return None

    meta = wait_for("the Service answering through kube-proxy", metadata, timeout=60)
    assert meta["name"] == "iris"
    out = _exec_python(
        dev_cluster,
        served,
        "import socket, urllib.request as u\n"
        f"print(socket.gethostbyname('srv.{served}.svc.cluster.local'))\n"
        f"print(u.urlopen('http://srv.{served}/v2/health/ready').status)\n"
        "print(u.urlopen('http://127.0.0.1:8080/v2/health/ready').status)\n",
    )
    assert out.split() == [cluster_ip, "200", "200"]


def test_logs_exec_and_port_forward(dev_cluster: Any, served: str) -> None:
    logs = run(dev_cluster, "kubectl", "logs", "-n", served, "srv", "-c", "serve")
    assert "model iris version 1 ready" in logs
    fetch_logs = run(dev_cluster, "kubectl", "logs", "-n", served, "srv", "-c", "fetch")
    assert "sha256" in fetch_logs
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dev_cluster.env()
    forward = subprocess.Popen(
        ["kubectl", "port-forward", "-n", served, "pod/srv", f"{port}:8080"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def answered() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).is_success
            except httpx.HTTPError:
                return False

        wait_for("an answer through kubectl port-forward", answered, timeout=30)
    finally:
        forward.terminate()
        forward.wait(timeout=10)


def test_in_cluster_clients_reach_the_api_server(dev_cluster: Any, served: str) -> None:
    """A pod with a ServiceAccount token reaches the API server at kubernetes.default.svc."""
    ns = served
    meta = {"name": "reader", "namespace": ns}
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "reader", "namespace": ns},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "reader", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}],
    }
    for obj in (sa, role, binding):
        apply(dev_cluster, obj)
    token = run(dev_cluster, "kubectl", "create", "token", "reader", "-n", ns).strip()
    code = (
        "import json, ssl, urllib.request as u\n"
        "ctx = ssl.create_default_context(cafile='/tmp/ca.crt')\n"
        f"req = u.Request('https://kubernetes.default.svc/api/v1/namespaces/{ns}/pods',"
        f" headers={{'Authorization': 'Bearer {token}'}})\n"
        "print(len(json.load(u.urlopen(req, context=ctx))['items']))\n"
    )
    ca = Path(dev_cluster.ca_file).read_text()
    write_ca = f"open('/tmp/ca.crt', 'w').write({ca!r})\n"
    out = _exec_python(dev_cluster, ns, write_ca + code)
    assert int(out.strip()) >= 1


def test_prometheus_scrapes_pod_ips(dev_cluster: Any, served: str) -> None:
    pod = kubectl_json(dev_cluster, "get", "pod", "srv", "-n", served)
    ip = pod["status"]["podIP"]

    def scraped() -> list[Any] | None:
        query = f'up{{namespace="{served}",pod="srv"}}'
        resp = httpx.get(f"{dev_cluster.prometheus_url}/api/v1/query", params={"query": query})
        result = resp.json()["data"]["result"]
        return result if result and result[0]["value"][1] == "1" else None

    result = wait_for("Prometheus to scrape the pod", scraped, timeout=60)
    assert result[0]["metric"]["instance"] == f"{ip}:8080"


def test_nothing_leaves_the_namespace(dev_cluster: Any, served: str) -> None:
    """No default route in the namespace; every route stays inside the cluster's ranges; a pod
    can reach neither the world nor the host's end of the veth, nor resolve outside names."""
    net = dev_cluster.net
    table = netns.routes(net)
    assert not [r for r in table if r.startswith("default")], table
    for route in table:
        dest = route.split()[0]
        if dest in ("local", "broadcast", "multicast"):
            dest = route.split()[1]
        if "/" in dest or dest[0].isdigit():
            net_ = ipaddress.ip_network(dest, strict=False)
            ours = [ipaddress.ip_network(c) for c in (net.link_cidr, net.pod_cidr)]
            assert net_.is_loopback or any(net_.subnet_of(o) for o in ours), route
    out = _exec_python(
        dev_cluster,
        served,
        "import socket\n"
        "def probe(host, port):\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=3)\n"
        "        return 'connected'\n"
        "    except OSError as e:\n"
        "        return type(e).__name__\n"
        f"print(probe('{net.host_ip}', 22))\n"
        "print(probe('203.0.113.10', 80))\n"
        "try:\n"
        "    socket.gethostbyname('pypi.org'); print('resolved')\n"
        "except OSError as e:\n"
        "    print(type(e).__name__)\n",
    )
    host, world, dns = out.split()
    assert host == "ConnectionRefusedError"  # REJECTed in the namespace before the host
    assert world == "OSError"  # ENETUNREACH: no route
    assert dns == "gaierror"


def test_helm_installs_and_uninstalls_a_chart(dev_cluster: Any, tmp_path: Path) -> None:
    chart = tmp_path / "hello"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\nname: hello\nversion: 0.1.0\nkubeVersion: '>=1.30.0-0'\n"
    )
    (chart / "values.yaml").write_text("greeting: hi\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    )
    ns = new_namespace(dev_cluster, "helm")
    run(dev_cluster, "helm", "install", "demo", str(chart), "-n", ns, "--set", "greeting=hello")
    cm = kubectl_json(dev_cluster, "get", "configmap", "demo-cm", "-n", ns)
    assert cm["data"] == {"greeting": "hello"}
    releases = json.loads(run(dev_cluster, "helm", "list", "-n", ns, "-o", "json"))
    assert [r["name"] for r in releases] == ["demo"]
    run(dev_cluster, "helm", "uninstall", "demo", "-n", ns)
    gone = run(dev_cluster, "kubectl", "get", "configmaps", "-n", ns, "-o", "name")
    assert "demo-cm" not in gone
    run(dev_cluster, "kubectl", "delete", "namespace", ns, "--wait=false")
