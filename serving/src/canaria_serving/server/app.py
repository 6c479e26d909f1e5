"""The application factory: ``create_app(settings)`` (MLServer/KServe style).

Returns an ASGI app: the fast path for hot inference routes in front of a FastAPI app for
everything else. Errors from both map to HTTP in :mod:`errors`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from canaria_serving.server.errors import ApiError, error_body, error_response_parts
from canaria_serving.server.fastpath import FastPath
from canaria_serving.server.routes import build_router
from canaria_serving.server.service import InferenceService
from canaria_serving.settings import ServeSettings

__all__ = ["create_app", "create_app_from_env"]


def _install_error_handlers(api: FastAPI) -> None:
    async def on_api_error(_: Request, exc: Exception) -> Response:
        status, body = error_response_parts(exc)
        return Response(body, status_code=status, media_type="application/json")

    async def on_http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = {404: "not found", 405: "method not allowed"}.get(
            exc.status_code, str(exc.detail)
        )
        headers = dict(exc.headers or {})
        return Response(
            error_body(message),
            status_code=exc.status_code,
            media_type="application/json",
            headers=headers,
        )

    async def on_validation_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"invalid request: {where}: {first.get('msg', 'invalid value')}"
        return Response(error_body(message), status_code=400, media_type="application/json")

    api.add_exception_handler(ApiError, on_api_error)
    api.add_exception_handler(HTTPException, on_http_error)
    api.add_exception_handler(RequestValidationError, on_validation_error)
    api.add_exception_handler(Exception, on_api_error)


def create_app(settings: ServeSettings) -> FastPath:
    """Build the ASGI app; the model loads and warms up in the lifespan startup."""
    service = InferenceService(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.startup()
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
    _install_error_handlers(api)
    api.include_router(build_router(service))
    return FastPath(service, api, settings.max_body_bytes)


def create_app_from_env() -> Any:
    """Factory for uvicorn workers: settings come from ``CANARIA_*`` environment variables."""
    return create_app(ServeSettings())  # type: ignore[call-arg]
