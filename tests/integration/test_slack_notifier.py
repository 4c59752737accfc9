"""SlackNotifier (slack_sdk over real HTTP) against the local FakeSlack server."""

from __future__ import annotations

import socket
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from monitoring_pipelines.core.errors import DeliveryError
from monitoring_pipelines.core.notify.base import Delivered, OutgoingMessage
from monitoring_pipelines.core.notify.slack import SlackNotifier, fit_to_limits
from tests.fakes.slack_server import (
    DROP_RESPONSE_AFTER_POST,
    FakeSlack,
    Fault,
    fake_slack_fixture,  # noqa: F401
)

SINCE = datetime(2025, 10, 1, tzinfo=UTC)  # before the fake's first ts (2025-10-09)
RATE_LIMITED = Fault(status=429, headers={"Retry-After": "1"})


def notifier_for(fake: FakeSlack, *, timeout_s: float = 2.0, max_retries: int = 1) -> SlackNotifier:
    return SlackNotifier(
        fake.token, base_url=fake.base_url, timeout_s=timeout_s, max_retries=max_retries
    )


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def alert(
    delivery_id: str = "d-1",
    *,
    channel: str = "#ml-alerts",
    thread_ts: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
) -> OutgoingMessage:
    return OutgoingMessage(
        delivery_id=delivery_id,
        channel=channel,
        text=f"Drift on fraud-model ({delivery_id})",
        blocks=blocks if blocks is not None else [section("*PSI* 0.31 on `amount`")],
        thread_ts=thread_ts,
    )


def post_error(notifier: SlackNotifier, message: OutgoingMessage) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        notifier.post(message)
    return caught.value


@pytest.fixture
def paged_slack() -> Iterator[FakeSlack]:
    channels = {"C0ALERTS": "ml-alerts", "C0OTHER": "random", "G0PRIVATE": "ml-oncall"}
    with FakeSlack(page_size=2, channels=channels) as fake:
        yield fake


# -- posting -----------------------------------------------------------------------------


def test_post_lands_with_text_blocks_and_metadata(fake_slack: FakeSlack) -> None:
    message = alert("d-1")

    delivered = notifier_for(fake_slack).post(message)

    [stored] = fake_slack.messages("C0ALERTS")
    assert delivered == Delivered(channel="C0ALERTS", ts=stored.ts)
    assert stored.text == message.text
    assert stored.blocks == message.blocks
    assert stored.metadata == {
        "event_type": "monitoring_alert",
        "event_payload": {"delivery_id": "d-1"},
    }
    assert stored.thread_ts is None
    [request] = fake_slack.requests("chat.postMessage")
    assert request.auth == "valid"
    assert request.content_type == "application/json"
    assert request.body["unfurl_links"] is False
    assert request.body["unfurl_media"] is False
    assert "thread_ts" not in request.body


def test_thread_reply_lands_in_the_thread(fake_slack: FakeSlack) -> None:
    notifier = notifier_for(fake_slack)
    parent = notifier.post(alert("d-1"))

    reply = notifier.post(alert("d-2", channel=parent.channel, thread_ts=parent.ts))

    stored = {m.ts: m for m in fake_slack.messages("C0ALERTS")}
    assert stored[reply.ts].thread_ts == parent.ts
    assert reply.ts != parent.ts


def test_rate_limit_then_success_waits_retry_after_and_posts_once(fake_slack: FakeSlack) -> None:
    fake_slack.script("chat.postMessage", RATE_LIMITED)
    started = time.monotonic()

    delivered = notifier_for(fake_slack, max_retries=1).post(alert())

    assert time.monotonic() - started >= 0.95
    first, second = fake_slack.requests("chat.postMessage")
    assert second.at - first.at >= 0.95
    assert [m.ts for m in fake_slack.messages("C0ALERTS")] == [delivered.ts]


def test_persistent_rate_limit_is_retryable_with_retry_after(fake_slack: FakeSlack) -> None:
    fake_slack.script("chat.postMessage", RATE_LIMITED, RATE_LIMITED)

    error = post_error(notifier_for(fake_slack, max_retries=1), alert())

    assert error.retryable
    assert error.retry_after_s == 1.0
    assert "chat.postMessage" in str(error) and "ratelimited" in str(error)
    assert len(fake_slack.requests("chat.postMessage")) == 2
    assert fake_slack.messages("C0ALERTS") == []


def test_server_error_on_post_goes_back_to_the_caller(fake_slack: FakeSlack) -> None:
    # Slack may have stored the message before failing: the post is not repeated inside the
    # call; the caller asks find() first and posts again only if it is not there.
    fake_slack.script("chat.postMessage", Fault(status=500))
    notifier = notifier_for(fake_slack, max_retries=1)

    error = post_error(notifier, alert())

    assert error.retryable
    assert len(fake_slack.requests("chat.postMessage")) == 1
    assert notifier.find(alert(channel="C0ALERTS"), SINCE) is None
    delivered = notifier.post(alert())
    assert [m.ts for m in fake_slack.messages("C0ALERTS")] == [delivered.ts]


def test_long_rate_limit_is_not_waited_out_inside_the_call(fake_slack: FakeSlack) -> None:
    fake_slack.script("chat.postMessage", Fault(status=429, headers={"Retry-After": "30"}))
    started = time.monotonic()

    error = post_error(notifier_for(fake_slack, max_retries=3), alert())

    assert time.monotonic() - started < 5
    assert error.retryable and error.retry_after_s == 30.0
    assert len(fake_slack.requests("chat.postMessage")) == 1


def test_persistent_server_error_is_retryable(fake_slack: FakeSlack) -> None:
    fake_slack.script("chat.postMessage", Fault(status=500), Fault(status=500))

    error = post_error(notifier_for(fake_slack, max_retries=1), alert())

    assert error.retryable
    assert "500" in str(error)
    assert fake_slack.messages("C0ALERTS") == []


def test_bad_gateway_with_html_body_is_retryable(fake_slack: FakeSlack) -> None:
    # slack_sdk retries only 500 and 503 itself; other 5xx still count as passing faults.
    fake_slack.script("chat.postMessage", Fault(status=502, body="<html>Bad Gateway</html>"))

    error = post_error(notifier_for(fake_slack, max_retries=1), alert())

    assert error.retryable
    assert "http_502" in str(error)
    assert len(fake_slack.requests("chat.postMessage")) == 1


def test_timeout_is_retryable_and_the_post_is_not_resent(fake_slack: FakeSlack) -> None:
    fake_slack.script("chat.postMessage", Fault(delay_s=1.5))
    started = time.monotonic()

    error = post_error(notifier_for(fake_slack, timeout_s=0.5, max_retries=2), alert())

    assert error.retryable
    assert "TimeoutError" in str(error)
    assert time.monotonic() - started < 1.4
    assert len(fake_slack.requests("chat.postMessage")) == 1


def test_refused_connection_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    notifier = SlackNotifier(
        "xoxb-unused", base_url=f"http://127.0.0.1:{port}/api/", timeout_s=1, max_retries=0
    )

    error = post_error(notifier, alert())

    assert error.retryable
    assert "URLError" in str(error)


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        ("service_unavailable", True),
        ("fatal_error", True),
        ("team_added_to_org", True),
        ("not_in_channel", False),
        ("msg_too_long", False),
        ("invalid_blocks", False),
    ],
)
def test_slack_error_codes_map_to_retryable(
    fake_slack: FakeSlack, code: str, retryable: bool
) -> None:
    fake_slack.script("chat.postMessage", Fault(body={"ok": False, "error": code}))

    error = post_error(notifier_for(fake_slack), alert())

    assert error.retryable is retryable
    assert code in str(error)


def test_unknown_channel_is_not_retryable_and_hides_the_token(fake_slack: FakeSlack) -> None:
    error = post_error(notifier_for(fake_slack), alert(channel="#no-such-channel"))

    assert not error.retryable
    assert "chat.postMessage" in str(error) and "channel_not_found" in str(error)
    assert fake_slack.token not in "".join(traceback.format_exception(error))


def test_invalid_auth_is_not_retryable_and_hides_the_token(fake_slack: FakeSlack) -> None:
    token = "xoxb-9999-wrong-but-secret"
    notifier = SlackNotifier(token, base_url=fake_slack.base_url, max_retries=1)

    error = post_error(notifier, alert())

    assert not error.retryable
    assert "invalid_auth" in str(error)
    assert token not in "".join(traceback.format_exception(error))
    assert token not in repr(notifier)
    assert fake_slack.requests()[0].auth == "wrong"


def test_dropped_response_is_retryable_and_find_returns_the_stored_post(
    fake_slack: FakeSlack,
) -> None:
    fake_slack.script("chat.postMessage", DROP_RESPONSE_AFTER_POST)
    notifier = notifier_for(fake_slack, max_retries=2)
    message = alert("d-lost")

    error = post_error(notifier, message)

    assert error.retryable
    [stored] = fake_slack.messages("C0ALERTS")
    assert len(fake_slack.requests("chat.postMessage")) == 1  # slack_sdk did not post it again
    assert notifier.find(message, SINCE) == Delivered(channel="C0ALERTS", ts=stored.ts)


# -- finding -----------------------------------------------------------------------------


def test_find_searches_the_thread_for_a_reply(fake_slack: FakeSlack) -> None:
    notifier = notifier_for(fake_slack)
    parent = notifier.post(alert("d-parent"))
    notifier.post(alert("d-other", channel=parent.channel, thread_ts=parent.ts))
    reply = notifier.post(alert("d-reply", channel=parent.channel, thread_ts=parent.ts))

    found = notifier.find(alert("d-reply", thread_ts=parent.ts), SINCE)

    assert found == reply
    [request] = fake_slack.requests("conversations.replies")
    assert request.body["ts"] == parent.ts
    assert request.body["include_all_metadata"] == "1"
    assert fake_slack.requests("conversations.history") == []


def test_find_follows_history_pagination(paged_slack: FakeSlack) -> None:
    notifier = notifier_for(paged_slack)
    target = notifier.post(alert("d-target", channel="C0ALERTS"))
    for i in range(4):
        notifier.post(alert(f"d-newer-{i}", channel="C0ALERTS"))

    found = notifier.find(alert("d-target", channel="C0ALERTS"), SINCE)

    assert found == target
    pages = paged_slack.requests("conversations.history")
    assert len(pages) == 3  # five messages, newest first, two per page
    assert float(pages[0].body["oldest"]) == SINCE.timestamp()
    assert "cursor" not in pages[0].body and pages[1].body["cursor"]


def test_find_returns_none_when_absent(fake_slack: FakeSlack) -> None:
    notifier = notifier_for(fake_slack)
    notifier.post(alert("d-1"))

    assert notifier.find(alert("d-2"), SINCE) is None


def test_find_ignores_posts_before_since(fake_slack: FakeSlack) -> None:
    notifier = notifier_for(fake_slack)
    notifier.post(alert("d-1"))

    assert notifier.find(alert("d-1"), datetime(2025, 10, 10, tzinfo=UTC)) is None


def test_find_resolves_channel_names_once_through_conversations_list(
    paged_slack: FakeSlack,
) -> None:
    notifier = notifier_for(paged_slack)
    posted = notifier.post(alert("d-1", channel="#ml-oncall"))

    assert notifier.find(alert("d-1", channel="ml-oncall"), SINCE) == posted
    assert notifier.find(alert("d-1", channel="#ml-oncall"), SINCE) == posted
    assert posted.channel == "G0PRIVATE"
    assert len(paged_slack.requests("conversations.list")) == 2  # three channels, cached after
    assert {r.body["channel"] for r in paged_slack.requests("conversations.history")} == {
        "G0PRIVATE"
    }


def test_find_with_a_channel_id_skips_conversations_list(fake_slack: FakeSlack) -> None:
    notifier = notifier_for(fake_slack)
    posted = notifier.post(alert("d-1"))

    assert notifier.find(alert("d-1", channel="C0ALERTS"), SINCE) == posted
    assert fake_slack.requests("conversations.list") == []


def test_find_in_an_unknown_channel_is_not_retryable(fake_slack: FakeSlack) -> None:
    with pytest.raises(DeliveryError) as caught:
        notifier_for(fake_slack).find(alert(channel="#nowhere"), SINCE)

    assert not caught.value.retryable
    assert "#nowhere" in str(caught.value)


def test_find_maps_errors_like_post(fake_slack: FakeSlack) -> None:
    fake_slack.script("conversations.history", RATE_LIMITED, RATE_LIMITED)

    with pytest.raises(DeliveryError) as caught:
        notifier_for(fake_slack, max_retries=1).find(alert(channel="C0ALERTS"), SINCE)

    assert caught.value.retryable
    assert caught.value.retry_after_s == 1.0
    assert "conversations.history" in str(caught.value)


# -- fitting to Slack's limits -------------------------------------------------------------


def test_fit_to_limits_keeps_49_blocks_and_notes_the_rest() -> None:
    blocks = [section(f"row {i}") for i in range(60)]

    _, fitted = fit_to_limits("text", blocks)

    assert len(fitted) == 50
    assert fitted[:49] == blocks[:49]
    assert fitted[49]["type"] == "context"
    assert "11 more blocks left out" in fitted[49]["elements"][0]["text"]
    assert len(blocks) == 60


def test_fit_to_limits_truncates_long_texts_with_an_ellipsis() -> None:
    header = {"type": "header", "text": {"type": "plain_text", "text": "H" * 200}}
    blocks = [header, section("s" * 5000)]

    text, fitted = fit_to_limits("t" * 5000, blocks)

    assert fitted[0]["text"]["text"] == "H" * 149 + "…"
    assert fitted[1]["text"]["text"] == "s" * 2999 + "…"
    assert text == "t" * 2999 + "…"
    assert blocks[1]["text"]["text"] == "s" * 5000  # the input is not modified


def test_fit_to_limits_closes_a_code_block_it_cuts() -> None:
    _, [fitted] = fit_to_limits("t", [section("```\n" + "x" * 4000 + "\n```")])

    cut = fitted["text"]["text"]
    assert len(cut) <= 3000
    assert cut.endswith("…```")
    assert cut.count("```") == 2


def test_fit_to_limits_leaves_a_message_within_limits_alone() -> None:
    blocks = [section("fine")] * 50

    assert fit_to_limits("short", blocks) == ("short", blocks)


def test_fake_rejects_more_than_50_blocks(fake_slack: FakeSlack) -> None:
    client = WebClient(token=fake_slack.token, base_url=fake_slack.base_url)

    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C0ALERTS", text="t", blocks=[section("x")] * 51)

    assert caught.value.response["error"] == "invalid_blocks"


def test_post_with_60_blocks_and_long_texts_is_accepted(fake_slack: FakeSlack) -> None:
    blocks = [section("s" * 4000), *(section(f"row {i}") for i in range(59))]

    notifier_for(fake_slack).post(alert(blocks=blocks))

    [stored] = fake_slack.messages("C0ALERTS")
    assert stored.blocks is not None and len(stored.blocks) == 50
    assert stored.blocks[-1]["type"] == "context"
    assert len(stored.blocks[0]["text"]["text"]) == 3000
