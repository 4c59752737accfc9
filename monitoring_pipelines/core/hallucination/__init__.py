"""Hallucination monitoring in shadow mode: a daily stratified sample of LLM answers scored for
faithfulness by a judge, the daily hallucination rate with its interval and rise test, and the
review queue of the answers scored under the threshold."""
