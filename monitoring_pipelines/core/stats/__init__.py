"""Drift statistics, one module each, registered by name (see :mod:`.base`), and the
inference helpers the checks share (:mod:`.inference`: Benjamini-Hochberg, Wilson intervals,
the MAD and robust z)."""

from monitoring_pipelines.core.stats.base import (
    Distribution,
    StatResult,
    get_statistic,
    register,
    statistic_names,
)

__all__ = ["Distribution", "StatResult", "get_statistic", "register", "statistic_names"]
