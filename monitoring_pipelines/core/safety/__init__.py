"""Output safety of LLM answers: what the day's answers leak (e-mail addresses, phone and card
numbers, by the PII rules of :mod:`monitoring_pipelines.core.pii`), how many decline
(:mod:`.refusal`), how long they are, per day, intent and model (:mod:`.day`), stored
(:mod:`.stored`) and checked (:mod:`.check`)."""
