"""The serving contract: everything another component may rely on.

The operator, the router, the Helm chart's dashboards and alerts all build on these names.
This module must stay small and import nothing heavy: the operator imports it.
Changing a name here is a breaking change of the metrics/pod contract.
"""

from __future__ import annotations

from typing import Final

# --- network -----------------------------------------------------------------------------
SERVING_PORT: Final = 8080  # HTTP: V2, V1, /predict, health and /metrics on one port
ROUTER_PORT: Final = 8080
OPERATOR_METRICS_PORT: Final = 8000
OPERATOR_HEALTH_PORT: Final = 8081

# --- the image -----------------------------------------------------------------------------
# The image's user (the Dockerfile's USER) and every pod's runAsUser/runAsGroup/fsGroup.
RUN_AS_UID: Final = 65532

# --- HTTP paths --------------------------------------------------------------------------
PATH_LIVE: Final = "/healthz"
PATH_READY: Final = "/readyz"
PATH_METRICS: Final = "/metrics"
PATH_V2_LIVE: Final = "/v2/health/live"
PATH_V2_READY: Final = "/v2/health/ready"
PATH_PREDICT: Final = "/predict"
PATH_PREDICT_BATCH: Final = "/predict_batch"


def v2_infer_path(model: str) -> str:
    return f"/v2/models/{model}/infer"


def v1_predict_path(model: str) -> str:
    return f"/v1/models/{model}:predict"


def v2_feedback_path(model: str) -> str:
    """Ground truth for earlier requests, by request id (through the router, the Service or
    any serving pod of the model)."""
    return f"/v2/models/{model}/feedback"


# Pod-to-pod endpoints of the serving pods (the router refuses to forward anything below
# this prefix from clients): one pod's share of a feedback call, and recent payload-log
# records for replay.
PATH_INTERNAL_PREFIX: Final = "/internal/"
PATH_INTERNAL_FEEDBACK: Final = "/internal/feedback"
PATH_INTERNAL_PAYLOADS: Final = "/internal/payloads"
# Request ids: the V2 body's `id`, else this header (the router or server assigns one when
# the client sent none, and every answer carries it back).
HEADER_REQUEST_ID: Final = "x-request-id"


# --- environment (settings of `canaria serve`, as pods receive them) -----------------------
ENV_PREFIX: Final = "CANARIA_"
ENV_MODEL_PATH: Final = "CANARIA_MODEL_PATH"
ENV_MODEL_NAME: Final = "CANARIA_MODEL_NAME"
ENV_MODEL_VERSION: Final = "CANARIA_MODEL_VERSION"
ENV_TRACK: Final = "CANARIA_TRACK"
ENV_HOST: Final = "CANARIA_HOST"
ENV_PORT: Final = "CANARIA_PORT"
ENV_WORKERS: Final = "CANARIA_WORKERS"
ENV_MAX_BATCH_SIZE: Final = "CANARIA_MAX_BATCH_SIZE"
ENV_MAX_BATCH_DELAY_MS: Final = "CANARIA_MAX_BATCH_DELAY_MS"
ENV_PAYLOAD_LOG_PATH: Final = "CANARIA_PAYLOAD_LOG_PATH"
ENV_PAYLOAD_LOG_SAMPLE_RATE: Final = "CANARIA_PAYLOAD_LOG_SAMPLE_RATE"
# retirement (spec.retire): RFC 3339 times; responses carry Deprecation and Sunset headers
ENV_SUNSET: Final = "CANARIA_SUNSET"
ENV_DEPRECATED_AT: Final = "CANARIA_DEPRECATED_AT"
# Ground-truth feedback (on when retention is set): how long and how many predictions each
# pod keeps by request id, and the DNS name listing every serving pod of the model.
ENV_FEEDBACK_RETENTION_S: Final = "CANARIA_FEEDBACK_RETENTION_S"
ENV_FEEDBACK_MAX_PREDICTIONS: Final = "CANARIA_FEEDBACK_MAX_PREDICTIONS"
ENV_FEEDBACK_PEERS: Final = "CANARIA_FEEDBACK_PEERS"
ENV_FEEDBACK_DB: Final = "CANARIA_FEEDBACK_DB"

# --- tracks ------------------------------------------------------------------------------
TRACK_STABLE: Final = "stable"
TRACK_CANARY: Final = "canary"
TRACKS: Final = (TRACK_STABLE, TRACK_CANARY)

# --- pod labels and annotations (set by the operator, read by the router and Prometheus) ---
LABEL_MODEL: Final = "canaria.dev/model"  # the ModelDeployment's name
LABEL_TRACK: Final = "canaria.dev/track"
LABEL_VERSION: Final = "canaria.dev/version"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"  # "serving" | "router"
LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
ANNOTATION_SCRAPE: Final = "prometheus.io/scrape"
ANNOTATION_SCRAPE_PORT: Final = "prometheus.io/port"
ANNOTATION_SCRAPE_PATH: Final = "prometheus.io/path"
# Manual rollout control (promote|abort|pause|resume|retry), set by `canaria promote` etc.
ANNOTATION_ACTION: Final = "canaria.dev/action"

# --- Prometheus metric names (without the _total/_bucket suffixes prometheus-client adds) ---
# Label names. `model` is the served model name, `version` the model version,
# `track` stable|canary. Prometheus adds `namespace` and `pod` from service discovery.
L_MODEL: Final = "model"
L_VERSION: Final = "version"
L_TRACK: Final = "track"
L_PROTOCOL: Final = "protocol"  # v2 | v1 | predict
L_CODE: Final = "code"  # HTTP status code as a string
L_CLASS: Final = "class"
L_FEATURE: Final = "feature"
L_RESULT: Final = "result"
L_REASON: Final = "reason"

MODEL_LABELS: Final = (L_MODEL, L_VERSION, L_TRACK)

# counter {model,version,track,protocol,code}
M_REQUESTS: Final = "canaria_requests"
# histogram {model,version,track,protocol}: whole request, parse to response
M_REQUEST_DURATION: Final = "canaria_request_duration_seconds"
# histogram {model,version,track}: the onnxruntime call only
M_INFERENCE_DURATION: Final = "canaria_inference_duration_seconds"
# histogram {model,version,track}: rows per onnxruntime call
M_BATCH_SIZE: Final = "canaria_batch_size"
# counter {model,version,track,class}: predicted class per row (classifiers)
M_PREDICTIONS: Final = "canaria_predictions"
# histogram {model,version,track}: predicted value per row (regressors), PREDICTION_BUCKETS
M_PREDICTION_VALUE: Final = "canaria_prediction_value"
# gauge {model,version,track,feature}: PSI of the recent inputs vs the training reference
M_INPUT_DRIFT: Final = "canaria_input_drift_psi"
# counter {model,version,track}: rows that entered the input-drift window
M_INPUT_ROWS: Final = "canaria_input_rows"
# gauge {model,version,track,sha256}: always 1; which model a pod serves
M_MODEL_INFO: Final = "canaria_model_info"
# gauge {model,version,track}: 1 once loaded and warmed up
M_MODEL_READY: Final = "canaria_model_ready"
# counter {model,version,track}: payload-log records dropped (queue full); never blocks requests
M_PAYLOAD_LOG_DROPPED: Final = "canaria_payload_log_dropped"

# Ground truth (feedback), counted by the pod whose version answered the request: rows
# labelled, rows predicted right (classifiers), sums of |error| and error^2 (regressors).
# counter {model,version,track}
M_FEEDBACK_LABELLED: Final = "canaria_feedback_labelled"
M_FEEDBACK_CORRECT: Final = "canaria_feedback_correct"
M_FEEDBACK_ABS_ERROR: Final = "canaria_feedback_absolute_error"
M_FEEDBACK_SQUARED_ERROR: Final = "canaria_feedback_squared_error"
# counter {model,version,track,reason}: feedback items no pod could match, counted by the pod
# that received the call; reason = FEEDBACK_UNMATCHED_REASONS
M_FEEDBACK_UNMATCHED: Final = "canaria_feedback_unmatched"
# counter {model,version,track,reason}: predictions that left the store without their truth;
# reason = FEEDBACK_DROPPED_REASONS
M_FEEDBACK_DROPPED: Final = "canaria_feedback_dropped"
# gauge {model,version,track}: predictions the pod keeps now
M_FEEDBACK_STORED: Final = "canaria_feedback_stored"
FEEDBACK_UNMATCHED_REASONS: Final = (
    "unknown",  # no pod has it: never seen, or kept by a pod that restarted or went away
    "expired",  # older than the retention
    "evicted",  # pushed out by maxPredictions before its retention
    "duplicate",  # its truth had already arrived
    "invalid",  # the truth does not fit the prediction (a list of the wrong length)
    "unreachable",  # a pod that may hold it did not answer the fan-out
)
FEEDBACK_DROPPED_REASONS: Final = ("expired", "evicted", "overload", "too_large")

# Router metrics (canaria route). `model` here is the ModelDeployment name.
# counter {model,track,code}
M_ROUTER_REQUESTS: Final = "canaria_router_requests"
# histogram {model,track}
M_ROUTER_DURATION: Final = "canaria_router_request_duration_seconds"
# counter {model,result}: result = agree | disagree | error  (shadow / mirrored requests)
M_SHADOW_COMPARISONS: Final = "canaria_shadow_comparisons"
# gauge {model,track}: the weight the router applies now
M_ROUTER_WEIGHT: Final = "canaria_router_weight"
M_ROUTER_RESENT: Final = "canaria_router_resent"
# counter {model,result}: payload-log records replayed to the canary (result as shadow)
M_ROUTER_REPLAYED: Final = "canaria_router_replayed"

# Latency buckets (seconds): fine below 10 ms, where a tabular model lives.
LATENCY_BUCKETS: Final = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
BATCH_SIZE_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


def _prediction_buckets() -> tuple[float, ...]:
    """Model-independent buckets so canary and stable regressors are comparable.

    Symmetric, log-spaced (2 per decade from 1e-3 to 1e6) plus zero.
    """
    pos: list[float] = []
    for exp in range(-3, 6):
        pos.extend((1.0 * 10**exp, 3.0 * 10**exp))
    pos.append(1e6)
    neg = [-v for v in reversed(pos)]
    return (*neg, 0.0, *pos)


PREDICTION_BUCKETS: Final = _prediction_buckets()

# Cardinality bounds
MAX_CLASS_LABELS: Final = 50  # more classes than this are counted under class="__other__"
MAX_FEATURE_LABELS: Final = 100  # drift is exported for the first N features only
OTHER_CLASS: Final = "__other__"

# ONNX metadata_props key under which `canaria package` stores the model card (JSON)
ONNX_METADATA_KEY: Final = "canaria.model_card"
