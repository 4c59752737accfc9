"""Observability for ML and LLM systems in production, orchestrated by Dagster."""

__version__ = "0.1.0"
