"""The pod template of a serving track (pure: spec in, JSON-ready dict out).

* init container ``fetch``: ``canaria fetch <uri> --dest /models/model.onnx [--sha256 ..]``
  into an emptyDir, with the credentials Secret as environment (``envFrom``). ``pvc://``
  models are not copied (the claim is mounted read-only and served in place): with a sha256
  an init container ``verify`` runs ``canaria fetch --verify-only`` on the mounted file, so a
  wrong file never serves (the check is made when the pod starts). A ``file://`` model
  without sha256 (a path inside the image) is served where it is.
* container ``serve``: ``canaria serve`` configured by ``CANARIA_*`` env (contract names),
  startup/readiness probes on /readyz, liveness on /healthz, Prometheus scrape annotations.
* non-root, read-only root filesystem, all capabilities dropped, seccomp RuntimeDefault.
"""

from __future__ import annotations

from typing import Any

from canaria_operator.api.base import parse_duration
from canaria_operator.api.spec import Serving
from canaria_operator.workloads.artifact import Artifact
from canaria_operator.workloads.names import feedback_service_name
from canaria_serving import contract

__all__ = [
    "FETCH_RESOURCES",
    "MODEL_DIR",
    "MODEL_FILE",
    "PAYLOAD_LOG_FILE",
    "PRESTOP_SECONDS",
    "RUN_AS",
    "TMP_DIR",
    "container_security",
    "http_probe",
    "pod_security",
    "pod_template",
]

Json = dict[str, Any]

# Seconds a going pod keeps serving before it is told to stop (both the serving and the
# router pods): its endpoints are removed meanwhile.
PRESTOP_SECONDS = 5

MODEL_DIR = "/models"
MODEL_FILE = f"{MODEL_DIR}/model.onnx"
# an MLflow model directory is fetched here; the server loads its model.onnx, and
# onnxruntime finds the external data files beside it
MODEL_DIRECTORY = f"{MODEL_DIR}/model"
PVC_MOUNT = f"{MODEL_DIR}/pvc"
TMP_DIR = "/tmp"
PAYLOAD_DIR = "/var/log/canaria"
PAYLOAD_LOG_FILE = f"{PAYLOAD_DIR}/payloads.jsonl"
RUN_AS = contract.RUN_AS_UID
FETCH_RESOURCES: Json = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"memory": "256Mi"},
}


def container_security() -> Json:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security() -> Json:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _env(name: str, value: object) -> Json:
    return {"name": name, "value": str(value)}


def http_probe(path: str, period: int, failures: int) -> Json:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _needs_fetch(artifact: Artifact) -> bool:
    """Remote models are fetched; a file:// model inside the image only when its sha256 must
    be verified (the copy is checked); pvc:// never (the claim is mounted)."""
    if artifact.kind == "file":
        return artifact.sha256 is not None
    return artifact.kind != "pvc"


def _verify_container(
    artifact: Artifact, model_path: str, image: str, pull: str, mounts: list[Json]
) -> Json:
    """``pvc://`` with sha256: check the mounted file's digest in place before serving."""
    assert artifact.sha256 is not None
    return {
        "name": "verify",
        "image": image,
        "imagePullPolicy": pull,
        "command": ["canaria"],
        "args": ["fetch", f"file://{model_path}", "--sha256", artifact.sha256, "--verify-only"],
        "resources": FETCH_RESOURCES,
        "securityContext": container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [*mounts, {"name": "tmp", "mountPath": TMP_DIR}],
    }


def _model_source(artifact: Artifact) -> tuple[str, list[Json], list[Json], list[Json]]:
    """(model path, volumes, serve mounts, init containers' mounts) for the artifact."""
    if artifact.kind == "file" and not _needs_fetch(artifact):
        return artifact.uri.removeprefix("file://"), [], [], []
    if artifact.kind == "pvc":
        claim, path = artifact.pvc_claim_and_path()
        volume = {"name": "model", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
        mount = {"name": "model", "mountPath": PVC_MOUNT, "readOnly": True}
        return f"{PVC_MOUNT}/{path}", [volume], [mount], []
    volume = {"name": "model", "emptyDir": {}}
    return (
        f"{MODEL_DIRECTORY}/model.onnx" if artifact.kind == "mlflow" else MODEL_FILE,
        [volume],
        [{"name": "model", "mountPath": MODEL_DIR, "readOnly": True}],
        [{"name": "model", "mountPath": MODEL_DIR}],
    )


def _fetch_container(artifact: Artifact, image: str, pull: str, mounts: list[Json]) -> Json:
    dest = MODEL_DIRECTORY if artifact.kind == "mlflow" else MODEL_FILE
    args = ["fetch", artifact.uri, "--dest", dest]
    if artifact.sha256:
        args += ["--sha256", artifact.sha256]
    container: Json = {
        "name": "fetch",
        "image": image,
        "imagePullPolicy": pull,
        "command": ["canaria"],
        "args": args,
        "resources": FETCH_RESOURCES,
        "securityContext": container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [*mounts, {"name": "tmp", "mountPath": TMP_DIR}],
    }
    if artifact.credentials_secret:
        container["envFrom"] = [{"secretRef": {"name": artifact.credentials_secret}}]
    return container


def _serve_env(
    model_name: str,
    track: str,
    artifact: Artifact,
    serving: Serving,
    model_path: str,
    *,
    md_name: str,
) -> list[Json]:
    env = [
        _env(contract.ENV_MODEL_PATH, model_path),
        _env(contract.ENV_MODEL_NAME, model_name),
        _env(contract.ENV_MODEL_VERSION, artifact.version),
        _env(contract.ENV_TRACK, track),
        # every address of the pod: the pod IP, and 127.0.0.1 for port-forward and sidecars
        _env(contract.ENV_HOST, "0.0.0.0"),
        _env(contract.ENV_PORT, contract.SERVING_PORT),
        _env(contract.ENV_WORKERS, serving.workers),
        _env(contract.ENV_MAX_BATCH_SIZE, serving.batching.max_batch_size),
        _env(contract.ENV_MAX_BATCH_DELAY_MS, serving.batching.max_delay_ms),
        _env(f"{contract.ENV_PREFIX}LOG_FORMAT", "json"),
    ]
    if serving.payload_log.sample_rate > 0:
        env += [
            _env(contract.ENV_PAYLOAD_LOG_PATH, PAYLOAD_LOG_FILE),
            _env(contract.ENV_PAYLOAD_LOG_SAMPLE_RATE, serving.payload_log.sample_rate),
        ]
    env += _feedback_env(serving, md_name)
    env += [_env(e.name, e.value) for e in serving.env]
    return env


def _feedback_env(serving: Serving, md_name: str) -> list[Json]:
    """Ground-truth feedback: how long and how many predictions the pod keeps, and the
    headless Service listing every serving pod of the model (the fan-out's peers)."""
    fb = serving.feedback
    if fb is None:
        return []
    return [
        _env(contract.ENV_FEEDBACK_RETENTION_S, parse_duration(fb.retention).total_seconds()),
        _env(contract.ENV_FEEDBACK_MAX_PREDICTIONS, fb.max_predictions),
        _env(contract.ENV_FEEDBACK_PEERS, feedback_service_name(md_name)),
    ]


def _resources(serving: Serving) -> Json:
    res = serving.resources.model_dump(by_alias=True, exclude_none=True)
    return {k: v for k, v in res.items() if v}


def pod_template(
    *,
    model_name: str,
    track: str,
    artifact: Artifact,
    serving: Serving,
    labels: dict[str, str],
    image: str,
    pull_policy: str = "IfNotPresent",
    annotations: dict[str, str] | None = None,
    extra_env: list[Json] | None = None,
) -> Json:
    """``spec.template`` of the track's Deployment."""
    image = serving.image or image
    model_path, volumes, serve_mounts, init_mounts = _model_source(artifact)
    volumes = [*volumes, {"name": "tmp", "emptyDir": {}}]
    serve_mounts = [*serve_mounts, {"name": "tmp", "mountPath": TMP_DIR}]
    if serving.payload_log.sample_rate > 0:
        volumes.append({"name": "payload-log", "emptyDir": {}})
        serve_mounts.append({"name": "payload-log", "mountPath": PAYLOAD_DIR})
    serve: Json = {
        "name": "serve",
        "image": image,
        "imagePullPolicy": pull_policy,
        "command": ["canaria"],
        "args": ["serve"],
        "env": [
            *_serve_env(
                model_name,
                track,
                artifact,
                serving,
                model_path,
                md_name=labels[contract.LABEL_MODEL],
            ),
            *(extra_env or []),
        ],
        "ports": [{"name": "http", "containerPort": contract.SERVING_PORT, "protocol": "TCP"}],
        "startupProbe": http_probe(contract.PATH_READY, 2, 150),
        "readinessProbe": http_probe(contract.PATH_READY, 5, 2),
        "livenessProbe": http_probe(contract.PATH_LIVE, 10, 3),
        # Before SIGTERM: time for kube-proxy and the routers to drop the going pod, so no new
        # connection reaches a server that stopped listening (Replicas mode: the Service
        # itself sends clients to these pods).
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_SECONDS}}},
        "resources": _resources(serving),
        "securityContext": container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": serve_mounts,
    }
    spec: Json = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(),
        "terminationGracePeriodSeconds": 40,
        "containers": [serve],
        "volumes": volumes,
    }
    if _needs_fetch(artifact):
        spec["initContainers"] = [_fetch_container(artifact, image, pull_policy, init_mounts)]
    elif artifact.kind == "pvc" and artifact.sha256:
        verify = _verify_container(artifact, model_path, image, pull_policy, serve_mounts[:1])
        spec["initContainers"] = [verify]
    return {
        "metadata": {
            "labels": dict(labels),
            "annotations": {
                contract.ANNOTATION_SCRAPE: "true",
                contract.ANNOTATION_SCRAPE_PORT: str(contract.SERVING_PORT),
                contract.ANNOTATION_SCRAPE_PATH: contract.PATH_METRICS,
                **(annotations or {}),
            },
        },
        "spec": spec,
    }
