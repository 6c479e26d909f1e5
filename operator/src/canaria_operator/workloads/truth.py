"""Builders of the ground-truth objects (pure): the feedback Service and the acceptance Job.

* ``<md>-feedback``: a headless Service selecting every serving pod of the ModelDeployment
  (all versions). Its DNS name resolves to their pod IPs, which is how a pod that receives
  a feedback call finds the others (no API access needed); only while
  ``spec.serving.feedback`` is set.
* ``<md>-acceptance-<attempt>``: the acceptance Job of one rollout. An init container
  ``canaria fetch`` downloads the dataset (sha256 checked when given; a ``pvc://`` dataset
  is mounted read-only instead, a ``file://`` one read where it is); the container
  ``canaria evaluate`` sends it to the canary's and the stable's Services through V2 and
  writes the result to its termination message, which the operator reads. No retries
  (``backoffLimit: 0``), ``activeDeadlineSeconds`` from the spec, no API access, and the
  Restricted Pod Security Standard like every pod the operator makes.
"""

from __future__ import annotations

from typing import Any

from canaria_operator.api.base import parse_duration
from canaria_operator.api.model import ModelDeployment
from canaria_operator.api.spec import Acceptance
from canaria_operator.workloads.artifact import storage_kind
from canaria_operator.workloads.names import (
    COMPONENT_ACCEPTANCE,
    COMPONENT_SERVING,
    MANAGED_BY,
    PART_OF,
    acceptance_job_name,
    feedback_service_name,
    router_labels,
    service_name,
)
from canaria_operator.workloads.objects import meta, stamp
from canaria_operator.workloads.pod import (
    FETCH_RESOURCES,
    TMP_DIR,
    container_security,
    pod_security,
)
from canaria_serving import contract

__all__ = ["ACCEPTANCE_LABEL", "DATA_DIR", "acceptance_job", "feedback_service"]

Json = dict[str, Any]
ACCEPTANCE_LABEL = "canaria.dev/acceptance"  # the attempt, on the Job and its pod
DATA_DIR = "/data"
_EVALUATE_RESOURCES: Json = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"memory": "512Mi"},
}


def feedback_service(md: ModelDeployment) -> Json:
    labels = {k: v for k, v in router_labels(md.name).items() if k != contract.LABEL_COMPONENT}
    return stamp(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(md, feedback_service_name(md.name), labels),
            "spec": {
                "type": "ClusterIP",
                "clusterIP": "None",
                "selector": {
                    contract.LABEL_MODEL: md.name,
                    contract.LABEL_COMPONENT: COMPONENT_SERVING,
                },
                "ports": [
                    {
                        "name": "http",
                        "port": contract.SERVING_PORT,
                        "targetPort": "http",
                        "protocol": "TCP",
                    }
                ],
            },
        }
    )


def _dataset_path(acc: Acceptance) -> tuple[str, list[Json], list[Json], list[Json]]:
    """(path the evaluation reads, volumes, its mounts, init containers' mounts)."""
    uri = acc.dataset.uri
    kind = storage_kind(uri)
    if kind == "file" and acc.dataset.sha256 is None:
        return uri.removeprefix("file://"), [], [], []
    if kind == "pvc":
        claim, _, path = uri.split("://", 1)[1].partition("/")
        volume = {"name": "data", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
        mount = {"name": "data", "mountPath": DATA_DIR, "readOnly": True}
        return f"{DATA_DIR}/{path}", [volume], [mount], []
    parquet = uri.lower().endswith((".parquet", ".pq"))
    name = (
        "dataset.parquet" if (acc.dataset.format or "") == "Parquet" or parquet else "dataset.csv"
    )
    volume = {"name": "data", "emptyDir": {}}
    return (
        f"{DATA_DIR}/{name}",
        [volume],
        [{"name": "data", "mountPath": DATA_DIR, "readOnly": True}],
        [{"name": "data", "mountPath": DATA_DIR}],
    )


def _evaluate_args(md: ModelDeployment, acc: Acceptance, path: str) -> list[str]:
    port = contract.SERVING_PORT

    def url(track: str) -> str:
        return f"http://{service_name(md.name, track)}:{port}/v2/models/{md.model_name}"

    args = ["evaluate", url(contract.TRACK_CANARY), path]
    args += ["--baseline", url(contract.TRACK_STABLE)]
    args += ["--label-column", acc.dataset.label_column, "--no-progress"]
    args += ["--result-file", "/dev/termination-log"]
    if acc.dataset.format:
        args += ["--format", acc.dataset.format]
    if acc.dataset.features:
        args += ["--features", ",".join(acc.dataset.features)]
    if acc.dataset.max_rows:
        args += ["--max-rows", str(acc.dataset.max_rows)]
    return args


def acceptance_job(
    md: ModelDeployment,
    attempt: str,
    *,
    image: str,
    pull_policy: str = "IfNotPresent",
    pod_annotations: dict[str, str] | None = None,
) -> Json:
    acc = md.spec.rollout.acceptance
    assert acc is not None
    image = md.spec.serving.image or image
    path, volumes, mounts, init_mounts = _dataset_path(acc)
    tmp = {"name": "tmp", "mountPath": TMP_DIR}
    labels = {
        contract.LABEL_NAME: PART_OF,
        contract.LABEL_INSTANCE: md.name,
        contract.LABEL_MANAGED_BY: MANAGED_BY,
        contract.LABEL_MODEL: md.name,
        contract.LABEL_COMPONENT: COMPONENT_ACCEPTANCE,
        ACCEPTANCE_LABEL: attempt,
    }
    evaluate: Json = {
        "name": "evaluate",
        "image": image,
        "imagePullPolicy": pull_policy,
        "command": ["canaria"],
        "args": _evaluate_args(md, acc, path),
        "resources": _EVALUATE_RESOURCES,
        "securityContext": container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [*mounts, tmp],
    }
    spec: Json = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(),
        "restartPolicy": "Never",
        "containers": [evaluate],
        "volumes": [*volumes, {"name": "tmp", "emptyDir": {}}],
    }
    if init_mounts:
        fetch_args = ["fetch", acc.dataset.uri, "--dest", path]
        if acc.dataset.sha256:
            fetch_args += ["--sha256", acc.dataset.sha256]
        fetch: Json = {
            "name": "fetch",
            "image": image,
            "imagePullPolicy": pull_policy,
            "command": ["canaria"],
            "args": fetch_args,
            "resources": FETCH_RESOURCES,
            "securityContext": container_security(),
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "volumeMounts": [*init_mounts, tmp],
        }
        secret = acc.dataset.credentials_secret_ref
        if secret is not None:
            fetch["envFrom"] = [{"secretRef": {"name": secret.name}}]
        spec["initContainers"] = [fetch]
    timeout = int(parse_duration(acc.timeout).total_seconds())
    return stamp(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": meta(md, acceptance_job_name(md.name, attempt), labels),
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": timeout,
                "template": {
                    "metadata": {"labels": labels, "annotations": dict(pod_annotations or {})},
                    "spec": spec,
                },
            },
        }
    )
