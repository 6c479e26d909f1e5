"""`canaria evaluate` against real `canaria serve` processes: figures equal scikit-learn's
on the same rows, CSV and Parquet, a baseline, thresholds and exit codes, and every bad input
named."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier

from canaria_serving.evaluation.result import Evaluation
from tests.serving.conftest import start_server, stop_server, write_model

N = 4


def _csv(path: Path, x: np.ndarray, y: np.ndarray, label: str = "y") -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*(f"f{i}" for i in range(x.shape[1])), label])
        for row, target in zip(x.tolist(), y.tolist(), strict=True):
            w.writerow([*row, target])
    return path


def _evaluate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "canaria_operator.cli", "evaluate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("eval")
    x, y = make_classification(
        n_samples=300, n_features=N, n_informative=3, n_redundant=0, n_classes=3, random_state=4
    )
    x = x.astype(np.float32)
    good = RandomForestClassifier(n_estimators=10, random_state=0).fit(x[:200], y[:200])
    weak_full = DecisionTreeClassifier(max_depth=1, random_state=0).fit(x[:200], y[:200])
    xr, yr = make_regression(n_samples=120, n_features=N, noise=5, random_state=0)
    xr = xr.astype(np.float32)
    reg = LinearRegression().fit(xr, yr)
    servers = {
        "good": start_server(write_model(tmp / "good.onnx", good, x, "good", "classification"))[
            0:2
        ],
        "weak": start_server(
            write_model(tmp / "weak.onnx", weak_full, x, "weak", "classification")
        )[0:2],
        "reg": start_server(write_model(tmp / "reg.onnx", reg, xr, "reg", "regression"))[0:2],
    }
    data = {
        "x": x[200:],
        "y": y[200:],
        "good": good,
        "weak": weak_full,
        "xr": xr,
        "yr": yr,
        "reg": reg,
        "urls": {k: v[0] for k, v in servers.items()},
        "tmp": tmp,
    }
    yield data
    for _, proc in servers.values():
        stop_server(proc)


def test_figures_equal_scikit_learns_with_a_baseline_and_per_class(
    models: dict[str, Any], tmp_path: Path
) -> None:
    x, y = models["x"], models["y"]
    data = _csv(tmp_path / "d.csv", x, y)
    result = tmp_path / "result.json"
    url = models["urls"]
    proc = _evaluate(
        f"{url['weak']}/v2/models/weak", str(data), "--baseline", f"{url['good']}/v2/models/good",
        "--label-column", "y", "--batch-size", "17", "--result-file", str(result),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    ev = Evaluation.model_validate_json(result.read_text())
    want_weak = float((models["weak"].predict(x) == y).mean())
    want_good = float((models["good"].predict(x) == y).mean())
    assert ev.task == "classification"
    assert ev.rows == 100
    assert ev.canary.accuracy == pytest.approx(want_weak)
    assert ev.stable is not None
    assert ev.stable.accuracy == pytest.approx(want_good)
    assert ev.canary.version == "3"
    by_class = {c.label: c for c in ev.classes}
    for label in ("0", "1", "2"):
        rows = y == int(label)
        assert by_class[label].support == int(rows.sum())
        right = float((models["weak"].predict(x[rows]) == y[rows]).mean())
        assert by_class[label].accuracy == pytest.approx(right, abs=1e-4)
    assert "accuracy" in proc.stdout  # the summary table
    assert "per class" in proc.stdout
    assert len(result.read_bytes()) < 4096  # fits a termination message


def test_thresholds_give_a_verdict_and_an_exit_code(models: dict[str, Any], tmp_path: Path) -> None:
    data = _csv(tmp_path / "d.csv", models["x"], models["y"])
    url = models["urls"]
    args = [f"{url['weak']}/v2/models/weak", str(data), "--label-column", "y"]
    failed = _evaluate(*args, "--min-accuracy", "0.99")
    assert failed.returncode == 3
    assert "FAIL" in failed.stdout
    drop = _evaluate(*args, "--baseline", f"{url['good']}/v2/models/good", "--max-drop", "0.02")
    assert drop.returncode == 3
    assert "below the stable's" in drop.stdout
    passed = _evaluate(f"{url['good']}", str(data), "--model", "good", "--label-column", "y",
                       "--min-accuracy", "0.5")  # fmt: skip
    assert passed.returncode == 0, passed.stderr
    assert "PASS" in passed.stdout


def test_parquet_and_a_regressor(models: dict[str, Any], tmp_path: Path) -> None:
    xr, yr = models["xr"], models["yr"]
    table = {f"f{i}": xr[:, i].tolist() for i in range(N)} | {"target": yr.tolist()}
    path = tmp_path / "reg.parquet"
    pq.write_table(pa.table(table), path)
    result = tmp_path / "r.json"
    proc = _evaluate(f"{models['urls']['reg']}/v2/models/reg", str(path),
                     "--label-column", "target", "--result-file", str(result))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    ev = Evaluation.model_validate_json(result.read_text())
    errors = models["reg"].predict(xr) - yr
    assert ev.task == "regression"
    assert ev.canary.mae == pytest.approx(float(np.abs(errors).mean()), rel=1e-3)
    assert ev.canary.rmse == pytest.approx(float(np.sqrt((errors**2).mean())), rel=1e-3)
    assert "MAE" in proc.stdout


@pytest.mark.parametrize(
    ("case", "code", "says"),
    [
        ("no-label", 2, "no label column 'nope'"),
        ("not-a-number", 2, "row 1, column 'f0': 'abc' is not a number"),
        ("wrong-width", 1, "takes 4 features, the dataset has 3"),
        ("unreachable", 1, "unreachable"),
        ("no-model-name", 1, "--model NAME"),
    ],
)
def test_bad_input_is_named_in_stderr_and_the_result_file(
    models: dict[str, Any], tmp_path: Path, case: str, code: int, says: str
) -> None:
    x, y = models["x"], models["y"]
    url = f"{models['urls']['good']}/v2/models/good"
    data = _csv(tmp_path / "d.csv", x, y)
    label = "y"
    if case == "no-label":
        label = "nope"
    elif case == "not-a-number":
        data.write_text("f0,f1,f2,f3,y\nabc,1,2,3,0\n")
    elif case == "wrong-width":
        data = _csv(tmp_path / "narrow.csv", x[:, :3], y)
    elif case == "unreachable":
        url = "http://127.0.0.1:9/v2/models/good"
    elif case == "no-model-name":
        url = models["urls"]["good"]
    result = tmp_path / "result.json"
    proc = _evaluate(url, str(data), "--label-column", label, "--result-file", str(result))
    assert proc.returncode == code, proc.stderr
    assert says in proc.stderr
    assert says in json.loads(result.read_text())["error"]
