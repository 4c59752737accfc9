"""What counts as PII in free text: email addresses, phone numbers, payment card numbers.

One definition for both its uses: redaction of the fine-tuning export and the output-safety
metrics of live answers (README.md, "From reviews back to the model" and "Output safety").
A few careful regular expressions, not a DLP system, tuned to leave the dates, times, ids,
prices, IP addresses and versions of support text alone.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

PiiKind = Literal["email", "card", "phone"]

KINDS: Final[tuple[PiiKind, ...]] = ("email", "card", "phone")
PLACEHOLDERS: Final[Mapping[PiiKind, str]] = {
    "email": "[EMAIL]",
    "card": "[CARD]",
    "phone": "[PHONE]",
}

MIN_PHONE_DIGITS: Final = 7
MAX_PHONE_DIGITS: Final = 15
MIN_DOTTED_PHONE_DIGITS: Final = 9
MAX_PHONE_GROUP: Final = 6

_EMAIL: Final = re.compile(r"(?<![\w.%+\-])[\w.%+\-]+@(?:[\w\-]+\.)+[^\W\d_]{2,}(?![\w\-])")

# A number starts where no word, id, path or other number is glued to it and ends likewise,
# so ``KB-204``, ``v1.2.3`` and ``/12345678`` never yield a match of their own.
_START: Final = r"(?<![\w.\-/+#])"
_END: Final = r"(?![\w]|[.\-:/]\d)"

_CARD: Final = re.compile(
    _START
    + r"(?:\d{4}(?:[ \-]\d{4}){3}(?:[ \-]\d{3})?"  # 4-4-4-4 and 4-4-4-4-3
    + r"|\d{4}[ \-]\d{6}[ \-]\d{4,5}"  # 4-6-4 and 4-6-5
    + r"|\d{13,19})"
    + _END
)

_PHONE: Final = re.compile(
    _START
    + r"(?:\+\d{1,3}(?:[ .\-]?\(\d{1,4}\))?[ .\-]?\d+(?:(?P<s1>[ .\-])\d+(?:(?P=s1)\d+)*)?"
    + r"|\(\d{2,5}\)[ .\-]?\d+(?:(?P<s2>[ .\-])\d+(?:(?P=s2)\d+)*)?"
    + r"|\d+(?P<s3>[ .\-])\d+(?:(?P=s3)\d+)*"
    + r"|0[1-9]\d{8,9})"
    + _END
)

_DATE: Final = re.compile(r"\d{4}([.\-])\d{1,2}\1\d{1,2}|\d{1,2}([.\-])\d{1,2}\2\d{4}")
_TRUNK_AREA: Final = re.compile(r"0\d{1,4}[ \-]\d{5,8}")
_IPV4: Final = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
# Dotted numbers are phones only in the shapes phones are written with dots: a national number
# with its trunk 0 (``06.12.34.56.78``) or the North American 3-3-4 (``555.123.4567``); other
# dotted runs are versions, build numbers or amounts (``13.10.1234.5678``).
_DOTTED_PHONE: Final = re.compile(r"0\d{1,4}(?:\.\d{2,4}){2,4}|\d{3}\.\d{3}\.\d{4}")
_THOUSANDS: Final = re.compile(r"\d{1,3}([ .])\d{3}(?:\1\d{3})*")
_CURRENCY: Final = r"[$€£¥₹]|\b(?:USD|EUR|GBP|CHF|JPY|CAD|AUD|INR)\b"
_CURRENCY_BEFORE: Final = re.compile(rf"(?:{_CURRENCY})\s?\Z")
_CURRENCY_AFTER: Final = re.compile(rf"\A(?:,\d|\s?(?:{_CURRENCY}))")


@dataclass(frozen=True)
class Redaction:
    """A text with its obvious PII replaced, and how much of each kind was replaced.

    Attributes:
        text: The redacted text.
        counts: Replacements by kind (``email``, ``card``, ``phone``), every kind present.
    """

    text: str
    counts: Mapping[str, int]


@dataclass(frozen=True)
class PiiSpan:
    """One piece of PII found in a text: its kind and where it is (``text[start:end]``)."""

    kind: PiiKind
    start: int
    end: int


def find_pii(text: str) -> list[PiiSpan]:
    """Every email address, card number and phone number in ``text``, in text order.

    Emails are found first, then Luhn-valid card numbers outside them, then phone numbers
    outside both, so one run of characters is one kind.
    """
    spans: list[PiiSpan] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s.start or start >= s.end for s in spans)

    for m in _EMAIL.finditer(text):
        spans.append(PiiSpan("email", m.start(), m.end()))
    for m in _CARD.finditer(text):
        if _is_card(m.group()) and free(m.start(), m.end()):
            spans.append(PiiSpan("card", m.start(), m.end()))
    for m in _PHONE.finditer(text):
        if _is_phone(m) and free(m.start(), m.end()):
            spans.append(PiiSpan("phone", m.start(), m.end()))
    return sorted(spans, key=lambda s: s.start)


def redact(text: str) -> Redaction:
    """Replace the email addresses, card numbers and phone numbers in ``text``.

    Args:
        text: Free text (a question, a retrieved context, an answer).

    Returns:
        The redacted text and the number of replacements by kind (see the module docstring
        for exactly what is and is not caught).
    """
    counts: Counter[str] = Counter()
    parts: list[str] = []
    at = 0
    for span in find_pii(text):
        parts += [text[at : span.start], PLACEHOLDERS[span.kind]]
        counts[span.kind] += 1
        at = span.end
    parts.append(text[at:])
    return Redaction("".join(parts), {kind: counts[kind] for kind in KINDS})


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn checksum (as every card number does)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _is_card(candidate: str) -> bool:
    digits = _digits(candidate)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _is_phone(match: re.Match[str]) -> bool:
    candidate = match.group()
    if not MIN_PHONE_DIGITS <= len(_digits(candidate)) <= MAX_PHONE_DIGITS:
        return False
    if candidate.startswith(("+", "(")) or candidate.isdigit():
        return True  # the shape alone says phone (or trunk 0, which the pattern requires)
    groups = re.split(r"[ .\-]", candidate)
    if _TRUNK_AREA.fullmatch(candidate):
        return True  # trunk 0, area code, subscriber number: ``030 12345678``
    if any(len(g) > MAX_PHONE_GROUP for g in groups) or any(len(g) < 2 for g in groups[1:]):
        return False
    if "." in candidate and (
        len(_digits(candidate)) < MIN_DOTTED_PHONE_DIGITS or not _DOTTED_PHONE.fullmatch(candidate)
    ):
        return False
    if _DATE.fullmatch(candidate) or _IPV4.fullmatch(candidate):
        return False
    return not _is_amount(match)


def _is_amount(match: re.Match[str]) -> bool:
    """Thousands groups read as an amount: next to a currency or decimals, or led by 1-2 digits
    (``1 234 567``; phone groupings start with 3+ digits when the rest are threes)."""
    candidate = match.group()
    if not _THOUSANDS.fullmatch(candidate):
        return False
    if len(re.split(r"[ .]", candidate)[0]) < 3:
        return True
    before = match.string[: match.start()]
    after = match.string[match.end() :]
    return bool(_CURRENCY_BEFORE.search(before) or _CURRENCY_AFTER.search(after))
