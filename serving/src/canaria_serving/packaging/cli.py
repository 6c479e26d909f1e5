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
