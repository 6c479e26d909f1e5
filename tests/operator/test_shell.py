"""The shell executes the Outcome: writes in order, status written once (with refused writes
in its Degraded condition), the action annotation removed after status, Events last; the
queue serialises, coalesces and schedules. Against an in-memory API server."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from canaria_operator.kube import KubeError, Resource
from canaria_operator.reconcile import ReconcileError, ReconcileQueue, Reconciler, Result
from canaria_operator.settings import OperatorSettings
from tests.operator.cluster_sim import apply_merge_patch
from tests.operator.helpers import md_body

Json = dict[str, Any]


class FakeKube:
    """The operator's Kube API over dicts; ``fail`` maps (verb, plural, name) to an error."""

    def __init__(self, md: Json) -> None:
        self.store: dict[tuple[str, str, str], Json] = {}
        self.calls: list[tuple[str, str, str]] = []
        self.fail: dict[tuple[str, str, str], KubeError] = {}
        md = copy.deepcopy(md)
        md.setdefault("status", {})
        self.store[("modeldeployments", "ml", md["metadata"]["name"])] = md

    def _check(self, verb: str, plural: str, name: str) -> None:
        self.calls.append((verb, plural, name))
        if (err := self.fail.get((verb, plural, name))) is not None:
            raise err

    async def get(self, res: Resource, namespace: str | None, name: str) -> Json | None:
        self._check("get", res.plural, name)
        found = self.store.get((res.plural, namespace or "", name))
        return copy.deepcopy(found) if found is not None else None

    async def list(
        self, res: Resource, namespace: str | None, selector: str = "", *, cached: bool = False
    ) -> list[Json]:
        self._check("list", res.plural, "")
        want = dict(pair.split("=", 1) for pair in selector.split(",") if pair)
        return [
            copy.deepcopy(o)
            for (plural, _, _), o in self.store.items()
            if plural == res.plural
            and all(o["metadata"].get("labels", {}).get(k) == v for k, v in want.items())
        ]

    async def apply(self, obj: Json, *, force: bool = True) -> Json:
        from canaria_operator.kube import resource_for

        plural = resource_for(obj).plural
        self._check("apply", plural, obj["metadata"]["name"])
        self.store[(plural, "ml", obj["metadata"]["name"])] = copy.deepcopy(obj)
        return obj

    async def delete(self, res: Resource, namespace: str, name: str) -> bool:
        self._check("delete", res.plural, name)
        return self.store.pop((res.plural, namespace, name), None) is not None

    async def patch_status(self, res: Resource, namespace: str, name: str, status: Json) -> Json:
        self._check("status", res.plural, name)
        obj = self.store[(res.plural, namespace, name)]
        obj["status"] = apply_merge_patch(obj.get("status") or {}, status)
        return obj

    async def patch(self, res: Resource, namespace: str, name: str, patch: Json) -> Json:
        self._check("patch", res.plural, name)
        obj = self.store[(res.plural, namespace, name)]
        self.store[(res.plural, namespace, name)] = apply_merge_patch(obj, patch)
        return obj

    async def create(self, res: Resource, namespace: str, obj: Json) -> Json:
        self._check("create", res.plural, obj["metadata"]["name"])
        return obj

    def verbs(self, *verbs: str) -> list[tuple[str, str, str]]:
        return [c for c in self.calls if c[0] in verbs]


SETTINGS = OperatorSettings(retry_delay=3, prometheus_url="http://127.0.0.1:9")


async def _reconciler(body: Json | None = None) -> tuple[FakeKube, Reconciler]:
    kube = FakeKube(body or md_body())
    return kube, Reconciler(kube, SETTINGS)  # type: ignore[arg-type]


def _status(kube: FakeKube) -> Json:
    return dict(kube.store[("modeldeployments", "ml", "iris")]["status"])


async def test_writes_then_status_once_then_events_and_nothing_when_unchanged() -> None:
    kube, rec = await _reconciler()
    result = await rec.reconcile("ml", "iris")
    assert (result.writes, result.status_written) == (8, True)
    writes = kube.verbs("apply", "delete", "status", "patch", "create")
    assert [w[:2] for w in writes[:8]] == [
        ("apply", "deployments"),
        ("apply", "services"),
        ("apply", "services"),
        ("apply", "serviceaccounts"),
        ("apply", "roles"),
        ("apply", "rolebindings"),
        ("apply", "deployments"),
        ("apply", "poddisruptionbudgets"),  # two router replicas: one stays through evictions
    ]
    assert writes[8] == ("status", "modeldeployments", "iris")
    assert {w[0] for w in writes[9:]} == {"create"}  # Events last
    assert result.events == len(writes[9:]) > 0
    seen = await rec.reconcile("ml", "iris")  # sees its Deployment: "0/1 pods Ready"
    assert (seen.writes, seen.status_written) == (0, True)
    kube.calls.clear()
    again = await rec.reconcile("ml", "iris")
    assert (again.writes, again.status_written, again.events) == (0, False, 0)
    assert kube.verbs("apply", "delete", "status", "patch", "create") == []
    await rec.aclose()


async def test_a_refused_write_is_degraded_in_the_one_status_write() -> None:
    kube, rec = await _reconciler()
    forbidden = KubeError(403, "Forbidden", "roles is forbidden")
    kube.fail[("apply", "roles", "iris-router")] = forbidden
    result = await rec.reconcile("ml", "iris")
    assert result.writes == 7  # all but the refused Role
    assert kube.verbs("status") == [("status", "modeldeployments", "iris")]
    status = _status(kube)
    assert status["phase"] == "Degraded"
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert (degraded["reason"], degraded["message"]) == (
        "ApplyFailed",
        "apply Role iris-router: roles is forbidden",
    )
    await rec.aclose()


async def test_a_write_that_may_succeed_later_is_retried_after_status() -> None:
    kube, rec = await _reconciler()
    kube.fail[("apply", "services", "iris")] = KubeError(0, "Unreachable", "timed out")
    with pytest.raises(ReconcileError, match="apply Service iris: timed out") as info:
        await rec.reconcile("ml", "iris")
    assert info.value.delay == 3
    assert kube.verbs("status")  # status written first: what was done is recorded
    assert _status(kube)["phase"] == "Pending"
    await rec.aclose()


async def test_the_action_annotation_goes_after_status() -> None:
    body = md_body()
    body["metadata"]["annotations"] = {"canaria.dev/action": "nonsense"}
    kube, rec = await _reconciler(body)
    await rec.reconcile("ml", "iris")
    order = [c[0] for c in kube.verbs("status", "patch")]
    assert order == ["status", "patch"]
    md = kube.store[("modeldeployments", "ml", "iris")]
    assert "canaria.dev/action" not in md["metadata"].get("annotations", {})
    await rec.aclose()


async def test_an_unreadable_object_is_degraded_once_and_gone_is_gone() -> None:
    body = md_body()
    body["spec"]["rollout"]["analysis"]["minRequests"] = -5  # what the CRD would refuse
    kube, rec = await _reconciler(body)
    assert (await rec.reconcile("ml", "iris")).status_written
    status = _status(kube)
    assert (status["phase"], status["conditions"][0]["reason"]) == ("Degraded", "InvalidSpec")
    assert "spec.rollout.analysis.minRequests" in status["conditions"][0]["message"]
    assert not (await rec.reconcile("ml", "iris")).status_written
    assert kube.verbs("apply") == []
    assert (await rec.reconcile("ml", "nope")).gone
    await rec.aclose()


async def test_the_queue_coalesces_serialises_and_schedules() -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    runs: list[str] = []

    async def work(namespace: str, name: str) -> Result:
        runs.append(name)
        started.set()
        await release.wait()
        return Result(requeue_after=0.05 if len(runs) < 3 else None)  # then: resync (60 s)

    queue = ReconcileQueue(work, resync=60)
    first = asyncio.ensure_future(queue.run("ml", "iris"))
    await started.wait()
    second = await queue.run("ml", "iris")  # while the first runs: coalesced
    assert second.skipped
    release.set()
    await first
    assert runs == ["iris", "iris"]  # ran once more for the trigger it missed
    await asyncio.sleep(0.2)  # the requeue (0.05 s) fired a scheduled reconcile
    assert len(runs) == 3
    queue.soon("ml", "iris", 30)
    queue.soon("ml", "iris", 60)  # keeps the earlier schedule
    queue.forget("ml", "iris")
    await asyncio.sleep(0.1)
    assert len(runs) == 3
    queue.close()


async def test_a_failing_scheduled_reconcile_is_retried_after_its_delay() -> None:
    calls = 0

    async def work(namespace: str, name: str) -> Result:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ReconcileError("API server unreachable", delay=0.05)
        return Result(requeue_after=60)

    queue = ReconcileQueue(work, resync=60)
    queue.schedule("ml", "iris", 0)
    await asyncio.sleep(0.2)
    assert calls == 2
    queue.close()
