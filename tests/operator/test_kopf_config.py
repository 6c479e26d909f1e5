"""kopf is configured deliberately (not left on its defaults)."""

from __future__ import annotations

import logging

import kopf

from canaria_operator.handlers import FINALIZER, build_registry, configure_kopf
from canaria_operator.settings import OperatorSettings


def test_configuration() -> None:
    ours = OperatorSettings(watch_server_timeout=120, watch_client_timeout=150, peering_lifetime=20)
    s = kopf.OperatorSettings()
    configure_kopf(s, ours)
    assert s.persistence.finalizer == FINALIZER == "canaria.dev/finalizer"
    assert isinstance(s.persistence.progress_storage, kopf.AnnotationsProgressStorage)
    assert s.persistence.progress_storage.prefix == "canaria.dev"
    assert isinstance(s.persistence.diffbase_storage, kopf.AnnotationsDiffBaseStorage)
    assert s.persistence.diffbase_storage.prefix == "canaria.dev"
    assert (s.watching.server_timeout, s.watching.client_timeout) == (120, 150)
    assert s.peering.mandatory is True
    assert s.peering.clusterwide is True  # no namespaces given
    assert (s.peering.name, s.peering.lifetime) == ("canaria", 20)
    assert s.posting.level == logging.WARNING


def test_namespaced_operator_uses_namespaced_peering() -> None:
    s = kopf.OperatorSettings()
    configure_kopf(s, OperatorSettings(namespaces=("ml",)))
    assert s.peering.clusterwide is False


def test_registry_has_no_spawning_handlers() -> None:
    """No kopf timers/daemons: they would put a finalizer on every ModelDeployment, and a
    finalizer without a running operator blocks deletion (re-checks are self-scheduled)."""
    registry = build_registry(OperatorSettings())
    # kopf has no public accessor for registered handlers
    assert registry._spawning.get_all_handlers() == []
    changing = {h.id for h in registry._changing.get_all_handlers()}
    assert changing == {"reconcile", "forget"}
    watching = {h.id for h in registry._watching.get_all_handlers()}
    assert watching == {"owned-deployment", "owned-pod"}
