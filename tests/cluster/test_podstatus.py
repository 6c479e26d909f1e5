"""Unit tests: the runner's pod status as a kubelet would write it."""

from __future__ import annotations

from canaria_devtools.devcluster.podstatus import ContainerState, PodState


def test_crash_loop_is_visible_in_container_status() -> None:
    c = ContainerState("serve", "canaria:dev")
    c.running(pid=42)
    c.terminated(exit_code=3)
    c.restart_count += 1
    c.waiting("CrashLoopBackOff", "back-off 1s")
    js = c.to_json()
    assert js["restartCount"] == 1
    assert js["ready"] is False
    assert js["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1s"}}
    assert js["lastState"]["terminated"]["exitCode"] == 3
    assert js["lastState"]["terminated"]["reason"] == "Error"


def test_ready_condition_follows_containers_and_keeps_transition_time() -> None:
    c = ContainerState("serve", "canaria:dev")
    pod = PodState(init=[], main=[c], initialized=True, phase="Running")
    seen: dict[str, str] = {}
    first = {x["type"]: x for x in pod.status_patch(seen)["status"]["conditions"]}
    assert first["Ready"]["status"] == "False"
    assert "serve" in first["Ready"]["message"]
    again = {x["type"]: x for x in pod.status_patch(seen)["status"]["conditions"]}
    assert again["Ready"]["lastTransitionTime"] == first["Ready"]["lastTransitionTime"]
    c.running(pid=1)
    c.ready = True
    ready = {x["type"]: x for x in pod.status_patch(seen)["status"]["conditions"]}
    assert ready["Ready"]["status"] == "True"
    assert ready["ContainersReady"]["status"] == "True"
