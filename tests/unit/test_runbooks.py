"""Runbooks: every check an alert can link to has one, in the shape on-call engineers expect,
and every ``monitoring ...`` command it tells them to run exists."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import click
import pytest

from monitoring_pipelines.cli import main
from monitoring_pipelines.core.catalog import CHECKS as CATALOG

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "docs" / "runbooks"
SNAPSHOT = ROOT / "tests" / "assets" / "snapshots" / "asset_graph.json"

EXPECTED = {
    "volume",
    "malformed_rows",
    "duplicate_requests",
    "feature_drift",
    "prediction_drift",
    "data_quality",
    "schema_change",
    "performance",
    "latency_slo",
    "error_rate",
    "error_budget",
    "cost_budget",
    "monthly_budget",
    "anomaly",
    "canary",
    "hallucination_rate",
    "output_leak",
    "refusal_rate",
    "answer_length",
}
HEADINGS = ("## What fired", "## Investigate", "## What to do", "## If it is noise")

# `monitoring mute` is being added; its syntax as the runbooks use it.
MUTE = {
    "add": {"--monitor", "--check", "--subject", "--for", "--reason"},
    "list": {"--monitor"},
    "remove": set(),
}


def snapshot_checks() -> set[str]:
    """Check names in the committed asset-graph snapshot (``<monitor>/<asset>:<check>``)."""
    checks = json.loads(SNAPSHOT.read_text())["checks"]
    return {key.rsplit(":", 1)[1] for key in checks}


CHECKS = sorted(set(CATALOG) | snapshot_checks())


def test_the_check_list_covers_every_check() -> None:
    assert set(CHECKS) >= EXPECTED


@pytest.mark.parametrize("check", CHECKS)
def test_runbook_exists_with_its_sections(check: str) -> None:
    path = RUNBOOKS / f"{check}.md"
    assert path.is_file(), f"alerts link {check}.md, which does not exist in {RUNBOOKS}"
    text = path.read_text()
    assert text.startswith(f"# {check}: "), f"{path.name} must start with '# {check}: '"
    lines = text.splitlines()
    positions = []
    for heading in HEADINGS:
        assert heading in lines, f"{path.name} has no '{heading}' heading"
        positions.append(lines.index(heading))
    assert positions == sorted(positions), f"{path.name}: sections out of order"


def commands(text: str) -> list[str]:
    """``monitoring ...`` commands in inline code spans (which may wrap lines) and in fenced
    code blocks, whitespace normalised."""
    found = []
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    for block in re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.DOTALL):
        found += [line.strip() for line in block.splitlines()]
    found += [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]
    return [c for c in found if c.startswith("monitoring ")]


def command_problem(command: str) -> str | None:
    """Why ``command`` would not run against the CLI, or None when it would."""
    words = shlex.split(command)[1:]
    name, rest = words[0], words[1:]
    if name == "mute":
        if not rest or rest[0] not in MUTE:
            return f"'mute' has no subcommand {rest[:1]}"
        unknown = {w.split("=")[0] for w in rest[1:] if w.startswith("--")} - MUTE[rest[0]]
        return f"'mute {rest[0]}' has no option {sorted(unknown)}" if unknown else None
    if name not in main.commands:
        return f"no subcommand '{name}' (known: {', '.join(sorted(main.commands))})"
    command_obj = main.commands[name]
    options = {o for p in command_obj.params for o in p.opts}
    if isinstance(command_obj, click.Group) and rest and not rest[0].startswith("-"):
        sub = command_obj.commands.get(rest[0])
        if sub is None:
            return f"'{name}' has no subcommand '{rest[0]}'"
        options = {o for p in sub.params for o in p.opts}
        rest = rest[1:]
    unknown = {w.split("=")[0] for w in rest if w.startswith("--")} - options
    return f"unknown option(s) {sorted(unknown)}" if unknown else None


def all_commands() -> list[tuple[str, str]]:
    return [
        (path.name, command)
        for path in sorted(RUNBOOKS.glob("*.md"))
        for command in commands(path.read_text())
    ]


def test_runbooks_name_commands() -> None:
    assert len(all_commands()) >= 2 * len(EXPECTED)


@pytest.mark.parametrize(("runbook", "command"), all_commands())
def test_runbook_commands_exist(runbook: str, command: str) -> None:
    problem = command_problem(command)
    assert problem is None, f"{runbook}: `{command}`: {problem}"


@pytest.mark.parametrize(
    "command",
    [
        "monitoring incidnets ack 3",
        "monitoring incidents snooze 3",
        "monitoring backfill --monitor m --start 2026-10-01 --ends 2026-10-02",
        "monitoring mute silence --monitor m",
    ],
)
def test_a_wrong_command_is_caught(command: str) -> None:
    assert command_problem(command) is not None
