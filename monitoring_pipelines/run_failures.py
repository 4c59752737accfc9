"""What a failed run says, in one line per failed step: the asset, and the cause an asset's
``Failure`` describes or, for any other fault, the exception underneath Dagster's wrappers
(never "Error occurred while executing op ...")."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import dagster as dg

from monitoring_pipelines.core.errors import describe_fault

MAX_CAUSE_CHARS = 500
# A step that materializes several assets (a monitor's multi-asset, ``assets/parts.py``) names
# each asset that failed in its failure's metadata: {"<monitor>/<asset>": why}.
FAILED_ASSETS = "failed assets"


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
            named = failed_assets(event)
            if named:
                out += [StepFailure(a.split("/")[-1], why) for a, why in named.items()]
            else:
                out.append(StepFailure(_asset_name(event), step_failure_text(event)))
        elif event.event_type is dg.DagsterEventType.RESOURCE_INIT_FAILURE:
            error = getattr(event.event_specific_data, "error", None)
            cause = describe_fault(_message(_underneath_wrappers(error))) if error else "failed"
            out.append(StepFailure("resources", f"cannot be set up: {cause}"[:MAX_CAUSE_CHARS]))
    return out


def failed_assets(event: dg.DagsterEvent) -> dict[str, str]:
    """``{"<monitor>/<asset>": why}`` of a failed step that names its failed assets, else {}."""
    data = event.step_failure_data
    user = data.user_failure_data if data is not None else None
    raw = user.metadata.get(FAILED_ASSETS) if user is not None else None
    value = getattr(raw, "value", raw)
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        return {}
    return {str(k): describe_fault(str(v))[:MAX_CAUSE_CHARS] for k, v in value.items()}


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
