"""Schemathesis cases from the server's own OpenAPI document: no operation answers 5xx.

(Driven through hypothesis directly: schemathesis' pytest plugin does not load under the
pytest version this project uses.)
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Err

from tests.serving.conftest import Served


def test_no_openapi_operation_answers_5xx(classifier: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{classifier.url}/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        assert not isinstance(result, Err), result.err()  # the document itself is valid
        operations.append(result.ok())
    calls: list[int] = []
    assert len(operations) >= 15  # every route is documented
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            response = case.call()
            calls.append(response.status_code)
            assert response.status_code < 500, (case.method, case.path, response.text)

        run()
    assert len(calls) > 3 * len(operations)
    assert set(calls) & {200, 400, 404}  # real answers: successes and client errors
