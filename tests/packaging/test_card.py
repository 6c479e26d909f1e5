"""`canaria card MODEL.onnx --sample data.csv`: a model card for an ONNX file made elsewhere,
so input drift and the prediction metrics work for it too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from onnx import helper
from skl2onnx import to_onnx
from sklearn.datasets import make_regression
from sklearn.linear_model import LinearRegression

from canaria_operator.cli import main
from canaria_serving import contract
from canaria_serving.modelcard import ModelCard
from tests.serving.inprocess import serve
from tests.serving.onnx_models import io, save
from tests.serving.test_metrics import parse, value

COLUMNS = ["age", "income", "tenure"]


@pytest.fixture
def exported(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """A regressor exported with skl2onnx directly (no card), and a CSV sample."""
    x, y = make_regression(n_samples=400, n_features=3, random_state=0)
    x = x.astype(np.float32)
    est = LinearRegression().fit(x, y)
    path = tmp_path / "churn.onnx"
    onnx.save(to_onnx(est, x[:1]), str(path))
    sample = tmp_path / "sample.csv"
    pd.DataFrame(x, columns=COLUMNS).to_csv(sample, index=False)
    return path, sample, x


def card_of(path: Path) -> ModelCard:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    return ModelCard.from_json(meta[contract.ONNX_METADATA_KEY])


async def test_card_makes_drift_work_for_an_exported_model(
    exported: tuple[Path, Path, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    path, sample, x = exported
    before = ort.InferenceSession(str(path)).run(None, {"X": x[:5]})[0]
    assert main(["card", str(path), "--sample", str(sample), "--name", "churn"]) == 0
    assert "wrote the model card" in capsys.readouterr().out
    card = card_of(path)
    assert card.feature_names == COLUMNS
    assert [f.name for f in card.features] == COLUMNS
    assert card.task == "regression"
    assert card.sample_rows == 400
    assert card.predictions.edges  # the model's own prediction distribution on the sample
    np.testing.assert_array_equal(
        ort.InferenceSession(str(path)).run(None, {"X": x[:5]})[0], before
    )
    async with serve(path, drift_min_rows=50) as (client, service):
        assert service.runtime.feature_names == COLUMNS
        assert service.drift is not None
        shifted = x[:200].copy()
        shifted[:, 1] += 5.0  # income drifts, age and tenure do not
        r = await client.post(
            "/predict_batch",
            json={"instances": [dict(zip(COLUMNS, row, strict=True)) for row in shifted.tolist()]},
        )
        assert r.status_code == 200, r.text
        samples = parse((await client.get("/metrics")).text)
    drift = {f: value(samples, contract.M_INPUT_DRIFT, feature=f) for f in COLUMNS}
    assert drift["income"] > 1.0, drift
    assert drift["age"] < 0.3, drift
    assert drift["tenure"] < 0.3, drift


def test_card_refuses_what_it_cannot_describe(
    exported: tuple[Path, Path, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _, x = exported
    wide = tmp_path / "wide.csv"
    pd.DataFrame(np.zeros((5, 4))).to_csv(wide, index=False)
    assert main(["card", str(path), "--sample", str(wide)]) == 2
    assert (
        "the model takes 3 features per row; the sample has shape [5, 4]" in capsys.readouterr().err
    )
    two = save(
        tmp_path / "two.onnx",
        [helper.make_node("Add", ["a", "b"], ["c"])],
        [io("a", "FP32", ["N", 3]), io("b", "FP32", ["N", 3])],
        [io("c", "FP32", ["N", 3])],
    )
    sample = tmp_path / "s.csv"
    pd.DataFrame(x[:5]).to_csv(sample, index=False)
    assert main(["card", str(two), "--sample", str(sample)]) == 2
    err = capsys.readouterr().err
    assert "a model card describes one numeric [rows, features] input; this model takes" in err
    assert main(["card", str(path), "--sample", str(tmp_path / "nope.txt")]) == 2
    assert "unknown sample file type '.txt'" in capsys.readouterr().err
