"""Where the dev cluster keeps its binaries (per machine) and its state (per running cluster)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV_CACHE_DIR", "ENV_STATE_DIR", "cache_root", "state_dir", "testbin_root"]

ENV_CACHE_DIR = "CANARIA_CACHE_DIR"
ENV_STATE_DIR = "CANARIA_DEV_CLUSTER_DIR"


def cache_root() -> Path:
    """``$CANARIA_CACHE_DIR`` or ``$XDG_CACHE_HOME/canaria`` or ``~/.cache/canaria``."""
    explicit = os.environ.get(ENV_CACHE_DIR)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "canaria"


def testbin_root() -> Path:
    """Built binaries, one folder per ``<component>-<version>``."""
    return cache_root() / "testbin"


def state_dir() -> Path:
    """State of the running cluster: pids, logs, certificates, configs, etcd data."""
    explicit = os.environ.get(ENV_STATE_DIR)
    if explicit:
        return Path(explicit).expanduser()
    return cache_root() / "dev-cluster"
