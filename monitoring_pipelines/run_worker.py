"""A warm run worker (``python -m monitoring_pipelines.run_worker``), started by
``WarmRunLauncher``: it reads one JSON line per run on stdin (the run's id and the instance's
ref), executes the run as ``dagster api execute_run`` does, and answers ``{"done": run_id}`` on
its original stdout; everything else the run prints goes to stderr. It exits when stdin closes.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TextIO


def serve(commands: TextIO, answers: TextIO) -> None:
    """Execute the runs named on ``commands`` one after another."""
    import dagster as dg
    from dagster._cli.api import _execute_run_command_body
    from dagster._core.instance.ref import InstanceRef
    from dagster._serdes import deserialize_value
    from dagster._utils.interrupts import capture_interrupts

    instances: dict[str, dg.DagsterInstance] = {}
    for line in commands:
        if not line.strip():
            continue
        command = json.loads(line)
        ref = command["instance_ref"]
        if ref not in instances:
            instances[ref] = dg.DagsterInstance.from_ref(deserialize_value(ref, InstanceRef))
        try:
            with capture_interrupts():
                # Failures are written to the run's event log, as in a run process of its own.
                _execute_run_command_body(
                    command["run_id"], instances[ref], _ignore, set_exit_code_on_failure=False
                )
        except KeyboardInterrupt:  # an interrupt between runs: the run was canceled
            pass
        answers.write(json.dumps({"done": command["run_id"]}) + "\n")
        answers.flush()


def _ignore(_: object) -> None:
    """The run's events are in its event log already; the worker sends none on."""


def main() -> None:
    # The answers keep the original stdout; the runs' own output goes to stderr.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")
    import dagster  # noqa: F401 - paid once, before the first run

    import monitoring_pipelines.definitions  # noqa: F401

    serve(sys.stdin, answers)


if __name__ == "__main__":
    main()
