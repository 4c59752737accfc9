"""What a failed run says, in one line per failed step: the asset, and the cause an asset's
``Failure`` describes or, for any other fault, the exception underneath Dagster's wrappers
(never "Error occurred while executing op ...")."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import dagster as dg

from monitoring_pipelines.core.errors import describe_fault

MAX_CAUSE_CHARS = 500


@dataclass(frozen=True)
class StepFailure:
    """One failed step of a run: the asset it materializes and why it failed."""

    asset: str
    cause: str


def step_failures(events: Iterable[dg.DagsterEvent]) -> list[StepFailure]:
    """The failed steps among a run's events, in the order they failed; resources that could
    not be set up (a store that cannot be opened) count as a failed step ``resources``."""
    out = []
    for event in events:
        if event.is_step_failure:
            out.append(StepFailure(_asset_name(event), step_failure_text(event)))
        elif event.event_type is dg.DagsterEventType.RESOURCE_INIT_FAILURE:
            error = getattr(event.event_specific_data, "error", None)
            cause = describe_fault(_message(_underneath_wrappers(error))) if error else "failed"
            out.append(StepFailure("resources", f"cannot be set up: {cause}"[:MAX_CAUSE_CHARS]))
    return out


def step_failure_text(event: dg.DagsterEvent) -> str:
    """Why a step failed, in one line."""
    data = event.step_failure_data
    if data is None or data.error is None:
        return "step failed"
    user = data.user_failure_data
    if user is not None and user.description:
        return describe_fault(user.description)[:MAX_CAUSE_CHARS]
    return describe_fault(_message(_underneath_wrappers(data.error)))[:MAX_CAUSE_CHARS]


def _underneath_wrappers(error: Any) -> Any:
    """The first error in the chain that is not one of Dagster's wrappers around user code
    (a step's or a resource's execution error)."""
    while error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause
    return error


def _message(error: Any) -> str:
    """The error's text without the ``module.Class: `` Dagster puts before it."""
    message = str(error.message or "").strip()
    head, sep, rest = message.partition(": ")
    if sep and error.cls_name and head.split(".")[-1] == error.cls_name:
        return rest
    return message or str(error.cls_name)


def _asset_name(event: dg.DagsterEvent) -> str:
    if event.asset_key is not None:
        return event.asset_key.path[-1]
    step = event.step_key or "run"
    return step.split("__")[-1]
