"""The configured judge: the offline judge, the OpenAI-compatible one, or the cascade of both
(the HTTP client is imported on demand, so a monitor with the offline judge never loads it)."""

from __future__ import annotations

from monitoring_pipelines.core.config import JudgeConfig
from monitoring_pipelines.core.errors import ConfigError
from monitoring_pipelines.core.judge.base import Judge
from monitoring_pipelines.core.judge.offline import OfflineJudge


def make_judge(config: JudgeConfig, api_key: str | None = None) -> Judge:
    """The judge ``config.backend`` names.

    Args:
        config: The monitor's ``llm.judge`` section.
        api_key: Key of the OpenAI-compatible server (read from the environment variable
            ``config.openai.api_key_env`` by the caller); unused by the offline judge.

    Returns:
        A judge implementing :class:`~monitoring_pipelines.core.judge.base.Judge`.

    Raises:
        ConfigError: If the backend is unknown.
    """
    if config.backend == "offline":
        return OfflineJudge()
    if config.backend in ("openai", "cascade"):
        from monitoring_pipelines.core.judge.llm import OpenAIJudge

        judge: Judge = OpenAIJudge(config.openai, api_key=api_key)
        if config.backend == "cascade":
            from monitoring_pipelines.core.judge.cascade import CascadeJudge

            cascade = config.cascade
            judge = CascadeJudge(judge, cascade.uncertain_band, cascade.audit_share)
        return judge
    raise ConfigError(
        f"llm.judge.backend '{config.backend}' is unknown; allowed: offline, openai, cascade"
    )
