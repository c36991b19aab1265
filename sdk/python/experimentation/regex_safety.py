"""Targeting regexes nothing can stop once they run (the TypeScript evaluator's `regexBeyondLinearEngine`).

A group holding a repetition, repeated a fixed number of times (`^(\\w+\\s?){10}$`, "up to ten
words"), takes time growing as the input's length to that power on a value it does not match:
seconds from about 30 characters. A group that can match in more than one way (alternatives, an
optional part) counted many times (`(a|a){26}`, `(a?){30}`) tries about 2^count splits. A
backreference (`(a*)\\1*b`) grows as a power of the length too (only a real one: without the `u`
flag, `\\101` in a pattern with fewer than 101 groups is the octal escape for A, and `\\8` the
digit 8). The API refuses such a pattern when a rule is saved; one stored before that check is not
run by either SDK: its condition matches nothing, and the flag reports INVALID_RULE, the same as for
a pattern that does not compile.
"""

from __future__ import annotations

import math
import re
from typing import Final, NamedTuple

__all__ = ["regex_beyond_linear_engine"]

_BRACES: Final = re.compile(r"\{(\d+)(,(\d*))?\}")
_DECIMAL_ESCAPE: Final = re.compile(r"[1-9][0-9]*")


def _capture_groups(source: str) -> tuple[int, bool]:
    """The capturing groups of a pattern (compiled without the `u` flag), and whether any has a name:
    each `(` not followed by `?`, and each named group `(?<name>`; not `(?:`, lookarounds, escaped
    parentheses or parentheses inside a character class (the TypeScript `captureGroups`)."""
    count, named, i, n = 0, False, 0, len(source)
    while i < n:
        c = source[i]
        if c == "\\":
            i += 2
        elif c == "[":
            # A character class, to its first unescaped `]` (`[]` is an empty class, as in JavaScript).
            i += 1
            while i < n and source[i] != "]":
                i += 2 if source[i] == "\\" else 1
            i += 1
        else:
            if c == "(":
                if source[i + 1:i + 2] != "?":
                    count += 1
                elif source[i + 2:i + 3] == "<" and source[i + 3:i + 4] not in ("=", "!"):
                    count += 1
                    named = True
            i += 1
    return count, named


def _is_backreference(source: str, i: int, groups: tuple[int, bool]) -> bool:
    """Whether the escape whose backslash is at `source[i]` is a backreference. Without the `u` flag
    (ECMAScript Annex B), `\\N` is one only when N is at most the number of capturing groups; otherwise
    `\\101` is an octal escape (A) and `\\8` the digit 8. `\\k<name>` is one only in a pattern with
    named groups (elsewhere it is the text `k<name>`)."""
    m = _DECIMAL_ESCAPE.match(source, i + 1)
    if m is not None:
        # More digits than any pattern has groups: not a backreference (and no int() of 5,000 digits).
        return len(m.group(0)) <= 9 and int(m.group(0)) <= groups[0]
    return groups[1] and source.startswith("k<", i + 1)


class _Quantifier(NamedTuple):
    length: int
    repeats: bool
    max: float | None
    optional: bool = False
    counted: bool = False


# More than about 2^10 ways to try per position is refused (the TypeScript MAX_WAYS_EXPONENT).
_MAX_WAYS_EXPONENT: Final = 10


class _Group:
    __slots__ = ("repeats", "alternates", "optional", "ways")

    def __init__(self) -> None:
        self.repeats = False
        self.alternates = False
        self.optional = False
        self.ways = 0.0


def _quantifier_at(source: str, i: int) -> _Quantifier | None:
    c = source[i] if i < len(source) else ""
    lazy = 1 if source[i + 1:i + 2] == "?" else 0
    if c in ("*", "+"):
        return _Quantifier(1 + lazy, True, None)
    if c == "?":
        return _Quantifier(1 + lazy, False, None, optional=True)
    if c == "{":
        m = _BRACES.match(source, i)
        if m is None:
            return None
        low = int(m.group(1))
        high: float = low if m.group(2) is None else (math.inf if m.group(3) == "" else int(m.group(3)))
        end = m.end()
        return _Quantifier(end - i + (1 if source[end:end + 1] == "?" else 0), high > 1 and high > low, high, optional=low == 0, counted=True)
    return None


def _count(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def regex_beyond_linear_engine(source: str) -> str | None:
    """Why `source` must not run (a counted group of repetitions, or of ways to match), or None. Assumes it compiles."""
    stack: list[_Group] = [_Group()]
    groups = _capture_groups(source)
    i = 0
    n = len(source)
    while i < n:
        c = source[i]
        if c == "\\":
            if _is_backreference(source, i, groups):
                # (a*)\1*b takes time growing as a power of the input's length; no engine bounds it.
                return ("a backreference (\\1 or \\k<name>) can take time growing as a power of the input's length, "
                        "and no engine can bound it: match the repeated part explicitly, or compare the values in code")
            i += 2
        elif c == "[":
            i += 1
            while i < n and source[i] != "]":
                i += 2 if source[i] == "\\" else 1
            i += 1
        elif c == "(":
            stack.append(_Group())
            i += 1
            continue
        elif c == ")":
            group = stack.pop() if len(stack) > 1 else _Group()
            q = _quantifier_at(source, i + 1)
            if q is not None and not q.repeats and (q.max if q.max is not None else 1) > 1 and group.repeats:
                count = int(q.max) if q.max is not None else 1
                return (
                    f"a group holding a repetition is repeated {count} times (as in (\\w+\\s?){{10}}), "
                    "which takes time growing as the input's length to that power: write it without "
                    "the counted group (for example ^[\\w\\s]+$), and count words or lengths in code"
                )
            ways = group.ways
            if (
                q is not None
                and q.counted
                and q.max is not None
                and math.isfinite(q.max)
                and q.max > 1
                and (ways > 0 or group.alternates or group.optional)
            ):
                ways = max(ways, 1) * q.max
                if ways > _MAX_WAYS_EXPONENT:
                    return (
                        f"a group that can match in more than one way (it holds alternatives or an optional part) is repeated "
                        f"{_count(q.max)} times (as in (a|b){{20}} or (a?){{30}}), which can take exponential time on some inputs: "
                        "write it as a character class or a single repetition (for example [ab]{20} or a{0,30}), or with fewer copies"
                    )
            parent = stack[-1]
            parent.repeats = parent.repeats or group.repeats or (q is not None and q.repeats)
            parent.alternates = parent.alternates or group.alternates
            parent.optional = parent.optional or group.optional or (q is not None and q.optional)
            parent.ways += ways
            if parent.ways > _MAX_WAYS_EXPONENT:
                return (
                    f"groups that can match in more than one way follow each other, counted {_count(parent.ways)} times in all "
                    "(as in (a|b){6}(c?){6}), which can take exponential time on some inputs: write them as character classes "
                    "or single repetitions, or with fewer copies"
                )
            i += 1 + (q.length if q is not None else 0)
            continue
        elif c == "|":
            stack[-1].alternates = True
            i += 1
            continue
        else:
            i += 1
        q = _quantifier_at(source, i)
        if q is not None:
            stack[-1].repeats = stack[-1].repeats or q.repeats
            stack[-1].optional = stack[-1].optional or q.optional
            i += q.length
    return None
