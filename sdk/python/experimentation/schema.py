"""Validation of the ruleset document (the Python twin of shared/src/model/ruleset.ts).

Each check returns the problems it found as "path: message" strings; an empty list means valid.
Objects are strict (an unknown key is a problem), as in the TypeScript schema. The one top-level field
outside that schema accepted here is `serverOnly`, which the API and the JavaScript SDK put beside a
ruleset (see `_server_only`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from .jsvalue import is_number

__all__ = ["check_envelope", "check_flag", "check_experiment", "check_holdout", "RULESET_SCHEMA_VERSION"]

RULESET_SCHEMA_VERSION: Final = 1
_KEY: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_MAX_SAFE: Final = 2**53 - 1

# Where a value is: the document path ("flags.a"), or (the parent's path, a key or an array index). Only
# written out as "flags.a.rules[0].id" for a problem, so a valid document costs no string formatting.
Path = Any
Check = Callable[[Any, Path, list[str]], None]


def _text(path: Path) -> str:
    """A path as problems name it: `flags.a.rules[0].id`."""
    parts: list[str] = []
    while type(path) is tuple:
        path, step = path
        parts.append(f"[{step}]" if type(step) is int else f".{step}")
    return str(path) + "".join(reversed(parts))


def _utf16_length(v: str) -> int:
    """JavaScript's `length`: UTF-16 code units, so U+1F600 counts 2 (as the TypeScript schema measures)."""
    if v.isascii():
        return len(v)
    return len(v.encode("utf-16-le", "surrogatepass")) // 2


def _string(min_len: int = 0, max_len: int | None = None, pattern: re.Pattern[str] | None = None) -> Check:
    def check(v: Any, path: Path, out: list[str]) -> None:
        if not isinstance(v, str):
            out.append(f"{_text(path)}: expected a string")
        elif (n := _utf16_length(v)) < min_len or (max_len is not None and n > max_len):
            out.append(f"{_text(path)}: length must be between {min_len} and {max_len}")
        elif pattern is not None and not pattern.fullmatch(v):
            out.append(f"{_text(path)}: has an invalid format")
    return check


def _number(lo: float | None = None, hi: float | None = None, integer: bool = False) -> Check:
    def check(v: Any, path: Path, out: list[str]) -> None:
        if not is_number(v) or v != v or v in (float("inf"), float("-inf")):
            out.append(f"{_text(path)}: expected a number")
        elif integer and (float(v) != int(v) or abs(v) > _MAX_SAFE):
            out.append(f"{_text(path)}: expected an integer")
        elif (lo is not None and v < lo) or (hi is not None and v > hi):
            out.append(f"{_text(path)}: must be between {lo} and {hi}")
    return check


def _boolean(v: Any, path: Path, out: list[str]) -> None:
    if not isinstance(v, bool):
        out.append(f"{_text(path)}: expected a boolean")


def _literal(*allowed: Any) -> Check:
    def check(v: Any, path: Path, out: list[str]) -> None:
        if isinstance(v, bool) or not any(v == a and type(v) in (int, float, str) for a in allowed):
            out.append(f"{_text(path)}: must be one of {list(allowed)}")
    return check


def _any(_v: Any, _path: Path, _out: list[str]) -> None:
    return None


def _record(v: Any, path: Path, out: list[str]) -> None:
    if not isinstance(v, dict):
        out.append(f"{_text(path)}: expected an object")


def _array(item: Check, min_len: int = 0, max_len: int | None = None) -> Check:
    def check(v: Any, path: Path, out: list[str]) -> None:
        if not isinstance(v, list):
            out.append(f"{_text(path)}: expected an array")
            return
        if len(v) < min_len or (max_len is not None and len(v) > max_len):
            out.append(f"{_text(path)}: must hold between {min_len} and {max_len} items")
        for i, e in enumerate(v):
            item(e, (path, i), out)
    return check


def _tuple(*items: Check) -> Check:
    def check(v: Any, path: Path, out: list[str]) -> None:
        if not isinstance(v, list) or len(v) != len(items):
            out.append(f"{_text(path)}: expected an array of {len(items)} items")
            return
        for i, (c, e) in enumerate(zip(items, v)):
            c(e, (path, i), out)
    return check


def _union(*options: Check) -> Check:
    def check(v: Any, path: Path, out: list[str]) -> None:
        for c in options:
            attempt: list[str] = []
            c(v, path, attempt)
            if not attempt:
                return
        out.append(f"{_text(path)}: does not match any allowed type")
    return check


def _strict(required: dict[str, Check], optional: dict[str, Check] | None = None) -> Check:
    opt = optional or {}

    def check(v: Any, path: Path, out: list[str]) -> None:
        if not isinstance(v, dict):
            out.append(f"{_text(path)}: expected an object")
            return
        for k, c in required.items():
            if k not in v:
                out.append(f"{_text(path)}.{k}: required")
            else:
                c(v[k], (path, k), out)
        for k, c in opt.items():
            if k in v:
                c(v[k], (path, k), out)
        for k in v:
            if k not in required and k not in opt:
                out.append(f"{_text(path)}.{k}: unknown key")
    return check


_key = _string(1, 128, _KEY)
_attribute = _string(1, 256)
_index = _number(0, None, integer=True)
_epoch_ms = _number(integer=True)
_fraction = _number(0, 1)
_hashing = {"hashAttribute": _attribute, "seed": _string(0, 256), "hashVersion": _literal(1, 2)}
_hashing_optional = {"fallbackAttribute": _attribute}
_rule_base_optional = {"condition": _record, "from": _epoch_ms, "until": _epoch_ms}
_rule_id = {"id": _string(1, 64)}

_RULES: Final[dict[str, Check]] = {
    "force": _strict({**_rule_id, "type": _any, "variation": _index}, _rule_base_optional),
    "rollout": _strict(
        {**_rule_id, **_hashing, "type": _any, "variation": _index, "coverage": _fraction},
        {**_rule_base_optional, **_hashing_optional, "schedule": _array(_tuple(_epoch_ms, _fraction), 0, 50)},
    ),
    "split": _strict(
        {**_rule_id, **_hashing, "type": _any, "weights": _array(_fraction, 1, 100)},
        {**_rule_base_optional, **_hashing_optional},
    ),
    "experiment": _strict({**_rule_id, "type": _any, "experiment": _key, "variations": _array(_index, 1, 64)}, _rule_base_optional),
}


def _rule(v: Any, path: Path, out: list[str]) -> None:
    kind = v.get("type") if isinstance(v, dict) else None
    check = _RULES.get(kind) if isinstance(kind, str) else None
    if check is None:
        out.append(f"{_text(path)}.type: expected one of {sorted(_RULES)}")
        return
    check(v, path, out)


_flag = _strict(
    {"variations": _array(_strict({"key": _key, "value": _any}), 1, 100), "default": _index, "off": _index},
    {
        "on": _boolean,
        "prerequisites": _array(_strict({"flag": _key, "variation": _key}), 0, 20),
        "rules": _array(_rule, 0, 500),
    },
)

_experiment = _strict(
    {
        **_hashing,
        "coverage": _fraction,
        "weights": _array(_fraction, 1, 64),
        "variations": _array(_strict({"key": _key}, {"value": _any, "url": _string(0, 2048)}), 1, 64),
    },
    {
        **_hashing_optional,
        "condition": _record,
        "namespace": _tuple(_string(1, 128), _fraction, _fraction),
        "holdout": _key,
        "sticky": _strict({"bucketVersion": _index, "minBucketVersion": _index}),
        "force": _index,
        "urlOverride": _boolean,
    },
)

_holdout = _strict({"hashAttribute": _attribute, "seed": _string(0, 256), "coverage": _fraction})

def _saved_groups(v: Any, path: Path, out: list[str]) -> None:
    if not isinstance(v, dict):
        out.append(f"{_text(path)}: expected an object")
        return
    members = _array(_union(_string(), _number()))
    for k, g in v.items():
        members(g, (path, str(k)), out)


def _server_only(v: Any, path: Path, out: list[str]) -> None:
    """`serverOnly`: the keys a client-side SDK key does not get, listed beside the ruleset by
    `GET /sdk/v1/ruleset?include=serverOnly` and the JavaScript SDK's `getSnapshot({ includeServerOnly: true })`.
    Not part of the ruleset: checked as the JavaScript SDK checks it (`{ flags?: string[], experiments?:
    string[] }`, null lists read as empty, other keys ignored), then ignored (a server SDK evaluates everything)."""
    if not isinstance(v, dict):
        out.append(f"{_text(path)}: expected an object {{flags: string[], experiments: string[]}}")
        return
    for name in ("flags", "experiments"):
        keys = v.get(name)
        if keys is not None and not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
            out.append(f"{_text(path)}.{name}: expected an array of strings")


SERVER_ONLY_FIELD: Final = "serverOnly"

_envelope = _strict(
    {"schemaVersion": _literal(RULESET_SCHEMA_VERSION), "environment": _key, "version": _index, "flags": _record},
    {
        "generatedAt": _string(),
        "experiments": _record,
        "savedGroups": _saved_groups,
        "holdouts": _record,
        SERVER_ONLY_FIELD: _server_only,
    },
)


def _run(check: Check, value: Any, path: str) -> list[str]:
    out: list[str] = []
    check(value, path, out)
    return out


def check_envelope(doc: Any) -> list[str]:
    """Problems with the top level of a ruleset (flags and experiments are checked one by one)."""
    return _run(_envelope, doc, "ruleset")


def check_flag(raw: Any, path: str) -> list[str]:
    return _run(_flag, raw, path)


def check_experiment(raw: Any, path: str) -> list[str]:
    return _run(_experiment, raw, path)


def check_holdout(raw: Any, path: str) -> list[str]:
    return _run(_holdout, raw, path)
