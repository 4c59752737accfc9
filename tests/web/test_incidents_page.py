"""The incidents page on SQLite and PostgreSQL: the active incidents, and each one's thread of
messages as sent, with a hostile value from the data shown as text and only the product's own
links clickable."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from monitoring_pipelines.core.alerting.ingest import AlertContext, ingest_run
from monitoring_pipelines.core.alerting.model import Evaluation
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.checks import Finding
from monitoring_pipelines.core.config import AlertsConfig, Severity
from monitoring_pipelines.core.notify.mrkdwn import SOFT_HYPHEN, escape_mrkdwn
from monitoring_pipelines.web.messages import Part, message_links, message_parts
from tests.web.conftest import DAGSTER

NOW = datetime(2026, 10, 3, 6, tzinfo=UTC)
HOSTILE = "<!channel> *x* <https://evil.test|click> & </pre><script>alert(1)</script>"


def failing(store: AlertRepository, day: str, column: str, run_id: str) -> None:
    finding = Finding(column, False, Severity.WARN, 0.35, 0.2, f"PSI 0.35 on {column}")
    evaluation = Evaluation(
        run_id=run_id,
        monitor="bot",
        asset="bot/feature_drift",
        check="feature_drift",
        partition=day,
        findings=(finding,),
        evaluated_at=NOW,
    )
    context = AlertContext(alerts={"bot": AlertsConfig()}, dagster_url=DAGSTER, now=NOW)
    ingest_run(store, run_id, [evaluation], context)


def test_an_incident_lists_and_shows_its_thread_with_data_as_text(
    client: TestClient, store_url: str
) -> None:
    store = AlertRepository.connect(store_url)
    for n, day in enumerate(("2026-10-01", "2026-10-02")):
        failing(store, day, HOSTILE, f"run-{n}")
    (incident,) = store.incidents()

    listing = client.get("/incidents")
    assert listing.status_code == 200
    assert f'href="/incidents/{incident.id}"' in listing.text
    assert "2026-10-01 to 2026-10-02 (2)" in listing.text
    assert client.get("/incidents?status=resolved").text.count('href="/incidents/') == 0

    page = client.get(f"/incidents/{incident.id}")
    assert page.status_code == 200
    assert "<script>" not in page.text and "</pre><script>" not in page.text
    assert "&lt;!channel&gt;" in page.text  # the value, shown as the reader wrote it
    assert 'href="https://evil.test"' not in page.text  # data never becomes a link
    assert f'href="{DAGSTER}/assets/bot/feature_drift?' in page.text  # the product's own link
    assert page.text.count('class="message"') == len(store.alerts(incident_id=incident.id))


def test_unknown_incidents_and_bad_filters_get_a_clear_page(client: TestClient) -> None:
    missing = client.get("/incidents/4242")
    assert missing.status_code == 404 and "no incident #4242" in missing.text
    bad = client.get("/incidents?status=everything")
    assert bad.status_code == 400 and "status must be one of" in bad.text


def test_message_parts_keep_only_the_products_links() -> None:
    text = "drift &lt;b&gt; \u00ad*x*\u00ad <https://d.test/a?b=1&amp;c=2|Asset in Dagster> <!here>"
    assert message_parts(text) == [
        Part("drift <b> *x* "),
        Part("Asset in Dagster", "https://d.test/a?b=1&c=2"),
        Part(" <!here>"),
    ]
    assert message_parts("<javascript:alert(1)|x>") == [Part("<javascript:alert(1)|x>")]


@given(st.text(max_size=200))
def test_any_value_escaped_for_slack_reads_back_as_itself_and_never_as_a_link(value: str) -> None:
    parts = message_parts(escape_mrkdwn(value))
    assert all(p.url is None for p in parts)
    assert "".join(p.text for p in parts) == value.replace(SOFT_HYPHEN, "")


def test_message_links_come_from_the_blocks_once_each() -> None:
    link = "<https://d.test/x|Asset in Dagster>"
    message = {
        "text": "t",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"a {link}"}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"{link} · <https://r.test|Run>"}],
            },
            {"type": "header", "text": {"type": "plain_text", "text": "<https://p.test|plain>"}},
        ],
    }
    assert message_links(message) == [
        Part("Asset in Dagster", "https://d.test/x"),
        Part("Run", "https://r.test"),
    ]
