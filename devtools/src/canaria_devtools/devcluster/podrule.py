"""Which pods the local pod runner runs as real processes (the rest stay simulated by kwok).

Rule, in order:

1. annotation ``canaria.dev/dev-cluster-run: "true"``  -> run by the runner;
2. annotation ``canaria.dev/dev-cluster-run: "false"`` -> simulated by kwok (always Ready);
3. otherwise: run by the runner if any container's image reference contains ``canaria``.

The same rule exists twice: as Python (the runner) and as a gojq expression that kwok's stage
selectors evaluate (so kwok never marks a runner pod Ready by itself). Keep them in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ANNOTATION_RUN", "IMAGE_MARKER", "KWOK_QUERY", "is_runner_pod"]

ANNOTATION_RUN = "canaria.dev/dev-cluster-run"
IMAGE_MARKER = "canaria"

KWOK_QUERY = (
    f'(.metadata.annotations["{ANNOTATION_RUN}"] // "") as $run'
    ' | if $run == "true" then true elif $run == "false" then false'
    f' else ([(.spec.containers // [])[] | (.image // "") | contains("{IMAGE_MARKER}")] | any)'
    " end"
)


def is_runner_pod(pod: Mapping[str, Any]) -> bool:
    """The Python twin of :data:`KWOK_QUERY` for a pod as a JSON-like dict."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    run = annotations.get(ANNOTATION_RUN, "")
    if run == "true":
        return True
    if run == "false":
        return False
    containers = (pod.get("spec") or {}).get("containers") or []
    return any(IMAGE_MARKER in str(c.get("image") or "") for c in containers)
