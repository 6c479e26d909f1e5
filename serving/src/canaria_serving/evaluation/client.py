"""A V2 client for one model: its metadata and batched inference (``canaria evaluate``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from canaria_serving.evaluation.result import Task

__all__ = ["ModelClient", "ModelError", "model_url"]

_LABELS = ("label", "output_label")


class ModelError(RuntimeError):
    """The model cannot be evaluated at all (unreachable, not a V2 model, wrong inputs)."""


def model_url(url: str, model: str | None) -> str:
    """``http://host:port/v2/models/<name>`` from that URL, or a server URL and a name."""
    url = url.rstrip("/")
    if "/v2/models/" in url:
        return url
    if not model:
        raise ModelError(f"{url}: give the model's URL (.../v2/models/<name>) or --model NAME")
    return f"{url}/v2/models/{model}"


@dataclass
class ModelClient:
    url: str  # .../v2/models/<name>
    timeout: float = 30.0

    def __post_init__(self) -> None:
        self.http = httpx.Client(timeout=self.timeout)
        self.input = "X"
        self.output: str | None = None
        self.task: Task = "regression"

    def close(self) -> None:
        self.http.close()

    def describe(self, task: Task | None, width: int) -> None:
        """Read the model's metadata: its one input, the output to score, the task."""
        try:
            resp = self.http.get(self.url)
        except httpx.HTTPError as exc:
            raise ModelError(f"{self.url}: unreachable: {exc}") from exc
        if resp.status_code != 200:
            raise ModelError(f"{self.url}: metadata answered {resp.status_code}: {resp.text[:200]}")
        meta = resp.json()
        inputs, outputs = meta.get("inputs") or [], meta.get("outputs") or []
        if len(inputs) != 1:
            raise ModelError(f"{self.url}: takes {len(inputs)} inputs; evaluate needs one")
        shape = inputs[0].get("shape") or []
        if len(shape) == 2 and shape[1] not in (-1, width):
            raise ModelError(f"{self.url}: takes {shape[1]} features, the dataset has {width}")
        self.input = str(inputs[0]["name"])
        names = [str(o["name"]) for o in outputs]
        label = next((n for n in names if n in _LABELS), None)
        self.task = task or ("classification" if label else "regression")
        self.output = label if self.task == "classification" else (names[0] if names else None)
        if self.output is None:
            raise ModelError(f"{self.url}: no output to score")

    def infer(self, x: np.ndarray) -> tuple[list[Any] | None, str | None]:
        """(one answer per row, the answering version); (None, why) if the batch failed."""
        body = {
            "inputs": [
                {
                    "name": self.input,
                    "shape": list(x.shape),
                    "datatype": "FP32",
                    "data": x.reshape(-1).tolist(),
                }
            ],
            "outputs": [{"name": self.output}],
        }
        try:
            resp = self.http.post(f"{self.url}/infer", json=body)
        except httpx.HTTPError as exc:
            return None, f"unreachable: {exc}"
        if resp.status_code != 200:
            return None, f"HTTP {resp.status_code}: {resp.text[:200]}"
        data = resp.json()
        out = next(o for o in data["outputs"] if o["name"] == self.output)
        values = np.asarray(out["data"]).reshape(x.shape[0], -1)[:, 0].tolist()
        return values, str(data.get("model_version"))
