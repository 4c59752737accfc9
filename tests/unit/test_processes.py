"""Stopping a test's service stops what it started too, even a process that left its group
(as Dagster's code servers do): no process outlives the test that started it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.fakes.processes import alive, descendants, stop_tree

# A parent that starts a child in a session of its own (out of the parent's process group),
# writes the child's pid, and waits.
PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                         start_new_session=True)
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(600)
"""


def test_a_child_in_a_session_of_its_own_is_stopped_with_its_parent(tmp_path: Path) -> None:
    written = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(written)], start_new_session=True)
    deadline = time.monotonic() + 30
    while not written.exists() or not written.read_text():
        assert time.monotonic() < deadline, "the parent did not start its child"
        time.sleep(0.05)
    child = int(written.read_text())
    assert child in descendants(parent.pid)
    stop_tree(parent, timeout_s=10)
    assert parent.poll() is not None
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)
