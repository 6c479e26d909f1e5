"""Shared pydantic configuration of the API models and Go-style durations."""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["ApiModel", "parse_duration"]


class ApiModel(BaseModel):
    """camelCase on the wire (``model_dump(by_alias=True)``), snake_case in Python.

    Unknown fields are ignored: the API server already prunes fields the CRD does not know,
    and an operator must keep working when a newer CRD adds optional fields.
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration as the CRD accepts it (``30s``, ``1m30s``, ``1.5h``, ``250ms``)."""
    pos, seconds = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 30s, 5m, 1h30m)")
    return timedelta(seconds=seconds)
