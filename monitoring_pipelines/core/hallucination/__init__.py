"""Hallucination monitoring in shadow mode: the day's LLM answers scored for faithfulness by a
judge (every answer with the offline judge, alone or in the cascade; a stratified sample with
the LLM judge alone), the daily hallucination rate with its interval and multi-day rise scan,
and the review queue of the answers scored under the threshold."""
