"""Faithfulness judges: score an LLM answer against its retrieved context, 0 to 1.

The offline judge (:class:`OfflineJudge`) is the embedded default: lexical evidence, no
network, deterministic. Other judges implement the same :class:`Judge` protocol.
"""

from monitoring_pipelines.core.judge.base import Judge, JudgeBudget, JudgeItem, Unscored, Verdict
from monitoring_pipelines.core.judge.offline import OfflineJudge

__all__ = ["Judge", "JudgeBudget", "JudgeItem", "OfflineJudge", "Unscored", "Verdict"]
