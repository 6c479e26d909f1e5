"""`canaria fetch URI --dest PATH [--sha256 HEX]`: the serving pods' init container.

`canaria fetch URI --sha256 HEX --verify-only` checks a file where it is (a ``pvc://`` model,
mounted read-only): the digest is computed, nothing is copied."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]

TERMINATION_LOG = Path("/dev/termination-log")


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "fetch",
        help="download a model and verify its sha256 (init container of serving pods)",
        description="Copy a model (file://, http(s)://, s3://) to --dest, streaming with "
        "bounded memory; refuse it unless its SHA-256 matches; retry transient failures. "
        "mlflow+http(s)://HOST/api/2.0/mlflow-artifacts/artifacts/DIR copies a whole MLflow "
        "model directory through the tracking server's artifact proxy into the directory "
        "--dest; --sha256 is then the directory's digest (canaria_serving.modeldir).",
    )
    p.add_argument("uri")
    p.add_argument("--dest", type=Path, help="where to write the model")
    p.add_argument("--sha256", help="expected lower-case hex digest")
    p.add_argument(
        "--verify-only",
        action="store_true",
        help="only check the file's sha256 where it is (needs --sha256; copies nothing)",
    )
    p.add_argument("--retries", type=int, default=5, help="retries of transient failures")
    p.add_argument("--backoff", type=float, default=1.0, help="first retry delay (doubles)")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout (s)")
    p.set_defaults(func=run)


def _report(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    # Kubernetes shows this file (which the kubelet creates) as the termination message.
    if TERMINATION_LOG.exists():
        with contextlib.suppress(OSError):
            TERMINATION_LOG.write_text(message + "\n")


def run(args: argparse.Namespace) -> int:
    from canaria_operator.fetch import FetchError, fetch, verify

    if args.verify_only:
        if not args.sha256:
            _report("canaria fetch: --verify-only needs --sha256")
            return 2
        try:
            size = verify(args.uri, args.sha256, timeout=args.timeout)
        except FetchError as exc:
            _report(f"canaria fetch: {exc.message}")
            return exc.code
        print(f"canaria fetch: {args.uri} ({size} bytes) sha256 verified in place", flush=True)
        return 0
    if args.dest is None:
        _report("canaria fetch: --dest is required (or --verify-only with --sha256)")
        return 2
    try:
        size = fetch(
            args.uri,
            args.dest,
            args.sha256,
            retries=args.retries,
            backoff=args.backoff,
            timeout=args.timeout,
            log=lambda m: print(m, file=sys.stderr, flush=True),
        )
    except FetchError as exc:
        _report(f"canaria fetch: {exc.message}")
        return exc.code
    print(
        f"canaria fetch: {args.uri} -> {args.dest} ({size} bytes, sha256 verified: "
        f"{'yes' if args.sha256 else 'no'})",
        flush=True,
    )
    return 0
