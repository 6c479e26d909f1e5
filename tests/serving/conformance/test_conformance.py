"""Every ONNX backend test model that onnxruntime reproduces is served with identical outputs
over V2 JSON and binary, or refused at start-up with its reason; bad requests get a 4xx.

One in-process server app per model (httpx's ASGI transport, the real app with its fast
path), so the ~2,000 models take minutes, not hours. tests/serving/conformance/test_uvicorn.py
runs a representative subset through real `canaria serve` processes and Triton's client.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.serving.conformance.cases import Case, discover
from tests.serving.conformance.check import NOT_REPRODUCED, REFUSED, SERVED, Outcome, check_case

CASES = discover()

# What canaria may refuse a model for (each names the input or output): a type the V2
# protocol cannot carry. Any other refusal of a model onnxruntime reproduces fails the test.
ALLOWED_REFUSALS = (
    "the V2 protocol carries tensors only",
    "the V2 protocol has no datatype for",
)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_model_is_served_identically_or_refused_clearly(
    case: Case, report: Callable[[str, str, Outcome], None]
) -> None:
    outcome = await check_case(case)
    report(case.id, case.source, outcome)
    assert outcome.kind in (SERVED, REFUSED, NOT_REPRODUCED)
    if outcome.kind == REFUSED:
        assert any(reason in outcome.reason for reason in ALLOWED_REFUSALS), outcome.reason
        assert "'" in outcome.reason  # names the input or output


def test_every_source_is_found() -> None:
    """No source silently missing: the counts the onnx wheel (1.23) ships and generates."""
    found = {s: sum(c.source == s for c in CASES) for s in {c.source for c in CASES}}
    assert found.keys() == {"node", "simple", "pytorch-converted", "pytorch-operator", "light"}
    assert found["node"] >= 1800
    assert found["simple"] >= 20
    assert found["pytorch-converted"] >= 80
    assert found["pytorch-operator"] >= 30
    assert found["light"] == 9
