"""The feedback and replay endpoints of a serving pod (FastAPI; not on the hot path).

* ``POST /v2/models/{m}/feedback`` (public): truths for earlier requests by id; claimed here
  and on every other serving pod of the model. 200 when every item matched; otherwise a
  4xx naming each unmatched id and why (404 unknown/expired/evicted/unreachable, 409 only
  duplicates, 422 a truth that does not fit its prediction); the items that did match are
  counted all the same (send only the unmatched ones again). A malformed body or a truth of
  the wrong type: 400, nothing counted.
* ``POST /internal/feedback``: one pod's share of such a call (the fan-out).
* ``GET /internal/payloads?limit=N``: recent payload-log records as V2 requests (replay).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from canaria_serving import contract
from canaria_serving.feedback.hub import FeedbackHub, Outcome
from canaria_serving.feedback.replay import MAX_RECORDS, recent_requests
from canaria_serving.feedback.truth import FeedbackError, parse_feedback
from canaria_serving.server.errors import BadRequest, NotFound
from canaria_serving.server.service import InferenceService

__all__ = ["feedback_router", "outcome_response"]


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


def outcome_response(outcome: Outcome) -> Response:
    accepted = len(outcome.matched)
    if not outcome.unmatched:
        return _json({"accepted": accepted})
    reasons = {why for _, why in outcome.unmatched}
    status = 409 if reasons == {"duplicate"} else 422 if "invalid" in reasons else 404
    named = ", ".join(f"{rid!r} ({why})" for rid, why in outcome.unmatched[:10])
    more = len(outcome.unmatched) - 10
    total = accepted + len(outcome.unmatched)
    message = f"{len(outcome.unmatched)} of {total} feedback items not matched: {named}"
    if more > 0:
        message += f" and {more} more"
    unmatched = [{"id": rid, "reason": why} for rid, why in outcome.unmatched]
    return _json({"error": message, "accepted": accepted, "unmatched": unmatched}, status)


def feedback_router(service: InferenceService) -> APIRouter:
    router = APIRouter()

    def hub() -> FeedbackHub:
        found: FeedbackHub | None = getattr(service, "feedback", None)
        if found is None:
            raise NotFound(
                "feedback is off on this server (spec.serving.feedback, or "
                f"{contract.ENV_FEEDBACK_RETENTION_S} for `canaria serve`)"
            )
        return found

    async def items_of(request: Request, h: FeedbackHub) -> Any:
        try:
            return parse_feedback(await request.body(), h.task)
        except FeedbackError as exc:
            raise BadRequest(str(exc)) from exc

    @router.post("/v2/models/{model}/feedback", tags=["v2"])
    async def feedback(model: str, request: Request) -> Response:
        service.model(model)
        h = hub()
        return outcome_response(await h.receive(await items_of(request, h)))

    @router.post(contract.PATH_INTERNAL_FEEDBACK, include_in_schema=False)
    async def feedback_here(request: Request) -> Response:
        h = hub()
        claimed = await asyncio.to_thread(h.claim_local, await items_of(request, h))
        return _json({"results": [{"id": k, "reason": v} for k, v in claimed.items()]})

    @router.get(contract.PATH_INTERNAL_PAYLOADS, include_in_schema=False)
    async def payloads(limit: int = 100) -> Response:
        rt = service.model()
        path = service.settings.payload_log_path
        if path is None:
            raise NotFound("the payload log is off on this server (spec.serving.payloadLog)")
        if not 0 < limit <= MAX_RECORDS:
            raise BadRequest(f"limit must be within 1..{MAX_RECORDS}")
        inputs = {i.name: i.datatype for i in rt.inputs}
        single = rt.single.name if rt.single is not None else None
        records = await asyncio.to_thread(recent_requests, path, limit, inputs, single)
        return _json({"model": rt.name, "version": rt.version, "records": records})

    return router
