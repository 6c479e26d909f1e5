"""A thin ASGI layer in front of FastAPI for the hot inference routes.

``POST /predict``, ``/predict_batch``, ``/v2/models/{m}[/versions/{v}]/infer`` and
``/v1/models/{m}:predict`` are dispatched here straight to :class:`InferenceService`, without
routing tables, dependency injection or response models: that overhead is most of a request's
cost on a tabular model. Everything else (metadata, health, metrics, OpenAPI) goes to FastAPI.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from canaria_serving.feedback import ids
from canaria_serving.server.codec import BinaryResponse
from canaria_serving.server.errors import (
    BadRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    error_response_parts,
)
from canaria_serving.server.service import InferenceService

__all__ = ["FastPath"]

_JSON_HEADERS = [(b"content-type", b"application/json")]


def _route(path: str) -> tuple[str, tuple[Any, ...]] | None:
    """Hot route of ``path`` as (protocol, handler args), or None for FastAPI."""
    if path == "/predict":
        return "predict", ("predict",)
    if path == "/predict_batch":
        return "predict", ("predict_batch",)
    if path.startswith("/v2/models/") and path.endswith("/infer"):
        parts = path[len("/v2/models/") : -len("/infer")].split("/")
        if len(parts) == 1 and parts[0]:
            return "v2", ("infer_v2", parts[0], None)
        if len(parts) == 3 and parts[1] == "versions" and parts[0] and parts[2]:
            return "v2", ("infer_v2", parts[0], parts[2])
        return None
    if path.startswith("/v1/models/") and path.endswith(":predict"):
        model = path[len("/v1/models/") : -len(":predict")]
        if model and "/" not in model:
            return "v1", ("predict_v1", model)
    return None


class FastPath:
    def __init__(self, service: InferenceService, fallback: ASGIApp, max_body_bytes: int) -> None:
        self.service = service
        self.fallback = fallback
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _route(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.fallback(scope, receive, send)
            return
        protocol, (method, *args) = route
        started = time.perf_counter()
        rid: str | None = None
        header_length: int | None = None
        try:
            if scope["method"] != "POST":
                raise MethodNotAllowed(
                    f"{scope['method']} is not allowed on {scope['path']}; use POST"
                )
            for key, value in scope["headers"]:
                if key == b"content-type":
                    _check_content_type(value)
                elif key == b"x-request-id":
                    rid = value.decode("latin-1")[:128]
                elif key == b"content-length" and value.isdigit() and int(value) > self.max_body:
                    raise PayloadTooLarge(self._too_large())
                elif key == b"inference-header-content-length":
                    header_length = _header_length(value, method)
                elif key == b"content-encoding" and value.lower() not in (b"identity", b""):
                    raise UnsupportedMediaType(
                        f"content encoding {value.decode('latin-1')!r} is not supported"
                    )
            body = await self._read_body(receive)
        except Exception as exc:
            status, payload = error_response_parts(exc)
            self.service.count(protocol, status, started)
            await _respond(send, status, payload, allow=status == 405)
            return
        extra = () if header_length is None else (header_length,)
        answered = ids.slot(rid or ids.new_id())  # the client's id, or one assigned here
        status, payload = await self.service.handle(
            protocol, getattr(self.service, method), *args, body, answered[0], *extra
        )
        await _respond(send, status, payload, request_id=answered[0])

    def _too_large(self) -> str:
        return f"request body is larger than the limit of {self.max_body} bytes"

    async def _read_body(self, receive: Receive) -> bytes:
        message = await receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > self.max_body:
                raise PayloadTooLarge(self._too_large())
            return body
        chunks = [body]
        size = len(body)
        while message.get("more_body", False):
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise PayloadTooLarge(self._too_large())
            chunks.append(chunk)
        return b"".join(chunks)


def _header_length(value: bytes, method: str) -> int:
    """The binary tensor data extension's JSON header length (V2 infer only)."""
    if method != "infer_v2":
        raise BadRequest("the binary tensor data extension is only for V2 infer requests")
    if not value.isdigit():
        raise BadRequest(
            "Inference-Header-Content-Length must be a non-negative integer, got "
            f"{value.decode('latin-1')[:40]!r}"
        )
    return int(value)


def _check_content_type(value: bytes) -> None:
    media = value.split(b";", 1)[0].strip().lower()
    if media and b"json" not in media and media != b"application/octet-stream":
        raise UnsupportedMediaType(
            f"content type {media.decode('latin-1')!r} is not supported; send application/json"
        )


async def _respond(
    send: Send, status: int, body: bytes, allow: bool = False, request_id: str | None = None
) -> None:
    if isinstance(body, BinaryResponse):
        headers = [
            (b"content-type", b"application/octet-stream"),
            (b"inference-header-content-length", str(body.json_length).encode()),
            (b"content-length", str(len(body)).encode()),
        ]
    else:
        headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    if allow:
        headers.append((b"allow", b"POST"))
    if request_id is not None:
        headers.append((b"x-request-id", request_id.encode("latin-1", "replace")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
