"""Targeting regexes nothing can stop once they run (the TypeScript evaluator's `regexBeyondLinearEngine`).

A group holding a repetition, repeated a fixed number of times (`^(\\w+\\s?){10}$`, "up to ten
words"), takes time growing as the input's length to that power on a value it does not match:
seconds from about 30 characters. The API refuses such a pattern when a rule is saved; one stored
before that check is not run by either SDK: its condition matches nothing, and the flag reports
INVALID_RULE, the same as for a pattern that does not compile.
"""

from __future__ import annotations

import math
import re
from typing import Final, NamedTuple

__all__ = ["regex_beyond_linear_engine"]

_BRACES: Final = re.compile(r"\{(\d+)(,(\d*))?\}")


class _Quantifier(NamedTuple):
    length: int
    repeats: bool
    max: float | None


def _quantifier_at(source: str, i: int) -> _Quantifier | None:
    c = source[i] if i < len(source) else ""
    lazy = 1 if source[i + 1:i + 2] == "?" else 0
    if c in ("*", "+"):
        return _Quantifier(1 + lazy, True, None)
    if c == "?":
        return _Quantifier(1 + lazy, False, None)
    if c == "{":
        m = _BRACES.match(source, i)
        if m is None:
            return None
        low = int(m.group(1))
        high: float = low if m.group(2) is None else (math.inf if m.group(3) == "" else int(m.group(3)))
        end = m.end()
        return _Quantifier(end - i + (1 if source[end:end + 1] == "?" else 0), high > 1 and high > low, high)
    return None


def regex_beyond_linear_engine(source: str) -> str | None:
    """Why `source` must not run (a counted group of repetitions), or None. Assumes it compiles."""
    stack: list[bool] = [False]  # per open group: whether it holds a repeating quantifier
    i = 0
    n = len(source)
    while i < n:
        c = source[i]
        if c == "\\":
            i += 2
        elif c == "[":
            i += 1
            while i < n and source[i] != "]":
                i += 2 if source[i] == "\\" else 1
            i += 1
        elif c == "(":
            stack.append(False)
            i += 1
            continue
        elif c == ")":
            repeats = stack.pop() if len(stack) > 1 else False
            q = _quantifier_at(source, i + 1)
            if q is not None and not q.repeats and (q.max if q.max is not None else 1) > 1 and repeats:
                count = int(q.max) if q.max is not None else 1
                return (
                    f"a group holding a repetition is repeated {count} times (as in (\\w+\\s?){{10}}), "
                    "which takes time growing as the input's length to that power: write it without "
                    "the counted group (for example ^[\\w\\s]+$), and count words or lengths in code"
                )
            stack[-1] = stack[-1] or repeats or (q is not None and q.repeats)
            i += 1 + (q.length if q is not None else 0)
            continue
        elif c == "|":
            i += 1
            continue
        else:
            i += 1
        q = _quantifier_at(source, i)
        if q is not None:
            stack[-1] = stack[-1] or q.repeats
            i += q.length
    return None
