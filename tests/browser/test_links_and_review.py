"""What a user does from an alert: follow its links (the alerted day in Dagster, the day's
report, the runbook), and correct a flagged answer on the review page so that it joins the
fine-tuning set."""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from monitoring_pipelines.core.alerting.store import AlertRepository
from tests.browser.dagster_ui import DagsterUI

pytestmark = [pytest.mark.slow, pytest.mark.browser]

LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")


def first_messages(ui: DagsterUI) -> list[dict[str, Any]]:
    """The demo's first messages (one per incident thread), as its notifier wrote them."""
    lines = (ui.home / "demo" / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    sent = [json.loads(line) for line in lines]
    return [m for m in sent if "file" not in m and m.get("thread_ts") is None]


def links(message: dict[str, Any]) -> dict[str, str]:
    """The message's links by their text, as Slack would open them (entities decoded)."""
    return {text: html.unescape(url) for url, text in LINK.findall(json.dumps(message))}


def closest_sentence(context: str, question: str) -> str:
    """The context's sentence sharing the most words with the question."""
    words = set(re.findall(r"[a-z]+", question.lower()))
    sentences = [x.strip().rstrip(".") + "." for x in re.split(r"(?<=\.)\s+", context) if x.strip()]
    return max(sentences, key=lambda x: len(words & set(re.findall(r"[a-z]+", x.lower()))))


def on(server: str, url: str) -> str:
    """``url`` as this session's ``server`` serves it: the link must name that server (a kept
    demo home's links name its first session's ports, so there only the path is followed)."""
    parts = urlsplit(url)
    if not os.environ.get("MONITORING_TEST_DEMO_HOME"):
        assert f"{parts.scheme}://{parts.netloc}" == server, url
    return server + parts.path + (f"?{parts.query}" if parts.query else "")


def test_a_drift_alerts_links_open_its_day_its_report_and_its_runbook(
    ui: DagsterUI, web_server: str, shot: Callable[..., Path]
) -> None:
    store = AlertRepository.connect(ui.env["MONITORING_STORE_URL"])
    (incident,) = [
        i for i in store.incidents() if i.monitor == "sentiment" and i.check == "feature_drift"
    ]
    (message,) = [m for m in first_messages(ui) if incident.title in m["text"]]
    found = links(message)
    assert {"Asset in Dagster", "Report", "Runbook"} <= set(found), found
    (day,) = parse_qs(urlsplit(found["Asset in Dagster"]).query)["partition"]  # the alerted day
    assert incident.first_partition <= day <= incident.last_failing_partition
    assert f"{incident.first_partition} → {day}" in json.dumps(message, ensure_ascii=False)

    page = ui.open(on(ui.base_url, found["Asset in Dagster"]))
    detail = ui.partition_detail(page, day)
    detail.get_by_text("Latest materialization").wait_for()
    expect(detail.get_by_text("Materialized", exact=True)).to_be_visible()
    expect(detail).to_contain_text("channel")  # the drifted column, in the alerted day's value
    shot(page, "alert-link-asset")

    page = ui.open(on(web_server, found["Report"]))
    expect(page.locator("h1")).to_contain_text(f"sentiment · {day}")
    expect(page.get_by_text("channel: api").first).to_be_visible()  # the failed check, in words
    width = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert width <= 0, f"the report scrolls sideways by {width} px"
    shot(page, "alert-link-report", full_page=True)

    page = ui.open(on(web_server, found["Runbook"]))
    expect(page.locator("h1")).to_be_visible()
    expect(page.get_by_text("Not found")).to_have_count(0)
    shot(page, "alert-link-runbook")

    page = ui.open(f"{web_server}/incidents/{incident.id}")  # the thread, also without Slack
    expect(page.locator("h1")).to_contain_text(incident.title)
    expect(page.locator(".message").first).to_contain_text("channel: api")
    expect(page.get_by_role("link", name="Asset in Dagster").first).to_be_visible()
    shot(page, "incident-thread", docs="web-incident.png")


def test_a_reviewer_corrects_a_flagged_answer_and_it_joins_the_finetuning_set(
    ui: DagsterUI, web_server: str, shot: Callable[..., Path], tmp_path: Path
) -> None:
    page = ui.open(f"{web_server}/review?monitor=support_bot&status=pending&reason=flagged")
    expect(page.locator("h1")).to_have_text("Review queue")
    shot(page, "review-queue")
    page.locator("a[href^='/review/']").filter(has_text="#").first.click()
    expect(page.locator("h1")).to_contain_text("pending")
    item = page.url.rsplit("/", 1)[1]
    question, context = (page.locator("pre.text").nth(i).inner_text() for i in (0, 1))
    corrected = closest_sentence(context, question)  # what the context says, as the answer
    page.get_by_label("Reviewer").fill("ana")
    page.get_by_label("Corrected answer").fill(corrected)
    shot(page, "review-item-filled", docs="web-review.png", full_page=True)
    page.get_by_role("button", name="Correct").click()
    expect(page.get_by_text("Recorded: corrected by ana")).to_be_visible()
    shot(page, "review-item-recorded")

    out = tmp_path / "finetune.jsonl"
    export = ui.monitoring("review", "export", "--monitor", "support_bot", "--out", str(out))
    assert export.returncode == 0, export.stdout + export.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    mine = [r for r in records if r["metadata"]["review_item_id"] == int(item)]
    assert len(mine) == 1, records
    assert mine[0]["messages"][-1] == {"role": "assistant", "content": corrected}
    assert mine[0]["metadata"]["reviewer"] == "ana"
