"""Calling ``spec.rollout.webhooks`` (I/O): the hooks due at this reconcile, before deciding.

Which hooks are due is the rollout state machine's (pure) answer
(:func:`canaria_operator.rollout.gates.hooks_due`); this module POSTs the JSON body to each
of them concurrently, each within its timeout, and hands the answers to the decision
(:class:`~canaria_operator.rollout.model.HookAnswer`: passed on 2xx). Hooks of type
``rollout`` are part of the analysis round: each also becomes a check named
``webhook/<name>`` of that round (Failed unless it answered 2xx).

The body (every type): ``name``, ``namespace``, ``type``, ``phase`` (the rollout's),
``stage``, ``canaryVersion``, ``stableVersion``, ``canaryWeight``, ``verdict`` (the last
round's) and ``checks`` (that round's results, as in status), ``lastRollout`` (the newest
history entry: what a post-rollout hook reports on), ``metadata`` (the hook's own) and
``at``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx

from canaria_operator.analysis import CheckResult, Verdict, round_verdict
from canaria_operator.api.base import parse_duration
from canaria_operator.api.spec import Webhook
from canaria_operator.reconcile.analyze import due_round
from canaria_operator.reconcile.snapshot import Snapshot
from canaria_operator.rollout.gates import hooks_due
from canaria_operator.rollout.model import HookAnswer, HookType, RolloutState

__all__ = ["HOOK_CHECK_PREFIX", "HookRunner", "hook_body"]

HOOK_CHECK_PREFIX = "webhook/"
Json = dict[str, Any]


def hook_body(snap: Snapshot, hook: Webhook, checks: Sequence[CheckResult], now: datetime) -> Json:
    md = snap.md
    state = md.status.rollout or RolloutState()
    results: list[Json] = [
        {
            "metric": r.metric,
            "verdict": r.verdict.value,
            "value": r.value,
            "stableValue": r.stable_value,
            "threshold": r.threshold,
            "samples": r.samples,
            "message": r.message,
        }
        for r in checks
    ]
    verdicts = [r.verdict for r in checks]
    if not checks:  # no round now: the last one status holds
        results = [a.model_dump(by_alias=True, mode="json") for a in md.status.analysis]
        verdicts = [Verdict(a.verdict) for a in md.status.analysis]
    verdict = _worst(verdicts)
    history = md.status.history
    last = history[-1].model_dump(by_alias=True, mode="json") if history else None
    return {
        "name": md.name,
        "namespace": md.namespace,
        "type": hook.type,
        "phase": state.phase.value,
        "stage": state.stage.value if state.stage else None,
        "canaryVersion": state.canary_version,
        "stableVersion": state.stable_version,
        "canaryWeight": state.canary_weight,
        "verdict": verdict,
        "checks": results,
        "lastRollout": last,
        "metadata": dict(hook.metadata),
        "at": now.isoformat(),
    }


def _worst(verdicts: Sequence[Verdict]) -> str | None:
    if not verdicts:
        return None
    at = datetime.min
    return round_verdict(CheckResult(metric="-", verdict=v, at=at) for v in verdicts).value


class HookRunner:
    def __init__(self) -> None:
        self._client = httpx.AsyncClient()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def run(
        self, snap: Snapshot, now: datetime, checks: Sequence[CheckResult]
    ) -> tuple[tuple[HookAnswer, ...], list[CheckResult]]:
        """Call the hooks due now; their answers, and the round's checks of rollout hooks."""
        md, spec = snap.md, snap.inputs.spec
        if not md.spec.rollout.webhooks:
            return (), []
        state = md.status.rollout or RolloutState()
        due = hooks_due(state, spec, now, round_due=due_round(snap, now) is not None)
        hooks = [w for w in md.spec.rollout.webhooks if HookType(w.type) in due]
        if not hooks:
            return (), []
        answers = await asyncio.gather(
            *(self._call(w, hook_body(snap, w, checks, now), now) for w in hooks)
        )
        results = [
            CheckResult(
                metric=HOOK_CHECK_PREFIX + a.name,
                verdict=Verdict.SUCCESSFUL if a.passed else Verdict.FAILED,
                at=now,
                message=f"answered {a.code if a.code is not None else 'nothing'}: {a.message}"[
                    :1000
                ],
            )
            for a in answers
            if a.type is HookType.ROLLOUT
        ]
        return tuple(answers), results

    async def _call(self, hook: Webhook, body: Json, now: datetime) -> HookAnswer:
        kind = HookType(hook.type)
        timeout = parse_duration(hook.timeout).total_seconds()
        try:
            resp = await self._client.post(hook.url, json=body, timeout=timeout)
        except httpx.TimeoutException:
            return HookAnswer(
                name=hook.name,
                type=kind,
                passed=False,
                at=now,
                message=f"no answer in {timeout:g}s",
            )
        except httpx.HTTPError as exc:
            return HookAnswer(name=hook.name, type=kind, passed=False, at=now, message=str(exc))
        return HookAnswer(
            name=hook.name,
            type=kind,
            passed=200 <= resp.status_code < 300,
            at=now,
            code=resp.status_code,
            message=resp.text[:500].strip(),
        )
