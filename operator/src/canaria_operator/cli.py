"""`canaria`: one console script, subcommands registered by each area.

Every module listed in ``COMMAND_MODULES`` exposes ``register(subparsers) -> None`` and sets
``func=callable(args) -> int`` on the parsers it adds. Registration modules import nothing
heavy at import time, so `canaria --help` and `canaria serve` start fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

COMMAND_MODULES: tuple[str, ...] = (
    # Add one line per area; each module owns its subcommands.
    "canaria_serving.cli_serve",
    "canaria_serving.packaging.cli",
    "canaria_serving.evaluation.cli",
    "canaria_operator.cli_operator",
    "canaria_operator.cli_fetch",
    "canaria_operator.router.cli",
    "canaria_operator.cli_rollout",
    "canaria_operator.cli_lifecycle",
)
# Developer tools (`canaria dev-cluster`, `canaria demo`): registered when installed.
OPTIONAL_COMMAND_MODULES: tuple[str, ...] = (
    "canaria_devtools.devcluster.cli",
    "canaria_devtools.demo.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canaria",
        description="Serve ONNX models and roll them out progressively on Kubernetes.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for name in OPTIONAL_COMMAND_MODULES:
        if importlib.util.find_spec(name.split(".")[0]) is not None:
            importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
