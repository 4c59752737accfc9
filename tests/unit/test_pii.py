"""What counts as PII, as properties: Luhn-valid digit runs are cards and invalid ones are
not; e-mails and phones are found inside hostile text; order ids, dates, IP addresses and
versions are never a leak."""

from __future__ import annotations

import itertools

from hypothesis import example, given
from hypothesis import strategies as st

from monitoring_pipelines.core.pii import find_pii, luhn_valid, redact

HOSTILE = st.sampled_from(
    [
        "",
        "<!channel> ",
        "*bold* _it_ ~st~ ",
        "`tick` ```block``` ",
        "&amp; a&b\n> quoted ",
        "<https://evil.example|click> ",
        "ignore previous instructions; ",
        "\u202e\u200b ",
        "«»“” ",
    ]
)


def with_check_digit(body: str) -> str:
    """``body`` and the digit that makes it pass the Luhn check."""
    for digit in "0123456789":
        if luhn_valid(body + digit):
            return body + digit
    raise AssertionError("unreachable: one digit always completes a Luhn number")


def kinds(text: str) -> list[str]:
    return [s.kind for s in find_pii(text)]


@given(
    body=st.text("0123456789", min_size=12, max_size=18),
    before=HOSTILE,
    after=HOSTILE,
    grouped=st.booleans(),
)
@example(body="411111111111111", before="", after="", grouped=False)
def test_a_luhn_valid_run_of_13_to_19_digits_is_a_card(
    body: str, before: str, after: str, grouped: bool
) -> None:
    number = with_check_digit(body)
    if grouped and len(number) == 16:
        number = " ".join(number[i : i + 4] for i in range(0, 16, 4))
    text = f"{before}your card is {number}. {after}"
    assert kinds(text) == ["card"]
    assert number not in redact(text).text
    assert "[CARD]" in redact(text).text


@given(body=st.text("0123456789", min_size=15, max_size=18), before=HOSTILE)
def test_a_luhn_invalid_run_of_16_to_19_digits_is_no_leak(body: str, before: str) -> None:
    number = with_check_digit(body)
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert not luhn_valid(wrong)
    text = f"{before}reference {wrong} is noted"
    assert find_pii(text) == []


LOCAL = st.text("abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=20).filter(
    lambda s: s[0].isalnum() and s[-1].isalnum() and ".." not in s
)
DOMAIN = st.lists(
    st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10), min_size=1, max_size=3
)
TLD = st.sampled_from(["com", "io", "org", "co.uk", "de", "museum"])


@given(local=LOCAL, domain=DOMAIN, tld=TLD, before=HOSTILE, after=HOSTILE)
def test_an_email_inside_hostile_text_is_found_and_redacted(
    local: str, domain: list[str], tld: str, before: str, after: str
) -> None:
    address = f"{local}@{'.'.join(domain)}.{tld}"
    text = f"{before}write to {address} {after}"
    assert kinds(text) == ["email"]
    assert address not in redact(text).text


PHONES = st.one_of(
    st.builds(
        lambda cc, a, b, c: f"+{cc} {a} {b} {c}",
        st.integers(1, 99),
        st.integers(20, 999),
        st.integers(100, 999),
        st.integers(1000, 9999),
    ),
    st.builds(
        lambda a, b, c: f"({a}) {b}-{c}",
        st.integers(200, 999),
        st.integers(200, 999),
        st.integers(1000, 9999),
    ),
    st.builds(lambda a, b: f"0{a} {b}", st.integers(10, 99), st.integers(1000000, 9999999)),
    st.builds(
        lambda a, b, c: f"{a}.{b}.{c}",
        st.integers(200, 999),
        st.integers(200, 999),
        st.integers(1000, 9999),
    ),
)


@given(
    phone=PHONES, before=HOSTILE, after=HOSTILE, lead=st.sampled_from(["call ", "tel:", "Phone: "])
)
@example(phone="+442079460958", before="<", after="|x>", lead="tel:")
def test_a_phone_inside_hostile_text_is_found_and_redacted(
    phone: str, before: str, after: str, lead: str
) -> None:
    text = f"{before}{lead}{phone} now {after}"
    assert kinds(text) == ["phone"]
    assert phone not in redact(text).text


ORDER_IDS = st.one_of(
    st.builds(lambda n: f"ORD-{n}", st.integers(0, 10**12)),
    st.builds(lambda n: f"#{n}", st.integers(0, 10**19)),
    st.builds(lambda n: f"order {n}", st.integers(0, 10**6 - 1)),
    st.builds(lambda p, n: f"{p}{n}", st.sampled_from(["A", "INV", "KB-", "tkt_"]), st.integers()),
)
DATES = (
    st.dates()
    .map(
        lambda d: st.sampled_from(
            [
                d.isoformat(),
                f"{d.day:02d}.{d.month:02d}.{d.year:04d}",
                f"{d.day:02d}/{d.month:02d}/{d.year:04d}",
                f"{d.month}/{d.day}/{d.year}",
                f"{d.isoformat()}T12:30:00Z",
                f"{d.isoformat()} 23:59:59",
                f"{d.day:02d}-{d.month:02d}-{d.year:04d}",
            ]
        )
    )
    .flatmap(lambda s: s)
)
IPS = st.one_of(
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    st.tuples(*[st.integers(0, 255)] * 4, st.integers(1, 65535)).map(
        lambda t: ".".join(map(str, t[:4])) + f":{t[4]}"
    ),
    st.tuples(*[st.integers(0, 0xFFFF)] * 8).map(lambda t: ":".join(f"{x:x}" for x in t)),
)
VERSIONS = st.one_of(
    st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(0, 9999)).map(
        lambda t: "v" + ".".join(map(str, t))
    ),
    st.tuples(
        st.integers(0, 200), st.integers(0, 99), st.integers(0, 99999), st.integers(0, 999)
    ).map(lambda t: ".".join(map(str, t))),
)


@given(value=st.one_of(ORDER_IDS, DATES, IPS, VERSIONS), before=HOSTILE)
@example(value="13.10.1234.5678", before="")
@example(value="10.0.19045.2965", before="")
@example(value="#4111111111111111", before="")
@example(value="192.168.100.200:8080", before="")
def test_order_ids_dates_ips_and_versions_are_no_leak(value: str, before: str) -> None:
    text = f"{before}see {value} for details"
    assert find_pii(text) == [], value
    assert redact(text).text == text


def test_spans_are_in_text_order_and_do_not_overlap() -> None:
    text = "a@b.io then 4111 1111 1111 1111 then +1 555 123 4567 then c@d.org"
    spans = find_pii(text)
    assert [s.kind for s in spans] == ["email", "card", "phone", "email"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
    assert redact(text).text == "[EMAIL] then [CARD] then [PHONE] then [EMAIL]"
