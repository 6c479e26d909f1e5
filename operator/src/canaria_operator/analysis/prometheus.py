"""A ``MetricsProvider`` on the Prometheus HTTP API (``GET /api/v1/query``, instant queries)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import httpx

from canaria_operator.analysis.provider import ProviderUnavailable, QueryError

__all__ = ["PrometheusProvider", "parse_scalar", "parse_vector"]


class PrometheusProvider:
    """Instant queries against ``url`` (e.g. ``http://127.0.0.1:9090``).

    Reuses one pooled ``httpx.AsyncClient``; ``at`` pins every query of a round to the same
    evaluation time, so canary and stable are measured over exactly the same window.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        at: datetime | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.at = at
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._owns_client = client is None

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> PrometheusProvider:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _data(self, promql: str) -> dict[str, Any]:
        params = {"query": promql}
        if self.at is not None:
            params["time"] = f"{self.at.timestamp():.3f}"
        try:
            resp = await self._client.get(f"{self.url}/api/v1/query", params=params)
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            raise ProviderUnavailable(f"prometheus at {self.url} unreachable: {exc!r}") from exc
        if resp.status_code >= 500 and resp.status_code != 503:
            raise ProviderUnavailable(f"prometheus answered HTTP {resp.status_code}")
        if resp.status_code == 503:
            raise ProviderUnavailable("prometheus is not ready (HTTP 503)")
        try:
            body = resp.json()
        except ValueError as exc:
            raise QueryError(f"prometheus answered HTTP {resp.status_code}, not JSON") from exc
        return _unwrap(body, resp.status_code)

    async def query(self, promql: str) -> float | None:
        return parse_scalar(await self._data(promql))

    async def query_vector(self, promql: str, label: str) -> dict[str, float] | None:
        return parse_vector(await self._data(promql), label)


def _unwrap(body: Any, status: int) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise QueryError(f"unexpected prometheus answer (HTTP {status})")
    if body.get("status") != "success":
        raise QueryError(
            f"prometheus rejected the query ({body.get('errorType', status)}): "
            f"{body.get('error', 'no error message')}"
        )
    data = body.get("data")
    if not isinstance(data, dict):
        raise QueryError("prometheus answer has no data")
    return data


def _number(sample: Any) -> float | None:
    try:
        value = float(sample[1])
    except (TypeError, ValueError, IndexError) as exc:
        raise QueryError(f"malformed sample {sample!r}") from exc
    return value if math.isfinite(value) else None


def parse_scalar(data: dict[str, Any]) -> float | None:
    """The single value of a ``data`` object; None if empty or NaN; QueryError if several."""
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return _number(result)
    if kind == "vector" and isinstance(result, list):
        if not result:
            return None
        if len(result) > 1:
            labels = [r.get("metric", {}) for r in result[:3]]
            raise QueryError(
                f"query returned {len(result)} series, expected one (aggregate it): {labels}"
            )
        return _number(result[0].get("value"))
    raise QueryError(f"unsupported result type {kind!r} (use an instant vector or scalar)")


def parse_vector(data: dict[str, Any], label: str) -> dict[str, float] | None:
    """{value of ``label``: number} of an instant vector; None if empty."""
    if data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
        raise QueryError(f"expected an instant vector, got {data.get('resultType')!r}")
    out: dict[str, float] = {}
    for series in data["result"]:
        key = series.get("metric", {}).get(label)
        if key is None:
            raise QueryError(f"series without label {label!r}: {series.get('metric')}")
        value = _number(series.get("value"))
        if value is not None:
            out[key] = out.get(key, 0.0) + value
    return out or None
