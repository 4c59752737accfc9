"""Any monitor file a user might write (the shipped one with keys changed, removed, added or
given values of another type, or YAML-ish text) either validates or raises one ConfigError
whose message is a headline and one line per problem: never another exception, a traceback
or a parser's multi-line dump."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring_pipelines.core.config import MonitorFile
from monitoring_pipelines.core.config_loading import load_config, parse_config
from monitoring_pipelines.core.errors import ConfigError

DEMO = yaml.safe_load((Path(__file__).parents[2] / "demo" / "monitors.yaml").read_text())
SOURCE = "monitors.yaml"
ENVIRON = {"SET": "value", "EMPTY": ""}

keys = st.one_of(
    st.text(max_size=8), st.integers(-3, 3), st.booleans(), st.none(), st.dates(), st.floats()
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["${SET}", "${UNSET}", "${EMPTY:-x}", "${UNSET:-0.5}", "2026-02-30", "-1"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=6,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path inside ``node`` (mapping keys and list indexes)."""
    found: list[tuple[Any, ...]] = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, child in items:
        found.append((*prefix, key))
        found += paths(child, (*prefix, key))
    return found


@st.composite
def changed_demo_files(draw: st.DrawFn) -> str:
    """The shipped monitor file with a few keys replaced, removed or added."""
    raw = copy.deepcopy(DEMO)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths(raw) or [("monitors",)]))
        parent: Any = raw
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "remove" and isinstance(parent, dict):
            parent.pop(path[-1], None)
        elif action == "add" and isinstance(parent, dict):
            parent[draw(keys)] = draw(values)
        else:
            parent[path[-1]] = draw(values)
    return yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)


yamlish_text = st.lists(
    st.sampled_from([*"abcmnors_019 :-[]{},#&*!|>'\"%@`?\t\n$\\", "${SET}", "monitors:"]),
    max_size=60,
).map("".join)
files = st.one_of(changed_demo_files(), yamlish_text, st.text(max_size=60))


def assert_clear(message: str) -> None:
    lines = message.splitlines()
    assert lines, "an empty message"
    assert lines[0].startswith(SOURCE), message
    assert all(line.startswith("  - ") and len(line) > 4 for line in lines[1:]), message
    assert "Traceback" not in message and " object at 0x" not in message, message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files)
def test_any_monitor_file_validates_or_gets_one_clear_config_error(text: str) -> None:
    """Issue 12: arbitrary YAML-ish monitor files give either a valid config or one clear
    ConfigError, never a traceback."""
    try:
        config = parse_config(text, ENVIRON, source=SOURCE)
    except ConfigError as exc:
        assert_clear(str(exc))
    else:
        assert isinstance(config, MonitorFile)


def test_a_yaml_syntax_error_is_one_line_with_its_place() -> None:
    """Issue 12: a YAML syntax error is one line naming the line and column, not the
    parser's multi-line dump."""
    try:
        parse_config("monitors:\n  a: [unclosed\n  b: {", {}, source=SOURCE)
    except ConfigError as exc:
        assert len(str(exc).splitlines()) == 1, str(exc)
        assert "line " in str(exc) and "column " in str(exc)
    else:
        raise AssertionError("a broken file validated")


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.binary(max_size=80), files.map(lambda text: text.encode("utf-16"))))
def test_any_bytes_in_the_monitor_file_give_a_config_or_one_clear_config_error(
    data: bytes,
) -> None:
    """Issue 12: a monitor file that is not UTF-8 text (a binary, another encoding) is one
    clear ConfigError, never a decoding traceback."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / SOURCE
        path.write_bytes(data)
        try:
            load_config(path, ENVIRON)
        except ConfigError as exc:
            assert str(exc).startswith(str(path)), str(exc)
            assert_clear(str(exc).replace(str(path), SOURCE, 1))
