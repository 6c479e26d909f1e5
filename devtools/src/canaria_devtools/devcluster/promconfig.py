"""Prometheus configuration for the dev cluster.

- ``kubernetes-pods``: ``kubernetes_sd_configs`` role ``pod`` (Services get no endpoints for
  loopback pod IPs, so pods are discovered directly). Keeps running pods annotated
  ``prometheus.io/scrape: "true"``, scrapes ``<podIP>:<prometheus.io/port><prometheus.io/path>``
  and adds ``namespace`` and ``pod`` labels. ``honor_labels`` keeps the metrics' own labels
  (``model``, ``version``, ``track``) as exported. Pods, not Services: the analysis compares
  versions, which only pod labels tell apart.

The operator, in-cluster from the chart, is scraped like any pod (its pod annotations).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from canaria_serving.contract import (
    ANNOTATION_SCRAPE,
    ANNOTATION_SCRAPE_PATH,
    ANNOTATION_SCRAPE_PORT,
)

from .certs import Pki

__all__ = ["SCRAPE_INTERVAL", "prometheus_config", "write_prometheus_config"]

SCRAPE_INTERVAL = "2s"


def _meta(annotation: str) -> str:
    """The service-discovery label of a pod annotation (non-alphanumerics become ``_``)."""
    safe = "".join(c if c.isalnum() else "_" for c in annotation)
    return f"__meta_kubernetes_pod_annotation_{safe}"


def prometheus_config(api_server: str, pki: Pki) -> dict[str, Any]:
    tls = {
        "ca_file": str(pki.ca_crt),
        "cert_file": str(pki.admin_crt),
        "key_file": str(pki.admin_key),
    }
    pods_job = {
        "job_name": "kubernetes-pods",
        "honor_labels": True,
        "kubernetes_sd_configs": [{"role": "pod", "api_server": api_server, "tls_config": tls}],
        "relabel_configs": [
            {"source_labels": [_meta(ANNOTATION_SCRAPE)], "action": "keep", "regex": "true"},
            {
                "source_labels": ["__meta_kubernetes_pod_phase"],
                "action": "keep",
                "regex": "Running",
            },
            {
                "source_labels": [_meta(ANNOTATION_SCRAPE_PATH)],
                "action": "replace",
                "regex": "(.+)",
                "target_label": "__metrics_path__",
            },
            {
                "source_labels": ["__meta_kubernetes_pod_ip", _meta(ANNOTATION_SCRAPE_PORT)],
                "action": "replace",
                "regex": r"(.+);(\d+)",
                "replacement": "$1:$2",
                "target_label": "__address__",
            },
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        ],
    }
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": [pods_job],
    }


def write_prometheus_config(path: Path, api_server: str, pki: Pki) -> Path:
    path.write_text(yaml.safe_dump(prometheus_config(api_server, pki), sort_keys=False))
    return path
