"""The application factory: ``create_app(settings)`` (MLServer/KServe style).

Returns an ASGI app: the fast path for hot inference routes in front of a FastAPI app for
everything else. Errors from both map to HTTP in :mod:`errors`, and only there.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from canaria_serving.runtime.loading import ModelLoadError
from canaria_serving.server.errors import install_error_handlers
from canaria_serving.server.fastpath import FastPath
from canaria_serving.server.retirement import serving_app
from canaria_serving.server.routes import build_router
from canaria_serving.server.service import InferenceService
from canaria_serving.settings import ServeSettings

__all__ = ["create_app", "create_app_from_env"]

log = logging.getLogger("canaria.serve")


def create_app(settings: ServeSettings) -> FastPath:
    """Build the ASGI app; the model loads and warms up in the lifespan startup."""
    service = InferenceService(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            await service.startup()
        except ModelLoadError as exc:  # said once, plainly, before uvicorn's own report
            log.error("cannot serve %s: %s", settings.model_path, exc)
            raise
        try:
            yield
        finally:
            await service.shutdown()

    api = FastAPI(
        title="canaria serve",
        version="0.1.0",
        lifespan=lifespan,
        description="Open Inference Protocol V2, V1 and a simple predict API for one ONNX model.",
    )
    install_error_handlers(api)
    api.include_router(build_router(service))
    return serving_app(service, api, settings)


def create_app_from_env() -> Any:
    """Factory for uvicorn workers: settings come from ``CANARIA_*`` environment variables."""
    return create_app(ServeSettings())  # type: ignore[call-arg]
