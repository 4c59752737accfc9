"""Which findings are the same problem: one incident per problem, not one per check.

A latency regression fails the daily SLO check, the error-budget burn and the latency anomaly;
a bad release shifts the predictions and, once labels arrive, drops accuracy. Each check keeps
its own timeline and policy, but findings of one *family* on one monitor that fail while an
incident of that family is open join it: the on-call engineer gets one message and thread.
Each check's family is in its catalog entry.
"""

from __future__ import annotations

from monitoring_pipelines.core.catalog import check as check_entry


def family_of(check: str, subject: str) -> str:
    """The problem a finding is evidence of.

    Findings without a shared family are their own (``<check>:<subject>``); a drift finding
    about a column, or about the column within a segment, belongs to that column's family.
    """
    return check_entry(check).family_of(subject)
