"""What passes the schema but cannot work: Degraded with a reason and an Event, no crash
loop, and the other ModelDeployments keep being served."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cluster.kube import run
from tests.operator_cluster.support import (
    Models,
    OperatorProcess,
    apply_md,
    condition,
    events,
    owned,
    phase_is,
    wait_md,
)

pytestmark = pytest.mark.cluster


def _degraded_because(reason: str) -> Any:
    def check(md: dict[str, Any]) -> bool:
        cond = condition(md, "Degraded")
        return cond is not None and cond["status"] == "True" and cond["reason"] == reason

    return check


def test_unknown_secret_degrades_only_its_object(
    crds: Any, namespace: str, operator: OperatorProcess, models: Models
) -> None:
    # the model store ignores the token; the fetch sends it (CANARIA_FETCH_BEARER_TOKEN)
    locked = {"model": {**models("v1"), "credentialsSecretRef": {"name": "s3-creds"}}}
    apply_md(crds, namespace, "locked", locked)
    apply_md(crds, namespace, "healthy", {"model": models("v1")})
    md = wait_md(
        crds, namespace, "locked", "Degraded SecretNotFound", _degraded_because("SecretNotFound")
    )
    assert md["status"]["phase"] == "Degraded"
    cond = condition(md, "Degraded")
    assert cond is not None
    assert "Secret 's3-creds' not found" in cond["message"]
    warnings = [e for e in events(crds, namespace, "locked") if e["type"] == "Warning"]
    assert "SecretNotFound" in {e["reason"] for e in warnings}
    # no pods that could only fail: the track waits for its Secret
    assert owned(crds, namespace, "deployment", "locked") == []
    # the other object is served, the operator is alive and counts no crash
    wait_md(crds, namespace, "healthy", "Ready", phase_is("Ready"))
    assert operator.proc is not None
    assert operator.proc.poll() is None

    # the Secret appears: the level-based re-check picks it up without any spec change
    run(
        crds,
        "kubectl",
        "create",
        "secret",
        "generic",
        "s3-creds",
        "-n",
        namespace,
        "--from-literal=CANARIA_FETCH_BEARER_TOKEN=t0ken",
    )
    md = wait_md(crds, namespace, "locked", "Ready after the Secret appeared", phase_is("Ready"))
    cond = condition(md, "Degraded")
    assert cond is not None
    assert (cond["status"], cond["reason"]) == ("False", "AsExpected")
    (dep,) = owned(crds, namespace, "deployment", "locked")
    fetch = dep["spec"]["template"]["spec"]["initContainers"][0]
    assert fetch["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
