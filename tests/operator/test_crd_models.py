"""The pydantic models and crds/modeldeployment.yaml describe the same API, field by field.

Both directions: every schema property is a model field and vice versa, with the same type,
the same required set, the same enum values and the same defaults (after the API server's
structural defaulting). A field added on one side only fails here.
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from enum import Enum
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from canaria_operator.api import ModelDeploymentSpec, ModelDeploymentStatus
from tests.operator.crdschema import apply_defaults, crd, openapi_schema

_SCALARS: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        assert len(args) == 1, f"unsupported union {tp}"
        return args[0]
    return tp


def _alias(name: str, info: FieldInfo) -> str:
    assert info.alias is not None, f"field {name} has no alias"
    return info.alias


def _field_default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return None if info.default is PydanticUndefined else info.default


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_empty(v) for k, v in value.items() if v != []}
    if isinstance(value, list):
        return [_drop_empty(v) for v in value]
    return value


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return _drop_empty(value.model_dump(by_alias=True, mode="json", exclude_none=True))
    if isinstance(value, tuple):
        return [_dump(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def _compare(schema: dict[str, Any], tp: Any, path: str, in_spec: bool) -> list[str]:
    errors: list[str] = []
    tp = _unwrap_optional(tp)
    origin = typing.get_origin(tp)
    kind = schema.get("type")
    if "description" not in schema and path != "":
        errors.append(f"{path}: no description")
    if origin is tuple:
        if kind != "array":
            return [*errors, f"{path}: model has a list, schema type {kind}"]
        return errors + _compare(schema["items"], typing.get_args(tp)[0], f"{path}[]", in_spec)
    if origin is dict:  # a map: an object whose values all have one schema
        values = schema.get("additionalProperties")
        if kind != "object" or not isinstance(values, dict):
            return [*errors, f"{path}: model has a map, schema {kind} without additionalProperties"]
        return errors + _compare(values, typing.get_args(tp)[1], f"{path}{{}}", in_spec)
    if origin is typing.Literal or (isinstance(tp, type) and issubclass(tp, Enum)):
        values = list(typing.get_args(tp)) if origin is typing.Literal else [e.value for e in tp]
        if kind != "string" or sorted(schema.get("enum", [])) != sorted(values):
            errors.append(f"{path}: enum {schema.get('enum')} != model {values}")
        return errors
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if kind != "object":
            return [*errors, f"{path}: model {tp.__name__}, schema type {kind}"]
        return errors + _compare_object(schema, tp, path, in_spec)
    if tp is datetime:
        if kind != "string" or schema.get("format") != "date-time":
            errors.append(f"{path}: datetime needs string/date-time, schema {kind}")
        return errors
    if _SCALARS.get(tp) != kind:
        errors.append(f"{path}: model {tp}, schema type {kind}")
    return errors


def _compare_object(
    schema: dict[str, Any], model: type[BaseModel], path: str, in_spec: bool
) -> list[str]:
    errors: list[str] = []
    props: dict[str, Any] = schema.get("properties", {})
    fields = {_alias(n, f): f for n, f in model.model_fields.items()}
    for missing in sorted(set(props) - set(fields)):
        errors.append(f"{path}.{missing}: in the CRD, not in {model.__name__}")
    for missing in sorted(set(fields) - set(props)):
        errors.append(f"{path}.{missing}: in {model.__name__}, not in the CRD")
    required = {a for a, f in fields.items() if f.is_required()}
    schema_required = set(schema.get("required", []))
    if required != schema_required:
        errors.append(f"{path}: required {sorted(schema_required)} != {sorted(required)}")
    for alias in sorted(set(props) & set(fields)):
        sub, info, sub_path = props[alias], fields[alias], f"{path}.{alias}"
        errors += _compare(sub, info.annotation, sub_path, in_spec)
        if info.is_required():
            continue
        model_default = _dump(_field_default(info))
        if "default" in sub:
            expected = apply_defaults(sub, sub["default"])
            if model_default != expected:
                errors.append(f"{sub_path}: default {expected!r} != model {model_default!r}")
        elif in_spec and model_default not in (None, [], {}):
            errors.append(f"{sub_path}: model invents default {model_default!r}")
    return errors


def test_spec_matches_crd() -> None:
    schema = openapi_schema()["properties"]["spec"]
    assert _compare_object(schema, ModelDeploymentSpec, "spec", in_spec=True) == []


def test_status_matches_crd() -> None:
    schema = openapi_schema()["properties"]["status"]
    assert _compare_object(schema, ModelDeploymentStatus, "status", in_spec=False) == []


def test_crd_identity() -> None:
    data = crd()
    names = data["spec"]["names"]
    assert (data["spec"]["group"], names["kind"], names["shortNames"]) == (
        "canaria.dev",
        "ModelDeployment",
        ["md"],
    )
    version = data["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Model", "Stable", "Canary", "Weight", "Phase", "Age"]


def _walk(schema: dict[str, Any], path: str) -> typing.Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if "items" in schema:
        yield from _walk(schema["items"], f"{path}[]")


@pytest.mark.parametrize("part", ["spec", "status"])
def test_every_field_is_described(part: str) -> None:
    undocumented = [
        p for p, s in _walk(openapi_schema()["properties"][part], part) if not s.get("description")
    ]
    assert undocumented == []


def test_comparison_detects_a_mismatch() -> None:
    """The checker itself can fail: a schema with an extra field and a wrong default."""
    schema = openapi_schema()["properties"]["spec"]["properties"]["serving"]
    broken = {**schema, "properties": {**schema["properties"], "extra": {"type": "string"}}}
    broken["properties"]["workers"] = {**schema["properties"]["workers"], "default": 2}
    from canaria_operator.api.spec import Serving

    errors = _compare_object(broken, Serving, "serving", in_spec=True)
    assert any("extra" in e for e in errors)
    assert any("workers: default 2" in e for e in errors)
