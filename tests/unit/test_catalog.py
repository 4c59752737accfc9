"""The catalog is the one definition of every check: the Dagster specs, the alert titles and
links, the families and the charts all read it, and no check exists outside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitoring_pipelines.core.alerting.families import family_of
from monitoring_pipelines.core.alerting.messages import Links, incident_title
from monitoring_pipelines.core.catalog import CHECKS, Asset, Chart, check, critical_factor
from monitoring_pipelines.core.checks import WHOLE
from monitoring_pipelines.core.config import AlertsConfig, PolicyConfig

SNAPSHOT = Path(__file__).resolve().parents[1] / "assets" / "snapshots" / "asset_graph.json"


def test_every_check_of_the_asset_graph_has_an_entry_on_its_asset() -> None:
    checks = json.loads(SNAPSHOT.read_text())["checks"]
    for key in checks:
        asset_key, name = key.rsplit(":", 1)
        assert name in CHECKS, f"{name} is checked but not in the catalog"
        assert CHECKS[name].asset == asset_key.split("/", 1)[1]


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_each_entry_describes_itself_fully(name: str) -> None:
    entry = CHECKS[name]
    assert entry.name == name and entry.title and entry.description.endswith(".")
    assert "{" not in entry.spec_description, "a {factor} without a critical_factor"
    assert entry.runbook == f"{name}.md"
    if "{factor" in entry.critical:
        assert critical_factor(name) > 1


def test_the_dagster_description_carries_the_critical_rule() -> None:
    assert CHECKS["latency_slo"].spec_description == (
        "The SLO percentile of latency is within service.slo.latency_ms. "
        "Critical when it is over 2 times the objective."
    )


def test_titles_links_and_families_come_from_the_entry() -> None:
    assert incident_title("bot", "monthly_budget", WHOLE) == "bot: monthly cost over budget"
    links = Links("http://dagster", "https://runbooks.example/docs")
    assert links.runbook("monthly_budget") == "https://runbooks.example/docs/monthly_budget.md"
    assert family_of("monthly_budget", WHOLE) == family_of("cost_budget", WHOLE) == "cost"
    assert family_of("error_budget", "latency:fast") == "latency"
    assert family_of("feature_drift", "age@tenant=acme") == "feature:age"


def test_an_unknown_check_is_its_own_problem_with_a_plain_title() -> None:
    entry = check("new_check")
    assert entry.title == "new check" and entry.asset is None
    assert family_of("new_check", "x") == "new_check:x"
    assert entry.chart_of("x") is None


def test_charts_by_subject() -> None:
    assert CHECKS["error_budget"].chart_of("errors:slow") is Chart.ERRORS
    assert CHECKS["error_budget"].chart_of("throughput") is None
    assert CHECKS["feature_drift"].chart_of("age") is Chart.DISTRIBUTION


def test_asset_names_are_plain_strings() -> None:
    assert Asset.LIVE_SLICE == "live_slice" and f"{Asset.TOKEN_COSTS}" == "token_costs"


def test_each_default_policy_is_a_valid_policy_and_a_monitor_overrides_it() -> None:
    for entry in CHECKS.values():
        PolicyConfig.model_validate(dict(entry.policy))
    alerts = AlertsConfig(policies={"feature_drift": PolicyConfig(resolve_after=5)})
    drift = alerts.policy_for("feature_drift")
    assert (drift.persistence_k, drift.persistence_n, drift.resolve_after) == (2, 3, 5)
    assert alerts.policy_for("performance").paging_horizon_days == 14
    assert alerts.policy_for("latency_slo") == PolicyConfig()
