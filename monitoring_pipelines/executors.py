"""Which executor runs the steps of the monitors' jobs, picked by ``MONITORING_EXECUTOR``.

``in_process`` (the default) runs a run's steps one after another in its process;
``multiprocess`` gives each step a process of its own on the same machine; ``celery`` sends each
step to Dagster's Celery executor, whose workers (``dagster-celery worker start``, any number,
on any machine) take them from the broker named by ``MONITORING_CELERY_BROKER`` (Redis), which
also carries their results back (README.md, "Production profile").
"""

from __future__ import annotations

import dagster as dg

from monitoring_pipelines.core.errors import ConfigError
from monitoring_pipelines.core.settings import BROKER_VARIABLE, ExecutorKind

CELERY_EXECUTOR_NAME = "celery_executor"
CELERY_SETTINGS = {
    # A step's task is acknowledged once it has run, and given back to the queue when the
    # process running it dies (killed, out of memory): another worker runs the step again.
    # Acknowledged on receipt (Celery's default), a lost task fails, and Dagster's Celery
    # executor then waits for the run's remaining steps forever. Steps may therefore run
    # twice; each writes its partition whole (slices, results), so a second run replaces the
    # first. deploy/celery.yaml gives the workers the same settings.
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
}


def job_executor(kind: ExecutorKind) -> dg.ExecutorDefinition:
    """The executor of ``kind`` for the monitors' jobs.

    The broker's URL is read by each process from the environment (an ``env`` reference in
    the executor's configuration), so it is neither stored with the job nor shown in the UI.

    Raises:
        ConfigError: If ``celery`` is asked for without dagster-celery installed.
    """
    if kind == "multiprocess":
        return dg.multiprocess_executor
    if kind == "celery":
        try:
            from dagster_celery import celery_executor
        except ImportError as exc:
            raise ConfigError(
                "MONITORING_EXECUTOR=celery needs dagster-celery: pip install "
                "'monitoring-pipelines[distributed]'"
            ) from exc
        broker = {"env": BROKER_VARIABLE}
        configured: dg.ExecutorDefinition = celery_executor.configured(
            {"broker": broker, "backend": broker, "config_source": dict(CELERY_SETTINGS)},
            name=CELERY_EXECUTOR_NAME,
        )
        return configured
    return dg.in_process_executor
