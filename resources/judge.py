"""The faithfulness judge of the hallucination assets."""

from __future__ import annotations

import dagster as dg

from monitoring_pipelines.core.config import JudgeConfig
from monitoring_pipelines.core.judge.base import Judge
from monitoring_pipelines.core.judge.factory import make_judge


class JudgeResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Builds a monitor's judge from its ``llm.judge`` section.

    Attributes:
        api_key: Key of the OpenAI-compatible judge server, from the environment only
            (``dg.EnvVar`` of ``llm.judge.openai.api_key_env``); empty for the offline judge.
    """

    api_key: str = ""

    def get_judge(self, config: JudgeConfig) -> Judge:
        return make_judge(config, self.api_key or None)
