"""Pure builders: Deployment, Service, HPA and the pod template of a track."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from canaria_operator.workloads import (
    ANNOTATION_SPEC_HASH,
    Artifact,
    build_version,
    deployment_name,
    router_objects,
    spec_hash,
    track_service,
    version_slug,
)
from canaria_serving import contract
from tests.operator.helpers import SHA, make_md

IMAGE = "ghcr.io/canaria-dev/canaria:test"


def _track(
    spec: dict[str, Any] | None = None, track: str = "stable", headless: bool = False, **kw: Any
) -> Any:
    """A version's objects built for ``track``, with the track's Service."""
    md = make_md(spec)
    artifact = Artifact.from_spec(md.spec.model)
    objs = build_version(md, artifact, born=track, role=track, image=IMAGE, **kw)
    service = track_service(md, track, artifact.version, headless=headless)
    return SimpleNamespace(
        deployment=objs.deployment,
        hpa=objs.hpa,
        service=service,
        all=lambda: [*objs.all(), service],
    )


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_labels_owner_and_selector() -> None:
    objs = _track()
    dep = objs.deployment
    labels = dep["metadata"]["labels"]
    assert labels[contract.LABEL_MODEL] == "iris"
    assert labels[contract.LABEL_TRACK] == "stable"
    assert labels[contract.LABEL_VERSION] == "v1"
    assert labels[contract.LABEL_MANAGED_BY] == "canaria-operator"
    assert labels[contract.LABEL_INSTANCE] == "iris"
    owner = dep["metadata"]["ownerReferences"][0]
    assert owner == {
        "apiVersion": "canaria.dev/v1alpha1",
        "kind": "ModelDeployment",
        "name": "iris",
        "uid": "uid-1234",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    selector = dep["spec"]["selector"]["matchLabels"]
    # one Deployment per version: the role (track) is not part of the immutable selector
    assert dep["metadata"]["name"] == "iris-v1"
    assert selector[contract.LABEL_VERSION] == "v1"
    assert contract.LABEL_TRACK not in selector
    assert selector.items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert objs.service["spec"]["selector"] == selector
    assert objs.service["metadata"]["name"] == "iris-stable"
    assert objs.hpa is None
    assert dep["spec"]["replicas"] == 1


def test_pod_runs_fetch_then_serve_with_contract_env() -> None:
    pod = _track().deployment["spec"]["template"]
    spec = pod["spec"]
    (fetch,) = spec["initContainers"]
    assert fetch["command"] == ["canaria"]
    assert fetch["args"] == [
        "fetch",
        "https://models.local/iris.onnx",
        "--dest",
        "/models/model.onnx",
        "--sha256",
        SHA,
    ]
    (serve,) = spec["containers"]
    assert serve["args"] == ["serve"]
    env = _env(serve)
    assert env[contract.ENV_MODEL_PATH] == "/models/model.onnx"
    assert env[contract.ENV_MODEL_NAME] == "iris"
    assert env[contract.ENV_MODEL_VERSION] == "v1"
    assert env[contract.ENV_TRACK] == "stable"
    assert env[contract.ENV_PORT] == str(contract.SERVING_PORT)
    assert env[contract.ENV_HOST] == "0.0.0.0"  # the pod IP and 127.0.0.1 (probes) alike
    assert contract.ENV_PAYLOAD_LOG_PATH not in env  # sampleRate 0 = off
    assert serve["readinessProbe"]["httpGet"]["path"] == contract.PATH_READY
    assert serve["startupProbe"]["httpGet"]["path"] == contract.PATH_READY
    assert serve["livenessProbe"]["httpGet"]["path"] == contract.PATH_LIVE
    ann = pod["metadata"]["annotations"]
    assert ann[contract.ANNOTATION_SCRAPE] == "true"
    assert ann[contract.ANNOTATION_SCRAPE_PORT] == str(contract.SERVING_PORT)
    assert ann[contract.ANNOTATION_SCRAPE_PATH] == contract.PATH_METRICS
    assert serve["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}}


def test_security_context_everywhere() -> None:
    spec = _track().deployment["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for c in spec["initContainers"] + spec["containers"]:
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"])


def test_pvc_mounts_claim_read_only_without_fetch() -> None:
    spec = _track({"model": {"uri": "pvc://models/iris/v1.onnx", "version": "v1"}}).deployment
    pod = spec["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    vol = next(v for v in pod["volumes"] if v["name"] == "model")
    assert vol["persistentVolumeClaim"] == {"claimName": "models", "readOnly": True}
    (serve,) = pod["containers"]
    assert _env(serve)[contract.ENV_MODEL_PATH] == "/models/pvc/iris/v1.onnx"
    assert all(m.get("readOnly") for m in serve["volumeMounts"] if m["name"] == "model")


def test_pvc_with_sha256_is_verified_in_place_before_serving() -> None:
    spec = {"model": {"uri": "pvc://models/iris/v1.onnx", "version": "v1", "sha256": SHA}}
    pod = _track(spec).deployment["spec"]["template"]["spec"]
    (verify,) = pod["initContainers"]
    assert verify["name"] == "verify"
    assert verify["args"] == [
        "fetch",
        "file:///models/pvc/iris/v1.onnx",
        "--sha256",
        SHA,
        "--verify-only",
    ]
    mounts = {m["name"]: m for m in verify["volumeMounts"]}
    assert mounts["model"] == {"name": "model", "mountPath": "/models/pvc", "readOnly": True}
    assert "envFrom" not in verify
    # still served where it is: nothing copied into an emptyDir
    (serve,) = pod["containers"]
    assert _env(serve)[contract.ENV_MODEL_PATH] == "/models/pvc/iris/v1.onnx"
    assert not [v for v in pod["volumes"] if "emptyDir" in v and v["name"] == "model"]


def test_file_model_is_fetched_only_to_verify_its_sha256() -> None:
    plain = _track({"model": {"uri": "file:///opt/models/iris.onnx", "version": "v1"}})
    pod = plain.deployment["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    assert _env(pod["containers"][0])[contract.ENV_MODEL_PATH] == "/opt/models/iris.onnx"
    checked = _track(
        {"model": {"uri": "file:///opt/models/iris.onnx", "version": "v1", "sha256": SHA}}
    )
    pod = checked.deployment["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["args"][-2:] == ["--sha256", SHA]
    assert _env(pod["containers"][0])[contract.ENV_MODEL_PATH] == "/models/model.onnx"


def test_credentials_secret_reaches_fetch_only() -> None:
    spec = {
        "model": {
            "uri": "s3://bucket/iris.onnx",
            "version": "v1",
            "sha256": SHA,
            "credentialsSecretRef": {"name": "s3-creds"},
        }
    }
    pod = _track(spec).deployment["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
    assert "envFrom" not in pod["containers"][0]


def test_serving_options_reach_the_pod() -> None:
    spec = {
        "model": {"uri": "file:///m/iris.onnx", "version": "2.0", "name": "flowers"},
        "serving": {
            "replicas": 3,
            "image": "example/custom:1",
            "batching": {"maxBatchSize": 32, "maxDelayMs": 2.5},
            "payloadLog": {"sampleRate": 0.1},
            "env": [{"name": "OMP_NUM_THREADS", "value": "1"}],
            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
        },
    }
    objs = _track(spec, track="canary", pod_annotations={"canaria.dev/dev-cluster-run": "false"})
    dep = objs.deployment
    assert dep["metadata"]["name"] == f"iris-{version_slug('iris', '2.0')}"
    assert dep["spec"]["replicas"] == 3
    pod = dep["spec"]["template"]
    serve = pod["spec"]["containers"][0]
    env = _env(serve)
    assert serve["image"] == "example/custom:1"
    assert env[contract.ENV_MODEL_NAME] == "flowers"
    assert env[contract.ENV_TRACK] == "canary"
    assert env[contract.ENV_MAX_BATCH_SIZE] == "32"
    assert env[contract.ENV_MAX_BATCH_DELAY_MS] == "2.5"
    assert env[contract.ENV_PAYLOAD_LOG_SAMPLE_RATE] == "0.1"
    assert env["OMP_NUM_THREADS"] == "1"
    assert serve["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert pod["metadata"]["annotations"]["canaria.dev/dev-cluster-run"] == "false"
    assert pod["metadata"]["labels"][contract.LABEL_VERSION] == "2.0"


def test_headless_service_allocates_no_cluster_ip() -> None:
    assert "clusterIP" not in _track().service["spec"]
    assert _track(headless=True).service["spec"]["clusterIP"] == "None"


def test_autoscaling_builds_hpa_and_leaves_replicas_to_it() -> None:
    spec = {
        "model": {"uri": "file:///m.onnx", "version": "v1"},
        "serving": {"autoscaling": {"minReplicas": 2, "maxReplicas": 5}},
    }
    objs = _track(spec)
    assert "replicas" not in objs.deployment["spec"]
    assert objs.hpa is not None
    assert objs.hpa["spec"]["minReplicas"] == 2
    assert objs.hpa["spec"]["maxReplicas"] == 5
    assert objs.hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70


def test_spec_hash_tracks_content_only() -> None:
    a, b = _track().deployment, _track().deployment
    assert a["metadata"]["annotations"][ANNOTATION_SPEC_HASH] == spec_hash(a)
    assert spec_hash(a) == spec_hash(b)
    c = _track({"model": {"uri": "https://models.local/iris.onnx", "version": "v2", "sha256": SHA}})
    assert spec_hash(c.deployment) != spec_hash(a)


versions = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(
    version=versions,
    replicas=st.integers(0, 100),
    batch=st.integers(1, 4096),
    rate=st.floats(0, 1),
    track=st.sampled_from(["stable", "canary"]),
)
def test_builders_hold_for_any_valid_spec(
    version: str, replicas: int, batch: int, rate: float, track: str
) -> None:
    spec = {
        "model": {"uri": "file:///m.onnx", "version": version},
        "serving": {
            "replicas": replicas,
            "batching": {"maxBatchSize": batch},
            "payloadLog": {"sampleRate": rate},
        },
    }
    objs = _track(spec, track=track)
    pod = objs.deployment["spec"]["template"]
    assert pod["metadata"]["labels"][contract.LABEL_VERSION] == version
    assert pod["metadata"]["labels"][contract.LABEL_TRACK] == track
    assert objs.deployment["spec"]["replicas"] == replicas
    names = [e["name"] for e in pod["spec"]["containers"][0]["env"]]
    assert len(names) == len(set(names))  # no variable set twice
    assert (contract.ENV_PAYLOAD_LOG_PATH in names) == (rate > 0)
    # every object is owned and carries its own up-to-date hash
    for obj in objs.all():
        assert obj["metadata"]["ownerReferences"][0]["uid"] == "uid-1234"
        assert obj["metadata"]["annotations"][ANNOTATION_SPEC_HASH] == spec_hash(obj)


def test_promotion_relabels_the_deployment_but_keeps_its_pods() -> None:
    md = make_md()
    artifact = Artifact.from_spec(md.spec.model)
    as_canary = build_version(md, artifact, born="canary", role="canary", image=IMAGE)
    promoted = build_version(md, artifact, born="canary", role="stable", image=IMAGE)
    assert as_canary.deployment["spec"] == promoted.deployment["spec"]  # no pod rolls
    assert promoted.deployment["metadata"]["labels"][contract.LABEL_TRACK] == "stable"
    ann = "canaria.dev/template-hash"
    assert (
        as_canary.deployment["metadata"]["annotations"][ann]
        == promoted.deployment["metadata"]["annotations"][ann]
    )
    assert spec_hash(as_canary.deployment) != spec_hash(promoted.deployment)


@settings(max_examples=80, deadline=None)
@given(version=versions, md=st.from_regex(r"[a-z]([a-z0-9-]{0,30}[a-z0-9])?", fullmatch=True))
def test_deployment_names_are_dns_labels_and_distinct(version: str, md: str) -> None:
    name = deployment_name(md, version)
    assert len(name) <= 63
    assert name.startswith(f"{md}-")
    assert all(ch.islower() or ch.isdigit() or ch == "-" for ch in name)
    assert not name.endswith("-")
    other = version.swapcase()
    if other != version:
        assert deployment_name(md, other) != name


def test_router_objects_grant_only_what_the_router_reads() -> None:
    md = make_md({**_SPEC_V1, "rollout": {"traffic": {"stickyHeader": "x-user"}}})
    account, role, binding, dep, budget = router_objects(md, image=IMAGE, replicas=2)
    assert [o["kind"] for o in (account, role, binding, dep, budget)] == [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Deployment",
        "PodDisruptionBudget",
    ]
    assert {o["metadata"]["name"] for o in (account, role, binding, dep, budget)} == {"iris-router"}
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    assert verbs == {"list", "watch"}
    assert {r for rule in role["rules"] for r in rule["resources"]} == {
        "pods",
        "modeldeployments",
    }
    pod = dep["spec"]["template"]
    assert pod["spec"]["serviceAccountName"] == "iris-router"
    args = pod["spec"]["containers"][0]["args"]
    assert args[:4] == ["route", "--kubernetes", "--model", "iris"]
    assert args[args.index("--sticky-header") + 1] == "x-user"
    assert dep["spec"]["replicas"] == 2
    # two replicas: evictions keep one, and each drains after a preStop pause
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    container = pod["spec"]["containers"][0]
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    assert pod["spec"]["terminationGracePeriodSeconds"] > 15
    # one replica: no budget (it would block every eviction)
    assert [o["kind"] for o in router_objects(md, image=IMAGE, replicas=1)][-1] == "Deployment"


_SPEC_V1 = {"model": {"uri": "https://models.local/iris.onnx", "version": "v1", "sha256": SHA}}
