"""Loading the code location imports no heavy library: every run Dagster launches in a new
process loads it, and a step pays only for the libraries it uses (README.md, "Runs in their
own process")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Imported by steps that need them, never by loading the definitions.
HEAVY = (
    "great_expectations",
    "scipy",
    "whylogs",
    "pandas",
    "pyarrow",
    "matplotlib",
    "sklearn",
)
PROBE = """
import json, os, sys
from monitoring_pipelines.definitions import load_definitions
load_definitions(os.environ).get_repository_def().get_all_jobs()
heavy = json.loads(sys.argv[1])
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(heavy))))
"""


def loaded_heavy(config: Path, tmp_path: Path) -> list[str]:
    """The heavy libraries a fresh interpreter holds after building ``config``'s definitions
    and resolving every job."""
    env = {
        **os.environ,
        "MONITORING_CONFIG": str(config),
        "MONITORING_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(tmp_path / "home" / "dagster"),
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("config", [ROOT / "demo" / "monitors.yaml"], ids=["demo"])
def test_loading_the_code_location_imports_no_heavy_library(config: Path, tmp_path: Path) -> None:
    assert loaded_heavy(config, tmp_path) == []
