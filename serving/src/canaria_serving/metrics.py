"""The serving metrics, exactly as :mod:`canaria_serving.contract` names them.

Label children are bound once per model, so the hot path does dictionary lookups and ``inc``
calls only. Cardinality is bounded: classes beyond ``MAX_CLASS_LABELS`` count as
``__other__``, drift is exported for the first ``MAX_FEATURE_LABELS`` features, protocol and
status code come from small fixed sets.

With several workers (``PROMETHEUS_MULTIPROC_DIR`` set), prometheus-client's multiprocess mode
aggregates counters and histograms across processes; gauges use ``livemax``/``livemostrecent``.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from math import isnan
from typing import Any

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from canaria_serving import contract as c

__all__ = [
    "MAX_OBSERVED_VALUES",
    "PROTOCOLS",
    "BufferedCounter",
    "BufferedHistogram",
    "ServingMetrics",
    "multiprocess_enabled",
]

disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: they double the output and nobody queries them

PROTOCOLS = ("v2", "v1", "predict")
MAX_OBSERVED_VALUES = 4096  # per request, into the prediction histogram
_MODEL = [c.L_MODEL, c.L_VERSION, c.L_TRACK]


def multiprocess_enabled() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class BufferedHistogram:
    """A bound histogram child whose hot-path ``observe`` only touches plain Python numbers.

    prometheus-client's ``observe`` walks the buckets in a Python loop and takes a lock per
    increment; on a ~20 us inference that is a measurable share of the request. Here ``observe``
    is a C bisect plus two list/float updates on the event-loop thread; :meth:`flush` (at
    scrape time and periodically) adds the pending counts into the real child, so the exported
    series are exactly prometheus-client's own.
    """

    __slots__ = ("_bounds", "_counts", "_dirty", "_sum", "child")

    def __init__(self, child: Any) -> None:
        self.child = child
        self._bounds: list[float] = list(child._upper_bounds)
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self._dirty = False

    def observe(self, value: float) -> None:
        if isnan(value):  # NaN has no bucket: not counted (and kept out of the sum)
            return
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value
        self._dirty = True

    def observe_many(self, values: np.ndarray) -> None:
        """All values at once: one numpy pass instead of a Python loop per row."""
        v = values.astype(np.float64, copy=False).reshape(-1)
        if not np.isfinite(v.sum()):  # NaN has no bucket: not counted (and kept out of the sum)
            v = v[~np.isnan(v)]
        idx = np.searchsorted(self._bounds, v, side="left")
        counts = np.bincount(idx, minlength=len(self._bounds))
        for i in np.flatnonzero(counts).tolist():
            self._counts[i] += int(counts[i])
        self._sum += float(v.sum())
        self._dirty = True

    def flush(self) -> None:
        if not self._dirty:
            return
        counts, total = self._counts, self._sum
        self._counts, self._sum, self._dirty = [0] * len(self._bounds), 0.0, False
        buckets = self.child._buckets
        for i, n in enumerate(counts):
            if n:
                buckets[i].inc(n)
        self.child._sum.inc(total)


class BufferedCounter:
    """A bound counter child with a lock-free hot-path ``inc``; see :class:`BufferedHistogram`."""

    __slots__ = ("child", "pending")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.pending = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.pending += amount

    def flush(self) -> None:
        if self.pending:
            amount, self.pending = self.pending, 0.0
            self.child.inc(amount)


class ServingMetrics:
    """All metric families for one served model, with pre-bound label children."""

    def __init__(
        self,
        model: str,
        version: str,
        track: str,
        *,
        sha256: str,
        classes: list[str],
        features: list[str],
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        ids = (model, version, track)
        self._ids = ids
        self._requests = Counter(
            c.M_REQUESTS,
            "Inference requests by protocol and HTTP status code.",
            [*_MODEL, c.L_PROTOCOL, c.L_CODE],
            registry=reg,
        )
        self._request_children: dict[tuple[str, int], BufferedCounter] = {}
        self._buffered: list[BufferedCounter | BufferedHistogram] = []
        request_duration = Histogram(
            c.M_REQUEST_DURATION,
            "Whole inference request, body parsed to response built.",
            [*_MODEL, c.L_PROTOCOL],
            buckets=c.LATENCY_BUCKETS,
            registry=reg,
        )
        self.request_duration = {
            p: BufferedHistogram(request_duration.labels(*ids, p)) for p in PROTOCOLS
        }
        self.inference_duration = BufferedHistogram(
            Histogram(
                c.M_INFERENCE_DURATION,
                "onnxruntime call duration.",
                _MODEL,
                buckets=c.LATENCY_BUCKETS,
                registry=reg,
            ).labels(*ids)
        )
        self.batch_size = BufferedHistogram(
            Histogram(
                c.M_BATCH_SIZE,
                "Rows per onnxruntime call.",
                _MODEL,
                buckets=c.BATCH_SIZE_BUCKETS,
                registry=reg,
            ).labels(*ids)
        )
        predictions = Counter(
            c.M_PREDICTIONS,
            "Predicted class per row (classifiers).",
            [*_MODEL, c.L_CLASS],
            registry=reg,
        )
        self.prediction_value = BufferedHistogram(
            Histogram(
                c.M_PREDICTION_VALUE,
                "Predicted value per row (regressors).",
                _MODEL,
                buckets=c.PREDICTION_BUCKETS,
                registry=reg,
            ).labels(*ids)
        )
        self._class_child: dict[object, BufferedCounter] = {}
        # without known classes (a model with no card), labels get a series as they appear
        self._open_classes = not classes
        for name in classes[: c.MAX_CLASS_LABELS]:
            child = BufferedCounter(predictions.labels(*ids, name))
            self._class_child[name] = child
            if name.lstrip("-").isdigit():
                self._class_child[int(name)] = child
        self._other_class = (
            BufferedCounter(predictions.labels(*ids, c.OTHER_CLASS)) if classes else None
        )
        self._predictions = predictions
        drift = Gauge(
            c.M_INPUT_DRIFT,
            "PSI of the recent input window against the training reference.",
            [*_MODEL, c.L_FEATURE],
            registry=reg,
            multiprocess_mode="livemostrecent",
        )
        self.drift = [drift.labels(*ids, f) for f in features[: c.MAX_FEATURE_LABELS]]
        for feature_gauge in self.drift:
            feature_gauge.set(float("nan"))  # not measured yet (too few rows): not "no drift"
        self.input_rows = BufferedCounter(
            Counter(
                c.M_INPUT_ROWS,
                "Rows that entered the input-drift window.",
                _MODEL,
                registry=reg,
            ).labels(*ids)
        )
        Gauge(
            c.M_MODEL_INFO,
            "Which model this server serves (always 1).",
            [*_MODEL, "sha256"],
            registry=reg,
            multiprocess_mode="livemax",
        ).labels(*ids, sha256).set(1)
        self.model_ready = Gauge(
            c.M_MODEL_READY,
            "1 once the model is loaded and a warm-up inference passed.",
            _MODEL,
            registry=reg,
            multiprocess_mode="livemax",
        ).labels(*ids)
        self.model_ready.set(0)
        self.payload_log_dropped = Counter(
            c.M_PAYLOAD_LOG_DROPPED,
            "Payload-log records dropped because the queue was full.",
            _MODEL,
            registry=reg,
        ).labels(*ids)

        self._buffered += [
            *self.request_duration.values(),
            self.inference_duration,
            self.batch_size,
            self.prediction_value,
            self.input_rows,
            *set(self._class_child.values()),
        ]
        if self._other_class is not None:
            self._buffered.append(self._other_class)

    def request(self, protocol: str, code: int) -> None:
        child = self._request_children.get((protocol, code))
        if child is None:
            child = BufferedCounter(self._requests.labels(*self._ids, protocol, str(code)))
            self._request_children[(protocol, code)] = child
            self._buffered.append(child)
        child.pending += 1

    def flush(self) -> None:
        """Move the hot path's pending counts into prometheus-client (event-loop thread)."""
        for metric in self._buffered:
            metric.flush()

    def observe_classes(self, labels: np.ndarray) -> None:
        if labels.size == 1:
            first = labels.flat[0]
            self._count_class(first.item() if isinstance(first, np.generic) else first, 1)
            return
        values, counts = np.unique(labels, return_counts=True)
        for value, count in zip(values.tolist(), counts.tolist(), strict=True):
            self._count_class(value, count)

    def _count_class(self, value: object, count: int) -> None:
        child = self._class_child.get(value)
        if child is None:
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            child = self._class_child.get(str(value))
        if child is None and self._open_classes and len(self._class_child) < c.MAX_CLASS_LABELS:
            child = BufferedCounter(self._predictions.labels(*self._ids, str(value)))
            self._class_child[value] = self._class_child[str(value)] = child
            self._buffered.append(child)
        if child is None:
            if self._other_class is None:
                self._other_class = BufferedCounter(
                    self._predictions.labels(*self._ids, c.OTHER_CLASS)
                )
                self._buffered.append(self._other_class)
            child = self._other_class
        child.inc(count)

    def observe_values(self, values: np.ndarray) -> None:
        flat = values.reshape(-1)
        if flat.size > MAX_OBSERVED_VALUES:  # a large output (an image): an even sample of it
            flat = flat[:: -(-flat.size // MAX_OBSERVED_VALUES)]
        if flat.size <= 4:
            for v in flat.tolist():
                self.prediction_value.observe(v)
        else:
            self.prediction_value.observe_many(flat)

    def render(self) -> bytes:
        if multiprocess_enabled():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
