"""``python -m monitoring_pipelines.cli``: the ``monitoring`` command without the console script."""

from monitoring_pipelines.cli import main

main()
