"""The demo's PNG timeline (matplotlib): weight, error rate, p99 latency and model agreement.

Weights and analysis values come from the ModelDeployment status as the demo saw it; error
rate and p99 per version from Prometheus (``query_range``); the client's view (who answered
each request) from the load generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from canaria_devtools.demo.traffic import Record
from canaria_serving import contract as c

__all__ = ["Sample", "prometheus_series", "write_timeline"]


@dataclass(frozen=True)
class Sample:
    at: float
    status: dict[str, Any]


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def prometheus_series(
    url: str, expr: str, start: float, end: float, step: float = 2.0
) -> dict[str, list[tuple[float, float]]]:
    """``query_range`` of ``expr``, by the ``version`` label."""
    resp = httpx.get(
        f"{url.rstrip('/')}/api/v1/query_range",
        params={"query": expr, "start": start, "end": end, "step": step},
        timeout=20,
    )
    resp.raise_for_status()
    out: dict[str, list[tuple[float, float]]] = {}
    for series in resp.json()["data"]["result"]:
        version = series["metric"].get(c.L_VERSION, "?")
        points = [(float(t), float(v)) for t, v in series["values"] if v not in ("NaN", "+Inf")]
        out[version] = points
    return out


def write_timeline(
    path: Path,
    samples: Sequence[Sample],
    records: Sequence[Record],
    *,
    prometheus: str,
    namespace: str,
    model: str,
    marks: Sequence[tuple[float, str]] = (),
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = min([s.at for s in samples] + [r.at for r in records])
    end = max([s.at for s in samples] + [r.at for r in records])
    sel = f'{{namespace="{namespace}", {c.L_MODEL}="{model}"}}'
    err_sel = f'{{namespace="{namespace}", {c.L_MODEL}="{model}", {c.L_CODE}=~"5.."}}'
    errors = prometheus_series(
        prometheus,
        f"(sum by (version) (rate({c.M_REQUESTS}_total{err_sel}[10s])) "
        f"or 0 * sum by (version) (rate({c.M_REQUESTS}_total{sel}[10s]))) / "
        f"sum by (version) (rate({c.M_REQUESTS}_total{sel}[10s]))",
        start,
        end,
    )
    p99 = prometheus_series(
        prometheus,
        f"histogram_quantile(0.99, sum by (version, le) "
        f"(rate({c.M_REQUEST_DURATION}_bucket{sel}[10s])))",
        start,
        end,
    )
    fig, axes = plt.subplots(4, 1, figsize=(11, 11), sharex=True)

    def rel(t: float) -> float:
        return t - start

    ax = axes[0]
    ax.step(
        [rel(s.at) for s in samples],
        [int(((s.status.get("rollout") or {}).get("canaryWeight")) or 0) for s in samples],
        where="post",
        color="tab:orange",
        label="canary weight (status)",
    )
    buckets: dict[tuple[int, str], int] = {}
    totals: dict[int, int] = {}
    for r in records:
        b = int(rel(r.at) // 5)
        totals[b] = totals.get(b, 0) + 1
        if r.version:
            buckets[(b, r.version)] = buckets.get((b, r.version), 0) + 1
    for version in sorted({v for _, v in buckets}):
        xs = sorted(b for b, v in buckets if v == version)
        ax.plot(
            [b * 5 + 2.5 for b in xs],
            [100 * buckets[(b, version)] / totals[b] for b in xs],
            ".",
            label=f"answered by v{version} (%)",
        )
    ax.set_ylabel("traffic %")
    ax.set_ylim(-5, 105)
    for ax_, series, label in (
        (axes[1], errors, "error rate (5xx)"),
        (axes[2], p99, "p99 latency (s)"),
    ):
        for version, points in sorted(series.items()):
            ax_.plot([rel(t) for t, _ in points], [v for _, v in points], label=f"v{version}")
        ax_.set_ylabel(label)
    ax = axes[3]
    for metric, style in (("prediction-drift", "tab:purple"), ("shadow-agreement", "tab:green")):
        pts: dict[float, float] = {}
        for s in samples:
            for a in s.status.get("analysis") or []:
                if a.get("metric") == metric and a.get("value") is not None:
                    pts[_ts(a["at"])] = float(a["value"])
        if pts:
            times = sorted(pts)
            ax.plot(
                [rel(x) for x in times], [pts[x] for x in times], "o-", color=style, label=metric
            )
    ax.set_ylabel("analysis value")
    ax.set_xlabel(f"seconds since {datetime.fromtimestamp(start, UTC):%H:%M:%S} UTC")
    for ax in axes:
        for t, text in marks:
            ax.axvline(rel(t), color="grey", linestyle=":", linewidth=1)
            if ax is axes[0]:
                ax.annotate(text, (rel(t), 100), rotation=90, fontsize=8, va="top", ha="right")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(f"canaria demo: {namespace}/{model}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
