"""The MLflow webhook endpoint: a real `mlflow server` delivers model_version_alias.created
when an alias moves, signed with the webhook's secret, and the followers of that model and
alias are woken; a wrong signature, a stale timestamp or a missing header is refused; other
events are ignored."""

from __future__ import annotations

import json
import time
import uuid

import httpx
from mlflow.webhooks.delivery import _generate_hmac_signature

from canaria_operator.registry.webhook import PATH, WebhookServer, sign, verify
from tests.registry.conftest import Registry

SECRET = "s3cret"


def _delivery(
    payload: dict[str, object], secret: str = SECRET, at: float | None = None
) -> tuple[dict[str, str], bytes]:
    body = json.dumps(payload)
    delivery, stamp = str(uuid.uuid4()), str(int(at if at is not None else time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": stamp,
        "X-MLflow-Signature": _generate_hmac_signature(secret, delivery, stamp, body),
    }
    return headers, body.encode()


ALIAS = {
    "entity": "model_version_alias",
    "action": "created",
    "timestamp": "2026-12-02T08:00:00+00:00",
    "data": {"name": "iris", "alias": "champion", "version": "2"},
}


def test_signature_is_mlflows() -> None:
    headers, body = _delivery(ALIAS)
    lower = {k.lower(): v for k, v in headers.items()}
    assert (
        sign(SECRET, lower["x-mlflow-delivery-id"], lower["x-mlflow-timestamp"], body)
        == lower["x-mlflow-signature"]
    )
    assert verify(SECRET, lower, body, time.time()) is None
    assert verify("other", lower, body, time.time()) == "signature does not match"
    assert "5 minutes" in (verify(SECRET, lower, body, time.time() + 600) or "")
    assert verify(SECRET, lower, body + b" ", time.time()) == "signature does not match"


async def test_endpoint_wakes_followers_and_refuses_forgeries() -> None:
    woken: list[tuple[str, str]] = []

    def on_alias(model: str, alias: str) -> int:
        woken.append((model, alias))
        return 1

    server = WebhookServer(SECRET, on_alias, host="127.0.0.1", port=0)
    port = await server.start()
    url = f"http://127.0.0.1:{port}{PATH}"
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            headers, body = _delivery(ALIAS)
            ok = await client.post(url, content=body, headers=headers)
            assert ok.status_code == 200
            assert ok.json() == {"woken": 1}
            forged_headers, forged = _delivery(ALIAS, secret="wrong")
            assert (
                await client.post(url, content=forged, headers=forged_headers)
            ).status_code == 401
            stale_headers, stale = _delivery(ALIAS, at=time.time() - 3600)
            assert (await client.post(url, content=stale, headers=stale_headers)).status_code == 401
            assert (await client.post(url, content=body)).status_code == 401
            other = {**ALIAS, "entity": "model_version", "action": "created"}
            h, b = _delivery(other)
            ignored = await client.post(url, content=b, headers=h)
            assert ignored.json() == {"ignored": "model_version.created"}
            h, b = _delivery({"no": "entity"})
            assert (await client.post(url, content=b, headers=h)).status_code == 400
    finally:
        await server.stop()
    assert woken == [("iris", "champion")]


async def test_a_real_mlflow_server_delivers_alias_moves(registry: Registry) -> None:
    import asyncio

    woken: list[tuple[str, str]] = []
    server = WebhookServer(SECRET, lambda m, a: woken.append((m, a)) or 1, host="127.0.0.1")
    port = await server.start()
    client = registry.server.client()
    hook = client.create_webhook(
        name="canaria",
        url=f"http://127.0.0.1:{port}{PATH}",
        events=["model_version_alias.created"],
        secret=SECRET,
    )
    try:
        await asyncio.to_thread(client.set_registered_model_alias, "iris", "webhook-test", "1")
        for _ in range(100):
            if woken:
                break
            await asyncio.sleep(0.1)
    finally:
        client.delete_webhook(hook.webhook_id)
        await server.stop()
    assert woken == [("iris", "webhook-test")]
