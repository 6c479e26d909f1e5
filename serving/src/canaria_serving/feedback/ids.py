"""Request ids: the key a truth is sent back with.

A prediction is kept under the V2 body's ``id`` when the client sent one, else under the
``X-Request-Id`` header; when neither exists the router (or, without a router, the server)
assigns one. Every answer carries the id it was kept under in ``X-Request-Id``.

Ids made here are a random per-process prefix and a counter (about 0.3 us; unique across
pods and restarts with overwhelming probability). The fast path opens a :func:`slot` per
request; whoever records the prediction says which id it used (:func:`answered_as`), and
the fast path puts that one in the response header.
"""

from __future__ import annotations

import itertools
import os
from contextvars import ContextVar

__all__ = ["answered_as", "new_id", "slot"]

_SLOT: ContextVar[list[str] | None] = ContextVar("canaria_request_id", default=None)
_state: list[tuple[int, str, itertools.count[int]]] = [(-1, "", itertools.count(1))]


def new_id() -> str:
    pid, prefix, counter = _state[0]
    if pid != os.getpid():  # first use in this process (forked workers get their own)
        prefix, counter = os.urandom(6).hex(), itertools.count(1)
        _state[0] = (os.getpid(), prefix, counter)
    return f"{prefix}-{next(counter):x}"


def slot(request_id: str) -> list[str]:
    """A per-request holder of the id the answer will carry (starts as ``request_id``)."""
    holder = [request_id]
    _SLOT.set(holder)
    return holder


def answered_as(request_id: str) -> None:
    """The prediction of the current request was kept under ``request_id``."""
    holder = _SLOT.get()
    if holder is not None:
        holder[0] = request_id
