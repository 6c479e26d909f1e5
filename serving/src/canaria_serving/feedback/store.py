"""The predictions a pod keeps by request id, until their truth arrives (SQLite, bounded).

One SQLite file per pod in its writable ``/tmp`` (an emptyDir): every worker process of the
pod writes and reads the same file (WAL mode), and it outlives a container restart (the
emptyDir goes only with the pod). Two bounds, both from ``spec.serving.feedback``:

* ``retention``: a prediction older than this is expired (its truth comes too late);
* ``max_predictions``: beyond this many, the oldest are evicted before their retention.

What leaves is remembered as a *tombstone* (the id and why, at most ``max_predictions`` of
them), so that late feedback is told "expired" or "evicted" rather than "unknown". A
prediction whose truth arrived stays (marked) until it expires, so a second truth for it is
a "duplicate" and is never counted twice. Nothing here is unbounded: two tables of at most
``max_predictions`` rows each.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Claimed", "PredictionStore", "Swept"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id TEXT PRIMARY KEY, at REAL NOT NULL, prediction TEXT NOT NULL,
    labelled INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS predictions_at ON predictions (at);
CREATE TABLE IF NOT EXISTS gone (id TEXT PRIMARY KEY, at REAL NOT NULL, reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS gone_at ON gone (at);
"""


@dataclass(frozen=True)
class Claimed:
    """One id looked up for its truth: the stored prediction (JSON) when it is claimed now,
    else the reason it cannot be (unknown, expired, evicted, duplicate)."""

    id: str
    prediction: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Swept:
    """Predictions that left the store without their truth in one sweep."""

    expired: int = 0
    evicted: int = 0


class PredictionStore:
    def __init__(
        self,
        path: Path,
        *,
        retention_s: float,
        max_predictions: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path, self.retention_s, self.max_predictions = path, retention_s, max_predictions
        self._clock = clock
        self._lock = threading.Lock()  # one connection per process, used from threads
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=5.0, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")  # a lost page on a kernel crash is acceptable
        with self._lock:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, rows: Sequence[tuple[str, float, str]]) -> None:
        """Keep ``(id, time, prediction JSON)`` rows; an id seen again is replaced (the same
        request sent twice keeps its latest answer)."""
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO predictions (id, at, prediction) VALUES (?, ?, ?)",
                    rows,
                )
                self._db.executemany("DELETE FROM gone WHERE id = ?", ((r[0],) for r in rows))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def claim(self, ids: Iterable[str]) -> list[Claimed]:
        """Mark each id's prediction as labelled and return it; an id that cannot be
        claimed gets its reason. Atomic per id across processes: a truth is counted once."""
        cutoff = self._clock() - self.retention_s
        out: list[Claimed] = []
        with self._lock:
            for rid in ids:
                row = self._db.execute(
                    "UPDATE predictions SET labelled = 1 "
                    "WHERE id = ? AND labelled = 0 AND at >= ? RETURNING prediction",
                    (rid, cutoff),
                ).fetchone()
                if row is not None:
                    out.append(Claimed(rid, prediction=str(row[0])))
                    continue
                out.append(Claimed(rid, reason=self._why_not(rid, cutoff)))
        return out

    def unclaim(self, rid: str) -> None:
        """Undo a claim whose truth did not fit (it may be sent again, corrected)."""
        with self._lock:
            self._db.execute("UPDATE predictions SET labelled = 0 WHERE id = ?", (rid,))

    def _why_not(self, rid: str, cutoff: float) -> str:
        row = self._db.execute(
            "SELECT at, labelled FROM predictions WHERE id = ?", (rid,)
        ).fetchone()
        if row is not None:
            return "duplicate" if row[1] and row[0] >= cutoff else "expired"
        gone = self._db.execute("SELECT reason FROM gone WHERE id = ?", (rid,)).fetchone()
        return str(gone[0]) if gone is not None else "unknown"

    def sweep(self) -> Swept:
        """Expire and evict (counting what left without its truth); keep the tombstones
        within the same bound."""
        now = self._clock()
        cutoff = now - self.retention_s
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                expired = self._move("at < ?", (cutoff,), now, "expired")
                (count,) = self._db.execute("SELECT COUNT(*) FROM predictions").fetchone()
                evicted = 0
                if count > self.max_predictions:
                    oldest = (
                        "id IN (SELECT id FROM predictions ORDER BY at, id LIMIT ?)",
                        (count - self.max_predictions,),
                    )
                    evicted = self._move(*oldest, now, "evicted")
                (tombs,) = self._db.execute("SELECT COUNT(*) FROM gone").fetchone()
                if tombs > self.max_predictions:
                    oldest_tombs = "SELECT id FROM gone ORDER BY at, id LIMIT ?"
                    self._db.execute(
                        f"DELETE FROM gone WHERE id IN ({oldest_tombs})",
                        (tombs - self.max_predictions,),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return Swept(expired=expired, evicted=evicted)

    def _move(self, where: str, args: tuple[object, ...], now: float, reason: str) -> int:
        """Predictions matching ``where`` become tombstones; returns how many of them had
        not been labelled."""
        (unlabelled,) = self._db.execute(
            f"SELECT COUNT(*) FROM predictions WHERE labelled = 0 AND {where}", args
        ).fetchone()
        self._db.execute(
            f"INSERT OR REPLACE INTO gone (id, at, reason) "
            f"SELECT id, ?, ? FROM predictions WHERE {where}",
            (now, reason, *args),
        )
        self._db.execute(f"DELETE FROM predictions WHERE {where}", args)
        return int(unlabelled)

    def size(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM predictions").fetchone()
        return int(count)
