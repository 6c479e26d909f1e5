"""`canaria package` end to end through the real CLI: conversion, parity, card, errors."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeRegressor

from canaria_operator.cli import main
from canaria_serving import contract
from canaria_serving.modelcard import ModelCard


def _package(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["package", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _card(path: Path) -> ModelCard:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return ModelCard.from_json(sess.get_modelmeta().custom_metadata_map[contract.ONNX_METADATA_KEY])


def _run(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {"X": x.astype(np.float32)}), strict=True))


def test_classifier_from_joblib_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x, y = make_classification(600, 6, n_informative=4, random_state=1)
    cols = [f"c{i}" for i in range(6)]
    df = pd.DataFrame(x[:400], columns=cols)
    est = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0).fit(df, y[:400])
    joblib.dump(est, tmp_path / "m.joblib")
    df.to_csv(tmp_path / "s.csv", index=False)
    out = tmp_path / "rf.onnx"
    code, stdout, err = _package(
        capsys,
        str(tmp_path / "m.joblib"),
        "--sample",
        str(tmp_path / "s.csv"),
        "-o",
        str(out),
        "--version",
        "3",
    )
    assert code == 0, err
    assert "parity on 400 sample rows" in stdout
    # sidecar = sha256 of the file as written, sha256sum format
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert (tmp_path / "rf.onnx.sha256").read_text() == f"{digest}  rf.onnx\n"
    assert digest in stdout
    card = _card(out)
    assert (card.name, card.version, card.task) == ("rf", "3", "classification")
    assert card.feature_names == cols
    assert card.classes == ["0", "1"]
    assert card.inputs[0].name == "X"
    assert card.inputs[0].shape == [-1, 6]
    assert {o.name for o in card.outputs} == {"label", "probabilities"}  # zipmap off
    assert card.sample_rows == 400
    assert len(card.features) == 6
    for ref in card.features:
        assert abs(sum(ref.fractions) - 1) < 1e-9
        assert len(ref.edges) == len(ref.fractions) + 1
    assert card.predictions.class_fractions is not None
    assert abs(sum(card.predictions.class_fractions.values()) - 1) < 1e-9
    # held-out rows: same labels and probabilities as scikit-learn
    held = x[400:]
    got = _run(out, held)
    expected = est.predict(pd.DataFrame(held.astype(np.float32), columns=cols))
    assert (got["label"] == expected).all()
    proba = est.predict_proba(pd.DataFrame(held.astype(np.float32), columns=cols))
    np.testing.assert_allclose(got["probabilities"], proba, atol=1e-5)


def test_regressor_from_pickle_and_npy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x, y = make_regression(500, 5, noise=0.1, random_state=2)
    est = GradientBoostingRegressor(n_estimators=30, random_state=0).fit(x[:300], y[:300])
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(est))
    np.save(tmp_path / "s.npy", x[:300])
    out = tmp_path / "gbr.onnx"
    code, _, err = _package(
        capsys,
        str(tmp_path / "m.pkl"),
        "--sample",
        str(tmp_path / "s.npy"),
        "-o",
        str(out),
        "--name",
        "price",
    )
    assert code == 0, err
    card = _card(out)
    assert (card.name, card.task, card.classes) == ("price", "regression", None)
    assert card.feature_names == [f"f{i}" for i in range(5)]
    assert card.predictions.edges is not None
    assert card.predictions.fractions is not None
    got = _run(out, x[300:])["variable"].ravel()
    np.testing.assert_allclose(got, est.predict(x[300:].astype(np.float32)), rtol=1e-4, atol=1e-3)


def test_scaler_pipeline_from_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x, y = make_classification(400, 4, n_informative=3, n_redundant=0, n_classes=3, random_state=3)
    df = pd.DataFrame(x * 100 + 50, columns=["a", "b", "c", "d"])
    est = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))])
    est.fit(df, y)
    joblib.dump(est, tmp_path / "p.joblib")
    df.to_parquet(tmp_path / "s.parquet")
    out = tmp_path / "pipe.onnx"
    code, stdout, err = _package(
        capsys, str(tmp_path / "p.joblib"), "--sample", str(tmp_path / "s.parquet"), "-o", str(out)
    )
    assert code == 0, err
    assert "Pipeline(StandardScaler, LogisticRegression)" in stdout
    card = _card(out)
    assert card.classes == ["0", "1", "2"]
    got = _run(out, df.to_numpy())
    assert (got["label"] == est.predict(df.astype(np.float32))).mean() == 1.0


def test_one_hot_encoder_over_numeric_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(4)
    x = np.column_stack([rng.integers(0, 4, 300), rng.normal(size=300), rng.normal(size=300)])
    y = (x[:, 0] == 2) ^ (x[:, 1] > 0)
    est = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("cat", OneHotEncoder(handle_unknown="ignore"), [0]),
                        ("num", StandardScaler(), [1, 2]),
                    ]
                ),
            ),
            ("clf", LogisticRegression()),
        ]
    ).fit(x, y)
    joblib.dump(est, tmp_path / "m.joblib")
    np.save(tmp_path / "s.npy", x)
    out = tmp_path / "ohe.onnx"
    code, _, err = _package(
        capsys, str(tmp_path / "m.joblib"), "--sample", str(tmp_path / "s.npy"), "-o", str(out)
    )
    assert code == 0, err
    assert (_run(out, x)["label"] == est.predict(x)).all()


def test_parity_failure_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # y around 1e7: float32 arithmetic in ONNX really differs from sklearn's float64 (by ~0.5),
    # so a tolerance of 0 must refuse; the default tolerance accepts the same model.
    x, y = make_regression(200, 5, random_state=0)
    joblib.dump(LinearRegression().fit(x, y + 1e7), tmp_path / "m.joblib")
    np.save(tmp_path / "s.npy", x)
    out = tmp_path / "lr.onnx"
    args = [str(tmp_path / "m.joblib"), "--sample", str(tmp_path / "s.npy"), "-o", str(out)]
    code, _, err = _package(capsys, *args, "--tolerance", "0")
    assert code == 2
    assert "parity check failed: regression outputs differ by up to" in err
    assert "allowed 0" in err
    assert "nothing written" in err
    assert not out.exists()
    assert not (tmp_path / "lr.onnx.sha256").exists()
    code, _, err = _package(capsys, *args)
    assert code == 0, err


def _fitted(tmp_path: Path, n: int = 4) -> tuple[Path, np.ndarray]:
    x, y = make_regression(50, n, random_state=0)
    path = tmp_path / "m.joblib"
    joblib.dump(DecisionTreeRegressor(max_depth=3).fit(x, y), path)
    return path, x


def _bad_cases(tmp_path: Path) -> list[tuple[str, list[str], str]]:
    model, x = _fitted(tmp_path)
    np.save(tmp_path / "ok.npy", x)
    np.save(tmp_path / "three.npy", x[:, :3])
    np.save(tmp_path / "empty.npy", np.zeros((0, 4)))
    pd.DataFrame(x, columns=list("abcd")).to_csv(tmp_path / "named.csv", index=False)
    pd.DataFrame({"a": ["x"] * 3, "b": [1, 2, 3]}).to_csv(tmp_path / "text.csv", index=False)
    (tmp_path / "garbage.pkl").write_bytes(b"not a pickle at all")
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    xk, yk = make_regression(40, 4, random_state=0)
    joblib.dump(KernelRidge().fit(xk, yk), tmp_path / "kr.joblib")
    named = tmp_path / "named.joblib"
    joblib.dump(DecisionTreeRegressor().fit(pd.DataFrame(x, columns=list("abcz")), x[:, 0]), named)
    out = str(tmp_path / "out.onnx")
    ok = str(tmp_path / "ok.npy")
    return [
        (
            "unreadable pickle",
            [str(tmp_path / "garbage.pkl"), "--sample", ok, "-o", out],
            "cannot read the model",
        ),
        (
            "not an estimator",
            [str(tmp_path / "list.pkl"), "--sample", ok, "-o", out],
            "holds a list, not a scikit-learn estimator",
        ),
        (
            "missing model",
            [str(tmp_path / "nope.pkl"), "--sample", ok, "-o", out],
            "no such model file",
        ),
        (
            "model extension",
            [str(tmp_path / "ok.npy"), "--sample", ok, "-o", out],
            "unknown model file type '.npy'",
        ),
        (
            "unsupported",
            [str(tmp_path / "kr.joblib"), "--sample", ok, "-o", out],
            "unsupported estimator KernelRidge",
        ),
        (
            "feature count",
            [str(model), "--sample", str(tmp_path / "three.npy"), "-o", out],
            "the model expects 4 features, the sample has 3",
        ),
        (
            "wrong columns",
            [str(named), "--sample", str(tmp_path / "named.csv"), "-o", out],
            "missing ['z'], unexpected ['d']",
        ),
        (
            "empty sample",
            [str(model), "--sample", str(tmp_path / "empty.npy"), "-o", out],
            "the sample is empty",
        ),
        (
            "non-numeric",
            [str(model), "--sample", str(tmp_path / "text.csv"), "-o", out],
            "non-numeric column(s) a",
        ),
        (
            "sample extension",
            [str(model), "--sample", str(model), "-o", out],
            "unknown sample file type '.joblib'",
        ),
        (
            "missing sample",
            [str(model), "--sample", str(tmp_path / "no.csv"), "-o", out],
            "no such sample file",
        ),
        (
            "output dir",
            [str(model), "--sample", ok, "-o", str(tmp_path / "no" / "m.onnx")],
            "output directory does not exist",
        ),
    ]


def test_bad_input_gets_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failures: list[Any] = []
    for label, argv, expected in _bad_cases(tmp_path):
        code, _, err = _package(capsys, *argv)
        if code != 2 or expected not in err or "Traceback" in err or err.count("\n") != 1:
            failures.append((label, code, err))
    assert not failures, failures
    assert not (tmp_path / "out.onnx").exists()
