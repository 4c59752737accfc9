"""Page helpers for the browser tests: open a view of the Dagster UI once it has rendered."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from playwright.sync_api import expect

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Locator, Page

# What Dagster's partition views count per status, e.g. "Failed (12)".
STATUS_COUNT = re.compile(r"^(?P<status>[A-Za-z ]+?) \((?P<count>\d+)\)$")


def graphql(base_url: str, query: str) -> dict[str, object]:
    """The ``data`` of one GraphQL query against the webserver."""
    request = urllib.request.Request(
        f"{base_url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return dict(json.loads(reply.read())["data"])


class DagsterUI:
    """The Dagster UI under test: each ``open_*`` returns a new page once its view has rendered.

    Attributes:
        base_url: The webserver's address (``http://127.0.0.1:<port>``).
        env: The environment the demo ran with: MONITORING_HOME, DAGSTER_HOME, the store URL...
            (``monitoring(...)`` runs the CLI with it, against the same history).

    Example::

        def test_x(ui, shot):
            page = ui.open_asset("sentiment/feature_drift", partition="2026-09-09")
            shot(page, "drift-day")
            check = ui.open_check_partition(
                "sentiment/feature_drift", "feature_drift", "2026-09-09"
            )
            assert "channel" in ui.monitoring("incidents").stdout
    """

    def __init__(self, context: BrowserContext, base_url: str, env: dict[str, str]) -> None:
        self.context = context
        self.base_url = base_url
        self.env = env

    def monitoring(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``monitoring <args>`` on the demo's history (its output in ``stdout``, not checked)."""
        return subprocess.run(
            [sys.executable, "-m", "monitoring_pipelines.cli", *args],
            cwd=Path(__file__).parents[2], env=self.env, capture_output=True, text=True,
            timeout=600, check=False,
        )  # fmt: skip

    @property
    def home(self) -> Path:
        """The demo's MONITORING_HOME (its reports, messages, ground truth)."""
        return Path(self.env["MONITORING_HOME"])

    def open(
        self,
        url: str,
        wait_for_text: str | None = None,
        viewport: tuple[int, int] | None = None,
    ) -> Page:
        """A new page at ``url`` (a path of the UI, or any absolute URL).

        Dagster's "Join the Dagster community" dialog is skipped whenever it shows.

        Args:
            url: Where to go; a path is taken relative to the webserver.
            wait_for_text: Text that shows once the view has rendered.
            viewport: Width and height in pixels, if not the context's 1600 x 1000.
        """
        page = self.context.new_page()
        if viewport is not None:
            page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
        page.add_locator_handler(
            page.get_by_text("Join the Dagster community"),
            lambda _: page.get_by_role("button", name="Skip").click(),
        )
        page.goto(url)
        if wait_for_text is not None:
            page.get_by_text(wait_for_text).first.wait_for()
        return page

    def open_asset(self, key: str, partition: str | None = None) -> Page:
        """An asset's page: its Partitions view at ``partition``, else its Overview.

        Args:
            key: Asset key with "/" between its parts, e.g. ``sentiment/feature_drift``.
            partition: A daily partition, e.g. ``2026-09-09``.
        """
        if partition is None:
            return self.open(f"/assets/{key}", wait_for_text="Latest materialization")
        page = self.open(f"/assets/{key}?view=partitions&partition={quote(partition)}")
        self.partition_detail(page, partition).get_by_text("Latest materialization").wait_for()
        return page

    def open_check(self, asset: str, check: str) -> Page:
        """An asset check's Overview (its latest execution) on the asset's Checks tab."""
        page = self.open(f"/assets/{asset}?view=checks&checkDetail={quote(check)}")
        page.get_by_text("Latest execution").first.wait_for()
        return page

    def open_check_partition(self, asset: str, check: str, partition: str) -> Page:
        """An asset check's Partitions view with ``partition`` filtered and selected."""
        page = self.open_check(asset, check)
        page.get_by_role("tab", name="Partitions").last.click()
        page.get_by_placeholder("Filter by partition").fill(partition)
        page.get_by_text(partition, exact=True).first.click()
        self.partition_detail(page, partition).get_by_text("Latest execution").wait_for()
        return page

    def open_check_history(self, asset: str, check: str) -> Page:
        """An asset check's Execution history: one row per evaluation, with its partition."""
        page = self.open_check(asset, check)
        page.get_by_role("tab", name="Execution history").click()
        page.get_by_role("row").filter(has_text="Evaluation result").wait_for()
        return page

    def open_lineage(self, group: str, viewport: tuple[int, int] | None = None) -> Page:
        """The lineage graph of an asset group (a monitor's assets), zoomed to fit."""
        page = self.open(f"/locations/{self.location_name()}/asset-groups/{group}", None, viewport)
        page.locator("svg foreignObject").first.wait_for()
        # Each node fetches its latest event and check counts after the graph is drawn.
        expect(page.get_by_text("Loading...")).to_have_count(0, timeout=60_000)
        page.mouse.move(0, 0)  # no node hovered (a hovered node highlights its edges)
        return page

    def location_name(self) -> str:
        """The name of the (one) code location the webserver loaded."""
        data = graphql(
            self.base_url, "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"
        )
        entries = data["workspaceOrError"]["locationEntries"]  # type: ignore[index]
        return str(entries[0]["name"])

    def backfill_id(self, monitor: str) -> str:
        """The id of the (one) backfill tagged with ``monitor``."""
        data = graphql(
            self.base_url,
            "{ partitionBackfillsOrError { ... on PartitionBackfills "
            "{ results { id tags { key value } } } } }",
        )
        results = data["partitionBackfillsOrError"]["results"]  # type: ignore[index]
        (found,) = [r["id"] for r in results if {"key": "monitor", "value": monitor} in r["tags"]]
        return str(found)

    @staticmethod
    def partition_detail(page: Page, partition: str) -> Locator:
        """The detail pane a Partitions view shows for the selected ``partition``."""
        return (
            page.locator("div")
            .filter(has=page.get_by_text(partition, exact=True))
            .filter(has_text="Latest")
            .last
        )

    @staticmethod
    def status_counts(page: Page) -> dict[str, int]:
        """The per-status counts a Partitions view shows: {"Failed": 1, "Passed": 0, ...}."""
        counts: dict[str, int] = {}
        for label in page.locator("label").all_inner_texts():
            match = STATUS_COUNT.match(label.strip())
            if match:
                counts[match["status"]] = int(match["count"])
        return counts
