"""Reading a monitor file: YAML, ``${VAR}`` interpolation, defaults, and readable errors."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from monitoring_pipelines.core.config import MonitorFile
from monitoring_pipelines.core.errors import ConfigError

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_config(path: Path | str, environ: Mapping[str, str]) -> MonitorFile:
    """Read and validate a monitor file; every problem is reported in one ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the monitor file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.start + 1} is {exc.object[exc.start]:#04x}); "
            "save the monitor file as UTF-8"
        ) from exc
    return parse_config(text, environ, source=str(path))


def parse_config(text: str, environ: Mapping[str, str], source: str = "<config>") -> MonitorFile:
    """Validate the text of a monitor file."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(_printable(f"{source} is not valid YAML: {_yaml_problem(exc)}")) from exc
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{_printable(source)}: found {type(raw).__name__}; expected a mapping with a "
            "'monitors' key"
        )
    problems: list[str] = []
    raw = _interpolate(raw, environ, (), problems)
    if problems:
        raise ConfigError(_headline(source, problems))
    merged = _apply_defaults(raw)
    try:
        return MonitorFile.model_validate(merged)
    except ValidationError as exc:
        problems = [_describe(error, merged) for error in exc.errors()]
        raise ConfigError(_headline(source, problems)) from exc


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """The parser's complaint in one line, with where it is in the file."""
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character
        code = char if isinstance(char, int) else ord(char[:1] or "\0")
        return f"character {exc.position + 1}: {exc.reason} (#x{code:04x})"
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        during = f" ({exc.context})" if exc.context else ""
        return f"{where}{exc.problem or 'cannot be parsed'}{during}"
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _headline(source: str, problems: list[str]) -> str:
    noun = "problem" if len(problems) == 1 else "problems"
    lines = "\n".join(f"  - {_printable(p)}" for p in problems)
    return f"{_printable(source)}: {len(problems)} {noun}\n{lines}"


def _printable(text: str) -> str:
    """``text`` on one line: a key or value holding a line break or another control
    character shows it escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _interpolate(
    value: Any, environ: Mapping[str, str], loc: tuple[Any, ...], problems: list[str]
) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, environ, (*loc, k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, environ, (*loc, i), problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ and environ[name] != "":
            return environ[name]
        if default is not None:
            return default
        problems.append(
            f"{_where(loc)}: environment variable {name} is not set "
            f"(set it, or write ${{{name}:-default}})"
        )
        return ""

    return _ENV_PATTERN.sub(substitute, value)


def _apply_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge the ``defaults`` section under every monitor."""
    defaults = raw.get("defaults") or {}
    monitors = raw.get("monitors")
    if not isinstance(defaults, dict) or not isinstance(monitors, dict):
        return raw
    merged = dict(raw)
    merged["monitors"] = {
        name: _deep_merge(defaults, body) if isinstance(body, dict) else body
        for name, body in monitors.items()
    }
    return merged


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _where(loc: tuple[Any, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "monitors":
        key = _dotted(loc[2:])
        return f"monitor '{loc[1]}', key '{key}'" if key else f"monitor '{loc[1]}'"
    return f"key '{_dotted(loc)}'" if loc else "the file"


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _describe(error: Mapping[str, Any], raw: Any) -> str:
    if len(error["loc"]) == 3 and error["loc"][0] == "monitors" and error["loc"][2] == "[key]":
        return (
            f"monitor name '{error['loc'][1]}': allowed: lower-case letters, digits and "
            "underscores, starting with a letter, at most 48 characters (it prefixes asset keys)"
        )
    loc = tuple(p for p in error["loc"] if not _is_pydantic_tag(p))
    kind = error["type"]
    where = _where(loc)
    if kind == "missing":
        return f"{where}: missing; this key is required"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return f"{where}: unknown key{hint}"
    found = _found(raw, loc)
    if kind == "value_error":
        return f"{where}: {error['msg'].removeprefix('Value error, ')}"
    allowed_text = _allowed_text(error)
    return f"{where}: found {found}; allowed: {allowed_text}"


def _is_pydantic_tag(part: Any) -> bool:
    # Union members appear in pydantic locations as tags like 'int' or 'list[str]'.
    return (isinstance(part, str) and part in {"str", "int", "float", "bool"}) or (
        isinstance(part, str) and ("[" in part or part.startswith("function-"))
    )


def _found(raw: Any, loc: tuple[Any, ...]) -> str:
    node = raw
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return "nothing"
    if isinstance(node, str):
        return repr(node)
    if isinstance(node, dict):
        return "a mapping"
    if isinstance(node, list):
        return f"a list of {len(node)}"
    return repr(node)


_ALLOWED_BY_TYPE = {
    "greater_than": "a number greater than {gt}",
    "greater_than_equal": "a number of at least {ge}",
    "less_than": "a number less than {lt}",
    "less_than_equal": "a number of at most {le}",
    "string_pattern_mismatch": "text matching {pattern}",
    "string_too_long": "text of at most {max_length} characters",
    "string_too_short": "text of at least {min_length} characters",
    "too_short": "at least {min_length} entries",
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "date_parsing": "a date like 2026-01-31",
    "date_from_datetime_parsing": "a date like 2026-01-31",
    "date_type": "a date like 2026-01-31",
    "dict_type": "a mapping of keys to values",
    "list_type": "a list",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
}


def _allowed_text(error: Mapping[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if kind == "literal_error":
        return str(ctx.get("expected", error["msg"]))
    template = _ALLOWED_BY_TYPE.get(kind)
    if template:
        try:
            return template.format(**ctx)
        except KeyError:
            pass
    return str(error["msg"]).removeprefix("Input should be ").rstrip(".")


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model at ``loc``, walking MonitorFile's annotations."""
    model: Any = MonitorFile
    for part in loc:
        model = _child_type(model, part)
        if model is None:
            return []
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or name for name, f in model.model_fields.items()]
    return []


def _child_type(tp: Any, part: Any) -> Any:
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, field in tp.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and args:
        return args[0]
    return None


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional so the model class underneath shows."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp
