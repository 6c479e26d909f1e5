"""The routing table and the split decision (pure).

A ``RoutingTable`` is an immutable snapshot: backends per track, the canary weight and the
mirror percentage. Sources publish a new snapshot on every change; the proxy reads the current
one per request, so a weight change never interrupts a request in flight.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from canaria_serving.contract import TRACK_CANARY, TRACK_STABLE

__all__ = ["Backend", "RoutingTable", "choose_track", "sticky_bucket"]


@dataclass(frozen=True, order=True)
class Backend:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Backend:
        """``host:port`` or ``http://host:port``; ValueError names the problem."""
        raw = text.removeprefix("http://").rstrip("/")
        host, sep, port = raw.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"backend {text!r}: expected host:port")
        return cls(host, int(port))


@dataclass(frozen=True)
class RoutingTable:
    stable: tuple[Backend, ...] = ()
    canary: tuple[Backend, ...] = ()
    canary_weight: int = 0
    mirror_percent: int = 0
    # Payload-log records per second replayed to the canary (spec.rollout.analysis.replay).
    replay_rps: float = 0.0
    # Versions behind each track, for logs and status (optional).
    versions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("canary_weight", "mirror_percent"):
            value = getattr(self, name)
            if not 0 <= value <= 100:
                raise ValueError(f"{name} must be within 0..100, got {value}")

    def backends(self, track: str) -> tuple[Backend, ...]:
        return self.canary if track == TRACK_CANARY else self.stable


def sticky_bucket(key: str) -> int:
    """A stable bucket in 0..9999 for a sticky key (same in every router replica)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10_000


def choose_track(weight: int, draw: int) -> str:
    """Canary if ``draw`` (uniform in 0..9999, or a sticky bucket) falls below the weight.

    With a sticky bucket, raising the weight only ever moves keys from stable to canary.
    """
    return TRACK_CANARY if draw < weight * 100 else TRACK_STABLE
