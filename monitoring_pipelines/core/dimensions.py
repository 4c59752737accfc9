"""The dimensions of a stored metric: one codec from a mapping to the key the store holds.

Canonical JSON in a 255-character column; a value that would overflow keeps its longest prefix
that fits plus ``…#`` and 8 hex characters of its SHA-256, so distinct values stay distinct.
Every other data-derived name the store keys on (a segment's sketch, a check's subject) is
fitted by the same rule (:func:`fit_key`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

MAX_CHARS = 255  # the metrics table's dimensions column
MARK = "…#"
_HASH_CHARS = 8
SHORTENED_CHARS = 15  # the escaped marker and hash: the least a shortened value takes
_SHORTENED = re.compile(rf"{MARK}[0-9a-f]{{{_HASH_CHARS}}}\Z")


def dimensions(**dims: str) -> str:
    """The stored key of keyword dimensions, e.g. ``{"model":"gpt-4o"}``; ``""`` for none."""
    return encode(dims)


def encode(dims: Mapping[str, str]) -> str:
    """The stored key of ``dims``, its values fitted (see :func:`fit`); ``""`` for none."""
    return _dump(fit(dims))


def decode(key: str) -> dict[str, str]:
    """The dimensions a stored key names (``{}`` for ``""``)."""
    if not key:
        return {}
    decoded: dict[str, str] = json.loads(key)
    return decoded


def fits(dims: Mapping[str, str]) -> bool:
    """Whether ``dims`` is stored verbatim."""
    return len(_dump(dims)) <= MAX_CHARS


def fit(dims: Mapping[str, str]) -> dict[str, str]:
    """``dims`` with values shortened so its key fits :data:`MAX_CHARS`.

    Nothing changes when the key fits. Otherwise the values share the room the keys leave,
    shortest first, each taking at most an equal share of what is left, so the result depends
    only on ``dims``.

    Raises:
        ValueError: If the dimension names alone leave no room for the values.
    """
    if fits(dims):
        return dict(dims)
    room = MAX_CHARS - len(_dump(dict.fromkeys(dims, "")))
    if room < len(dims) * SHORTENED_CHARS:
        raise ValueError(
            f"dimension names {sorted(dims)} leave {room} of the {MAX_CHARS} characters of a "
            f"stored key; each value needs at least {SHORTENED_CHARS}"
        )
    order = sorted(dims, key=lambda k: (escaped_len(dims[k]), k))
    out: dict[str, str] = {}
    for i, key in enumerate(order):
        out[key] = fit_value(dims[key], room // (len(order) - i))
        room -= escaped_len(out[key])
    return {key: out[key] for key in dims}


def fit_key(key: str, max_chars: int = MAX_CHARS) -> str:
    """A plain stored name (``amount@model_version=<value>``, ``intent=<value>``) in
    ``max_chars`` characters: ``key`` itself when it fits, else shortened as :func:`fit_value`
    shortens a value. Fitting a fitted key changes nothing, so a name may be fitted wherever
    it is made, written or looked up."""
    if len(key) <= max_chars:
        return key
    return fit_value(key, max_chars)


def fit_value(value: str, budget: int) -> str:
    """``value`` if it takes at most ``budget`` escaped characters; else its longest prefix that
    fits with ``…#<hash>`` appended.

    Raises:
        ValueError: If ``budget`` cannot hold even the hash.
    """
    if escaped_len(value) <= budget:
        return value
    if budget < SHORTENED_CHARS:
        raise ValueError(
            f"a shortened dimension value needs {SHORTENED_CHARS} characters, not {budget}"
        )
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return shortened(value, digest, budget)


def shortened(start: str, digest: str, budget: int) -> str:
    """The shortened form, in ``budget`` escaped characters, of a value that begins with
    ``start`` and whose SHA-256 begins with ``digest``: the longest prefix of ``start`` that
    fits, ``…#`` and the digest's first 8 hex characters.

    It equals :func:`fit_value` of the whole value whenever ``start`` holds at least the
    characters that fit, which lets a key shortened by an older rule be rewritten without the
    original value.

    Raises:
        ValueError: If ``digest`` has fewer than 8 hex characters.
    """
    if not re.fullmatch(rf"[0-9a-f]{{{_HASH_CHARS},}}", digest):
        raise ValueError(
            f"a shortened value needs {_HASH_CHARS} hex digits of SHA-256, not {digest!r}"
        )
    keep, cut = budget - SHORTENED_CHARS, 0
    for char in start:
        keep -= escaped_len(char)
        if keep < 0:
            break
        cut += 1
    return f"{start[:cut]}{MARK}{digest[:_HASH_CHARS]}"


def known_prefix(value: str) -> str:
    """The part of a stored value that is the original's: all of it unless it was shortened."""
    found = _SHORTENED.search(value)
    return value[: found.start()] if found else value


def escaped_len(value: str) -> int:
    """Characters ``value`` takes inside a stored key."""
    return len(json.dumps(value)) - 2


def _dump(dims: Mapping[str, str]) -> str:
    return json.dumps(dims, sort_keys=True, separators=(",", ":")) if dims else ""
