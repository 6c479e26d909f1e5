"""`canaria fetch URI --dest PATH [--sha256 HEX]`: the serving pods' init container."""

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
        "bounded memory; refuse it unless its SHA-256 matches; retry transient failures.",
    )
    p.add_argument("uri")
    p.add_argument("--dest", type=Path, required=True, help="where to write the model")
    p.add_argument("--sha256", help="expected lower-case hex digest")
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
    from canaria_operator.fetch import FetchError, fetch

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
