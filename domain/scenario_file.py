"""Scenario files (YAML or JSON) read into a `Scenario`, with every mistake reported at once.

A controller writes injects either at an absolute time (`at`, ISO 8601 with an offset) or
relative to the exercise's start (`day: N`, day 0 being the day of `scenario_start`, with
an optional `time: "HH:MM"` that defaults to the time of day of `scenario_start`, both in
`scenario_start`'s own time zone). Relative times are resolved to `at` here, before the
pydantic models validate, so the rest of the system only ever sees absolute times. A
request's `needed_by` may be relative too: `needed_by: {day: 9, time: "12:00"}`.

Errors come as a list of `{"loc": [...], "msg": ..., "type": ...}` (the shape of a 422
problem's `errors` member), located by inject index and field, e.g. `["injects", 3,
"factor"]`, and all of them, not just the first. Only a syntax error stops the reading.

Two YAML traps are closed: `time: 14:30` is a string (YAML 1.1 would read it as the
base-60 integer 870, while `08:00` stays a string), and a key given twice in one mapping
is an error rather than silently keeping the last value.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import TypeAdapter, ValidationError

from domain.commands import Instant
from domain.scenario import InjectKind, Scenario

MAX_DAY = 3650
"""`day` beyond ten years is a typo (and would overflow date arithmetic)."""
MAX_SCENARIO_CHARS = 5_000_000
"""Far more than `MAX_INJECTS` injects at a few hundred characters each; a larger file is not a scenario."""
MAX_VALUES = 500_000
"""Values after expanding YAML aliases: a small file must not expand into a huge one."""
MAX_DEPTH = 32
"""Nesting of mappings and lists: a scenario needs five levels (scenario, injects, inject,
needed_by, a value). Reading and validating recurse once per level, so a file nested
thousands deep would exhaust Python's stack; it is refused instead."""

KINDS = get_args(InjectKind)
_TIME_OF_DAY = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
_RELATIVE_KEYS = {"day", "time"}
_INSTANT: TypeAdapter[datetime] = TypeAdapter(Instant)


class ScenarioError(ValueError):
    """A scenario file that cannot be used, with every error found in it.

    `errors` is a list of `{"loc": [...], "msg": str, "type": str}`; a syntax error also has
    `line` and `column` (1-based). Suitable as the `errors` member of a 422 problem."""

    def __init__(self, errors: list[dict[str, Any]], filename: str | None = None) -> None:
        self.errors = errors
        self.filename = filename
        shown = "; ".join(_describe(error) for error in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        count = f"{len(errors)} error" + ("" if len(errors) == 1 else "s")
        super().__init__(f"{filename or 'scenario'}: {count}: {shown}{more}")


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]


def _error(loc: list[str | int], msg: str, kind: str = "value_error", **extra: Any) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind, **extra}


# --- reading the text --------------------------------------------------------------------------

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


class _Loader(yaml.SafeLoader):
    """`yaml.SafeLoader` without base-60 numbers, refusing a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # keys merged in with `<<:` may be overridden: that is what merging is for
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the base constructor reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"the key {key!r} is given twice", key_node.start_mark
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """The composer recurses once per level: count the levels and stop at `MAX_DEPTH`."""
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested deeper than {MAX_DEPTH} levels",
                    self.peek_event().start_mark,  # type: ignore[no-untyped-call]  # types-PyYAML leaves it unannotated
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _INT,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _too_deep() -> _Syntax:
    return _syntax(f"the file is nested deeper than {MAX_DEPTH} levels of mappings and lists", kind="too_deep")


def _yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass: plain data only
    except RecursionError:  # aliases can nest deeper than the text does
        raise _too_deep() from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        context = getattr(error, "context", None)
        what = f"{context}: {problem}" if context and "given twice" not in problem else problem
        if mark is None:
            raise _syntax(f"YAML syntax error: {what}") from None
        line, column = mark.line + 1, mark.column + 1
        if problem.startswith("nested deeper"):
            raise _syntax(
                f"the file is {problem} of mappings and lists (line {line}, column {column})", line, column, "too_deep"
            ) from None
        raise _syntax(f"YAML syntax error at line {line}, column {column}: {what}", line, column) from None


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _syntax(f"JSON error: the key {key!r} is given twice in one object")
        result[key] = value
    return result


def _json(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_json_object)
    except RecursionError:
        raise _too_deep() from None
    except json.JSONDecodeError as error:
        raise _syntax(
            f"JSON syntax error at line {error.lineno}, column {error.colno}: {error.msg}", error.lineno, error.colno
        ) from None


class _Syntax(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        self.error = error


def _syntax(msg: str, line: int | None = None, column: int | None = None, kind: str = "syntax_error") -> _Syntax:
    where = {} if line is None else {"line": line, "column": column}
    return _Syntax(_error([], msg, kind, **where))


def _parse(text: str, filename: str | None) -> Any:
    """JSON for `.json` files; for text without a telling name that looks like JSON, JSON
    first (its errors are the clearer ones), then YAML (a YAML flow mapping looks alike)."""
    suffix = Path(filename).suffix.lower() if filename else ""
    if suffix == ".json":
        return _json(text)
    if suffix not in (".yaml", ".yml") and text.lstrip().startswith(("{", "[")):
        try:
            return _json(text)
        except _Syntax as json_error:
            try:
                return _yaml(text)
            except _Syntax:
                raise json_error from None
    return _yaml(text)


def _values(data: Any) -> Iterator[int]:
    """The depth of each value, counting a value again each time an alias repeats it."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        yield depth
        if isinstance(value, dict):
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)


def _shape_error(data: Any) -> dict[str, Any] | None:
    """Too many values (YAML aliases expand), or nested too deep (aliases of aliases): either
    would make validation slow or overflow the stack."""
    for count, depth in enumerate(_values(data)):
        if count >= MAX_VALUES:
            return _error([], f"the file expands to more than {MAX_VALUES:,} values (YAML aliases?)", "too_large")
        if depth > MAX_DEPTH:
            return _too_deep().error
    return None


# --- relative times ------------------------------------------------------------------------------


def _when(raw: dict[str, Any], loc: list[str | int], start: datetime) -> tuple[datetime | None, list[dict[str, Any]]]:
    """The absolute time of `{day, time?}` in `start`'s time zone, or the errors in it."""
    errors = []
    day, of_day = raw.get("day"), start.time()
    if "day" not in raw:
        errors.append(
            _error([*loc, "day"], "a time of day needs a day: give day (0 = the day the scenario starts)", "missing")
        )
    elif type(day) is not int:
        errors.append(
            _error([*loc, "day"], f"day must be a whole number of days from the start, not {day!r}", "int_type")
        )
    elif not 0 <= day <= MAX_DAY:
        errors.append(_error([*loc, "day"], f"day must be between 0 and {MAX_DAY}, not {day}", "day_range"))
    if "time" in raw:
        given = raw["time"]
        match = _TIME_OF_DAY.match(given) if isinstance(given, str) else None
        if match is None:
            errors.append(
                _error(
                    [*loc, "time"],
                    f'time must be a time of day "HH:MM" from 00:00 to 23:59, not {given!r}',
                    "time_of_day",
                )
            )
        else:
            of_day = time(int(match[1]), int(match[2]))
    if errors:
        return None, errors
    assert isinstance(day, int)  # anything else is an error above
    return datetime.combine(start.date() + timedelta(days=day), of_day, tzinfo=start.tzinfo), []


def _instant(value: Any) -> datetime | None:
    """`value` as a valid absolute time, or None (then the model reports what is wrong with it)."""
    try:
        return _INSTANT.validate_python(value)
    except ValidationError:
        return None


def _resolve(raw: dict[str, Any], index: int, start: datetime) -> tuple[dict[str, Any], list[dict[str, Any]], set[str]]:
    """The inject with `at` (and `needed_by`) absolute; the errors; the fields given a placeholder."""
    loc: list[str | int] = ["injects", index]
    inject = {key: value for key, value in raw.items() if key not in _RELATIVE_KEYS}
    errors: list[dict[str, Any]] = []
    placeholders: set[str] = set()
    relative = _RELATIVE_KEYS & raw.keys()
    if "at" in raw and relative:
        errors.append(
            _error(
                [*loc, sorted(relative)[0]],
                "give either at (an absolute time) or day and time (relative to the start), not both",
                "at_and_day",
            )
        )
        placeholders.add("at")
    elif "at" not in raw:
        if not relative:
            errors.append(
                _error(
                    [*loc, "at"],
                    "missing time: give at (ISO 8601 with offset) or day (and optionally time) relative to the start",
                    "missing",
                )
            )
            placeholders.add("at")
        else:
            at, wrong = _when(raw, loc, start)
            errors += wrong
            if at is None:
                placeholders.add("at")
            else:
                inject["at"] = at
                if at < start:
                    errors.append(
                        _error(
                            [*loc, "time" if "time" in raw else "day"],
                            f"{at.isoformat()} is before the scenario starts ({start.isoformat()})",
                            "before_start",
                        )
                    )
    else:
        at = _instant(raw["at"])
        if at is not None and at < start:
            errors.append(
                _error(
                    [*loc, "at"],
                    f"{at.isoformat()} is before the scenario starts ({start.isoformat()})",
                    "before_start",
                )
            )
    needed_by = raw.get("needed_by")
    if isinstance(needed_by, dict):
        unknown = sorted(str(key) for key in needed_by.keys() - _RELATIVE_KEYS)
        if unknown:
            errors.append(
                _error([*loc, "needed_by", unknown[0]], "a relative needed_by has only day and time", "extra_forbidden")
            )
            placeholders.add("needed_by")
        else:
            at, wrong = _when(needed_by, [*loc, "needed_by"], start)
            errors += wrong
            if at is None:
                placeholders.add("needed_by")
            else:
                inject["needed_by"] = at
    for field in placeholders:
        inject[field] = start  # valid, so the inject's other fields are still checked; its errors are known
    return inject, errors, placeholders


# --- validation --------------------------------------------------------------------------------


def _pydantic_errors(
    error: ValidationError, injects: list[Any], placeholders: dict[int, set[str]]
) -> list[dict[str, Any]]:
    errors = []
    for found in error.errors():
        loc = list(found["loc"])
        kind, msg = found["type"], found["msg"]
        index = loc[1] if len(loc) >= 2 and loc[0] == "injects" else None
        if isinstance(index, int):
            raw = injects[index] if index < len(injects) else None
            tag = raw.get("kind") if isinstance(raw, dict) else None
            if len(loc) >= 3 and loc[2] == tag:
                del loc[2]  # the union's tag: ["injects", 3, "delivery", "quantity"] -> ["injects", 3, "quantity"]
            if len(loc) >= 3 and loc[2] in placeholders.get(index, ()):
                continue  # already reported, as a time we could not resolve
            if kind == "union_tag_invalid":
                loc, msg = [*loc, "kind"], f"unknown kind {tag!r}: one of {', '.join(KINDS)}"
            elif kind == "union_tag_not_found":
                loc, msg = [*loc, "kind"], f"missing kind: one of {', '.join(KINDS)}"
            elif kind == "model_attributes_type":
                msg = "an inject is a mapping of fields (kind, at or day, ...)"
        if kind == "value_error":
            msg = msg.removeprefix("Value error, ")
        errors.append(_error(loc, msg, kind))
    return errors


def _index(error: dict[str, Any]) -> tuple[int, int]:
    loc = error["loc"]
    if len(loc) >= 2 and loc[0] == "injects" and isinstance(loc[1], int):
        return 1, loc[1]
    return 0, 0


def load_scenario(text: str, scenario_start: datetime, filename: str | None = None) -> Scenario:
    """Read a scenario file's text (YAML, or JSON) with relative times resolved against
    `scenario_start`; raise `ScenarioError` with every error found."""
    if scenario_start.tzinfo is None or scenario_start.utcoffset() is None:
        raise ValueError("scenario_start must be timezone-aware")
    if len(text) > MAX_SCENARIO_CHARS:
        raise ScenarioError(
            [_error([], f"the file is larger than {MAX_SCENARIO_CHARS:,} characters", "too_large")], filename
        )
    text = text.removeprefix("\ufeff")
    try:
        data = _parse(text, filename)
    except _Syntax as syntax:
        raise ScenarioError([syntax.error], filename) from None
    if data is None:
        raise ScenarioError([_error([], "the file is empty: a scenario has at least injects", "empty")], filename)
    if not isinstance(data, dict):
        raise ScenarioError(
            [
                _error(
                    [],
                    f"a scenario is a mapping with name, description, objectives, capabilities "
                    f"and injects, not a {type(data).__name__}",
                    "dict_type",
                )
            ],
            filename,
        )
    shape_error = _shape_error(data)
    if shape_error is not None:
        raise ScenarioError([shape_error], filename)

    errors: list[dict[str, Any]] = []
    placeholders: dict[int, set[str]] = {}
    raw_injects = data.get("injects")
    if isinstance(raw_injects, list):
        resolved = []
        for index, raw in enumerate(raw_injects):
            if not isinstance(raw, dict):
                resolved.append(raw)
                continue
            inject, wrong, placeholders[index] = _resolve(raw, index, scenario_start)
            resolved.append(inject)
            errors += wrong
        data = {**data, "injects": resolved}
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as invalid:
        errors += _pydantic_errors(invalid, raw_injects if isinstance(raw_injects, list) else [], placeholders)
    if errors:
        raise ScenarioError(sorted(errors, key=_index), filename)
    return scenario


def scenario_from_path(path: str | os.PathLike[str], scenario_start: datetime) -> Scenario:
    """Read a scenario file from disk (UTF-8); `.json` files are JSON, anything else YAML."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ScenarioError(
            [_error([], f"the file is not UTF-8 text (byte {error.start})", "encoding")], str(path)
        ) from None
    return load_scenario(text, scenario_start, filename=str(path))
