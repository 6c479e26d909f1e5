"""`canaria package MODEL --sample DATA -o model.onnx`: registration (nothing heavy imported)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]

EXIT_USER_ERROR = 2


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "package",
        help="convert a scikit-learn model to ONNX with a parity check and a model card",
        description=(
            "Convert a fitted scikit-learn estimator or pipeline (.pkl/.joblib) to ONNX "
            "(skl2onnx, zipmap off), check that scikit-learn and onnxruntime agree on the "
            "sample, and write the model card (schema, feature names, sha256, reference "
            "statistics for drift) into the file, plus a <out>.sha256 sidecar. "
            "SECURITY: loading a pickle runs code from it; only package files you trust."
        ),
    )
    p.add_argument("model", type=Path, help="fitted estimator: .pkl, .pickle or .joblib")
    p.add_argument("--sample", type=Path, required=True, help="inputs: .csv, .npy or .parquet")
    p.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    p.add_argument("--name", help="model name (default: the output file's stem)")
    p.add_argument("--version", default="1", help="model version (default 1)")
    p.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="regression parity: max |onnx - sklearn| as a fraction of the output scale "
        "(default 1e-4)",
    )
    p.add_argument(
        "--register",
        metavar="NAME",
        help="also log the model as a new version of this MLflow registered model "
        "(needs the mlflow package: pip install 'canaria[mlflow]')",
    )
    p.add_argument("--tracking-uri", help="MLflow tracking server for --register")
    p.set_defaults(func=_run)
    c: argparse.ArgumentParser = sub.add_parser(
        "card",
        help="attach a model card (feature names, drift reference) to an existing ONNX model",
        description=(
            "Run an ONNX model made elsewhere (PyTorch, TensorFlow, skl2onnx exports; one "
            "numeric [rows, features] input) on a sample and write the model card into the "
            "file: feature names (the sample's columns), per-feature reference bins for input "
            "drift, and the model's prediction distribution on the sample. `canaria serve` "
            "then reports input drift and prediction metrics against it."
        ),
    )
    c.add_argument("model", type=Path, help="the .onnx file (or its directory)")
    c.add_argument("--sample", type=Path, required=True, help="inputs: .csv, .npy or .parquet")
    c.add_argument("-o", "--output", type=Path, help="write here instead of in place")
    c.add_argument("--name", help="model name (default: the file's stem)")
    c.add_argument("--version", help="model version (default 1)")
    c.set_defaults(func=_run_card)


def _run_card(args: argparse.Namespace) -> int:
    from canaria_serving.packaging.card import attach_card
    from canaria_serving.packaging.errors import PackagingError
    from canaria_serving.runtime.loading import ModelLoadError

    try:
        card = attach_card(
            args.model, args.sample, args.output, name=args.name, version=args.version
        )
    except (PackagingError, ModelLoadError, OSError) as exc:
        print(f"canaria card: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    where = args.output or args.model
    print(
        f"wrote the model card into {where}: name={card.name} version={card.version} "
        f"{card.task}, {len(card.feature_names)} features ({', '.join(card.feature_names[:5])}"
        f"{', ...' if len(card.feature_names) > 5 else ''}), reference from "
        f"{card.sample_rows} sample rows"
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    from canaria_serving.packaging.core import package_file
    from canaria_serving.packaging.errors import PackagingError
    from canaria_serving.packaging.parity import DEFAULT_TOLERANCE

    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    if args.register and not args.tracking_uri:
        print("canaria package: --register needs --tracking-uri", file=sys.stderr)
        return EXIT_USER_ERROR
    try:
        packaged = package_file(
            args.model,
            args.sample,
            args.output,
            name=args.name,
            version=args.version,
            tolerance=tolerance,
        )
    except PackagingError as exc:
        print(f"canaria package: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    card, parity = packaged.card, packaged.parity
    what = (
        "label mismatches 0, max probability diff"
        if card.task == "classification"
        else ("max output diff")
    )
    print(f"converted {card.sklearn_estimator} ({card.task}, {len(card.feature_names)} features)")
    print(
        f"parity on {parity.rows} sample rows: {what} {parity.max_abs_diff:.3g} "
        f"(allowed {parity.allowed:.3g})"
    )
    print(
        f"wrote {args.output} ({len(packaged.onnx_bytes)} bytes) name={card.name} "
        f"version={card.version}"
    )
    print(f"sha256 {packaged.sha256}  (also in {args.output}.sha256)")
    if args.register:
        return _register(args)
    return 0


def _register(args: argparse.Namespace) -> int:
    from canaria_serving.packaging.register import register_onnx

    try:
        reg = register_onnx(args.output, args.register, args.tracking_uri)
    except Exception as exc:  # MLflow raises many types; one line for the user
        print(f"canaria package: --register failed: {exc}", file=sys.stderr)
        return 1
    print(f"registered {reg.uri} at {args.tracking_uri} (digest {reg.digest})")
    return 0
