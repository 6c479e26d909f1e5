"""``canaria evaluate MODEL_URL DATASET``: a labelled dataset sent through V2, scored.

By hand it shows a progress bar and a summary table (per class for a classifier), with a
verdict when thresholds are given (exit 3 when they fail). In a rollout's acceptance Job it
writes the result as compact JSON to ``--result-file`` (the pod's termination message,
which the operator reads). Exit codes: 0 evaluated (and passed), 1 a model could not be
evaluated, 2 a bad dataset or usage, 3 thresholds failed. Registration imports nothing
heavy.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "evaluate",
        help="score a served model (and a baseline) on a labelled CSV/Parquet dataset",
        description="Send a labelled dataset to a model's V2 endpoint (and to --baseline's), "
        "score the answers (accuracy per class, or MAE/RMSE) and print a summary.",
    )
    p.add_argument("model_url", help="http://host:port/v2/models/NAME (or host URL + --model)")
    p.add_argument("dataset", type=Path, help="CSV or Parquet file with a label column")
    p.add_argument("--model", help="model name when MODEL_URL is the server's URL")
    p.add_argument("--baseline", help="a second model (the stable) to score the same way")
    p.add_argument("--label-column", default="label", help="the truth's column (default label)")
    p.add_argument("--format", choices=["CSV", "Parquet"], help="default: from the file name")
    p.add_argument("--features", help="feature columns in input order (default: all others)")
    p.add_argument("--task", choices=["classification", "regression"], help="default: guessed")
    p.add_argument("--batch-size", type=int, default=64, help="rows per request")
    p.add_argument("--max-rows", type=int, help="only the first N rows")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout (s)")
    p.add_argument("--min-accuracy", type=float, help="fail below this accuracy")
    p.add_argument("--max-drop", type=float, help="fail this far below the baseline's accuracy")
    p.add_argument("--max-error", type=float, help="fail above this MAE (regressors)")
    p.add_argument("--result-file", type=Path, help="write the result as JSON here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _write(path: Path | None, text: str) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            path.write_text(text + "\n")


def run(args: argparse.Namespace) -> int:
    from canaria_serving.evaluation.client import ModelError
    from canaria_serving.evaluation.dataset import DatasetError

    try:
        return _evaluate(args)
    except DatasetError as exc:
        message, code = f"canaria evaluate: {exc}", 2
    except ModelError as exc:
        message, code = f"canaria evaluate: {exc}", 1
    print(message, file=sys.stderr, flush=True)
    import orjson

    _write(args.result_file, orjson.dumps({"error": message[:3000]}).decode())
    return code


def _evaluate(args: argparse.Namespace) -> int:
    import orjson
    from rich.console import Console

    from canaria_serving.evaluation.client import ModelClient, ModelError, model_url
    from canaria_serving.evaluation.dataset import load_dataset
    from canaria_serving.evaluation.result import Thresholds, judge
    from canaria_serving.evaluation.score import Tally, evaluation, normalise_label

    features = [f.strip() for f in args.features.split(",")] if args.features else None
    data = load_dataset(args.dataset, args.label_column, args.format, features, args.max_rows)
    clients = [ModelClient(model_url(args.model_url, args.model), args.timeout)]
    if args.baseline:
        clients.append(ModelClient(model_url(args.baseline, args.model), args.timeout))
    console = Console(stderr=True)
    try:
        for client in clients:
            client.describe(args.task, len(data.features))
        task = clients[0].task
        tallies = [Tally(task) for _ in clients]
        quiet = args.no_progress or not console.is_terminal
        _score(data, clients, tallies, max(1, args.batch_size), console, quiet=quiet)
    finally:
        for client in clients:
            client.close()
    if all(t.failed == t.rows for t in tallies[:1]):
        raise ModelError(f"{clients[0].url}: answered none of {data.rows} rows")
    support = Counter(normalise_label(v) for v in data.labels)
    result = evaluation(task, support, tallies[0], tallies[1] if len(tallies) > 1 else None)
    _write(args.result_file, orjson.dumps(result.model_dump(exclude_none=True)).decode())
    from canaria_serving.evaluation.report import print_report

    print_report(Console(), result, [c.url for c in clients])
    thresholds = Thresholds(
        min_accuracy=args.min_accuracy, max_drop_vs_stable=args.max_drop, max_error=args.max_error
    )
    if thresholds == Thresholds():
        return 0
    passed, why = judge(result, thresholds)
    Console().print(
        f"[bold {'green' if passed else 'red'}]{'PASS' if passed else 'FAIL'}[/]: {why}"
    )
    return 0 if passed else 3


def _score(
    data: Any, clients: list[Any], tallies: list[Any], batch: int, console: Any, *, quiet: bool
) -> None:
    from rich.progress import Progress

    with Progress(console=console, disable=quiet) as progress:
        bars = [progress.add_task(f"{c.url}", total=data.rows) for c in clients]
        for start in range(0, data.rows, batch):
            x = data.x[start : start + batch]
            truths = data.labels[start : start + batch]
            for client, tally, bar in zip(clients, tallies, bars, strict=True):
                answers, info = client.infer(x)
                if answers is not None:
                    tally.version = info
                tally.add(truths, answers)
                progress.advance(bar, len(truths))
