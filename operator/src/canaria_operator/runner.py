"""Start kopf with the Canaria registry, logging, metrics and the liveness endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

import kopf

from canaria_operator.handlers import build_registry, configure_kopf
from canaria_operator.metrics import OperatorMetrics
from canaria_operator.settings import OperatorSettings

__all__ = ["run_operator"]


def _configure_logging(settings: OperatorSettings) -> None:
    fmt = kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL
    kopf.configure(verbose=settings.log_level == "DEBUG", log_format=fmt, log_refkey="object")
    logging.getLogger().setLevel(settings.log_level)
    for noisy in ("aiohttp.access", "kubernetes_asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_operator(settings: OperatorSettings, *, priority: int = 0) -> int:
    _configure_logging(settings)
    if settings.kubeconfig:
        os.environ["KUBECONFIG"] = settings.kubeconfig  # kopf's own login reads it
    metrics = OperatorMetrics()
    metrics.serve(settings.metrics_port)
    registry = build_registry(settings)

    @kopf.on.login(id="login", registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if settings.kubeconfig or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            return kopf.login_with_kubeconfig(**kwargs)
        return kopf.login_with_service_account(**kwargs)

    kopf_settings = kopf.OperatorSettings()
    configure_kopf(kopf_settings, settings)
    memo = kopf.Memo(settings=settings, metrics=metrics)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            kopf.operator(
                registry=registry,
                settings=kopf_settings,
                memo=memo,
                priority=priority,
                peering_name=settings.peering_name,
                clusterwide=not settings.namespaces,
                namespaces=settings.namespaces,
                liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz",
            )
        )
    return 0
