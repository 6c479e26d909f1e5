"""Settings of `canaria serve`: environment variables with the ``CANARIA_`` prefix.

Pods receive them as ``CANARIA_MODEL_PATH``, ``CANARIA_PORT``, ... (names in
:mod:`canaria_serving.contract`); command-line flags override them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from canaria_serving import contract

__all__ = ["ServeSettings"]


class ServeSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=contract.ENV_PREFIX, extra="ignore", frozen=True, protected_namespaces=()
    )

    model_path: Path
    model_name: str | None = Field(
        default=None, description="default: the model card's name, else the file stem"
    )
    model_version: str | None = Field(
        default=None, description="default: the card's version, else '1'"
    )
    track: Literal["stable", "canary"] = contract.TRACK_STABLE
    host: str = "127.0.0.1"
    port: int = Field(default=contract.SERVING_PORT, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    # micro-batching of concurrent single-row requests; 1 = off. Default: up to 16 rows that
    # are already waiting, never waiting for more (delay 0). bench/serving_bench.py measured
    # 1.56x the throughput of no batching (won 3 of 3 rounds, p99 4.5 ms vs 17 ms) at load ~3;
    # under heavy CPU contention (load 7-9) results were mixed (0.92x-1.36x). A delay lost.
    max_batch_size: int = Field(default=16, ge=1, le=4096)
    max_batch_delay_ms: float = Field(default=0.0, ge=0.0, le=1000.0)
    payload_log_path: Path | None = None
    payload_log_sample_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    payload_log_queue: int = Field(default=10_000, ge=1)
    # request limits and input policy
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    max_rows: int = Field(default=100_000, ge=1)
    allow_non_finite: bool = False  # NaN/Inf in numeric inputs are rejected by default
    # requests with at most this many rows run on the event loop; bigger ones in a thread
    inline_rows: int = Field(default=64, ge=0)
    intra_op_threads: int = Field(
        default=1, ge=0, description="onnxruntime threads per call; 0 = all cores"
    )
    # onnxruntime threads for requests with more than inline_rows rows (run in a worker thread);
    # 0 = all cores. A second session is created only when it differs from intra_op_threads.
    large_intra_op_threads: int = Field(default=0, ge=0)
    # a model call that has not returned by then fails its requests with a 503 and turns
    # readiness false until it returns
    request_timeout_s: float = Field(default=60.0, gt=0)
    drift_window: int = Field(default=5_000, ge=10)
    drift_min_rows: int = Field(default=50, ge=1)
    drift_interval_s: float = Field(default=5.0, gt=0)
    graceful_timeout_s: float = Field(default=30.0, ge=0)
    # retirement (the operator sets them from spec.retire): Deprecation and Sunset headers
    sunset: datetime | None = None
    deprecated_at: datetime | None = None
    log_format: Literal["text", "json"] = "text"
    log_level: str = "info"
