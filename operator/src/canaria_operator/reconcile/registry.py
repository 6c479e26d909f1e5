"""The MLflow registry in the decision (pure): what to serve, what to hold, what to write back.

* :func:`registry_target`: the artifact to roll out. A ``models:/`` reference resolved this
  time gives it (version, directory, digest) and is pinned in ``status.registry``; a failed
  read keeps the last resolved one (the current version keeps serving, no rollout starts) and
  becomes a problem whose reason names it (an unreachable registry only from the second
  failed read in a row: one slow answer is not worth a Degraded condition, but it holds the
  rollout all the same).
* :func:`hold_round`: while the registry cannot be read, an analysis round gets an
  ``Inconclusive`` check ``registry``: nothing promotes on missing data (the alias might have
  moved back), and ``maxInconclusiveRounds`` such rounds pause the rollout.
* :func:`registry_writes` / :func:`mark_written`: verdict tags on each finished rollout's
  version (promoted, rolled-back, retired) and the operator's own alias on the stable version;
  the shell executes them, and what succeeded is recorded so each is written once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from canaria_operator.analysis.result import CheckResult, Verdict
from canaria_operator.api.model import ModelDeployment
from canaria_operator.api.status import (
    MAX_PINS,
    MAX_WRITTEN,
    ModelDeploymentStatus,
    RegistryPin,
    RegistryStatus,
)
from canaria_operator.conditions import Problem
from canaria_operator.registry.read import RegistryRead
from canaria_operator.registry.uri import parse_models_uri
from canaria_operator.workloads.artifact import Artifact

__all__ = [
    "TAG_AT",
    "TAG_MODELDEPLOYMENT",
    "TAG_REASON",
    "TAG_VERDICT",
    "RegistryTarget",
    "RegistryWrite",
    "hold_round",
    "mark_written",
    "registry_target",
    "registry_writes",
]

TAG_VERDICT = "canaria.dev/verdict"
TAG_REASON = "canaria.dev/reason"
TAG_MODELDEPLOYMENT = "canaria.dev/modeldeployment"
TAG_AT = "canaria.dev/at"
_VERDICTS = {"Promoted": "promoted", "RolledBack": "rolled-back"}
R_NOT_READ = "RegistryNotRead"
R_UNREACHABLE = "RegistryUnreachable"
QUIET_FAILURES = 1  # failed reads in a row an unreachable registry may have before Degraded


@dataclass(frozen=True)
class RegistryWrite:
    """Tags on a version (``key`` is recorded in ``status.registry.written``), or the
    operator's alias moved to a version (``alias`` set, ``key`` empty)."""

    version: str
    key: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    alias: str | None = None


@dataclass(frozen=True)
class RegistryTarget:
    artifact: Artifact | None  # None: nothing resolved yet, nothing to serve
    problem: Problem | None = None
    status: RegistryStatus | None = None
    quiet: bool = False  # the problem holds rollouts but is not reported (yet)

    @property
    def unreadable(self) -> bool:
        return self.problem is not None


def registry_target(
    md: ModelDeployment, read: RegistryRead | None, now: datetime
) -> RegistryTarget:
    """The artifact spec.model asks for (see the module docstring)."""
    model = md.spec.model
    if not model.from_registry:
        return RegistryTarget(Artifact.from_spec(model))
    assert model.registry is not None  # the CRD requires it with models:/
    ref = parse_models_uri(model.uri)
    secret = model.registry.credentials_secret_ref
    secret_name = secret.name if secret else None
    before = md.status.registry or RegistryStatus()
    status = before.model_copy(
        update={"model": ref.name, "alias": ref.alias, "stable_alias": model.registry.stable_alias}
    )
    resolved = read.resolved if read is not None else None
    if resolved is not None:
        changed = (resolved.version, resolved.digest) != (before.version, before.digest)
        pins = before.pins
        if all(p.version != resolved.version for p in pins):
            pins = (*pins, RegistryPin(version=resolved.version, digest=resolved.digest))
        status = status.model_copy(
            update={
                "version": resolved.version,
                "location": resolved.location,
                "digest": resolved.digest,
                "resolved_at": now if changed else before.resolved_at,
                "pins": pins[-MAX_PINS:],
            }
        )
        artifact = Artifact(
            resolved.version, resolved.location, resolved.digest, secret_name, resolved.source
        )
        return RegistryTarget(artifact, None, status)
    if read is None:
        problem = Problem(R_NOT_READ, f"{ref}: the registry was not read")
    else:
        problem = Problem(read.reason or R_NOT_READ, read.message or str(ref))
    if before.version and before.location:
        kept = Artifact(
            before.version, before.location, before.digest, secret_name, ref.pinned(before.version)
        )
        message = f"{problem.message} (keeping the last resolved {ref.pinned(before.version)})"
        quiet = (
            read is not None and read.reason == R_UNREACHABLE and read.failures <= QUIET_FAILURES
        )
        return RegistryTarget(kept, replace(problem, message=message), status, quiet)
    return RegistryTarget(None, problem, status)


def hold_round(target: RegistryTarget, checks: Sequence[CheckResult]) -> list[CheckResult]:
    """The round's checks, plus an Inconclusive ``registry`` check while it is unreadable."""
    if not checks or target.problem is None or target.status is None:
        return list(checks)
    hold = CheckResult(
        metric="registry",
        verdict=Verdict.INCONCLUSIVE,
        at=checks[0].at,
        message=f"{target.problem.reason}: {target.problem.message}"[:500],
    )
    return [*checks, hold]


def _tags(
    verdict: str, reason: str, md: ModelDeployment, at: datetime | None
) -> tuple[tuple[str, str], ...]:
    return (
        (TAG_VERDICT, verdict),
        (TAG_REASON, reason[:5000]),
        (TAG_MODELDEPLOYMENT, f"{md.namespace}/{md.name}"),
        (TAG_AT, at.isoformat() if at else ""),
    )


def registry_writes(
    md: ModelDeployment, status: ModelDeploymentStatus, retired_version: str | None
) -> tuple[RegistryWrite, ...]:
    """What the registry should be told and has not been yet."""
    reg = status.registry
    if reg is None or not md.spec.model.from_registry:
        return ()
    done = set(reg.written)
    writes: list[RegistryWrite] = []
    for h in status.history:
        verdict = _VERDICTS.get(h.result)
        if verdict is None or h.source is None:
            continue
        key = f"verdict:{h.version}:{h.finished_at.isoformat() if h.finished_at else ''}"
        if key not in done:
            tags = _tags(verdict, h.reason or h.result, md, h.finished_at)
            writes.append(RegistryWrite(h.version, key, tags))
    if retired_version is not None:
        key = f"retired:{retired_version}"
        if key not in done:
            retirement = status.retirement
            at = retirement.retired_at if retirement else None
            why = (md.spec.retire.reason if md.spec.retire else None) or "spec.retire.at passed"
            writes.append(RegistryWrite(retired_version, key, _tags("retired", why, md, at)))
    stable = status.stable
    if (
        stable is not None
        and stable.source is not None
        and reg.stable_alias
        and reg.stable_alias_version != stable.version
        and retired_version is None
    ):
        writes.append(RegistryWrite(stable.version, alias=reg.stable_alias))
    return tuple(writes)


def mark_written(
    status: ModelDeploymentStatus, done: Sequence[RegistryWrite]
) -> ModelDeploymentStatus:
    """``status`` recording the writes that succeeded."""
    reg = status.registry
    if reg is None or not done:
        return status
    keys = [w.key for w in done if w.key]
    aliased = [w.version for w in done if w.alias]
    update: dict[str, object] = {"written": (*reg.written, *keys)[-MAX_WRITTEN:]}
    if aliased:
        update["stable_alias_version"] = aliased[-1]
    return status.model_copy(update={"registry": reg.model_copy(update=update)})
