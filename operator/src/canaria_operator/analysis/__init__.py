"""Canary analysis: metric providers, PromQL templates, statistics and verdicts."""

from canaria_operator.analysis.checks import planned_checks, run_analysis
from canaria_operator.analysis.config import AnalysisConfig, CustomMetric
from canaria_operator.analysis.prometheus import PrometheusProvider
from canaria_operator.analysis.provider import MetricsProvider, ProviderUnavailable, QueryError
from canaria_operator.analysis.queries import Target, TemplateError, render_template
from canaria_operator.analysis.result import CheckResult, Verdict, round_verdict

__all__ = [
    "AnalysisConfig",
    "CheckResult",
    "CustomMetric",
    "MetricsProvider",
    "PrometheusProvider",
    "ProviderUnavailable",
    "QueryError",
    "Target",
    "TemplateError",
    "Verdict",
    "planned_checks",
    "render_template",
    "round_verdict",
    "run_analysis",
]
