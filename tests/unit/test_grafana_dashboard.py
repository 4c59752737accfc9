"""The Grafana dashboard as code: the committed JSON is what the generator builds, it follows
Grafana's dashboard JSON model, and it reads the data source that provisioning declares."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import yaml

GRAFANA = Path(__file__).parents[2] / "deploy" / "grafana"


def generator() -> Any:
    spec = importlib.util.spec_from_file_location("build_dashboard", GRAFANA / "build_dashboard.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_committed_dashboard_is_what_the_generator_builds(tmp_path: Path) -> None:
    build = generator()
    assert build.main(["--check"]) == 0
    stale = tmp_path / "stale.json"
    stale.write_text("{}")
    assert build.main(["--check", "--output", str(stale)]) == 1


def test_the_dashboard_follows_grafanas_json_model() -> None:
    board = json.loads((GRAFANA / "dashboards" / "monitoring.json").read_text())
    assert board["uid"] == "monitoring-pipelines" and board["schemaVersion"] >= 36
    panels = board["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24 and pos["h"] > 0
        own = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not own & cells, f"panel {panel['title']!r} overlaps another"
        cells |= own
        if panel["type"] == "row":
            continue
        assert panel["type"] in {"timeseries", "stat", "heatmap"}
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs))
        assert all(
            t["expr"].strip() and t["datasource"]["uid"] == "prometheus" for t in panel["targets"]
        )
    titles = {p["title"] for p in panels}
    for wanted in (
        "5xx error rate",
        "Neutral share of predictions",
        "Hallucination rate",
        "Open incidents",
        "Output leaks",
        "Refusals",
        "Answer length (words)",
    ):
        assert wanted in titles
    (variable,) = board["templating"]["list"]
    assert variable["name"] == "monitor" and variable["datasource"]["uid"] == "prometheus"


def test_provisioning_declares_the_dashboards_data_source_and_folder() -> None:
    provisioning = GRAFANA / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())
    (source,) = sources["datasources"]
    assert (source["type"], source["uid"], sources["apiVersion"]) == ("prometheus", "prometheus", 1)
    providers = yaml.safe_load((provisioning / "dashboards" / "monitoring.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
