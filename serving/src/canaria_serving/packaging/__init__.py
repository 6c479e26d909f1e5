"""`canaria package`: scikit-learn -> ONNX with a parity check and a model card."""

from canaria_serving.packaging.core import (
    PackagedModel,
    package_file,
    package_model,
    write_packaged,
)
from canaria_serving.packaging.errors import PackagingError, ParityError
from canaria_serving.packaging.loading import Sample

__all__ = [
    "PackagedModel",
    "PackagingError",
    "ParityError",
    "Sample",
    "package_file",
    "package_model",
    "write_packaged",
]
