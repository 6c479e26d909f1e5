"""Every combination of ``tests/combinations.py`` sent to the real API server (dry run): the
ones the table refuses are rejected with a message naming each field, every other one is
accepted. Together with ``tests/operator/test_combinations.py`` (what the accepted ones do)
no configuration the API accepts is left without a working rollout."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.combinations import COMBINATIONS, Refused, expected, manifest
from tests.operator_cluster.support import dry_run

pytestmark = pytest.mark.cluster


def _dry_run(cluster: Any, items: list[dict[str, Any]]) -> tuple[set[str], dict[str, str]]:
    """(names accepted, {name: error}) for one server-side dry run of all ``items``."""
    doc = {"apiVersion": "v1", "kind": "List", "items": items}
    proc = dry_run(cluster, doc, timeout=600)
    accepted = set(re.findall(r"modeldeployment\.canaria\.dev/(\S+) created", proc.stdout))
    errors: dict[str, str] = {}
    for line in proc.stderr.splitlines():
        found = re.search(r'ModelDeployment(?:\.canaria\.dev)? "([^"]+)" is invalid', line)
        if found:
            errors[found.group(1)] = line
    return accepted, errors


def test_refused_combinations_are_rejected_naming_the_fields_and_the_rest_accepted(
    crds: Any,
) -> None:
    names = {f"c{i:03d}": c for i, c in enumerate(COMBINATIONS)}
    accepted, errors = _dry_run(crds, [manifest(c, name) for name, c in names.items()])
    assert accepted | set(errors) == set(names), "kubectl answered for every object"
    wrong: list[str] = []
    for name, c in names.items():
        want = expected(c)
        if isinstance(want, Refused):
            message = errors.get(name)
            if message is None:
                wrong.append(f"{c.id}: accepted, the table refuses it")
                continue
            for field, words in want.reasons:
                if f"{field}:" not in message or words not in message:
                    wrong.append(f"{c.id}: {field!r}/{words!r} not in {message}")
        elif name not in accepted:
            wrong.append(f"{c.id}: rejected, the table says it works: {errors.get(name)}")
    assert not wrong, "\n".join(wrong)
    refused = sum(isinstance(expected(c), Refused) for c in COMBINATIONS)
    print(f"\n{len(accepted)} combinations accepted, {refused} refused as the table says")
