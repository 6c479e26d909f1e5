"""The summary table of ``canaria evaluate`` (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from canaria_serving.evaluation.result import Evaluation, ModelFigures

__all__ = ["print_report"]


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2%}"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def print_report(console: Console, ev: Evaluation, urls: list[str]) -> None:
    table = Table(title=f"{ev.task}: {ev.rows} labelled rows")
    table.add_column("model")
    table.add_column("version")
    table.add_column("rows", justify="right")
    table.add_column("not answered", justify="right")
    if ev.task == "classification":
        table.add_column("accuracy", justify="right")
    else:
        table.add_column("MAE", justify="right")
        table.add_column("RMSE", justify="right")
    figures: list[ModelFigures] = [ev.canary, *([ev.stable] if ev.stable else [])]
    for url, f in zip(urls, figures, strict=False):
        scores = [_pct(f.accuracy)] if ev.task == "classification" else [_num(f.mae), _num(f.rmse)]
        table.add_row(url, f.version or "-", str(f.rows), str(f.failed), *scores)
    console.print(table)
    if not ev.classes:
        return
    per_class = Table(title="per class (share of its rows predicted right)")
    per_class.add_column("class")
    per_class.add_column("rows", justify="right")
    per_class.add_column("model", justify="right")
    if ev.stable is not None:
        per_class.add_column("baseline", justify="right")
    for c in ev.classes:
        row = [c.label, str(c.support), _pct(c.accuracy)]
        if ev.stable is not None:
            row.append(_pct(c.stable))
        per_class.add_row(*row)
    console.print(per_class)
