"""Every client-visible error, and the one place that maps errors to HTTP.

Handlers raise :class:`ApiError` (or a subclass); :func:`error_response_parts` turns any
exception into ``(status, body)``. Unexpected exceptions become a 500 with a generic message
and are logged with their traceback: they are bugs, never a client's fault.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from canaria_serving.runtime.batcher import BatcherStalled, BatcherStopped

__all__ = [
    "ApiError",
    "BadRequest",
    "MethodNotAllowed",
    "NotFound",
    "NotReady",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "error_body",
    "error_response_parts",
    "install_error_handlers",
]

log = logging.getLogger("canaria.serve")


class ApiError(Exception):
    """An error with an HTTP status and a message meant for the client."""

    status: int = 500

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadRequest(ApiError):
    status = 400


class NotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    status = 405


class PayloadTooLarge(ApiError):
    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


class NotReady(ApiError):
    status = 503


def error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})


def error_response_parts(exc: BaseException) -> tuple[int, bytes]:
    """The single mapping from an exception to an HTTP status and a JSON body."""
    if isinstance(exc, ApiError):
        return exc.status, error_body(exc.message)
    if isinstance(exc, BatcherStalled | BatcherStopped):
        # the model did not answer in time, or the server is stopping: try another replica
        return 503, error_body(str(exc))
    if isinstance(exc, orjson.JSONDecodeError):
        return 400, error_body(f"malformed JSON body: {exc}")
    if type(exc).__module__.startswith("onnxruntime"):
        # Inputs reach onnxruntime only after they matched the graph's names, types and
        # shapes: a failure now (any onnxruntime error, InvalidArgument included) is the
        # model's, for input it declares it accepts. 500, so that error-rate analysis sees it.
        log.error("the model failed on a valid input: %s", exc)
        return 500, error_body(f"the model failed on this input: {exc}")
    log.error("unexpected error while serving a request", exc_info=exc)
    return 500, error_body(f"internal error: {type(exc).__name__}")


def install_error_handlers(api: FastAPI) -> None:
    """FastAPI's own errors (unknown path, method, validation) in the same JSON shape."""

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
