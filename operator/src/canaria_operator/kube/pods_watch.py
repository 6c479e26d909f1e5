"""List-then-watch of one kind of object, resuming from resourceVersion (for the router).

``list_watch`` calls ``on_sync(items)`` after every (re)list and ``on_event(type, obj)`` for
each watch event; it relists when the API server says the resourceVersion is too old (410)
and backs off on errors, forever (cancel the task to stop).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from canaria_operator.kube.client import Json, Kube
from canaria_operator.kube.errors import KubeError
from canaria_operator.kube.paths import Resource

__all__ = ["list_watch"]

log = logging.getLogger("canaria.kube.watch")


class _Gone(Exception):
    """resourceVersion too old: relist."""


async def _stream(
    kube: Kube,
    path: str,
    query: dict[str, str],
    on_event: Callable[[str, Json], None],
    watch_seconds: int,
) -> str | None:
    """One watch request; returns the last resourceVersion seen (None if none)."""
    params = [
        *query.items(),
        ("watch", "true"),
        ("allowWatchBookmarks", "true"),
        ("timeoutSeconds", str(watch_seconds)),
    ]
    # kube.Kube has no streaming call; its ApiClient handles credentials and TLS.
    resp: Any = await kube._api.call_api(
        path,
        "GET",
        query_params=params,
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
        _preload_content=False,
        _request_timeout=watch_seconds + 30,
    )
    last: str | None = None
    async with resp:
        if resp.status != 200:
            body = await resp.read()
            raise KubeError.from_status(resp.status, json.loads(body) if body else {})
        while True:
            line = await resp.content.readline()
            if not line:
                return last
            event = json.loads(line)
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise _Gone
                raise KubeError.from_status(int(obj.get("code") or 500), obj)
            last = obj.get("metadata", {}).get("resourceVersion") or last
            if kind != "BOOKMARK":
                on_event(str(kind), obj)


async def list_watch(
    kube: Kube,
    res: Resource,
    namespace: str,
    *,
    on_sync: Callable[[list[Json]], None],
    on_event: Callable[[str, Json], None],
    label_selector: str = "",
    field_selector: str = "",
    watch_seconds: int = 300,
) -> None:
    query = {
        k: v for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v
    }
    path = res.path(namespace)
    backoff = 0.5
    while True:
        try:
            data = await kube.request("GET", path, query=query)
            on_sync(list(data.get("items") or []))
            rv = str(data.get("metadata", {}).get("resourceVersion", ""))
            backoff = 0.5
            while True:
                last = await _stream(
                    kube, path, {**query, "resourceVersion": rv}, on_event, watch_seconds
                )
                rv = last or rv
        except _Gone:
            continue
        except (KubeError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning(
                "watch of %s in %s failed (%s); retrying in %.1fs",
                res.plural,
                namespace,
                exc,
                backoff,
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
