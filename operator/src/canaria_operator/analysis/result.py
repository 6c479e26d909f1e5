"""The outcome of one analysis check: what the rollout state machine consumes.

Four outcomes, as in Argo Rollouts:

* ``Successful`` - the value was measured and is within its bounds.
* ``Failed`` - the value was measured and is out of bounds (or the statistical test says the
  canary is worse than stable).
* ``Inconclusive`` - nothing trustworthy to judge: too few requests, an empty or NaN result,
  Prometheus unreachable. Never counts as a pass: no promotion happens on missing data.
* ``Error`` - the check itself is broken (Prometheus rejected the query, a template names an
  unknown variable). Also never a pass; repeated errors pause the rollout.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, field_validator

__all__ = ["CheckResult", "Verdict", "round_verdict"]


class Verdict(StrEnum):
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"


class CheckResult(BaseModel):
    """One check of one analysis round (both tracks queried over the same window).

    ``at`` is the time of the round: every check of a round carries the same ``at``; the state
    machine consumes a round once (rounds not newer than its ``lastAnalysisAt`` are ignored).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str
    verdict: Verdict
    at: datetime
    value: float | None = None
    threshold: float | None = None
    stable_value: float | None = None
    samples: int | None = None
    message: str = ""

    @field_validator("value", "threshold", "stable_value")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        # NaN/inf never reach status: they are not valid JSON numbers for the API server.
        return None if v is None or not math.isfinite(v) else v


_SEVERITY = {
    Verdict.FAILED: 3,
    Verdict.ERROR: 2,
    Verdict.INCONCLUSIVE: 1,
    Verdict.SUCCESSFUL: 0,
}


def round_verdict(results: Iterable[CheckResult]) -> Verdict:
    """The verdict of a whole round: the worst check wins; an empty round is Inconclusive."""
    worst: Verdict | None = None
    for r in results:
        if worst is None or _SEVERITY[r.verdict] > _SEVERITY[worst]:
            worst = r.verdict
    return Verdict.INCONCLUSIVE if worst is None else worst
