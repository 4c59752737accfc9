"""Retention: how long each kind of bulky data is kept, and the pruning of what is older.

``policy`` turns a monitor's ``retention`` keys and a given day into a cutoff per kind of data;
``rows`` deletes the result store's rows before those cutoffs; ``files`` removes the slices and
reports; ``prune`` does all of it for a monitor and says what went.
"""

from monitoring_pipelines.core.retention.policy import DataKind, cutoffs
from monitoring_pipelines.core.retention.prune import Removed, prune_monitor

__all__ = ["DataKind", "Removed", "cutoffs", "prune_monitor"]
