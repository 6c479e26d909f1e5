"""The MLflow webhook endpoint: ``POST /mlflow/webhook`` on the operator's own port.

MLflow (3.3+) signs each delivery with the webhook's secret: ``X-MLflow-Signature:
v1,<base64 HMAC-SHA256 of "<delivery id>.<timestamp>.<body>">`` with ``X-MLflow-Delivery-Id``
and ``X-MLflow-Timestamp``. A delivery is accepted only with a valid signature and a
timestamp within five minutes; ``model_version_alias.created`` then wakes every
ModelDeployment that follows that model and alias at once (the poller stays the fallback).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable

from aiohttp import web

__all__ = ["PATH", "WebhookServer", "sign", "verify"]

log = logging.getLogger(__name__)
PATH = "/mlflow/webhook"
TOLERANCE_S = 300
_MAX_BODY = 1 << 20


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    content = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secret: str,
    headers: dict[str, str],
    body: bytes,
    now: float,
) -> str | None:
    """None when the delivery is authentic and fresh, else why not."""
    delivery = headers.get("x-mlflow-delivery-id", "")
    stamp = headers.get("x-mlflow-timestamp", "")
    signature = headers.get("x-mlflow-signature", "")
    if not (delivery and stamp and signature):
        return "missing X-MLflow-Delivery-Id, X-MLflow-Timestamp or X-MLflow-Signature"
    if not stamp.isdigit() or abs(now - int(stamp)) > TOLERANCE_S:
        return "timestamp missing or more than 5 minutes away"
    if not hmac.compare_digest(sign(secret, delivery, stamp, body), signature):
        return "signature does not match"
    return None


class WebhookServer:
    """``on_alias(model, alias) -> ModelDeployments woken``."""

    def __init__(
        self,
        secret: str,
        on_alias: Callable[[str, str], int],
        *,
        host: str = "0.0.0.0",
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret, self.on_alias, self.host, self.port = secret, on_alias, host, port
        self._clock = clock
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_post(PATH, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        refused = verify(self.secret, headers, body, self._clock())
        if refused is not None:
            log.warning("MLflow webhook refused: %s", refused)
            return web.json_response({"error": refused}, status=401)
        try:
            event = json.loads(body)
            kind = f"{event['entity']}.{event['action']}"
            data = event.get("data") or {}
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "not an MLflow webhook payload"}, status=400)
        if kind != "model_version_alias.created":
            return web.json_response({"ignored": kind})
        model, alias = str(data.get("name", "")), str(data.get("alias", ""))
        woken = self.on_alias(model, alias)
        log.info(
            "MLflow webhook: %s@%s moved to %s, %d woken", model, alias, data.get("version"), woken
        )
        return web.json_response({"woken": woken})
