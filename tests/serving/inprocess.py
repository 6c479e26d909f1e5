"""The real app (fast path in front of FastAPI) in-process, over httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from canaria_serving.server import create_app
from canaria_serving.server.service import InferenceService
from canaria_serving.settings import ServeSettings


@asynccontextmanager
async def serve(
    path: Path, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, InferenceService]]:
    app = create_app(ServeSettings(model_path=path, **settings))
    service = app.service
    await service.startup()  # what the lifespan does (httpx's transport runs no lifespan)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://canaria") as client:
            yield client, service
    finally:
        await service.shutdown()


def tensor(name: str, datatype: str, shape: list[int], data: list[Any]) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}
