"""FastAPI routes: metadata, health, metrics, and OpenAPI descriptions of the hot routes.

The hot inference routes are answered by :mod:`fastpath` before FastAPI sees them; they are
declared here too (delegating to the same handlers) so the OpenAPI document describes them
and the app works even without the fast path.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from canaria_serving import contract
from canaria_serving.metrics import multiprocess_enabled
from canaria_serving.server.errors import NotReady, error_body
from canaria_serving.server.service import InferenceService

__all__ = ["build_router"]

_JSON = "application/json"
_OBJ: dict[str, Any] = {"type": "object"}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {_JSON: {"schema": schema}}}}


_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {"type": "string"},
        "data": {"type": "array"},
        "parameters": _OBJ,
    },
}
_V2_SCHEMA = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": _OBJ,
        "inputs": {"type": "array", "items": _TENSOR},
        "outputs": {
            "type": "array",
            "items": {"type": "object", "properties": {"name": {"type": "string"}}},
        },
    },
}
_RECORD = {"oneOf": [{"type": "array", "items": {"type": "number"}}, _OBJ]}
_INSTANCES = {
    "type": "object",
    "required": ["instances"],
    "properties": {"instances": {"type": "array", "items": _RECORD}},
}
_FEATURES = {"type": "object", "required": ["features"], "properties": {"features": _RECORD}}


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=_JSON)


def build_router(service: InferenceService) -> APIRouter:
    router = APIRouter()

    async def hot(protocol: str, request: Request, method: str, *args: Any) -> Response:
        body = await request.body()
        rid = request.headers.get("x-request-id")
        status, payload = await service.handle(protocol, getattr(service, method), *args, body, rid)
        return _json(payload, status)

    def ready_or_raise() -> None:
        if not service.ready:
            raise NotReady("the model is not ready")

    @router.get(contract.PATH_LIVE, tags=["health"])
    @router.get(contract.PATH_V2_LIVE, tags=["health"])
    async def live() -> dict[str, bool]:
        return {"live": True}

    @router.get(contract.PATH_READY, tags=["health"])
    @router.get(contract.PATH_V2_READY, tags=["health"])
    async def ready() -> dict[str, bool]:
        ready_or_raise()
        return {"ready": True}

    @router.get(contract.PATH_METRICS, tags=["health"])
    async def metrics() -> Response:
        if service.metrics is None:
            return _json(error_body("metrics are not available before the model loads"), 503)
        service.metrics.flush()  # on the loop: the hot path's buffers take no locks
        if not multiprocess_enabled():  # with several workers a background task does it
            # vectorized, but O(window x features x bins): off the event loop
            await asyncio.to_thread(service.update_drift)
        text = await asyncio.to_thread(service.metrics.render)
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    @router.get("/v2", tags=["v2"])
    async def server_metadata() -> dict[str, Any]:
        return {"name": "canaria", "version": "0.1.0", "extensions": ["binary_tensor_data"]}

    @router.get("/v2/models/{model}", tags=["v2"])
    @router.get("/v2/models/{model}/versions/{version}", tags=["v2"])
    async def model_metadata(model: str, version: str | None = None) -> dict[str, Any]:
        return service.model(model, version).metadata()

    @router.get("/v2/models/{model}/ready", tags=["v2"])
    @router.get("/v2/models/{model}/versions/{version}/ready", tags=["v2"])
    async def model_ready(model: str, version: str | None = None) -> dict[str, Any]:
        rt = service.model(model, version)
        return {"name": rt.name, "ready": True}

    @router.post("/v2/models/{model}/infer", tags=["v2"], openapi_extra=_body(_V2_SCHEMA))
    async def infer(model: str, request: Request) -> Response:
        return await hot("v2", request, "infer_v2", model, None)

    @router.post(
        "/v2/models/{model}/versions/{version}/infer", tags=["v2"], openapi_extra=_body(_V2_SCHEMA)
    )
    async def infer_version(model: str, version: str, request: Request) -> Response:
        return await hot("v2", request, "infer_v2", model, version)

    @router.get("/v1/models/{model}", tags=["v1"])
    async def v1_model(model: str) -> dict[str, Any]:
        rt = service.model(model)
        return {"name": rt.name, "version": rt.version, "ready": True}

    @router.post("/v1/models/{model}:predict", tags=["v1"], openapi_extra=_body(_INSTANCES))
    async def v1_predict(model: str, request: Request) -> Response:
        return await hot("v1", request, "predict_v1", model)

    @router.post(contract.PATH_PREDICT, tags=["simple"], openapi_extra=_body(_FEATURES))
    async def predict(request: Request) -> Response:
        return await hot("predict", request, "predict")

    @router.post(contract.PATH_PREDICT_BATCH, tags=["simple"], openapi_extra=_body(_INSTANCES))
    async def predict_batch(request: Request) -> Response:
        return await hot("predict", request, "predict_batch")

    from canaria_serving.feedback.routes import feedback_router

    router.include_router(feedback_router(service))
    return router
