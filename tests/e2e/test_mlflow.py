"""From MLflow to production, end to end: a real `mlflow server` (SQLite, artifact proxy)
inside the dev cluster's namespace, models registered with `canaria package --register`, the
chart's operator in-cluster following ``models:/iris@champion``.

1. v1 and v2 registered by the CLI; champion -> v1; the ModelDeployment serves v1.
2. champion -> v2: a rollout starts on its own and promotes; the verdict tags and the
   operator's alias ``canaria-stable`` are visible through MLflow's own client.
3. champion -> v3 (v2's graph made ~100x slower, its 1 MB weights stored by MLflow as external
   data): rolled back on latency, tagged so; canaria-stable stays on v2.
4. champion -> v4 (good), tracking server stopped mid-rollout: no promotion while it is
   down, a condition says why, clients keep being answered; back up -> promoted.
5. Unknown model, unknown alias, a version that is not ONNX: a condition naming the problem,
   and the serving ModelDeployment undisturbed.
   Wrong credentials (the server runs MLflow's basic-auth app) likewise.
6. The same version with other bytes (a file changed in the artifact store): refused, named,
   the pods keep serving what they verified.
7. Retirement: Deprecation and Sunset headers through the model's Service, the V2 metadata
   says so; at the time the pods go to zero, phase Retired, tag verdict=retired.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import joblib
import pytest

from canaria_serving.packaging.register import TAG_DIGEST, register_onnx
from tests.chart.install import ChartOperator
from tests.cluster.kube import attempt, kubectl_json, new_namespace, run, wait_for
from tests.e2e.conftest import NAME, model_url, rollout_spec
from tests.e2e.load import LoadGenerator
from tests.e2e.models import iris_rows, slow_variant
from tests.e2e.tracking import TrackingServer
from tests.operator_cluster.support import install_crds, md_manifest

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(1200)]

POLL = "5s"
PASSWORD = "canaria-e2e-password"  # the tracking server runs MLflow's basic-auth app


@dataclass
class Flow:
    cluster: Any
    namespace: str
    server: TrackingServer
    operator: ChartOperator
    load: LoadGenerator
    tmp: Path

    def md(self, name: str = NAME) -> dict[str, Any]:
        body: dict[str, Any] = kubectl_json(self.cluster, "get", "md", name, "-n", self.namespace)
        return body

    def wait(self, what: str, check: Any, name: str = NAME, timeout: float = 180) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            md = self.md(name)
            return md if check(md.get("status") or {}) else None

        try:
            return wait_for(what, probe, timeout=timeout)
        except AssertionError:
            print(self.operator.tail(80))
            print(json.dumps(self.md(name).get("status"), indent=1)[:4000])
            raise

    def alias(self, version: str) -> float:
        self.server.client().set_registered_model_alias(NAME, "champion", version)
        return time.time()

    def tags(self, version: str) -> dict[str, str]:
        return dict(self.server.client().get_model_version(NAME, version).tags)

    def stable_alias(self) -> str:
        return str(self.server.client().get_model_version_by_alias(NAME, "canaria-stable").version)


def apply_md(
    cluster: Any, namespace: str, name: str, uri: str, tracking: str, secret: str = "mlflow"
) -> None:
    rollout = rollout_spec()
    # v3 is ~100x slower; a healthy version on a busy 2-core node (an MLflow server starting
    # beside it) can be 10x slower than its stable for a round, so the ratio is generous here
    rollout["analysis"]["metrics"]["latencyP99"] = {"maxMs": 150, "maxRatio": 20}
    spec = {
        "model": {
            "uri": uri,
            "registry": {
                "trackingUri": tracking,
                "pollInterval": POLL,
                "credentialsSecretRef": {"name": secret},
            },
        },
        "serving": {"replicas": 1},
        "rollout": rollout,
    }
    body = md_manifest(name, spec)
    if name == NAME:
        body["spec"]["model"]["name"] = NAME
    run(cluster, "kubectl", "apply", "-n", namespace, "-f", "-", stdin=json.dumps(body))


def _package(tmp: Path, version: str, tracking: str) -> None:
    """`canaria package --register`, as a user runs it."""
    cmd = [
        str(Path(sys.executable).with_name("canaria")), "package", str(tmp / f"v{version}.joblib"),
        "--sample", str(tmp / "sample.csv"), "-o", str(tmp / f"iris-v{version}.onnx"),
        "--name", NAME, "--register", NAME, "--tracking-uri", tracking,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"registered models:/{NAME}/{version}" in proc.stdout, proc.stdout


def _estimators(tmp: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    iris = load_iris(as_frame=True)
    x = iris.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    y = iris.target.to_numpy()
    x.to_csv(tmp / "sample.csv", index=False)
    v1 = Pipeline([("s", StandardScaler()), ("c", LogisticRegression(max_iter=500))]).fit(x, y)
    joblib.dump(v1, tmp / "v1.joblib")
    v2 = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(x, y)
    joblib.dump(v2, tmp / "v2.joblib")


@pytest.fixture(scope="module")
def flow(
    dev_cluster: Any, dev_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flow]:
    install_crds(dev_cluster)
    tmp = tmp_path_factory.mktemp("mlflow-e2e")
    node_ip = dev_cluster.net.node_ip
    server = TrackingServer(dev_cluster.net.name, node_ip, tmp / "mlflow", PASSWORD).start()
    ns = new_namespace(dev_cluster, "mlflow")
    for name, password in (("mlflow", PASSWORD), ("mlflow-wrong", "not-the-password")):
        run(
            dev_cluster, "kubectl", "create", "secret", "generic", name, "-n", ns,
            "--from-literal=MLFLOW_TRACKING_USERNAME=admin",
            f"--from-literal=MLFLOW_TRACKING_PASSWORD={password}",
        )  # fmt: skip
    op = ChartOperator(dev_cluster, ns, dev_image, tmp)
    failed: list[BaseException] = []

    def install() -> None:
        try:
            op.install()
        except BaseException as exc:  # re-raised after the registrations
            failed.append(exc)

    installing = threading.Thread(target=install)  # while the models are registered
    installing.start()
    load: LoadGenerator | None = None
    try:
        _estimators(tmp)
        started = time.monotonic()
        _package(tmp, "1", server.url)
        _package(tmp, "2", server.url)
        print(f"\nv1, v2 registered by canaria package: {time.monotonic() - started:.0f} s")
        slow = tmp / "iris-v3.onnx"
        slow.write_bytes(slow_variant((tmp / "iris-v2.onnx").read_bytes(), "3"))
        assert register_onnx(slow, NAME, server.url).version == "3"
        assert register_onnx(tmp / "iris-v1.onnx", NAME, server.url).version == "4"
        installing.join()
        if failed:
            raise failed[0]
        f = Flow(dev_cluster, ns, server, op, LoadGenerator("http://unused", iris_rows()), tmp)
        f.alias("1")
        apply_md(dev_cluster, ns, NAME, f"models:/{NAME}@champion", server.url)
        f.wait("v1 Ready", lambda s: s.get("phase") == "Ready", timeout=240)
        load = LoadGenerator(model_url(dev_cluster, ns), iris_rows(), rate=25.0).start()
        f.load = load
        wait_for("traffic answered by v1", lambda: any(r.version == "1" for r in load.records), 60)
        yield f
    finally:
        if load is not None:
            load.stop()
        installing.join()
        op.uninstall()
        attempt(dev_cluster, "kubectl", "delete", "namespace", ns, "--wait=false")
        server.stop()


def _ended(status: dict[str, Any], version: str, result: str) -> bool:
    return any(
        h.get("version") == version and h["result"] == result for h in status.get("history", [])
    )


def _reason(status: dict[str, Any], reason: str) -> bool:
    return any(c.get("reason") == reason for c in status.get("conditions", []))


def _deployments(flow: Flow, name: str) -> list[dict[str, Any]]:
    label = f"canaria.dev/model={name}"
    found = kubectl_json(flow.cluster, "get", "deployments", "-n", flow.namespace, "-l", label)
    return list(found["items"])


def _failed(flow: Flow, since: float) -> list[Any]:
    return [r for r in flow.load.since(since) if r.failed]


def test_v1_pinned_from_the_registry(flow: Flow) -> None:
    status = flow.md()["status"]
    reg = status["registry"]
    assert (reg["model"], reg["alias"], reg["version"]) == (NAME, "champion", "1")
    assert reg["digest"] == flow.tags("1")[TAG_DIGEST]  # what `package --register` read back
    assert status["stable"]["source"] == f"models:/{NAME}/1"
    wait_for("canaria-stable on v1", lambda: flow.stable_alias() == "1", 30)


def test_alias_moved_to_v2_promotes_and_tags(flow: Flow) -> None:
    t0 = flow.alias("2")
    flow.wait("v2 canary", lambda s: (s.get("canary") or {}).get("version") == "2", timeout=60)
    started = time.time()
    md = flow.wait(
        "v2 promoted",
        lambda s: (
            (s.get("stable") or {}).get("version") == "2"
            and any(
                h.get("version") == "2" and h["result"] == "Promoted" for h in s.get("history", [])
            )
        ),
    )
    print(f"\nalias -> v2: canary seen +{started - t0:.0f} s, promoted +{time.time() - t0:.0f} s")
    entry = next(h for h in md["status"]["history"] if h["version"] == "2")
    assert entry["source"] == f"models:/{NAME}/2"
    assert entry["checks"], entry
    wait_for(
        "verdict tags on v2", lambda: flow.tags("2").get("canaria.dev/verdict") == "promoted", 30
    )
    tags = flow.tags("2")
    assert tags["canaria.dev/modeldeployment"] == f"{flow.namespace}/{NAME}"
    wait_for("canaria-stable on v2", lambda: flow.stable_alias() == "2", 30)
    assert flow.server.client().get_model_version_by_alias(NAME, "champion").version == "2"
    assert _failed(flow, t0) == []


def test_alias_moved_to_slow_v3_rolls_back_and_tags(flow: Flow) -> None:
    t0 = flow.alias("3")
    md = flow.wait(
        "v3 rolled back",
        lambda s: any(
            h.get("version") == "3" and h["result"] == "RolledBack" for h in s.get("history", [])
        ),
        timeout=240,
    )
    entry = next(h for h in md["status"]["history"] if h["version"] == "3")
    print(f"\nalias -> slow v3: rolled back +{time.time() - t0:.0f} s: {entry['reason']}")
    wait_for(
        "v3 tagged rolled-back",
        lambda: flow.tags("3").get("canaria.dev/verdict") == "rolled-back",
        30,
    )
    assert flow.stable_alias() == "2"
    assert md["status"]["stable"]["version"] == "2"
    assert _failed(flow, t0) == []


def test_registry_down_mid_rollout_holds_then_promotes(flow: Flow) -> None:
    t0 = flow.alias("4")
    flow.wait(
        "v4 at its first step",
        lambda s: (
            (s.get("canary") or {}).get("version") == "4"
            and (s.get("canary") or {}).get("weight", 0) > 0
        ),
        timeout=120,
    )
    flow.server.stop(for_good=False)
    down_at = time.time()
    try:
        flow.wait(
            "RegistryUnreachable",
            lambda s: any(
                c.get("reason") == "RegistryUnreachable" for c in s.get("conditions", [])
            ),
            timeout=60,
        )
        time.sleep(35)  # three analysis rounds with the registry down
        status = flow.md()["status"]
        assert status["stable"]["version"] == "2", "promoted while the registry was down"
        assert (status.get("canary") or {}).get("version") == "4"
        held = [a for a in status.get("analysis", []) if a["metric"] == "registry"]
        assert held, status.get("analysis")
        assert held[0]["verdict"] == "Inconclusive", held
        assert _failed(flow, down_at) == []
        assert any(r.status == 200 for r in flow.load.since(down_at))
    finally:
        flow.server.start()
    flow.wait(
        "v4 promoted after the registry came back",
        lambda s: (s.get("stable") or {}).get("version") == "4",
        timeout=240,
    )
    wait_for("canaria-stable on v4", lambda: flow.stable_alias() == "4", 30)
    print(
        f"\nregistry down {time.time() - down_at:.0f} s: held; v4 promoted +{time.time() - t0:.0f}s"
    )
    assert _failed(flow, t0) == []


def test_problems_named_and_nothing_else_disturbed(flow: Flow) -> None:
    import mlflow
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(flow.server.url)
    with warnings.catch_warnings(), mlflow.start_run():
        warnings.simplefilter("ignore")
        est = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
        mlflow.sklearn.log_model(est, name="model", registered_model_name="not-onnx")
    cases = {
        "nope-model": ("models:/no-such-model@champion", "RegistryModelNotFound", "no-such-model"),
        "nope-alias": (f"models:/{NAME}@no-such-alias", "RegistryModelNotFound", "no-such-alias"),
        "not-onnx": ("models:/not-onnx/1", "RegistryArtifactNotOnnx", "not an ONNX model"),
        "wrong-password": (f"models:/{NAME}@champion", "RegistryAuthFailed", "HTTP 401"),
    }
    for name, (uri, _, _) in cases.items():
        secret = "mlflow-wrong" if name == "wrong-password" else "mlflow"
        apply_md(flow.cluster, flow.namespace, name, uri, flow.server.url, secret)
    t0 = time.time()
    for name, (_, reason, words) in cases.items():
        md = flow.wait(
            f"{name} Degraded",
            lambda s, r=reason: _reason(s, r),
            name=name,
            timeout=60,
        )
        cond = next(c for c in md["status"]["conditions"] if c["type"] == "Degraded")
        assert words in cond["message"], cond
        deps = kubectl_json(
            flow.cluster,
            "get",
            "deployments",
            "-n",
            flow.namespace,
            "-l",
            f"canaria.dev/model={name}",
        )
        assert deps["items"] == []
    status = flow.md()["status"]
    assert status["phase"] == "Ready", status["conditions"]
    assert _failed(flow, t0) == []


def test_same_version_with_other_bytes_is_refused(flow: Flow) -> None:
    """MLflow keeps no checksum: bytes changed under a pinned version are refused, and the
    pods keep serving what they verified."""
    location = flow.md()["status"]["registry"]["location"]
    rel = location.split("/api/2.0/mlflow-artifacts/artifacts/", 1)[1]
    onnx = flow.server.folder / "artifacts" / rel / "model.onnx"
    original = onnx.read_bytes()
    t0 = time.time()
    onnx.write_bytes(original + b"\0" * 16)
    try:
        md = flow.wait("RegistryArtifactChanged", lambda s: _reason(s, "RegistryArtifactChanged"))
        cond = next(c for c in md["status"]["conditions"] if c["type"] == "Degraded")
        assert "models:/iris/4 changed in the registry" in cond["message"], cond
        assert md["status"]["stable"]["version"] == "4"
    finally:
        onnx.write_bytes(original)
    flow.wait("bytes restored", lambda s: not _reason(s, "RegistryArtifactChanged"), timeout=60)
    assert _failed(flow, t0) == []


def test_retirement_headers_then_zero(flow: Flow) -> None:
    at = (datetime.now(UTC) + timedelta(seconds=75)).replace(microsecond=0)
    canaria = str(Path(sys.executable).with_name("canaria"))
    env = flow.cluster.env()
    subprocess.run(
        [canaria, "retire", NAME, "-n", flow.namespace, "--at", at.isoformat(),
         "--reason", "replaced by iris-2"],
        check=True, env=env, timeout=60,
    )  # fmt: skip
    url = model_url(flow.cluster, flow.namespace)

    def noticed() -> httpx.Response | None:
        resp = httpx.get(f"{url}/v2/models/{NAME}", timeout=5)
        return resp if "sunset" in resp.headers else None

    resp = wait_for("Sunset header from the serving pods", noticed, timeout=120)
    assert resp.headers["deprecation"].startswith("@")
    assert resp.headers["sunset"] == at.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert resp.json()["parameters"]["deprecated"] is True
    infer = httpx.post(
        f"{url}/v2/models/{NAME}/infer",
        json={
            "inputs": [
                {"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}
            ]
        },
        timeout=5,
    )
    assert infer.status_code == 200
    assert "sunset" in infer.headers
    flow.load.stop()
    md = flow.wait("Retired", lambda s: s.get("phase") == "Retired", timeout=150)
    assert md["status"]["retirement"]["retiredAt"]
    deps = kubectl_json(
        flow.cluster, "get", "deployments", "-n", flow.namespace, "-l", f"canaria.dev/model={NAME}"
    )
    assert deps["items"]
    assert all(d["spec"]["replicas"] == 0 for d in deps["items"])
    wait_for(
        "v4 tagged retired", lambda: flow.tags("4").get("canaria.dev/verdict") == "retired", 30
    )
    out = run(flow.cluster, canaria, "history", NAME, "-n", flow.namespace)
    assert "models:/iris/3" in out, out
    assert "RolledBack" in out, out
