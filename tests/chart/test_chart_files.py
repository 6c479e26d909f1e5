"""The chart's files without a cluster: CRD copies, dashboard metric names, examples."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from canaria_operator.metrics import OperatorMetrics
from canaria_serving import contract
from tests.chart.support import CHART, DASHBOARDS, EXAMPLES, ROOT, dashboard_targets

_SUFFIXES = ("", "_total", "_bucket", "_count", "_sum", "_created")


def _known_metrics() -> set[str]:
    names = [v for k, v in vars(contract).items() if k.startswith("M_") and isinstance(v, str)]
    names += [family.name for family in OperatorMetrics().registry.collect()]
    return {n + s for n in names for s in _SUFFIXES}


def test_chart_crds_are_identical_to_the_source_crds() -> None:
    source = sorted(p.name for p in (ROOT / "crds").glob("*.yaml"))
    copies = sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    assert copies == source
    for name in source:
        assert (CHART / "crds" / name).read_bytes() == (ROOT / "crds" / name).read_bytes(), name


def test_dashboard_queries_only_name_metrics_that_exist() -> None:
    known = _known_metrics()
    targets = dashboard_targets()
    assert len(targets) >= 12
    for title, expr in targets:
        used = set(re.findall(r"\bcanaria_[a-z_]+\b", expr))
        assert used, f"{title}: no Canaria metric in {expr}"
        assert used <= known, f"{title}: unknown metric(s) {used - known}"


def test_dashboard_has_the_panels_the_issue_asks_for() -> None:
    (path,) = DASHBOARDS
    dash = json.loads(path.read_text())
    titles = " | ".join(p["title"].lower() for p in dash["panels"])
    for word in (
        "weight",
        "request rate",
        "error rate",
        "p99",
        "prediction drift",
        "shadow agreement",
        "input drift",
        "analysis",
        "accuracy per version",
        "error per version",
        "unmatched feedback",
    ):
        assert word in titles, word
    variables = {v["name"] for v in dash["templating"]["list"]}
    assert {"namespace", "name", "model"} <= variables
    unique_ids = {p["id"] for p in dash["panels"]}
    assert len(unique_ids) == len(dash["panels"])


def _examples() -> list[tuple[Path, dict[str, object]]]:
    out = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "ModelDeployment":
                out.append((path, doc))
    return out


def test_one_example_per_strategy_and_router() -> None:
    seen = set()
    for _, doc in _examples():
        rollout = doc["spec"]["rollout"]  # type: ignore[index]
        seen.add((rollout["strategy"], rollout["traffic"]["router"]))
    assert {
        ("Canary", "Builtin"),
        ("BlueGreen", "Builtin"),
        ("Shadow", "Builtin"),
        ("Canary", "GatewayAPI"),
    } <= seen
