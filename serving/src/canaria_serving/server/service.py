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
from canaria_serving.runtime.batcher import BatcherStalled
from canaria_serving.runtime.schema import BF16
from canaria_serving.server import codec
from canaria_serving.server.errors import BadRequest, NotFound, NotReady, error_response_parts
from canaria_serving.server.validation import Limits, silence_cast_overflow
from canaria_serving.settings import ServeSettings

__all__ = ["InferenceService"]

log = logging.getLogger("canaria.serve")
Outputs = list[Any]
_INLINE_MAX_SECONDS = 0.002  # slower models run in a worker thread, never on the event loop
_DEFAULT_ROW_WIDTH = 16  # elements per "row" for the inline limit when the model has no features
_WATCH_INTERVAL_S = 1.0


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
        self._watch_task: asyncio.Task[None] | None = None
        self._overrunning = 0  # model calls in worker threads still running past the timeout
        self._fast = True
        self._inline_elements = 0
        self._failed_once: set[str] = set()

    # --- lifecycle -----------------------------------------------------------------------
    async def startup(self) -> None:
        s = self.settings
        silence_cast_overflow()
        rt = await asyncio.to_thread(
            load_model,
            s.model_path,
            s.model_name,
            s.model_version,
            s.intra_op_threads,
            s.large_intra_op_threads,
        )
        warning = await asyncio.to_thread(rt.warm_up)
        if warning is not None:
            log.warning("model %s: %s", rt.name, warning)
        # a model slower than ~2 ms per call never runs on the event loop
        self._fast = rt.warm_seconds < _INLINE_MAX_SECONDS
        width = rt.n_features or _DEFAULT_ROW_WIDTH
        self._inline_elements = s.inline_rows * width if self._fast else -1
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
        if s.max_batch_size > 1 and rt.batchable:
            self.batcher = MicroBatcher(
                rt.run,
                self._record_call,
                s.max_batch_size,
                s.max_batch_delay_ms / 1000.0,
                s.inline_rows if self._fast else -1,
                timeout_s=s.request_timeout_s,
            )
            self.batcher.start()
        self.runtime = rt
        self.metrics.model_ready.set(1)
        loop = asyncio.get_running_loop()
        self._watch_task = loop.create_task(self._watch_loop(), name="watchdog")
        if multiprocess_enabled():  # another worker may answer the scrape: publish periodically
            self._drift_task = loop.create_task(self._publish_loop())
        log.info(
            "model %s version %s ready (%s, inputs %s, micro-batching %s, sha256 %s)",
            rt.name,
            rt.version,
            rt.task,
            [i.metadata() for i in rt.inputs],
            "on" if self.batcher else "off",
            rt.sha256[:12],
        )

    async def shutdown(self) -> None:
        if self.metrics is not None:
            self.metrics.model_ready.set(0)
        for task in (self._drift_task, self._watch_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.batcher is not None:
            await self.batcher.stop()
        if self.payload is not None:
            await asyncio.to_thread(self.payload.stop)
        if self.feedback is not None:
            await asyncio.to_thread(self.feedback.stop)

    @property
    def ready(self) -> bool:
        """Loaded, warmed up, and answering: no model call has overrun the request timeout."""
        if self.runtime is None or not self.runtime.ready or self._overrunning:
            return False
        return self.batcher is None or not self.batcher.stalled

    async def _watch_loop(self) -> None:
        """Fails the requests of a batched call that overran the timeout (readiness false)."""
        stalled = False
        while True:
            await asyncio.sleep(_WATCH_INTERVAL_S)
            now = self.batcher is not None and self.batcher.check_stalled()
            if now and not stalled:
                log.error("the model has not answered a batched call in time; not ready")
            elif stalled and not now:
                log.warning("the stalled model call returned; ready again")
            stalled = now

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

    def _inline(self, feeds: dict[str, np.ndarray]) -> bool:
        limit = self._inline_elements
        if limit < 0:
            return False
        total = 0
        for a in feeds.values():
            total += a.size
        return total <= limit

    async def _infer(
        self, rt: ModelRuntime, feeds: dict[str, np.ndarray], rows: int | None
    ) -> Outputs:
        if self.batcher is not None and rows == 1:
            outputs, _, _ = await self.batcher.submit(feeds, rows)
        else:
            if self._inline(feeds):
                outputs, seconds = rt.run(feeds)
            else:
                outputs, seconds = await self._in_thread(rt, feeds)
            self._record_call(rows if rows is not None else 1, seconds)
        self._observe(rt, feeds, outputs, rows)
        return outputs

    async def _in_thread(
        self, rt: ModelRuntime, feeds: dict[str, np.ndarray]
    ) -> tuple[Outputs, float]:
        """A worker-thread call with a deadline: past it the request gets a 503 and the server
        reports not ready until the call returns (a thread cannot be stopped)."""
        call = asyncio.ensure_future(asyncio.to_thread(rt.run_large, feeds))
        timeout = self.settings.request_timeout_s
        try:
            return await asyncio.wait_for(asyncio.shield(call), timeout)
        except TimeoutError:
            self._overrunning += 1
            log.error("a model call has not returned within %g s; not ready until it does", timeout)

            def returned(_: object) -> None:
                self._overrunning -= 1

            call.add_done_callback(returned)
            raise BatcherStalled(f"the model has not answered within {timeout:g} s") from None

    def _guarded(self, what: str, exc: Exception) -> None:
        """A failure in metrics or logging never fails a request that the model answered."""
        if what not in self._failed_once:
            self._failed_once.add(what)
            log.error("%s failed (the request was answered; logged once)", what, exc_info=exc)

    def _observe(
        self, rt: ModelRuntime, feeds: dict[str, np.ndarray], outputs: Outputs, rows: int | None
    ) -> None:
        metrics = self.metrics
        assert metrics is not None
        try:
            value = outputs[rt.output_names.index(rt.value_output)] if rt.value_output else None
            if value is not None:
                if rt.task == "classification":
                    metrics.observe_classes(value)
                elif value.dtype.kind == "f" or value.dtype == BF16:
                    metrics.observe_values(value)
            if self.drift is not None and rt.single is not None:
                x = feeds[rt.single.name]
                self.drift.add(x)
                metrics.input_rows.inc(x.shape[0])
        except Exception as exc:
            self._guarded("recording the prediction metrics", exc)

    def _log_payload(
        self, request_id: str | None, protocol: str, inputs: Any, outputs: Any
    ) -> None:
        request_id = request_id or ids.new_id()
        ids.answered_as(request_id)  # the id the answer carries back (X-Request-Id)
        if self.feedback is not None:
            try:
                self.feedback.record(request_id, outputs)
            except Exception as exc:
                self._guarded("keeping the prediction for feedback", exc)
        try:
            if self.payload is not None and self.payload.sampled():
                rid = request_id or f"{self._pid}-{next(self._ids)}"
                self.payload.record(rid, protocol, inputs, outputs)
        except Exception as exc:
            self._guarded("the payload log", exc)

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
        outputs = await self._infer(rt, feeds, x.shape[0] if rt.batchable else None)
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
    if type(value) is list:  # a sequence of maps
        return [{str(k): v for k, v in m.items()} for m in value]
    if value.dtype.kind == "V":  # bfloat16
        value = value.astype(np.float32)
    if rt.task == "regression" and value.ndim == 2 and value.shape[1] == 1:
        value = value[:, 0]
    result: list[Any] = value.tolist()
    return result


def _probabilities(rt: ModelRuntime, outputs: Outputs) -> list[dict[str, float]] | None:
    if rt.proba_output is None:
        return None
    probs = outputs[rt.output_names.index(rt.proba_output)]
    if isinstance(probs, list):  # ZipMap: one {class: probability} per row
        return [{str(k): v for k, v in m.items()} for m in probs]
    if not rt.classes:
        return None
    classes = rt.classes
    return [dict(zip(classes, row, strict=False)) for row in probs.tolist()]
