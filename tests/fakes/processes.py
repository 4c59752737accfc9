"""Stopping a service started in its own process group together with every process it started,
including those that left its group: ``dagster-daemon`` and ``dagster-webserver`` start code
servers (``dagster api grpc``) that outlive them when only the group is signalled, and a code
server that never got a heartbeat stays up for good."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """The processes under ``pid`` (children, their children, ...), from ``/proc``."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in parents.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def stop_tree(process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    """SIGTERM to ``process``'s own group and to every process under it (SIGKILL to what is
    left after ``timeout_s``); waits for ``process``."""
    if process.poll() is not None:
        return
    tree = descendants(process.pid)
    os.killpg(process.pid, signal.SIGTERM)
    _signal(tree, signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + timeout_s
    while _alive(tree) and time.monotonic() < deadline:
        time.sleep(0.2)
    _signal(_alive(tree), signal.SIGKILL)


def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (not gone, not a zombie awaiting its parent)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if alive(pid)]
