"""PromQL rendering and parsing of recorded Prometheus answers (pure)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from canaria_operator.analysis.prometheus import parse_scalar, parse_vector
from canaria_operator.analysis.provider import QueryError
from canaria_operator.analysis.queries import (
    Target,
    TemplateError,
    errors_query,
    latency_quantile_query,
    render_template,
    selector,
)

T = Target(name="iris", version="v2", track="canary", namespace="ml")
W = timedelta(seconds=30)


def test_selector_and_builtins() -> None:
    assert selector(T) == '{namespace="ml", model="iris", version="v2"}'
    assert selector(Target(name="a", version="1")) == '{model="a", version="1"}'
    assert errors_query(T, W) == (
        'sum(increase(canaria_requests_total{namespace="ml", model="iris", version="v2", '
        'code=~"5.."}[30s]))'
    )
    assert latency_quantile_query(T, W).startswith("histogram_quantile(0.99, sum by (le) (rate(")


def test_label_values_are_escaped() -> None:
    evil = Target(name='a"}or vector(1)#', version="v\\1")
    assert selector(evil) == '{model="a\\"}or vector(1)#", version="v\\\\1"}'


def test_render_template_variables() -> None:
    out = render_template(
        'sum(rate(x{ns="{{namespace}}",v="{{ version }}",t="{{track}}"}[{{interval}}]))'
        " / {{stable_version}}",
        T,
        "v1",
        timedelta(minutes=1),
    )
    assert out == 'sum(rate(x{ns="ml",v="v2",t="canary"}[60s])) / v1'


@pytest.mark.parametrize(
    ("template", "message"),
    [('rate(x{a="{{nope}}"}[1m])', r"unknown variable \{\{nope\}\}"), ("x {{ 1", "malformed")],
)
def test_render_template_errors_name_the_problem(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        render_template(template, T, "v1", W)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"resultType": "vector", "result": []}, None),
        ({"resultType": "vector", "result": [{"metric": {}, "value": [1, "0.25"]}]}, 0.25),
        ({"resultType": "vector", "result": [{"metric": {}, "value": [1, "NaN"]}]}, None),
        ({"resultType": "vector", "result": [{"metric": {}, "value": [1, "+Inf"]}]}, None),
        ({"resultType": "scalar", "result": [1, "3"]}, 3.0),
    ],
)
def test_parse_scalar(data: dict[str, object], expected: float | None) -> None:
    assert parse_scalar(data) == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"resultType": "matrix", "result": []}, "unsupported result type"),
        (
            {"resultType": "vector", "result": [{"metric": {"a": "1"}, "value": [1, "1"]}] * 2},
            "2 series, expected one",
        ),
        ({"resultType": "vector", "result": [{"metric": {}, "value": [1, "x"]}]}, "malformed"),
    ],
)
def test_parse_scalar_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_scalar(data)


def test_parse_vector() -> None:
    data = {
        "resultType": "vector",
        "result": [
            {"metric": {"class": "0"}, "value": [1, "10"]},
            {"metric": {"class": "1"}, "value": [1, "NaN"]},
        ],
    }
    assert parse_vector(data, "class") == {"0": 10.0}
    assert parse_vector({"resultType": "vector", "result": []}, "class") is None
    with pytest.raises(QueryError, match="without label 'le'"):
        parse_vector(data, "le")
