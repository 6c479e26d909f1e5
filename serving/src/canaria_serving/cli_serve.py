"""`canaria serve MODEL.onnx`: serve one ONNX model over HTTP.

Settings come from ``CANARIA_*`` environment variables (as pods receive them); flags override.
Nothing heavy is imported until the command runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from canaria_serving import contract

__all__ = ["register", "run_serve"]

# flag -> settings field
_FLAGS: dict[str, str] = {
    "name": "model_name",
    "version": "model_version",
    "track": "track",
    "host": "host",
    "port": "port",
    "workers": "workers",
    "max_batch_size": "max_batch_size",
    "max_batch_delay_ms": "max_batch_delay_ms",
    "payload_log": "payload_log_path",
    "payload_log_sample_rate": "payload_log_sample_rate",
    "max_body_bytes": "max_body_bytes",
    "max_rows": "max_rows",
    "allow_non_finite": "allow_non_finite",
    "intra_op_threads": "intra_op_threads",
    "large_intra_op_threads": "large_intra_op_threads",
    "request_timeout": "request_timeout_s",
    "log_format": "log_format",
    "log_level": "log_level",
}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve an ONNX model (Open Inference Protocol V2, V1, /predict, /metrics)",
        description=__doc__,
    )
    p.add_argument(
        "model",
        nargs="?",
        type=Path,
        help=f"the .onnx file, or a directory holding one and its external data "
        f"(env {contract.ENV_MODEL_PATH})",
    )
    p.add_argument("--name", help="served model name (default: model card, else file stem)")
    p.add_argument("--version", help="model version (default: model card, else '1')")
    p.add_argument("--track", choices=contract.TRACKS)
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help=f"default {contract.SERVING_PORT}")
    p.add_argument("--workers", type=int, help="worker processes (default 1, the fastest here)")
    p.add_argument("--max-batch-size", type=int, help="micro-batch concurrent rows (1 = off)")
    p.add_argument("--max-batch-delay-ms", type=float, help="max wait to fill a micro-batch")
    p.add_argument("--payload-log", type=Path, help="JSON-lines payload log file (off if unset)")
    p.add_argument("--payload-log-sample-rate", type=float, help="fraction of requests logged")
    p.add_argument("--max-body-bytes", type=int)
    p.add_argument("--max-rows", type=int)
    p.add_argument(
        "--allow-non-finite",
        action="store_true",
        default=None,
        help="accept NaN/Inf inputs (rejected by default)",
    )
    p.add_argument("--intra-op-threads", type=int, help="onnxruntime threads per call (0 = all)")
    p.add_argument(
        "--large-intra-op-threads",
        type=int,
        help="onnxruntime threads for large requests and slow models (default 0 = all)",
    )
    p.add_argument(
        "--request-timeout",
        type=float,
        help="seconds a model call may take before its requests get a 503 (default 60)",
    )
    p.add_argument("--log-format", choices=("text", "json"))
    p.add_argument("--log-level")
    p.set_defaults(func=run_serve)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def run_serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from canaria_serving.settings import ServeSettings

    overrides: dict[str, Any] = {
        field: getattr(args, flag)
        for flag, field in _FLAGS.items()
        if getattr(args, flag) is not None
    }
    if args.model is not None:
        overrides["model_path"] = args.model
    try:
        settings = ServeSettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        print(f"canaria serve: invalid settings: {problems}", file=sys.stderr)
        return 2
    if not settings.model_path.exists():
        print(f"canaria serve: model file not found: {settings.model_path}", file=sys.stderr)
        return 2
    setup_logging(settings.log_format, settings.log_level)
    import uvicorn

    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "on",
        "access_log": False,
        "log_config": None,
        "timeout_graceful_shutdown": settings.graceful_timeout_s,
        "server_header": False,
    }
    if settings.workers == 1:
        from canaria_serving.server import create_app

        uvicorn.run(create_app(settings), **common)
        return 0
    # several workers: each rebuilds the settings from the environment; metrics are shared
    # through prometheus-client's multiprocess mode (a fresh directory per run)
    for field, value in settings.model_dump(exclude_none=True).items():
        os.environ[f"{contract.ENV_PREFIX}{field.upper()}"] = str(value)
    with tempfile.TemporaryDirectory(prefix="canaria-metrics-") as mpdir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = mpdir
        uvicorn.run(
            "canaria_serving.server.app:create_app_from_env",
            factory=True,
            workers=settings.workers,
            **common,
        )
    return 0
