"""Canary analysis: metric providers, PromQL templates, statistics and verdicts."""
