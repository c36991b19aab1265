"""MongoDB-style targeting conditions with GrowthBook's JavaScript semantics.

A condition is compiled once into a tree of closures (`compile_condition`); unknown operators,
invalid regular expressions and malformed operands are reported as problems with their path and
compile to "no match". `eval_condition` is the lenient GrowthBook-style entry point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from ._jscase import LOWER as _JS_LOWER
from .jsregex import JsRegexError, compile_js_regex
from .regex_safety import regex_beyond_linear_engine
from .jsvalue import (
    is_number,
    js_string_less,
    less_than,
    strict_equals,
    strict_key,
    to_js_number,
    to_js_string,
    to_json,
    to_json_value,
    truthy,
    type_name,
    utf16_units,
)
from .jsvalue import _key_order  # noqa: PLC2701 (JavaScript's key order, for explanations)
from .version import padded_version_string

__all__ = ["SavedGroups", "ConditionTest", "compile_condition", "eval_condition", "is_operator_object", "get_path"]

SavedGroups = Mapping[str, Any]
"""Saved group id → its members (a list, or a prepared set from `prepare_groups`)."""

ConditionTest = Callable[[Any, SavedGroups], bool]
_ValueTest = Callable[[Any, SavedGroups], bool]

KNOWN_OPERATORS: Final = frozenset({
    "$eq", "$ne", "$lt", "$lte", "$gt", "$gte", "$exists", "$in", "$nin", "$inGroup", "$notInGroup", "$not",
    "$size", "$elemMatch", "$all", "$alli", "$ini", "$nini", "$regex", "$regexi", "$type",
    "$veq", "$vne", "$vgt", "$vgte", "$vlt", "$vlte",
})


def _always_true(_obj: Any, _g: SavedGroups) -> bool:
    return True


def _always_false(_obj: Any, _g: SavedGroups) -> bool:
    return False


def _is_array(v: Any) -> bool:
    return isinstance(v, (list, tuple))


def is_operator_object(v: Any) -> bool:
    """A non-empty object whose keys all start with "$"."""
    return isinstance(v, dict) and len(v) > 0 and all(isinstance(k, str) and k.startswith("$") for k in v)


def _array_key(part: str, length: int) -> int | None:
    if part.isdigit() and part.isascii() and (part == "0" or part[0] != "0"):
        i = int(part)
        return i if i < length else None
    return None


# Attribute values that are read as they are; anything else goes through `to_json_value` first (a
# datetime compares as its ISO string, a Decimal as a number, a UUID as its string, an Enum as its value).
_PLAIN: Final = frozenset({str, bool, float, type(None)})


def _step(current: Any, part: str) -> tuple[bool, Any]:
    if type(current) not in _CONTAINERS:
        # An Enum whose value is an object, a mapping that is not a dict: stepped into as JSON.
        current = to_json_value(current)
    if isinstance(current, dict):
        if part in current:
            return True, current[part]
        return False, None
    if _is_array(current):
        if part == "length":
            return True, len(current)
        i = _array_key(part, len(current))
        if i is not None:
            return True, current[i]
    return False, None


_CONTAINERS: Final = frozenset({dict, list, tuple})


def get_path(obj: Any, path: str) -> Any:
    """Reads a dotted path; anything missing reads as None (JavaScript null). Values that are not JSON
    are read as `to_json_value` converts them."""
    current = obj
    for part in path.split("."):
        found, current = _step(current, part)
        if not found:
            return None
    return current if type(current) in _PLAIN else to_json_value(current)


def _compile_path(path: str) -> Callable[[Any], Any]:
    if "." not in path:
        def read_one(obj: Any) -> Any:
            v = obj.get(path) if type(obj) is dict else _step(obj, path)[1]
            return v if type(v) in _PLAIN else to_json_value(v)
        return read_one
    parts = path.split(".")

    def read(obj: Any) -> Any:
        current = obj
        for part in parts:
            found, current = _step(current, part)
            if not found:
                return None
        return current if type(current) in _PLAIN else to_json_value(current)
    return read


def js_lower(s: str) -> str:
    """JavaScript's `toLowerCase()`: `str.lower()` with the case mappings of the JavaScript evaluator
    (`_jscase.LOWER`, generated from Node), so that letters newer than Python's Unicode database
    (U+A7CB Ɤ → ɤ, Garay U+10D50 → U+10D70) lower as they do in JavaScript."""
    if s.isascii():
        return s.lower()
    return s.translate(_JS_LOWER).lower()


def _lower(v: Any) -> Any:
    return js_lower(v) if isinstance(v, str) else v


def _membership(items: Iterable[Any]) -> frozenset[tuple[Any, ...]]:
    return frozenset(k for k in (strict_key(e) for e in items) if k is not None)


def _make_in(keys: frozenset[tuple[Any, ...]], fold: bool = False) -> Callable[[Any], bool]:
    """`$in`: an array attribute matches when any element is in the list (strict equality)."""
    # The strings of the list, for the common case of a string attribute (no key tuple to build).
    strings = frozenset(k[1] for k in keys if k[0] == "str")

    def contains(v: Any) -> bool:
        k = strict_key(_lower(v) if fold else v)
        return k is not None and k in keys

    def test(actual: Any) -> bool:
        if type(actual) is str:
            return (js_lower(actual) if fold else actual) in strings
        if _is_array(actual):
            return any(contains(e) for e in actual)
        return contains(actual)
    return test


def _group_members(groups: SavedGroups, key: str) -> frozenset[tuple[Any, ...]] | None:
    members = groups.get(key)
    if members is None:
        return None
    if isinstance(members, frozenset):
        return members
    return _membership(members) if _is_array(members) or isinstance(members, (set, frozenset)) else None


def prepare_groups(groups: Mapping[str, Any] | None) -> dict[str, frozenset[tuple[Any, ...]]]:
    """Saved groups as strict-equality membership sets, built once per ruleset."""
    return {k: _membership(v) for k, v in (groups or {}).items() if _is_array(v)}


def _in_group(actual: Any, members: frozenset[tuple[Any, ...]] | None) -> bool:
    if members is None:
        return False
    if _is_array(actual):
        return any(strict_key(e) in members for e in actual)
    return strict_key(actual) in members


def _combine(tests: Sequence[ConditionTest]) -> ConditionTest:
    if not tests:
        return _always_true
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        a, b = tests

        def both(obj: Any, g: SavedGroups) -> bool:
            return a(obj, g) and b(obj, g)
        return both
    frozen = tuple(tests)

    def every(obj: Any, g: SavedGroups) -> bool:
        for t in frozen:
            if not t(obj, g):
                return False
        return True
    return every


class _Compiler:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def condition(self, cond: Any, path: str) -> ConditionTest:
        if not isinstance(cond, dict):
            self.problem(path, "a condition must be an object")
            return _always_false
        tests: list[ConditionTest] = []
        for key, value in cond.items():
            at = f"{path}.{key}"
            if key == "$or":
                parts = self.list(value, at)
                tests.append(_always_true if not parts else self._any(parts))
            elif key == "$nor":
                parts = self.list(value, at)
                tests.append(_always_false if not parts else self._none(parts))
            elif key == "$and":
                tests.append(_combine(self.list(value, at)))
            elif key == "$not":
                tests.append(self._negate(self.condition(value, at)))
            else:
                tests.append(self._attribute(_compile_path(str(key)), self.value(value, at)))
        return _combine(tests)

    @staticmethod
    def _negate(inner: ConditionTest) -> ConditionTest:
        return lambda obj, g: not inner(obj, g)

    @staticmethod
    def _attribute(read: Callable[[Any], Any], check: _ValueTest) -> ConditionTest:
        return lambda obj, g: check(read(obj), g)

    @staticmethod
    def _any(parts: Sequence[ConditionTest]) -> ConditionTest:
        frozen = tuple(parts)
        return lambda obj, g: any(t(obj, g) for t in frozen)

    @staticmethod
    def _none(parts: Sequence[ConditionTest]) -> ConditionTest:
        frozen = tuple(parts)
        return lambda obj, g: not any(t(obj, g) for t in frozen)

    def list(self, value: Any, path: str) -> list[ConditionTest]:
        if not _is_array(value):
            self.problem(path, "must be an array of conditions")
            return []
        return [self.condition(c, f"{path}[{i}]") for i, c in enumerate(value)]

    def value(self, expected: Any, path: str, insensitive: bool = False) -> _ValueTest:
        if isinstance(expected, str):
            if insensitive:
                lower = js_lower(expected)
                return lambda v, g: js_lower(to_js_string(v)) == lower
            return lambda v, g: (v if type(v) is str else to_js_string(v)) == expected
        if isinstance(expected, bool):
            return lambda v, g: v is not None and truthy(v) is expected
        if is_number(expected):
            number = float(expected)
            return lambda v, g: (float(v) if type(v) in _FLOAT_OR_INT else to_js_number(v)) == number
        if expected is None:
            return lambda v, g: v is None
        if not is_operator_object(expected):
            json = to_json(expected)
            return lambda v, g: to_json(v) == json
        ops = [self.operator(op, arg, f"{path}.{op}") for op, arg in expected.items()]
        if len(ops) == 1:
            return ops[0]
        return _combine(ops)

    def array(self, arg: Any, path: str) -> Sequence[Any] | None:
        if not _is_array(arg):
            self.problem(path, "must be an array")
            return None
        return arg  # type: ignore[no-any-return]

    def operator(self, op: str, arg: Any, path: str) -> _ValueTest:
        if op == "$eq":
            key = strict_key(arg)
            if key is None:
                return _always_false
            if type(arg) is str:
                return lambda a, g: a == arg if type(a) is str else strict_key(a) == key
            return lambda a, g: strict_key(a) == key
        if op == "$ne":
            if type(arg) is str:
                return lambda a, g: a != arg if type(a) is str else not strict_equals(a, arg)
            return lambda a, g: not strict_equals(a, arg)
        if op in ("$lt", "$lte", "$gt", "$gte"):
            return self.relational(op, arg)
        if op == "$exists":
            if truthy(arg):
                return lambda a, g: a is not None
            return lambda a, g: a is None
        if op in ("$in", "$nin", "$ini", "$nini"):
            items = self.array(arg, path)
            if items is None:
                return _always_false
            fold = op in ("$ini", "$nini")
            is_in = _make_in(_membership(_lower(e) for e in items) if fold else _membership(items), fold)
            if op in ("$in", "$ini"):
                return lambda a, g: is_in(a)
            return lambda a, g: not is_in(a)
        if op in ("$inGroup", "$notInGroup"):
            if not isinstance(arg, str):
                self.problem(path, "must be the key of a saved group")
                return _always_false
            if op == "$inGroup":
                return lambda a, g: _in_group(a, _group_members(g, arg))
            return lambda a, g: not _in_group(a, _group_members(g, arg))
        if op == "$not":
            inner = self.value(arg, path)
            return lambda a, g: not inner(a, g)
        if op == "$size":
            inner = self.value(arg, path)
            return lambda a, g: _is_array(a) and inner(len(a), g)
        if op == "$elemMatch":
            check: _ValueTest = self.value(arg, path) if is_operator_object(arg) else self.condition(arg, path)
            return lambda a, g: _is_array(a) and any(e is not None and check(e, g) for e in a)
        if op in ("$all", "$alli"):
            items = self.array(arg, path)
            if items is None:
                return _always_false
            checks = [self.value(e, f"{path}[{i}]", op == "$alli") for i, e in enumerate(items)]

            def all_of(a: Any, g: SavedGroups) -> bool:
                if not _is_array(a):
                    return False
                return all(any(e is not None and check(e, g) for e in a) for check in checks)
            return all_of
        if op in ("$regex", "$regexi"):
            if not isinstance(arg, str):
                self.problem(path, "must be a string")
                return _always_false
            try:
                pattern = compile_js_regex(arg, op == "$regexi")
            except JsRegexError as e:
                self.problem(path, f"invalid regular expression: {e}")
                return _always_false
            risk = regex_beyond_linear_engine(arg)
            if risk is not None:
                # Stored before the API refused such patterns: not run (as the TypeScript evaluator).
                self.problem(path, risk)
                return _always_false
            search = pattern.search
            return lambda a, g: search(utf16_units(a if type(a) is str else to_js_string(a))) is not None
        if op == "$type":
            return lambda a, g: type_name(a) == arg
        if op in ("$veq", "$vne", "$vgt", "$vgte", "$vlt", "$vlte"):
            return self.version(op, padded_version_string(arg))
        self.problem(path, "unsupported here" if op in KNOWN_OPERATORS else f'unknown operator "{op}"')
        return _always_false

    @staticmethod
    def relational(op: str, arg: Any) -> _ValueTest:
        number = _as_float(arg)
        if number is not None:
            # A number operand: JavaScript compares ToNumber(attribute) with it, whatever the attribute is.
            if op == "$lt":
                return lambda a, g: (float(a) if type(a) in _FLOAT_OR_INT else to_js_number(a)) < number
            if op == "$lte":
                return lambda a, g: (float(a) if type(a) in _FLOAT_OR_INT else to_js_number(a)) <= number
            if op == "$gt":
                return lambda a, g: number < (float(a) if type(a) in _FLOAT_OR_INT else to_js_number(a))
            return lambda a, g: number <= (float(a) if type(a) in _FLOAT_OR_INT else to_js_number(a))
        if op == "$lt":
            return lambda a, g: less_than(a, arg, False)
        if op == "$lte":
            return lambda a, g: less_than(a, arg, True)
        if op == "$gt":
            return lambda a, g: less_than(arg, a, False)
        return lambda a, g: less_than(arg, a, True)

    @staticmethod
    def version(op: str, e: str) -> _ValueTest:
        pv = _padded_version
        if op == "$veq":
            return lambda a, g: pv(a) == e
        if op == "$vne":
            return lambda a, g: pv(a) != e
        if op == "$vgt":
            return lambda a, g: js_string_less(e, pv(a))
        if op == "$vgte":
            return lambda a, g: not js_string_less(pv(a), e)
        if op == "$vlt":
            return lambda a, g: js_string_less(pv(a), e)
        return lambda a, g: not js_string_less(e, pv(a))


_FLOAT_OR_INT: Final = frozenset({float, int})


def _as_float(v: Any) -> float | None:
    """A number operand as the float JavaScript compares (None for anything else, or an int beyond a double)."""
    if not is_number(v):
        return None
    try:
        return float(v)
    except OverflowError:
        return None


_versions: dict[str, str] = {}
_VERSIONS_SIZE: Final = 4096


def _padded_version(v: Any) -> str:
    """`padded_version_string`, remembered for the strings seen last (an app version repeats across users)."""
    if type(v) is not str:
        return padded_version_string(v)
    padded = _versions.get(v)
    if padded is None:
        padded = padded_version_string(v)
        if len(_versions) >= _VERSIONS_SIZE:
            _versions.clear()
        _versions[v] = padded
    return padded


def compile_condition(condition: Any, path: str = "condition") -> tuple[ConditionTest, list[str]]:
    """Compiles a condition; returns the test and the problems found (empty when it is sound)."""
    compiler = _Compiler()
    test = compiler.condition(condition, path)
    return test, compiler.problems


_lenient_cache: dict[int, tuple[Any, ConditionTest]] = {}
_LENIENT_CACHE_SIZE: Final = 256


def eval_condition(attributes: Any, condition: Mapping[str, Any], saved_groups: SavedGroups | None = None) -> bool:
    """GrowthBook's evalCondition: never raises; unknown operators and invalid regexes do not match."""
    cached = _lenient_cache.get(id(condition))
    if cached is not None and cached[0] is condition:
        test = cached[1]
    else:
        test = compile_condition(condition)[0]
        if len(_lenient_cache) >= _LENIENT_CACHE_SIZE:
            _lenient_cache.clear()
        _lenient_cache[id(condition)] = (condition, test)
    try:
        return bool(test(attributes, saved_groups or {}))
    except Exception:
        return False


def explain_condition_failure(condition: Any, attributes: Any, groups: SavedGroups) -> str:
    """Why a condition is false for these attributes, in words (for explanations, never on the
    evaluation path): the first top-level part that fails, followed into `$and`. The same words as the
    TypeScript engine's `explainConditionFailure` (shared/spec/explain.json checks both)."""

    def passes(c: Any) -> bool:
        try:
            return bool(compile_condition(c)[0](attributes, groups))
        except Exception:
            return False

    if not isinstance(condition, Mapping):
        return "the condition is not an object"
    for key in _key_order(dict(condition)):
        expected = condition[key]
        if passes({key: expected}):
            continue
        if key == "$and":
            failing = next((part for part in expected if not passes(part)), None) if _is_array(expected) else None
            return "a part of $and is false" if failing is None else explain_condition_failure(failing, attributes, groups)
        if key == "$or":
            if _is_array(expected):
                return "none of $or matched (" + "; ".join(explain_condition_failure(part, attributes, groups) for part in expected) + ")"
            return "none of $or matched"
        if key == "$nor":
            matching = next((part for part in expected if passes(part)), None) if _is_array(expected) else None
            return "a $nor condition matched" if matching is None else f"a $nor condition matched: {to_json(matching)}"
        if key == "$not":
            return f"excluded: {to_json(expected)} matched"
        found, actual = True, attributes
        for part in str(key).split("."):
            found, actual = _step(actual, part)
            if not found:
                break
        return f"{key} is {to_json(to_json_value(actual)) if found else 'missing'}, needs {to_json(expected)}"
    return "the condition is false"
