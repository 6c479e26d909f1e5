"""Retirement notices: ``Deprecation`` (RFC 9745) and ``Sunset`` (RFC 8594) on every response
while the model is being retired (``CANARIA_SUNSET``, set by the operator from
``spec.retire``), and the same dates in the V2 model metadata (``parameters``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from canaria_serving.server.fastpath import FastPath
from canaria_serving.server.service import InferenceService
from canaria_serving.settings import ServeSettings

__all__ = ["Notice", "RetiringFastPath", "serving_app"]


@dataclass(frozen=True)
class Notice:
    sunset: datetime
    deprecated_at: datetime | None = None

    def headers(self) -> list[tuple[bytes, bytes]]:
        out = [(b"sunset", format_datetime(self.sunset, usegmt=True).encode())]
        if self.deprecated_at is not None:
            # RFC 9745: a Structured Field Date, "@" and seconds since the epoch
            out.insert(0, (b"deprecation", f"@{int(self.deprecated_at.timestamp())}".encode()))
        return out

    def parameters(self) -> dict[str, Any]:
        params: dict[str, Any] = {"deprecated": True, "sunset": self.sunset.isoformat()}
        if self.deprecated_at is not None:
            params["deprecation"] = self.deprecated_at.isoformat()
        return params


def _is_metadata(scope: Scope) -> bool:
    """``GET /v2/models/{m}`` or ``/v2/models/{m}/versions/{v}``."""
    parts = scope["path"].strip("/").split("/")
    return scope["method"] == "GET" and (
        (len(parts) == 3 and parts[:2] == ["v2", "models"])
        or (len(parts) == 5 and parts[:2] == ["v2", "models"] and parts[3] == "versions")
    )


class RetiringFastPath(FastPath):
    def __init__(
        self, service: InferenceService, fallback: Any, max_body_bytes: int, notice: Notice
    ) -> None:
        super().__init__(service, fallback, max_body_bytes)
        self.notice = notice

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        notice, rewrite = self.notice, _is_metadata(scope)
        held: list[Message] = []

        async def send_with_notice(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *notice.headers()]}
                if rewrite and message.get("status") == 200:
                    held.append(message)
                    return
            elif held and message["type"] == "http.response.body":
                held.append(message)
                if message.get("more_body"):
                    return
                await _send_metadata(send, held, notice)
                return
            await send(message)

        await super().__call__(scope, receive, send_with_notice)


async def _send_metadata(send: Send, held: list[Message], notice: Notice) -> None:
    start, body = held[0], b"".join(m.get("body", b"") for m in held[1:])
    try:
        doc = json.loads(body)
        doc["parameters"] = {**(doc.get("parameters") or {}), **notice.parameters()}
        body = json.dumps(doc).encode()
    except (ValueError, AttributeError, TypeError):
        pass  # not the JSON expected: sent as it was
    headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serving_app(service: InferenceService, api: Any, settings: ServeSettings) -> FastPath:
    """The fast path in front of ``api``, with retirement notices when a sunset is set."""
    if settings.sunset is None:
        return FastPath(service, api, settings.max_body_bytes)
    notice = Notice(settings.sunset, settings.deprecated_at)
    return RetiringFastPath(service, api, settings.max_body_bytes, notice)
