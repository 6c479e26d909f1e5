"""The ceiling: a bare ASGI app doing the same single-row inference and nothing else.

No validation, no metrics, no error handling: it shows how much of the available speed
`canaria serve` keeps. Run: ``uvicorn bare_asgi:app`` with ``BARE_MODEL`` set.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson

__all__ = ["app"]

_options = ort.SessionOptions()
_options.intra_op_num_threads = 1
session = ort.InferenceSession(
    os.environ["BARE_MODEL"], _options, providers=["CPUExecutionProvider"]
)
input_name = session.get_inputs()[0].name
_HEADERS = [(b"content-type", b"application/json")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if scope["method"] == "GET":  # readiness for the benchmark script
        payload = b"{}"
    else:
        x = np.asarray([orjson.loads(body)["features"]], dtype=np.float32)
        label, proba = session.run(None, {input_name: x})
        payload = orjson.dumps({"prediction": int(label[0]), "probabilities": proba[0].tolist()})
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": payload})
