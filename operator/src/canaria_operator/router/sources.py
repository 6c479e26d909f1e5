"""Where the router learns its backends and weights: the ``BackendSource`` interface.

``StaticSource`` takes them from flags or from a JSON/YAML file that it re-reads when it
changes (local use and tests); ``canaria_operator.router.kube_source.KubernetesSource`` watches
Pods and the ModelDeployment's status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import yaml

from canaria_operator.router.table import Backend, RoutingTable

__all__ = ["BackendSource", "StaticSource", "table_from_mapping"]

log = logging.getLogger("canaria.router")


class BackendSource(Protocol):
    """Publishes routing tables; ``current`` is read on every request (must be cheap)."""

    @property
    def current(self) -> RoutingTable: ...

    @property
    def synced(self) -> bool:
        """True once the first complete table is known (readiness)."""
        ...

    async def run(self) -> None:
        """Keep ``current`` up to date until cancelled."""
        ...


def table_from_mapping(data: Any) -> RoutingTable:
    """A table from ``{"stable": ["host:port"...], "canary": [...], "canaryWeight": 10,
    "mirrorPercent": 0}``; ValueError names the bad field."""
    if not isinstance(data, dict):
        raise ValueError("routing file: expected a mapping at the top level")
    unknown = set(data) - {"stable", "canary", "canaryWeight", "mirrorPercent", "replayRps"}
    if unknown:
        raise ValueError(f"routing file: unknown field(s) {sorted(unknown)}")
    tracks: dict[str, tuple[Backend, ...]] = {}
    for track in ("stable", "canary"):
        items = data.get(track, [])
        if not isinstance(items, list):
            raise ValueError(f"routing file: {track} must be a list of host:port")
        tracks[track] = tuple(Backend.parse(str(x)) for x in items)
    numbers = {}
    for key in ("canaryWeight", "mirrorPercent"):
        value = data.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
            raise ValueError(f"routing file: {key} must be an integer within 0..100")
        numbers[key] = value
    replay = data.get("replayRps", 0)
    if not isinstance(replay, int | float) or isinstance(replay, bool) or not 0 <= replay <= 100:
        raise ValueError("routing file: replayRps must be a number within 0..100")
    return RoutingTable(
        stable=tracks["stable"],
        canary=tracks["canary"],
        canary_weight=numbers["canaryWeight"],
        mirror_percent=numbers["mirrorPercent"],
        replay_rps=float(replay),
    )


class StaticSource:
    """A fixed table, or one read from ``path`` and re-read within ``poll`` seconds of a change.

    A broken file keeps the last good table (and logs why): a typo never empties the router.
    """

    def __init__(
        self,
        table: RoutingTable | None = None,
        path: Path | None = None,
        poll: float = 0.25,
        on_change: Callable[[RoutingTable], None] | None = None,
    ) -> None:
        if table is None and path is None:
            raise ValueError("StaticSource needs a table or a file")
        self.path, self.poll, self.on_change = path, poll, on_change
        self._stamp: tuple[int, int] | None = None
        self._table = table if table is not None else RoutingTable()
        if path is not None:
            self._table = self._load()  # errors in the initial file are fatal

    @property
    def current(self) -> RoutingTable:
        return self._table

    @property
    def synced(self) -> bool:
        return True

    def _load(self) -> RoutingTable:
        assert self.path is not None
        st = self.path.stat()
        self._stamp = (st.st_mtime_ns, st.st_size)
        text = self.path.read_text()
        data = json.loads(text) if self.path.suffix == ".json" else yaml.safe_load(text)
        return table_from_mapping(data)

    async def run(self) -> None:
        if self.path is None:
            await asyncio.Event().wait()
        assert self.path is not None
        while True:
            await asyncio.sleep(self.poll)
            with contextlib.suppress(FileNotFoundError):
                st = self.path.stat()
                if (st.st_mtime_ns, st.st_size) == self._stamp:
                    continue
            try:
                table = await asyncio.to_thread(self._load)
            except (OSError, ValueError, yaml.YAMLError) as exc:
                log.warning("routing file %s ignored: %s", self.path, exc)
                continue
            self._table = table
            log.info(
                "routing table: canary weight %d, mirror %d, %d stable / %d canary backends",
                table.canary_weight,
                table.mirror_percent,
                len(table.stable),
                len(table.canary),
            )
            if self.on_change is not None:
                self.on_change(table)
