"""Values written into an inference log reach Slack and PagerDuty as text, never as markup.

Every message kind goes over real HTTP to the local fake Slack and PagerDuty servers, and the
tests read what those servers received.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from monitoring_pipelines.core.alerting.delivery import DeliveryPolicy, deliver
from monitoring_pipelines.core.alerting.followups import release_summaries, remind
from monitoring_pipelines.core.alerting.ingest import AlertContext, ingest_runs
from monitoring_pipelines.core.alerting.manual import change_incident
from monitoring_pipelines.core.alerting.model import (
    AlertKind,
    DeliveryStatus,
    Evaluation,
    IncidentStatus,
    Target,
)
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.checks import WHOLE, Finding
from monitoring_pipelines.core.config import (
    AlertsConfig,
    LeakConfig,
    PagerDutyConfig,
    PolicyConfig,
    Severity,
)
from monitoring_pipelines.core.notify.mrkdwn import (
    MARKERS,
    SOFT_HYPHEN,
    escape_mrkdwn,
    escape_plain_text,
    head,
)
from monitoring_pipelines.core.notify.pagerduty import (
    MAX_SUMMARY,
    PagerDutyEvent,
    PagerDutyNotifier,
    trigger_event,
)
from monitoring_pipelines.core.notify.slack import SlackNotifier, fit_to_limits
from monitoring_pipelines.core.safety.check import leak_check
from monitoring_pipelines.core.safety.day import Answer, measure_day
from monitoring_pipelines.core.safety.refusal import DEFAULT_PATTERNS, RefusalMatcher
from tests.fakes.pagerduty_server import FakePagerDuty, fake_pagerduty_fixture  # noqa: F401
from tests.fakes.slack_server import FakeSlack

MONITOR = "shop"
CHANNEL, CHANNEL_ID = "#ml-alerts", "C0ALERTS"
DAGSTER = "http://dagster.test"
RUNBOOKS = "https://wiki.test/runbooks"
POLICY = DeliveryPolicy(max_attempts=2, backoff_s=1.0)
START = date(2026, 10, 1)

HOSTILE = (
    "<!channel> <!here> <@U123> <#C999> <https://evil.example|click> "
    "*bold* _it_ ~st~ `tick` ```block``` &amp; a&b\n> quoted"
)
"""A category value as anyone who can write a log row could write it."""
READABLE = (
    "<!channel> <!here> <",
    "<https://evil.example|click> *bold* _it_ ~st~ `tick`",
    "a&b\n> ",
)
L, R = "\u2039", "\u203a"  # what PagerDuty gets for < and >

PRODUCT_LINK = re.compile(
    rf"<(?:{re.escape(DAGSTER)}|{re.escape(RUNBOOKS)})/[^<>|\s]*\|(?:Asset in Dagster|Run|Runbook)>"
)
_SHOWN = re.compile(f"{SOFT_HYPHEN}([*_~`]){SOFT_HYPHEN}|{SOFT_HYPHEN}&gt;|&lt;|&gt;|&amp;")
_DECODED = {f"{SOFT_HYPHEN}&gt;": ">", "&lt;": "<", "&gt;": ">", "&amp;": "&"}


def shown(escaped: str) -> str:
    """What Slack shows for escaped text: entities decoded, soft hyphens invisible."""
    return _SHOWN.sub(lambda m: m.group(1) or _DECODED[m.group(0)], escaped)


def texts(value: Any) -> Iterator[str]:
    """Every ``text`` string in a JSON message (the fallback, and each block's texts)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                yield item
            else:
                yield from texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts(item)


def day(offset: int) -> str:
    return (START + timedelta(days=offset)).isoformat()


def morning_after(partition: str, hours: float = 1) -> datetime:
    return datetime.fromisoformat(partition).replace(tzinfo=UTC) + timedelta(days=1, hours=hours)


def evaluation(
    partition: str,
    check: str,
    findings: list[tuple[str, bool, str]],
    *,
    severity: Severity = Severity.CRITICAL,
    backfill: str | None = None,
) -> Evaluation:
    return Evaluation(
        run_id=f"run-{check}-{partition}-{backfill}",
        monitor=MONITOR,
        asset=f"{MONITOR}/{check}",
        check=check,
        partition=partition,
        findings=tuple(
            Finding(subject, passed, severity, 0.4, 0.1, summary)
            for subject, passed, summary in findings
        ),
        evaluated_at=datetime.now(UTC),
        backfill_id=backfill,
    )


def hallucination(partition: str, passed: bool) -> Evaluation:
    """An article driving the hallucination rate (the incident), and the day's rate (joins)."""
    return evaluation(
        partition,
        "hallucination_rate",
        [
            (f"article={HOSTILE}", passed, f"article={HOSTILE}: 41% flagged (12/29)"),
            (WHOLE, passed, f"12% flagged; significant rise in article={HOSTILE}"),
        ],
    )


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(first_ts=int(time.time())) as fake:
        yield fake


def test_values_from_the_log_reach_slack_and_pagerduty_as_text_in_every_message_kind(
    store: AlertRepository, slack: FakeSlack, fake_pagerduty: FakePagerDuty
) -> None:
    """Item 1: a value such as <!channel> or *x* was posted verbatim (pings, links, markup)."""
    alerts = AlertsConfig(
        slack_channel=CHANNEL,
        runbook_base_url=RUNBOOKS,
        max_pages_per_day=1,
        renotify_hours=24,
        pagerduty=PagerDutyConfig(url=fake_pagerduty.url),
    )
    configs = {MONITOR: alerts}
    notifier = SlackNotifier(slack.token, base_url=slack.base_url, max_retries=0)
    pagerduty = PagerDutyNotifier(fake_pagerduty.routing_key, url=fake_pagerduty.url)

    def ingest(now: datetime, *evaluations: Evaluation) -> None:
        for e in evaluations:  # one call each: the alerts are stored (and paged) in this order
            ingest_runs(store, [(e.run_id, [e])], AlertContext(configs, DAGSTER, now))

    def send(now: datetime) -> None:
        report = deliver(
            store,
            notifier,
            now,
            POLICY,
            pagerduty=pagerduty,
            page_limits={MONITOR: alerts.max_pages_per_day},
        )
        assert report.failed == [] and report.retrying == [], report.errors

    # Opened (and PagerDuty triggered), joined, and past the page budget: the digest.
    now = morning_after(day(0))
    canary = evaluation(
        day(0),
        "canary",
        [(f"model_version={HOSTILE}", False, f"roll back {HOSTILE}")],
        severity=Severity.WARN,
    )
    ingest(now, hallucination(day(0), passed=False), canary)
    send(now)
    # Still failing: the update; a quiet day later: the reminder; and acknowledged by hand.
    now = morning_after(day(1))
    ingest(now, hallucination(day(1), passed=False))
    send(now)
    now += timedelta(hours=25)
    assert remind(store, configs, DAGSTER, now)
    [rolled_back] = [i for i in store.incidents() if i.check == "canary"]
    change_incident(store, rolled_back.id, IncidentStatus.ACKNOWLEDGED, HOSTILE, alerts, now)
    send(now)
    # Resolved (and PagerDuty resolved).
    for offset in (2, 3):
        now = morning_after(day(offset), hours=3)
        ingest(now, hallucination(day(offset), passed=True))
        send(now)
    # A backfill's one summary.
    backfill = [
        evaluation(
            day(n),
            "anomaly",
            [(f"intent={HOSTILE}", False, f"intent={HOSTILE} up")],
            backfill="bf-1",
        )
        for n in range(-20, -17)
    ]
    ingest(now, *backfill)
    assert release_summaries(store, lambda _: True, now) == ["bf-1"]
    send(now)

    sent = {a.kind for a in store.alerts([DeliveryStatus.SENT]) if a.target is Target.SLACK}
    assert sent >= {
        AlertKind.OPEN,
        AlertKind.JOIN,
        AlertKind.UPDATE,
        AlertKind.REMIND,
        AlertKind.RESOLVE,
        AlertKind.DIGEST,
        AlertKind.SUMMARY,
    }
    posts = [r.body for r in slack.requests("chat.postMessage")]
    assert any(PRODUCT_LINK.search(text) for body in posts for text in texts(body))
    assert len(posts) == len(store.alerts([DeliveryStatus.SENT])) - 2  # two PagerDuty events
    assert_text_only(posts)

    events = [r.body for r in fake_pagerduty.requests()]
    assert [e["event_action"] for e in events] == ["trigger", "resolve"]
    payload = events[0]["payload"]
    raw = json.dumps(events, ensure_ascii=False)
    assert not any(control in raw for control in ("<!", "<@", "<#", "<http", "\\n"))
    assert f"{L}!channel{R}" in payload["summary"] and len(payload["summary"]) <= MAX_SUMMARY
    assert payload["custom_details"]["subject"].startswith(f"article={L}!channel{R} {L}!here{R}")


def assert_text_only(posts: list[dict[str, Any]], named: bool = True) -> None:
    """Every posted message shows the hostile value as text: readable (with ``named``: every
    message names the incident), and no markup of it."""
    for body in posts:
        blocks = body["blocks"] if isinstance(body["blocks"], list) else json.loads(body["blocks"])
        every = [body["text"], *texts(blocks)]
        # The value is there for a reader to see (a title splits a subject at its "@")...
        seen = shown("\n".join(every))
        if named or HOSTILE.split()[0] in "\n".join(every) or "&lt;" in "\n".join(every):
            assert all(part in seen for part in READABLE), json.dumps(every, ensure_ascii=False)
        for text in every:
            # ...and nothing in it is markup: the only <...> are the product's own links,
            bare = PRODUCT_LINK.sub("", text)
            assert "<" not in bare and ">" not in bare, text
            # no format opens or closes on a marker from the value,
            for marker in ("*bold*", "_it_", "~st~", "`tick`", "```"):
                assert marker not in text, text
            # and no line of it is a quote.
            assert not re.search(r"^(>|&gt;)", text, re.MULTILINE), text


def test_values_from_the_log_reach_slack_as_text_in_every_revision_of_an_incident(
    store: AlertRepository, slack: FakeSlack
) -> None:
    """Days recorded out of order and run again split, correct, merge, clear and reopen an
    incident; each revision names it (and quotes the value) as text, never as markup."""
    policy = PolicyConfig(persistence_k=1, persistence_n=1, resolve_after=3)
    alerts = AlertsConfig(
        slack_channel=CHANNEL,
        runbook_base_url=RUNBOOKS,
        paging_horizon_days=90,
        reopen_within_days=3,
        policies={"feature_drift": policy},
    )
    configs = {MONITOR: alerts}
    now = morning_after(day(56))
    runs = [(1, 7), (4, 5), (3, 6), (3, 10)]  # the order of the incident-lifecycle example
    verdicts = [v for failing, passing in runs for v in [False] * failing + [True] * passing]
    days = list(enumerate(verdicts))
    subject = f"segment={HOSTILE}"

    def record(n: int, passed: bool, run: str) -> None:
        found = evaluation(day(n), "feature_drift", [(subject, passed, f"{subject} drifted")])
        e = replace(found, run_id=run)
        ingest_runs(store, [(e.run_id, [e])], AlertContext(configs, DAGSTER, now))

    for n, passed in random.Random(4681).sample(days, len(days)):
        record(n, passed, f"late-{n}")
    record(42, False, "run-42")  # an open incident whose failing day passes when run again
    record(42, True, "rerun-42")
    for n, passed in ((50, False), (51, True), (52, True), (53, True), (55, False)):
        record(n, passed, f"run-{n}")  # resolved on day 53, failing again on day 55: reopened

    report = deliver(store, SlackNotifier(slack.token, base_url=slack.base_url), now, POLICY)
    assert report.failed == [] and report.retrying == [], report.errors
    posts = [r.body for r in slack.requests("chat.postMessage")]
    said = " ".join(str(body["text"]) for body in posts)
    for revision in ("Split by", "Corrected by", "is one episode with", "passed when run again",
                     "Reopened"):  # fmt: skip
        assert revision in said, (revision, said)
    assert_text_only(posts, named=False)


# -- the escaping itself -----------------------------------------------------------------------


@given(st.text())
def test_escaped_text_has_no_control_characters_and_reads_as_the_original(value: str) -> None:
    """Item 1: escaping keeps <, >, & only as entities and markers inert, and loses nothing."""
    escaped = escape_mrkdwn(value)

    assert "<" not in escaped and ">" not in escaped
    assert re.fullmatch(r"([^&]|&amp;|&lt;|&gt;)*", escaped, re.DOTALL)
    assert shown(escaped) == value
    for i, char in enumerate(escaped):
        if char in MARKERS:
            wrapped = escaped[i - 1 : i] == SOFT_HYPHEN == escaped[i + 1 : i + 2]
            in_word = re.fullmatch(r"[A-Za-z0-9][*_~][A-Za-z0-9]", escaped[i - 1 : i + 2])
            assert wrapped or in_word, (escaped, i)
    assert not re.search(r"^&gt;", escaped, re.MULTILINE)
    assert escape_mrkdwn(value) == escaped  # pure: the same value, the same text


@given(st.text())
def test_plain_text_escaping_reads_as_the_original(value: str) -> None:
    """Item 1: a header (plain_text) carries Slack's three control characters as entities."""
    escaped = escape_plain_text(value)
    assert "<" not in escaped and ">" not in escaped
    assert shown(escaped) == value


@given(st.text(), st.integers(min_value=0, max_value=60))
@example(value=">", limit=1)  # the soft hyphen before a ">" is not left alone
def test_a_cut_never_splits_an_escape(value: str, limit: int) -> None:
    """Item 1: messages cut to Slack's limits must not end in half an entity or marker."""
    escaped = escape_mrkdwn(value)
    cut = head(escaped, limit)
    assert escaped.startswith(cut) and len(cut) <= limit
    assert len(cut) >= min(len(escaped), limit) - 5  # at most one escape is left out
    assert value.startswith(shown(cut))
    assert not re.search(r"&[a-z]{0,3}$", cut)


def test_slack_limits_cut_escaped_values_between_escapes() -> None:
    """Item 1: a long value fitted to a header or section is cut before an escape, not in it."""
    title = escape_plain_text("<" * 200)
    summary = escape_mrkdwn("*" * 2000)
    text, blocks = fit_to_limits(
        summary,
        [
            {"type": "header", "text": {"type": "plain_text", "text": title}},
            {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
        ],
    )
    header, section = (b["text"]["text"] for b in blocks)
    assert header.endswith("&lt;…") and len(header) <= 150
    assert section.endswith(f"{SOFT_HYPHEN}*{SOFT_HYPHEN}…") and len(section) <= 3000
    assert text == section


def test_pagerduty_summaries_are_one_plain_line_within_its_limit() -> None:
    """Item 1: a PagerDuty summary carried control characters and mention markup."""
    event = PagerDutyEvent(
        dedup_key="k",
        summary=f"shop: canary for model_version={HOSTILE}\x00\x1b[31m\t" + "<" * 2000,
        severity="critical",
        source="monitoring-pipelines",
        custom_details={"subject": HOSTILE, "nested": [{"value": "<@U1>\r\n"}], "n": 3},
    )
    payload = trigger_event(event)["payload"]

    summary = payload["summary"]
    assert len(summary) == MAX_SUMMARY and summary.endswith(f"{L}…")
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in summary)
    assert "<" not in summary and ">" not in summary
    assert summary.startswith(
        f"shop: canary for model_version={L}!channel{R} {L}!here{R} {L}@U123{R}"
    )
    assert payload["custom_details"] == {
        "subject": HOSTILE.replace("<", L).replace(">", R).replace("\n", " "),
        "nested": [{"value": f"{L}@U1{R}  "}],
        "n": 3,
    }


# -- answers that leak -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        f"{HOSTILE} reach jane.doe@example.com",
        "<mailto:jane.doe@example.com|jane> or <tel:+442079460958|+44 20 7946 0958>",
        "*card*: `4111 1111 1111 1111` ```exp 12/28``` <!here>",
        "> quoted\n> <@U123> call (555) 123-4567 &amp; ask for *jane*@example.com",
    ],
)
def test_a_leaking_answer_reaches_slack_redacted_and_as_text(
    store: AlertRepository, slack: FakeSlack, answer: str
) -> None:
    """The output_leak check quotes a leaking answer: redacted (never the value) and escaped
    (never a ping, a link or markup from the answer)."""
    secrets = ("jane.doe@example.com", "7946", "4111 1111 1111 1111", "123-4567")
    safety = measure_day([Answer(answer, HOSTILE, "gpt-4o")], RefusalMatcher.of(DEFAULT_PATTERNS))
    outcome = leak_check(safety, LeakConfig())
    assert not outcome.passed
    partition = day(0)
    leaking = Evaluation(
        run_id=f"run-leak-{answer[:8]}",
        monitor=MONITOR,
        asset=f"{MONITOR}/output_safety",
        check=outcome.name,
        partition=partition,
        findings=outcome.findings,
        evaluated_at=datetime.now(UTC),
    )
    now = morning_after(partition)
    configs = {MONITOR: AlertsConfig(slack_channel=CHANNEL, runbook_base_url=RUNBOOKS)}
    ingest_runs(store, [(leaking.run_id, [leaking])], AlertContext(configs, DAGSTER, now))
    notifier = SlackNotifier(slack.token, base_url=slack.base_url, max_retries=0)
    report = deliver(store, notifier, now, POLICY)
    assert report.failed == [] and report.retrying == [], report.errors

    [body] = [r.body for r in slack.requests("chat.postMessage")]
    blocks = body["blocks"] if isinstance(body["blocks"], list) else json.loads(body["blocks"])
    every = [body["text"], *texts(blocks)]
    seen = shown("\n".join(every))
    assert not any(secret in seen for secret in secrets), seen
    assert any(tag in seen for tag in ("[EMAIL]", "[PHONE]", "[CARD]")), seen
    for text in every:
        bare = PRODUCT_LINK.sub("", text)
        assert "<" not in bare and ">" not in bare, text
        for marker in ("*card*", "`4111", "```", "*jane*"):
            assert marker not in text, text
        assert not re.search(r"^(>|&gt;)", text, re.MULTILINE), text
