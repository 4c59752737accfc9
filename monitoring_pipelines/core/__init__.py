"""The domain: configuration, statistics, policies, storage and formatting.

Nothing in this package imports dagster or the ``assets``/``resources`` packages, so every
statistic and policy is testable with plain pytest and the orchestrator stays replaceable.
"""
