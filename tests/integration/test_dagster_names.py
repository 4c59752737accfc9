"""Every name the project reads from Dagster exists in the installed Dagster.

``dagster`` answers unknown attributes through a module ``__getattr__``, so a type checker lets
``dg.AnythingAtAll`` pass; the error comes only when the line runs, which for a rarely taken path
(a backfill launched from the UI, seen by the alerting sensor) is in production. The names are
read from the source, not from the paths a test happens to take.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._time import get_current_timestamp

from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.sensors.alerting_pass import backfill_finished

ROOT = Path(__file__).parents[2]
SOURCES = ("monitoring_pipelines", "assets", "resources", "benchmarks", "tests")


def dagster_names(tree: ast.AST) -> set[tuple[str, str, int]]:
    """(module, name, line) for ``alias.Name`` where ``alias`` is a Dagster module imported
    under that alias, and for ``from dagster... import Name``."""
    aliases: dict[str, str] = {}
    found: set[tuple[str, str, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "dagster" or alias.name.startswith("dagster."):
                    aliases[alias.asname or alias.name] = alias.name
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module == "dagster" or (node.module or "").startswith("dagster."))
        ):
            module = str(node.module)
            found |= {(module, a.name, node.lineno) for a in node.names if a.name != "*"}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            found.add((aliases[node.value.id], node.attr, node.lineno))
    return found


def test_every_dagster_name_the_project_uses_exists() -> None:
    missing = []
    files = [p for folder in SOURCES for p in (ROOT / folder).rglob("*.py")]
    assert len(files) > 100
    for path in files:
        for module, name, line in dagster_names(ast.parse(path.read_text(), str(path))):
            if not hasattr(importlib.import_module(module), name):
                missing.append(f"{path.relative_to(ROOT)}:{line}: {module}.{name}")
    assert missing == []


def test_the_check_finds_a_name_dagster_does_not_have() -> None:
    tree = ast.parse("import dagster as dg\nx = dg.BulkActionStatus\nfrom dagster import Nope\n")
    assert {n for _, n, _ in dagster_names(tree)} == {"BulkActionStatus", "Nope"}
    assert not hasattr(dg, "BulkActionStatus")


@pytest.mark.parametrize(
    ("status", "over"),
    [
        (BulkActionStatus.REQUESTED, False),
        (BulkActionStatus.FAILING, False),
        (BulkActionStatus.CANCELING, False),
        (BulkActionStatus.COMPLETED, True),
        (BulkActionStatus.COMPLETED_SUCCESS, True),
        (BulkActionStatus.COMPLETED_FAILED, True),
        (BulkActionStatus.FAILED, True),
        (BulkActionStatus.CANCELED, True),
    ],
)
def test_a_dagster_backfill_is_over_only_once_it_can_launch_nothing_more(
    tmp_path: Path, status: BulkActionStatus, over: bool
) -> None:
    store = AlertRepository.connect(f"sqlite:///{tmp_path / 'store.db'}")
    with dg.instance_for_test() as instance:
        instance.add_backfill(
            PartitionBackfill(
                backfill_id="uibackfill",
                status=status,
                from_failure=False,
                tags={},
                backfill_timestamp=get_current_timestamp(),
                asset_selection=[dg.AssetKey(["sentiment", "live_slice"])],
                partition_names=["2026-09-01"],
                last_submitted_partition_name=None,
                reexecution_steps=None,
            )
        )
        assert backfill_finished(instance, store, "uibackfill") is over
        assert backfill_finished(instance, store, "unknown") is None
    store.dispose()
