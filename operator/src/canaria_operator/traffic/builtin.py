"""Traffic mode ``Builtin``: Canaria's router (``canaria route``) splits and mirrors (pure).

The mode deploys the router (``<md>-router``: ServiceAccount, Role, RoleBinding, Deployment)
and points the model's Service ``<md>`` at it. The router reads the weights and the mirror
percentage from the ModelDeployment's status and the versions from its pods, sends a copy of
stable traffic to the canary while the rollout mirrors and compares the answers: every check,
shadow agreement included, can judge every stage. Sticky sessions (``stickyHeader``) need it.
"""

from __future__ import annotations

from typing import ClassVar

from canaria_operator.settings import OperatorSettings
from canaria_operator.traffic.base import Json, Placement, TrafficMode
from canaria_operator.workloads.names import router_labels
from canaria_operator.workloads.objects import model_service
from canaria_operator.workloads.router_objects import router_objects

__all__ = ["Builtin"]


class Builtin(TrafficMode):
    name: ClassVar[str] = "Builtin"
    can_mirror: ClassVar[bool] = True
    compares: ClassVar[bool] = True

    def objects(self, placement: Placement, settings: OperatorSettings) -> list[Json]:
        router = router_objects(
            self.md,
            image=settings.image,
            pull_policy=settings.image_pull_policy,
            replicas=settings.router_replicas,
            pod_annotations=settings.pod_annotations,
        )
        headless = settings.headless_services
        return [*router, model_service(self.md, router_labels(self.md.name), headless=headless)]
