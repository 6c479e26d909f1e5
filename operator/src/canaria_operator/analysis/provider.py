"""The narrow metrics-provider interface the checks are written against (Flagger style).

A provider answers PromQL: ``query`` for one number, ``query_vector`` for one number per value
of a label (class counts, histogram buckets). Missing data is ``None`` (empty result, NaN);
``ProviderUnavailable`` means the backend could not be asked (Inconclusive), ``QueryError``
means it refused the query (Error).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["MetricsProvider", "ProviderUnavailable", "QueryError"]


class QueryError(Exception):
    """The backend rejected the query or answered something unusable (-> Error)."""


class ProviderUnavailable(Exception):
    """The backend could not be reached or timed out (-> Inconclusive)."""


class MetricsProvider(Protocol):
    async def query(self, promql: str) -> float | None:
        """One instant value; None if the result is empty or NaN."""
        ...

    async def query_vector(self, promql: str, label: str) -> dict[str, float] | None:
        """Instant vector as {value of ``label``: number}; None if empty. NaN samples dropped."""
        ...
