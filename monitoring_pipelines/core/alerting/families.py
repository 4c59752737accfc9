"""Which findings are the same problem: one incident per problem, not one per check.

Findings of one *family* (each check's catalog entry names it) on one monitor join the family's
open incident, so the on-call engineer gets one message and one thread.
"""

from __future__ import annotations

from monitoring_pipelines.core.catalog import check as check_entry


def family_of(check: str, subject: str) -> str:
    """The problem a finding is evidence of.

    Findings without a shared family are their own (``<check>:<subject>``); a drift finding
    about a column, or about the column within a segment, belongs to that column's family.
    """
    return check_entry(check).family_of(subject)
