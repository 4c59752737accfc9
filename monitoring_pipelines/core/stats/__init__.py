"""Drift statistics, one module each, registered by name (see :mod:`.base`)."""

from monitoring_pipelines.core.stats.base import (
    Distribution,
    StatResult,
    get_statistic,
    register,
    statistic_names,
)

__all__ = ["Distribution", "StatResult", "get_statistic", "register", "statistic_names"]
