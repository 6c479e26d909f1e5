"""scikit-learn -> ONNX with skl2onnx: one float32 input ``X``, no ZipMap."""

from __future__ import annotations

from typing import Any

import numpy as np

from canaria_serving.packaging.errors import PackagingError

__all__ = ["convert", "describe", "is_classifier"]

TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def is_classifier(est: Any) -> bool:
    from sklearn.base import is_classifier as _is

    return bool(_is(est))


def describe(est: Any) -> str:
    """``Pipeline(StandardScaler, LogisticRegression)``-style description."""
    steps = getattr(est, "steps", None)
    if steps:
        return f"{type(est).__name__}({', '.join(describe(s) for _, s in steps)})"
    transformers = getattr(est, "transformers", None)
    if transformers:
        inner = ", ".join(describe(t) for _, t, _ in transformers if not isinstance(t, str))
        return f"{type(est).__name__}({inner})"
    return type(est).__name__


def _final(est: Any) -> Any:
    steps = getattr(est, "steps", None)
    return _final(steps[-1][1]) if steps else est


def convert(est: Any, n_features: int) -> Any:
    """The ONNX ModelProto of a fitted estimator or pipeline."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    options: dict[Any, Any] = {}
    if is_classifier(est):
        options[id(_final(est))] = {"zipmap": False}
    try:
        return to_onnx(
            est,
            initial_types=[("X", FloatTensorType([None, n_features]))],
            options=options or None,
            target_opset=TARGET_OPSET,
        )
    except Exception as exc:  # skl2onnx raises RuntimeError/NotImplementedError/...
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "Unable to find a shape calculator" in text or "not supported" in text.lower():
            raise PackagingError(
                f"unsupported estimator {describe(est)}: skl2onnx cannot convert it ({text})"
            ) from exc
        raise PackagingError(f"cannot convert {describe(est)} to ONNX: {text}") from exc


def onnx_outputs(sess: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {"X": x}), strict=True))
