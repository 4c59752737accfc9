"""SlackNotifier.upload_file (slack_sdk's files_upload_v2 over real HTTP) against FakeSlack."""

from __future__ import annotations

import json

import pytest

from monitoring_pipelines.core.errors import DeliveryError
from monitoring_pipelines.core.notify.base import FileUploader, OutgoingMessage
from monitoring_pipelines.core.notify.slack import SlackNotifier
from tests.fakes.slack_server import (
    UPLOAD,
    FakeSlack,
    Fault,
    fake_slack_fixture,  # noqa: F401
)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # not an image, but bytes that must arrive
TITLE = "shop · latency_slo: latency, 2026-09-11 to 2026-10-08"
ALT = "Line chart of latency per day; on 2026-10-08 (shaded) 400 ms against the SLO 300 ms line."


def notifier_for(fake: FakeSlack) -> SlackNotifier:
    return SlackNotifier(fake.token, base_url=fake.base_url, timeout_s=2.0, max_retries=1)


def open_thread(notifier: SlackNotifier) -> str:
    """Post an incident's first message; its ts is the thread."""
    message = OutgoingMessage("alert-1", "#ml-alerts", "latency_slo failing on shop")
    return notifier.post(message).ts


def upload(notifier: SlackNotifier, thread_ts: str | None, channel: str = "#ml-alerts") -> None:
    notifier.upload_file(channel, thread_ts, "shop_latency_slo_2026-10-08.png", PNG, TITLE, ALT)


def upload_error(notifier: SlackNotifier, thread_ts: str | None, **kwargs: str) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        upload(notifier, thread_ts, **kwargs)
    return caught.value


def test_a_file_is_uploaded_and_shared_into_the_thread(fake_slack: FakeSlack) -> None:
    notifier = notifier_for(fake_slack)
    thread_ts = open_thread(notifier)

    upload(notifier, thread_ts)

    [shared] = fake_slack.files("#ml-alerts")
    assert shared.content == PNG
    assert (shared.channel, shared.thread_ts) == ("C0ALERTS", thread_ts)
    assert (shared.filename, shared.title, shared.alt_txt) == (
        "shop_latency_slo_2026-10-08.png",
        TITLE,
        ALT,
    )
    assert shared.length == len(PNG)
    methods = [r.method for r in fake_slack.requests() if r.method != "conversations.list"]
    assert methods == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        UPLOAD,
        "files.completeUploadExternal",
    ]
    [complete] = fake_slack.requests("files.completeUploadExternal")
    assert complete.auth == "valid"
    assert json.loads(complete.body["files"]) == [{"id": shared.id, "title": TITLE}]
    assert (complete.body["channel_id"], complete.body["thread_ts"]) == ("C0ALERTS", thread_ts)
    # The thread itself holds only the alert: the file is not a message the notifier posted.
    assert len(fake_slack.messages("C0ALERTS")) == 1


def test_without_a_thread_the_file_is_shared_into_the_channel(fake_slack: FakeSlack) -> None:
    upload(notifier_for(fake_slack), None, channel="C0ALERTS")

    [shared] = fake_slack.files("C0ALERTS")
    assert (shared.channel, shared.thread_ts, shared.content) == ("C0ALERTS", None, PNG)


def test_a_rate_limit_on_the_upload_url_request_is_retryable(fake_slack: FakeSlack) -> None:
    notifier = notifier_for(fake_slack)
    thread_ts = open_thread(notifier)
    fake_slack.script(
        "files.getUploadURLExternal", Fault(status=429, headers={"Retry-After": "30"})
    )

    error = upload_error(notifier, thread_ts)

    assert error.retryable
    assert error.retry_after_s == 30.0
    assert "files.getUploadURLExternal" in str(error) and "ratelimited" in str(error)
    assert fake_slack.files() == []
    assert fake_slack.requests(UPLOAD) == []
    assert fake_slack.token not in str(error)


def test_a_server_error_from_the_upload_url_is_retryable_and_shares_nothing(
    fake_slack: FakeSlack,
) -> None:
    notifier = notifier_for(fake_slack)
    thread_ts = open_thread(notifier)
    fake_slack.script(UPLOAD, Fault(status=503))

    error = upload_error(notifier, thread_ts)

    assert error.retryable
    assert "upload URL answered HTTP 503" in str(error)
    assert fake_slack.files("C0ALERTS") == []
    assert fake_slack.requests("files.completeUploadExternal") == []


def test_a_reply_ts_is_refused_as_a_thread(fake_slack: FakeSlack) -> None:
    notifier = notifier_for(fake_slack)
    thread_ts = open_thread(notifier)
    reply = notifier.post(
        OutgoingMessage("alert-2", "#ml-alerts", "still failing", thread_ts=thread_ts)
    )

    error = upload_error(notifier, reply.ts)

    assert not error.retryable
    assert "files.completeUploadExternal" in str(error) and "invalid_thread_ts" in str(error)
    assert fake_slack.files("C0ALERTS") == []


def test_an_unknown_channel_is_not_retryable(fake_slack: FakeSlack) -> None:
    error = upload_error(notifier_for(fake_slack), None, channel="#nowhere")

    assert not error.retryable
    assert "#nowhere" in str(error)
    assert fake_slack.requests("files.getUploadURLExternal") == []


def test_the_slack_notifier_is_a_file_uploader(fake_slack: FakeSlack) -> None:
    class PostOnly:
        name = "post-only"

    assert isinstance(notifier_for(fake_slack), FileUploader)
    assert not isinstance(PostOnly(), FileUploader)
