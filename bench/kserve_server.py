"""KServe's Python ModelServer with a custom Model wrapping onnxruntime (the baseline).

Runs in the separate venv bench/serving_bench.py creates (kserve's pins stay out of the
project venv): ``python kserve_server.py MODEL.onnx PORT``.
"""

from __future__ import annotations

import sys
from typing import Any

import kserve  # type: ignore[import-not-found]  # only in the bench venv
import numpy as np
import onnxruntime as ort


class OnnxModel(kserve.Model):  # type: ignore[misc]
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path
        self.session: Any = None
        self.load()

    def load(self) -> bool:
        self.session = ort.InferenceSession(self.path, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.ready = True
        return True

    def predict(self, payload: Any, headers: Any = None, response_headers: Any = None) -> Any:
        x = np.asarray(payload["instances"], dtype=np.float32)
        label, _ = self.session.run(None, {self.input_name: x})
        return {"predictions": label.tolist()}


if __name__ == "__main__":
    model_path, port = sys.argv[1], int(sys.argv[2])
    kserve.ModelServer(http_port=port, grpc_port=port + 1, workers=1, enable_grpc=False).start(
        [OnnxModel("rf", model_path)]
    )
