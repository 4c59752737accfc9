"""The core's packages form one order, as one day's data flows: a package imports only the
kernel, itself and packages before it (README.md, "Architecture")."""

from __future__ import annotations

import ast
from pathlib import Path

import monitoring_pipelines.core as core

KERNEL = {
    "config",
    "config_loading",
    "catalog",
    "checks",
    "errors",
    "settings",
    "dimensions",
    "segments",
    "seasons",
    "wording",
    "pii",
    "artifacts",
}
# Packages in one tier compute side by side; a later one may read an earlier one of its tier.
ORDER = [
    "stats",
    "ingest",
    "profile",
    "drift",
    "store",
    "quality",
    "performance",
    "service",
    "costs",
    "canary",
    "anomaly",
    "judge",
    "hallucination",
    "safety",
    "report",
    "notify",
    "alerting",
    "retention",
    "integrations",
]
ROOT = Path(core.__file__).parent


def layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] != ["monitoring_pipelines", "core"] or len(parts) < 3:
        return None
    return "kernel" if parts[2] in KERNEL else parts[2]


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_every_package_of_the_core_has_its_place() -> None:
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in ROOT.glob("*.py") if p.stem != "__init__"}
    assert packages == set(ORDER)
    assert modules == KERNEL


def test_no_package_imports_a_later_stage() -> None:
    backwards = []
    for path in sorted(ROOT.rglob("*.py")):
        me = layer(".".join(path.relative_to(ROOT.parent.parent).with_suffix("").parts))
        for module in imports(path):
            other = layer(module)
            if other is None or other == me or other == "kernel":
                continue
            if me == "kernel" or ORDER.index(other) > ORDER.index(me):  # type: ignore[arg-type]
                backwards.append(f"{path.relative_to(ROOT)} imports {module}")
    assert backwards == []
