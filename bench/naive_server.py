"""The seeds' naive FastAPI server: the baseline `canaria serve` is measured against.

pydantic ``list[float]`` body, a sync endpoint (FastAPI runs it in its thread pool),
onnxruntime with default session options. Run: ``uvicorn naive_server:app`` with
``NAIVE_MODEL`` pointing at the ONNX file.
"""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI
from pydantic import BaseModel

__all__ = ["app"]

app = FastAPI()
session = ort.InferenceSession(os.environ["NAIVE_MODEL"], providers=["CPUExecutionProvider"])
input_name = session.get_inputs()[0].name


class Features(BaseModel):
    features: list[float]


@app.post("/predict")
def predict(body: Features) -> dict[str, object]:
    x = np.array([body.features], dtype=np.float32)
    label, proba = session.run(None, {input_name: x})
    return {"prediction": int(label[0]), "probabilities": proba[0].tolist()}
