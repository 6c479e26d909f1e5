"""PromQL for the built-in checks and rendering of custom templates (pure).

Series are selected by ``version`` (plus ``model`` and, when known, ``namespace``), not by
``track``: after a promotion the new stable's pods keep reporting ``track="canary"`` until
they restart, while the version label always names what a pod serves.

Custom templates use ``{{var}}`` placeholders (as the CRD documents; spaces inside the braces
are allowed): ``namespace``, ``name``, ``model``, ``track``, ``version``, ``interval`` (a PromQL
duration such as ``30s``), plus ``stable_version`` and ``canary_version``. Example::

    sum(rate(my_errors_total{namespace="{{namespace}}", version="{{version}}"}[{{interval}}]))
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from canaria_serving import contract as c

__all__ = [
    "Target",
    "TemplateError",
    "duration",
    "errors_query",
    "feedback_query",
    "input_drift_query",
    "input_rows_query",
    "latency_quantile_query",
    "prediction_buckets_query",
    "prediction_classes_query",
    "render_template",
    "requests_query",
    "selector",
    "shadow_query",
]


class TemplateError(ValueError):
    """A custom query template that cannot be rendered (names the problem)."""


@dataclass(frozen=True)
class Target:
    """One side of the comparison: which series belong to it."""

    name: str  # the ModelDeployment's name (router metrics' `model` label)
    version: str  # the `version` label of the serving metrics
    track: str = c.TRACK_CANARY
    namespace: str | None = None  # None: series without a namespace label (local scrape)
    model: str | None = None  # served model name (serving metrics' `model`); default name

    @property
    def served_model(self) -> str:
        return self.model or self.name


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _matchers(pairs: list[tuple[str, str | None]], extra: str = "") -> str:
    parts = [f"{k}={_quote(v)}" for k, v in pairs if v is not None]
    if extra:
        parts.append(extra)
    return "{" + ", ".join(parts) + "}"


def selector(t: Target, extra: str = "") -> str:
    """Label matchers of a target's serving series, e.g. ``{namespace="a", model="m", ...}``."""
    return _matchers(
        [("namespace", t.namespace), (c.L_MODEL, t.served_model), (c.L_VERSION, t.version)],
        extra,
    )


def duration(window: timedelta) -> str:
    """A PromQL duration (whole seconds, at least 1s)."""
    return f"{max(1, round(window.total_seconds()))}s"


def requests_query(t: Target, window: timedelta) -> str:
    return f"sum(increase({c.M_REQUESTS}_total{selector(t)}[{duration(window)}]))"


def errors_query(t: Target, window: timedelta) -> str:
    """Server errors only: a 4xx is the client's mistake, not the model's."""
    sel = selector(t, f'{c.L_CODE}=~"5.."')
    return f"sum(increase({c.M_REQUESTS}_total{sel}[{duration(window)}]))"


def latency_quantile_query(t: Target, window: timedelta, q: float = 0.99) -> str:
    return (
        f"histogram_quantile({q}, sum by (le) "
        f"(rate({c.M_REQUEST_DURATION}_bucket{selector(t)}[{duration(window)}])))"
    )


def prediction_classes_query(t: Target, window: timedelta) -> str:
    return (
        f"sum by ({c.L_CLASS}) (increase({c.M_PREDICTIONS}_total{selector(t)}[{duration(window)}]))"
    )


def prediction_buckets_query(t: Target, window: timedelta) -> str:
    return f"sum by (le) (increase({c.M_PREDICTION_VALUE}_bucket{selector(t)}[{duration(window)}]))"


def input_drift_query(t: Target) -> str:
    return f"max({c.M_INPUT_DRIFT}{selector(t)})"


def input_rows_query(t: Target, window: timedelta) -> str:
    return f"sum(increase({c.M_INPUT_ROWS}_total{selector(t)}[{duration(window)}]))"


def feedback_query(metric: str, t: Target, window: timedelta) -> str:
    """A feedback counter's increase over the window (``metric`` without ``_total``)."""
    return f"sum(increase({metric}_total{selector(t)}[{duration(window)}]))"


def shadow_query(name: str, namespace: str | None, window: timedelta) -> str:
    sel = _matchers([("namespace", namespace), (c.L_MODEL, name)])
    return (
        f"sum by ({c.L_RESULT}) (increase({c.M_SHADOW_COMPARISONS}_total{sel}[{duration(window)}]))"
    )


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")


def render_template(template: str, t: Target, stable_version: str, window: timedelta) -> str:
    """Fill a custom PromQL template; unknown or malformed placeholders raise TemplateError."""
    variables = {
        "namespace": t.namespace or "",
        "name": t.name,
        "model": t.served_model,
        "track": t.track,
        "version": t.version,
        "interval": duration(window),
        "stable_version": stable_version,
        "canary_version": t.version,
    }

    def fill(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in variables:
            known = ", ".join(sorted(variables))
            raise TemplateError(f"unknown variable {{{{{key}}}}} (known: {known})")
        return variables[key]

    out = _PLACEHOLDER.sub(fill, template)
    if "{{" in out or "}}" in out:
        raise TemplateError(f"malformed placeholder in template {template!r}")
    return out
