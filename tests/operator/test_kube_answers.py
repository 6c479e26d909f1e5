"""How the one module that talks to the API server reads its answers: a body that is not a
JSON object (a plain-text 404 for an API that is not installed) is a KubeError naming it,
never a JSONDecodeError."""

from __future__ import annotations

import pytest

from canaria_operator.kube.client import _decoded
from canaria_operator.kube.errors import KubeError


def test_a_json_object_is_returned() -> None:
    assert _decoded(200, b'{"kind": "Pod"}') == {"kind": "Pod"}
    assert _decoded(200, b"") == {}


def test_a_kubernetes_status_is_an_error_with_its_reason() -> None:
    with pytest.raises(KubeError) as info:
        _decoded(
            404, b'{"kind": "Status", "reason": "NotFound", "message": "pods \\"x\\" not found"}'
        )
    assert (info.value.status, info.value.reason, info.value.not_found) == (404, "NotFound", True)


@pytest.mark.parametrize(
    ("status", "raw", "says"),
    [
        (404, b"404 page not found\n", "HTTP 404: 404 page not found"),
        (503, b"<html>proxy error</html>", "HTTP 503: <html>proxy error</html>"),
        (200, b"[1, 2]", "HTTP 200, not a JSON object: [1, 2]"),
        (200, b"\xff\xfe", "HTTP 200, not a JSON object:"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_named(status: int, raw: bytes, says: str) -> None:
    with pytest.raises(KubeError) as info:
        _decoded(status, raw)
    assert info.value.status == status
    assert says in str(info.value)
