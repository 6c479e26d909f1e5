"""The model runtime: an onnxruntime session, its schema and an optional micro-batcher."""

from canaria_serving.runtime.batcher import MicroBatcher
from canaria_serving.runtime.model import ModelRuntime, TensorSpec, load_model

__all__ = ["MicroBatcher", "ModelRuntime", "TensorSpec", "load_model"]
