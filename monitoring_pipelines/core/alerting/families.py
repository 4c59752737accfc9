"""Which findings are the same problem: one incident per problem, not one per check.

A latency regression fails the daily SLO check, the error-budget burn and the latency anomaly;
a bad release shifts the predictions and, once labels arrive, drops accuracy. Each check keeps
its own timeline and policy, but findings of one *family* on one monitor that fail while an
incident of that family is open join it: the on-call engineer gets one message and thread.
"""

from __future__ import annotations

from monitoring_pipelines.core.checks import WHOLE

# check -> family, for checks about one kind of problem whatever their subject
BY_CHECK = {
    "latency_slo": "latency",
    "error_rate": "errors",
    "cost_budget": "cost",
    "monthly_budget": "cost",
    "prediction_drift": "predictions",
    "performance": "predictions",
    "volume": "traffic",
    "hallucination_rate": "hallucination",
}

# subject -> family, for checks whose findings are about different problems
BY_SUBJECT = {
    "error_budget": {"latency": "latency", "errors": "errors"},
    "anomaly": {
        "latency_p95_ms": "latency",
        "error_rate": "errors",
        "cost_per_request": "cost",
        "tokens_per_request": "cost",
        "requests": "traffic",
    },
}


def family_of(check: str, subject: str) -> str:
    """The problem a finding is evidence of.

    Findings without a shared family are their own (``<check>:<subject>``); a drift finding
    about a column, or about the column within a segment, belongs to that column's family.
    """
    if check in BY_CHECK:
        return BY_CHECK[check]
    if check in BY_SUBJECT:
        prefix = subject.split(":", 1)[0]
        known = BY_SUBJECT[check].get(prefix)
        if known is not None:
            return known
    if check == "feature_drift":
        return f"feature:{subject.split('@', 1)[0]}"
    return check if subject == WHOLE else f"{check}:{subject}"
