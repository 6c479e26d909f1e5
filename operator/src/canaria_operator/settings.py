"""Operator settings (environment ``CANARIA_OPERATOR_*`` or flags of `canaria operator`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from canaria_serving import contract

__all__ = ["OperatorSettings"]


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CANARIA_OPERATOR_", extra="ignore", frozen=True)

    # Image of the serving pods (fetch init container and `canaria serve`).
    image: str = "ghcr.io/canaria-dev/canaria:0.1.0"
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    # Namespaces to watch; empty = the whole cluster.
    namespaces: tuple[str, ...] = ()
    # Default Prometheus for analysis (spec.rollout.analysis.prometheusUrl overrides it).
    prometheus_url: str = "http://127.0.0.1:9090"
    # Extra annotations on every serving pod (e.g. canaria.dev/dev-cluster-run: "false" to
    # have the dev cluster simulate pods with kwok instead of running them).
    pod_annotations: dict[str, str] = Field(default_factory=dict)
    # Headless track Services (clusterIP None): no ClusterIP is allocated, for clusters with a
    # small service range (the dev cluster's is a /24) or when only pod IPs are used.
    headless_services: bool = False
    # Pods of each model's router (traffic mode Builtin).
    router_replicas: int = Field(default=2, ge=1)
    log_format: Literal["text", "json"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    health_port: int = contract.OPERATOR_HEALTH_PORT
    metrics_port: int = contract.OPERATOR_METRICS_PORT
    # Peering: only one operator with the same peering name is active at a time.
    peering_name: str = "canaria"
    # A crashed operator's peering record blocks its successor for up to this long (seconds).
    peering_lifetime: int = Field(default=30, ge=5)
    # Level-based re-check of every ModelDeployment (seconds).
    resync_interval: float = Field(default=30.0, gt=0)
    # kopf watch: server-side timeout and client-side timeout of a watch request (seconds).
    watch_server_timeout: int = Field(default=300, ge=10)
    watch_client_timeout: int = Field(default=330, ge=10)
    # Delay before retrying a failed reconcile (seconds).
    retry_delay: float = Field(default=5.0, gt=0)
    kubeconfig: str | None = None
    # MLflow webhooks (model_version_alias.created) on their own port; 0 = off. The HMAC
    # secret is the one given to MLflow when the webhook was created.
    webhook_port: int = Field(default=0, ge=0, le=65535)
    webhook_secret: str | None = None
