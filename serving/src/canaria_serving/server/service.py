"""The inference service: model lifecycle and the hot handlers shared by every protocol.

Handlers take the raw body and return the JSON response bytes; :meth:`InferenceService.handle`
maps any error to ``(status, {"error": ...})`` through :mod:`errors` and records the request
metrics. Small requests run inline on the event loop (tens of microseconds), larger ones in a
worker thread (onnxruntime releases the GIL) so the loop is never blocked for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from canaria_serving.drift import DriftMonitor
from canaria_serving.feedback import FeedbackHub, ids, start_feedback
from canaria_serving.metrics import ServingMetrics, multiprocess_enabled
from canaria_serving.payload_log import PayloadLogger
from canaria_serving.runtime import MicroBatcher, ModelRuntime, load_model
from canaria_serving.server import codec
from canaria_serving.server.errors import BadRequest, NotFound, NotReady, error_response_parts
from canaria_serving.server.validation import Limits
from canaria_serving.settings import ServeSettings

__all__ = ["InferenceService"]

log = logging.getLogger("canaria.serve")
Outputs = list[np.ndarray]


class InferenceService:
    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.limits = Limits(settings.max_rows, settings.allow_non_finite)
        self.runtime: ModelRuntime | None = None
        self.metrics: ServingMetrics | None = None
        self.drift: DriftMonitor | None = None
        self.payload: PayloadLogger | None = None
        self.batcher: MicroBatcher | None = None
        self.feedback: FeedbackHub | None = None
        self._ids = itertools.count(1)
        self._pid = os.getpid()
        self._drift_task: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------
    async def startup(self) -> None:
        s = self.settings
        rt = await asyncio.to_thread(
            load_model,
            s.model_path,
            s.model_name,
            s.model_version,
            s.intra_op_threads,
            s.large_intra_op_threads,
        )
        features = rt.feature_names
        self.metrics = ServingMetrics(
            rt.name, rt.version, s.track, sha256=rt.sha256, classes=rt.classes, features=features
        )
        self.feedback = start_feedback(
            rt, self.metrics.registry, (rt.name, rt.version, s.track), s.host, s.port
        )
        refs = rt.card.features if rt.card is not None else []
        numeric = rt.single is not None and rt.single.dtype.kind in "fiub"
        if refs and numeric and rt.n_features is not None and len(refs) == rt.n_features:
            self.drift = DriftMonitor(
                refs[: len(self.metrics.drift)], s.drift_window, s.drift_min_rows
            )
        if s.payload_log_path is not None:
            self.payload = PayloadLogger(
                s.payload_log_path,
                sample_rate=s.payload_log_sample_rate,
                model=rt.name,
                version=rt.version,
                track=s.track,
                max_queue=s.payload_log_queue,
                on_drop=self.metrics.payload_log_dropped.inc,
            )
            self.payload.start()
        if s.max_batch_size > 1 and rt.single is not None:
            name = rt.single.name
            self.batcher = MicroBatcher(
                lambda x: rt.run({name: x}),
                self._record_call,
                s.max_batch_size,
                s.max_batch_delay_ms / 1000.0,
                s.inline_rows,
            )
            self.batcher.start()
        self.runtime = rt
        await asyncio.to_thread(rt.warm_up)
        self.metrics.model_ready.set(1)
        if multiprocess_enabled():  # another worker may answer the scrape: publish periodically
            self._drift_task = asyncio.get_running_loop().create_task(self._publish_loop())
        log.info(
            "model %s version %s ready (%s, inputs %s, sha256 %s)",
            rt.name,
            rt.version,
            rt.task,
            [i.metadata() for i in rt.inputs],
            rt.sha256[:12],
        )

    async def shutdown(self) -> None:
        if self.metrics is not None:
            self.metrics.model_ready.set(0)
        if self._drift_task is not None:
            self._drift_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drift_task
        if self.batcher is not None:
            await self.batcher.stop()
        if self.payload is not None:
            await asyncio.to_thread(self.payload.stop)
        if self.feedback is not None:
            await asyncio.to_thread(self.feedback.stop)

    @property
    def ready(self) -> bool:
        return self.runtime is not None and self.runtime.ready

    def update_drift(self) -> None:
        if self.drift is None or self.metrics is None:
            return
        values = self.drift.compute()
        if values is not None:
            for child, value in zip(self.metrics.drift, values.tolist(), strict=False):
                child.set(value)

    async def _publish_loop(self) -> None:
        last_drift = 0.0
        while True:
            await asyncio.sleep(1.0)
            if self.metrics is not None:
                self.metrics.flush()
            now = time.monotonic()
            if now - last_drift >= self.settings.drift_interval_s:
                last_drift = now
                await asyncio.to_thread(self.update_drift)

    # --- request plumbing ----------------------------------------------------------------
    def model(self, name: str | None = None, version: str | None = None) -> ModelRuntime:
        """The served model if ``name``/``version`` (when given) match it and it is ready."""
        rt = self.runtime
        if rt is None:
            raise NotReady("the model is still loading")
        if name is not None and name != rt.name:
            raise NotFound(f"unknown model {name!r}; this server serves {rt.name!r}")
        if version is not None and version != rt.version:
            raise NotFound(f"unknown version {version!r} of model {name!r}; served: {rt.version!r}")
        if not rt.ready:
            raise NotReady(f"model {rt.name!r} is not ready")
        return rt

    def count(self, protocol: str, status: int, started: float) -> None:
        if self.metrics is not None:
            self.metrics.request(protocol, status)
            self.metrics.request_duration[protocol].observe(time.perf_counter() - started)

    async def handle(
        self, protocol: str, handler: Callable[..., Awaitable[bytes]], *args: Any
    ) -> tuple[int, bytes]:
        """Run one hot handler; map errors; record request metrics. Never raises."""
        started = time.perf_counter()
        try:
            status, body = 200, await handler(*args)
        except Exception as exc:
            status, body = error_response_parts(exc)
        self.count(protocol, status, started)
        return status, body

    def _record_call(self, rows: int, seconds: float) -> None:
        metrics = self.metrics
        assert metrics is not None
        metrics.inference_duration.observe(seconds)
        metrics.batch_size.observe(rows)

    async def _infer(self, rt: ModelRuntime, feeds: dict[str, np.ndarray], rows: int) -> Outputs:
        if self.batcher is not None and rows == 1 and rt.single is not None:
            outputs, _, _ = await self.batcher.submit(feeds[rt.single.name])
        else:
            if rows <= self.settings.inline_rows:
                outputs, seconds = rt.run(feeds)
            else:
                outputs, seconds = await asyncio.to_thread(rt.run_large, feeds)
            self._record_call(rows, seconds)
        self._observe(rt, feeds, outputs, rows)
        return outputs

    def _observe(
        self, rt: ModelRuntime, feeds: dict[str, np.ndarray], outputs: Outputs, rows: int
    ) -> None:
        metrics = self.metrics
        assert metrics is not None
        value = outputs[rt.output_names.index(rt.value_output)] if rt.value_output else None
        if value is not None:
            if rt.task == "classification":
                metrics.observe_classes(value)
            elif value.dtype.kind == "f":
                metrics.observe_values(value)
        if self.drift is not None and rt.single is not None:
            self.drift.add(feeds[rt.single.name])
            metrics.input_rows.inc(rows)

    def _log_payload(
        self, request_id: str | None, protocol: str, inputs: Any, outputs: Any
    ) -> None:
        request_id = request_id or ids.new_id()
        ids.answered_as(request_id)  # the id the answer carries back (X-Request-Id)
        if self.feedback is not None:
            self.feedback.record(request_id, outputs)
        if self.payload is not None and self.payload.sampled():
            rid = request_id or f"{self._pid}-{next(self._ids)}"
            self.payload.record(rid, protocol, inputs, outputs)

    # --- hot handlers (body bytes -> response bytes) --------------------------------------
    async def infer_v2(
        self,
        name: str,
        version: str | None,
        body: bytes,
        rid: str | None,
        header_length: int | None = None,
    ) -> bytes:
        """V2 infer; ``header_length`` set: the binary tensor data extension."""
        rt = self.model(name, version)
        if header_length is None:
            req = codec.decode_v2(codec.decode_json(body), rt, self.limits)
        else:
            header, binary = codec.split_binary(body, header_length)
            req = codec.decode_v2(codec.decode_json(header), rt, self.limits, binary)
        outputs = await self._infer(rt, req.feeds, req.rows)
        names = req.outputs or rt.output_names
        selected = [outputs[rt.output_names.index(n)] for n in names] if req.outputs else outputs
        self._log_payload(req.id or rid, "v2", req.feeds, dict(zip(names, selected, strict=True)))
        return codec.encode_v2(rt, req.id, names, selected, req.binary_outputs)

    def _instances(self, body: bytes, key: str) -> list[Any]:
        payload = codec.decode_json(body)
        if not isinstance(payload, dict) or key not in payload:
            raise BadRequest(f"expected a JSON object with {key!r}")
        return [payload[key]] if key == "features" else _as_list(payload[key], key)

    async def _predict_matrix(
        self, body: bytes, key: str, rid: str | None, protocol: str
    ) -> tuple[ModelRuntime, np.ndarray, Outputs]:
        rt = self.model()
        x = codec.records_to_matrix(self._instances(body, key), rt, self.limits, key == "features")
        feeds = {rt.single.name: x} if rt.single else {}
        outputs = await self._infer(rt, feeds, x.shape[0])
        self._log_payload(rid, protocol, x, dict(zip(rt.output_names, outputs, strict=True)))
        return rt, x, outputs

    async def predict_v1(self, name: str, body: bytes, rid: str | None) -> bytes:
        self.model(name)
        rt, _, outputs = await self._predict_matrix(body, "instances", rid, "v1")
        return codec.encode_json(
            {
                "predictions": _predictions(rt, outputs),
                "model_name": rt.name,
                "model_version": rt.version,
            }
        )

    async def predict(self, body: bytes, rid: str | None) -> bytes:
        rt, _, outputs = await self._predict_matrix(body, "features", rid, "predict")
        result: dict[str, Any] = {"prediction": _predictions(rt, outputs)[0]}
        probs = _probabilities(rt, outputs)
        if probs is not None:
            result["probabilities"] = probs[0]
        result.update(model_name=rt.name, model_version=rt.version)
        return codec.encode_json(result)

    async def predict_batch(self, body: bytes, rid: str | None) -> bytes:
        rt, _, outputs = await self._predict_matrix(body, "instances", rid, "predict")
        result: dict[str, Any] = {"predictions": _predictions(rt, outputs)}
        probs = _probabilities(rt, outputs)
        if probs is not None:
            result["probabilities"] = probs
        result.update(model_name=rt.name, model_version=rt.version)
        return codec.encode_json(result)


def _as_list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadRequest(f"{key!r} must be a list of records")
    return value


def _predictions(rt: ModelRuntime, outputs: Outputs) -> list[Any]:
    name = rt.value_output or rt.output_names[0]
    value = outputs[rt.output_names.index(name)]
    if rt.task == "regression" and value.ndim == 2 and value.shape[1] == 1:
        value = value[:, 0]
    result: list[Any] = value.tolist()
    return result


def _probabilities(rt: ModelRuntime, outputs: Outputs) -> list[dict[str, float]] | None:
    if rt.proba_output is None or not rt.classes:
        return None
    probs = outputs[rt.output_names.index(rt.proba_output)]
    classes = rt.classes
    return [dict(zip(classes, row, strict=False)) for row in probs.tolist()]
