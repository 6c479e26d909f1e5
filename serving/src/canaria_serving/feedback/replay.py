"""Recent payload-log records as V2 requests again (for the router's replay to a canary).

The payload log (``--payload-log``, ``spec.serving.payloadLog``) is a JSON-lines file in the
pod that every worker appends to. Its tail is read back (at most the last 4 MiB), newest
last, and each record becomes the V2 request that gives the same inputs, with the request
id and the outputs the pod answered then.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import orjson

__all__ = ["MAX_RECORDS", "recent_requests"]

MAX_RECORDS = 500
_TAIL_BYTES = 4 * 1024 * 1024


def _tail_lines(path: Path, limit: int) -> list[bytes]:
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            start = max(0, size - _TAIL_BYTES)
            f.seek(start)
            chunk = f.read()
    except FileNotFoundError:
        return []
    lines = chunk.split(b"\n")
    if start > 0:
        lines = lines[1:]  # the first line may be cut
    return [line for line in lines if line.strip()][-limit:]


def _tensor(name: str, value: Any, datatype: str) -> dict[str, Any]:
    arr = np.asarray(value)
    return {
        "name": name,
        "shape": list(arr.shape),
        "datatype": datatype,
        "data": arr.reshape(-1).tolist(),
    }


def recent_requests(
    path: Path, limit: int, inputs: dict[str, str], single: str | None
) -> list[dict[str, Any]]:
    """Up to ``limit`` records: ``{"id", "body": V2 request, "outputs": {name: values}}``.
    ``inputs``: the model's input names and V2 datatypes; ``single``: the one input the
    row-based protocols (V1, /predict) fill. Records that cannot be replayed are skipped."""
    out: list[dict[str, Any]] = []
    for line in _tail_lines(path, min(limit, MAX_RECORDS)):
        try:
            rec = orjson.loads(line)
            given = rec["inputs"]
            feeds = given if isinstance(given, dict) else {single: given} if single else {}
            if not feeds or set(feeds) - set(inputs):
                continue
            tensors = [_tensor(n, v, inputs[n]) for n, v in feeds.items()]
            body = {"id": str(rec["request_id"]), "inputs": tensors}
            out.append({"id": body["id"], "body": body, "outputs": rec.get("outputs") or {}})
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return out
