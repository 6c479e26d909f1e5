"""Every client-visible error, and the one place that maps errors to HTTP.

Handlers raise :class:`ApiError` (or a subclass); :func:`error_response_parts` turns any
exception into ``(status, body)``. Unexpected exceptions become a 500 with a generic message
and are logged with their traceback: they are bugs, never a client's fault.
"""

from __future__ import annotations

import logging

import orjson

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
    if isinstance(exc, orjson.JSONDecodeError):
        return 400, error_body(f"malformed JSON body: {exc}")
    if type(exc).__name__ == "InvalidArgument" and type(exc).__module__.startswith("onnxruntime"):
        return 400, error_body(f"the model rejected the input: {exc}")
    log.error("unexpected error while serving a request", exc_info=exc)
    return 500, error_body(f"internal error: {type(exc).__name__}")
