"""JavaScript regular expressions (no `u` flag, optional `i`) translated to Python's `re`.

GrowthBook compiles `$regex` with `new RegExp(pattern)`, so xp must accept exactly JavaScript's
syntax (with the web-compatibility rules of ECMAScript Annex B) and match like it:

* the subject and the pattern are sequences of UTF-16 code units, so `.` matches one code unit
  and an emoji is two;
* `.` excludes the four line terminators, `$` matches only at the very end, `^` only at the start;
* `\\d`, `\\w` and `\\b` are ASCII-only, `\\s` is JavaScript's whitespace set;
* a backreference to a group that has not matched matches the empty string, and so does one to a
  group not yet closed where it stands (`\\1(a)`, `(a\\1)`): JavaScript has not set that group there,
  since a quantifier clears the captures inside it at each iteration;
* `i` uses JavaScript's simple upper-case canonicalisation, expanded here into character sets.

Patterns JavaScript rejects raise `JsRegexError`. A few valid JavaScript patterns cannot be
expressed in Python's `re` and raise `JsRegexError` too (see `docs/sdk-python.md`): lookbehinds
whose alternatives have different or unbounded lengths (so no backreference inside one).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from ._jscase import UPPER_UNIT as _JS_UPPER_UNIT
from .jsvalue import utf16_units

__all__ = ["JsRegexError", "compile_js_regex"]

_MAX_UNIT: Final = 0xFFFF
_LINE_TERMINATORS: Final = [(0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)]
_DIGIT: Final = [(0x30, 0x39)]
_WORD: Final = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
_SPACE: Final = [
    (0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
    (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF),
]
_W: Final = "[0-9A-Z_a-z]"
_WORD_BOUNDARY: Final = f"(?:(?<={_W})(?!{_W})|(?<!{_W})(?={_W}))"
_NOT_WORD_BOUNDARY: Final = f"(?:(?<={_W})(?={_W})|(?<!{_W})(?!{_W}))"
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_SYNTAX_CHARS: Final = frozenset("^$\\.*+?()[]{}|/")
_GROUP_NAME: Final = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")

Ranges = list[tuple[int, int]]


class JsRegexError(ValueError):
    """The pattern is not a valid JavaScript regular expression, or cannot be translated."""


def _normalize(ranges: Ranges) -> Ranges:
    out: Ranges = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _complement(ranges: Ranges) -> Ranges:
    out: Ranges = []
    nxt = 0
    for lo, hi in _normalize(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= _MAX_UNIT:
        out.append((nxt, _MAX_UNIT))
    return out


def _canonicalize(c: int) -> int:
    # ECMAScript Canonicalize without the u flag: toUpperCase, unless that gives several
    # characters or maps a non-ASCII character to ASCII. JavaScript's toUpperCase (generated from
    # Node into _jscase), not str.upper(), whose Unicode database may be older (U+0264 ɤ → U+A7CB Ɤ).
    return _JS_UPPER_UNIT.get(c, c)


@lru_cache(maxsize=1)
def _case_tables() -> tuple[list[int], dict[int, list[int]]]:
    canon = [_canonicalize(c) for c in range(_MAX_UNIT + 1)]
    members: dict[int, list[int]] = {}
    for c, k in enumerate(canon):
        if k != c or c in members:
            members.setdefault(k, []).append(c)
    for k, group in members.items():
        if k not in group:
            group.append(k)
    return canon, members


def _case_closure(ranges: Ranges) -> Ranges:
    canon, members = _case_tables()
    extra: Ranges = []
    for lo, hi in ranges:
        for c in range(lo, hi + 1):
            for m in members.get(canon[c], ()):
                extra.append((m, m))
    return _normalize(ranges + extra)


def _unit(c: int) -> str:
    if 0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A:
        return chr(c)
    return f"\\u{c:04x}"


def _class(ranges: Ranges) -> str:
    ranges = _normalize(ranges)
    if not ranges:
        return "(?!)"
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        return _unit(ranges[0][0])
    body = "".join(_unit(lo) if lo == hi else f"{_unit(lo)}-{_unit(hi)}" for lo, hi in ranges)
    return f"[{body}]"


class _Translator:
    def __init__(self, pattern: str, ignore_case: bool) -> None:
        self.src = pattern
        self.pos = 0
        self.ignore_case = ignore_case
        self.group_count, self.names = self._scan_groups()
        self.opened = 0
        # Groups whose `)` has been read: a backreference to any other one matches empty in JavaScript.
        self.closed: set[int] = set()
        # Inside a lookbehind JavaScript matches right to left, so a group after a backreference may be set first.
        self.lookbehinds = 0

    # -- pre-scan ---------------------------------------------------------------------------
    def _scan_groups(self) -> tuple[int, dict[str, int]]:
        s, i, n, count, names, in_class = self.src, 0, len(self.src), 0, {}, False
        while i < n:
            c = s[i]
            if c == "\\":
                i += 2
                continue
            if in_class:
                in_class = c != "]"
            elif c == "[":
                in_class = True
            elif c == "(":
                if s.startswith("(?<", i) and not s.startswith("(?<=", i) and not s.startswith("(?<!", i):
                    count += 1
                    end = s.find(">", i + 3)
                    if end >= 0:
                        name = s[i + 3:end]
                        if name in names:
                            raise JsRegexError(f"duplicate capture group name {name!r}")
                        names[name] = count
                elif not s.startswith("(?", i):
                    count += 1
            i += 1
        return count, names

    # -- helpers ----------------------------------------------------------------------------
    def error(self, message: str) -> JsRegexError:
        return JsRegexError(f"{message} at position {self.pos}")

    def peek(self, k: int = 0) -> str:
        i = self.pos + k
        return self.src[i] if i < len(self.src) else ""

    def literal(self, c: int) -> str:
        if self.ignore_case:
            return _class(_case_closure([(c, c)]))
        return _unit(c)

    def char_set(self, ranges: Ranges, negate: bool = False) -> str:
        if self.ignore_case:
            ranges = _case_closure(ranges)
        return _class(_complement(ranges) if negate else ranges)

    # -- grammar ----------------------------------------------------------------------------
    def translate(self) -> str:
        out = self.disjunction()
        if self.pos < len(self.src):
            raise self.error("unmatched ')'")
        return out

    def disjunction(self) -> str:
        alternatives = [self.alternative()]
        while self.peek() == "|":
            self.pos += 1
            alternatives.append(self.alternative())
        return "|".join(alternatives)

    def alternative(self) -> str:
        parts: list[str] = []
        while self.pos < len(self.src) and self.peek() not in ("|", ")"):
            parts.append(self.term())
        return "".join(parts)

    def term(self) -> str:
        c = self.peek()
        # Assertions, which cannot be quantified.
        if c == "^":
            self.pos += 1
            return self.no_quantifier("\\A")
        if c == "$":
            self.pos += 1
            return self.no_quantifier("\\Z")
        if c == "\\" and self.peek(1) in ("b", "B"):
            self.pos += 2
            return self.no_quantifier(_WORD_BOUNDARY if self.src[self.pos - 1] == "b" else _NOT_WORD_BOUNDARY)
        if c == "(" and self.peek(1) == "?" and self.peek(2) == "<" and self.peek(3) in ("=", "!"):
            kind = self.peek(3)
            self.pos += 4
            self.lookbehinds += 1
            inner = self.disjunction()
            self.lookbehinds -= 1
            self.expect_close()
            return self.no_quantifier(f"(?<{kind}{inner})")
        if c == "(" and self.peek(1) == "?" and self.peek(2) in ("=", "!"):
            kind = self.peek(2)
            self.pos += 3
            inner = self.disjunction()
            self.expect_close()
            # Annex B lets a lookahead be quantified; Python needs it wrapped in a group.
            return self.quantified(f"(?:(?{kind}{inner}))")
        return self.quantified(self.atom())

    def expect_close(self) -> None:
        if self.peek() != ")":
            raise self.error("unterminated group")
        self.pos += 1

    def no_quantifier(self, atom: str) -> str:
        if self.read_quantifier(probe=True):
            raise self.error("nothing to repeat")
        return atom

    def read_quantifier(self, probe: bool = False) -> str | None:
        c = self.peek()
        start = self.pos
        if c in ("*", "+", "?"):
            q = c
            self.pos += 1
        elif c == "{":
            m = re.compile(r"\{([0-9]+)(,([0-9]*))?\}").match(self.src, self.pos)
            if m is None:
                return None
            lo = int(m.group(1))
            hi = m.group(3)
            if hi not in (None, "") and int(hi) < lo:
                raise self.error("numbers out of order in {} quantifier")
            q = m.group(0)
            self.pos = m.end()
        else:
            return None
        if probe:
            self.pos = start
            return q
        if self.peek() == "?":
            self.pos += 1
            q += "?"
        return q

    def quantified(self, atom: str) -> str:
        q = self.read_quantifier()
        if q is None:
            return atom
        return f"(?:{atom}){q}"

    def atom(self) -> str:
        c = self.peek()
        if c in ("*", "+", "?"):
            raise self.error("nothing to repeat")
        if c == "{" and self.read_quantifier(probe=True):
            raise self.error("nothing to repeat")
        if c == ".":
            self.pos += 1
            return _class(_complement(_LINE_TERMINATORS))
        if c == "(":
            return self.group()
        if c == "[":
            return self.character_class()
        if c == "\\":
            return self.atom_escape()
        self.pos += 1
        return self.literal(ord(c))

    def group(self) -> str:
        self.pos += 1
        if self.peek() == "?":
            if self.peek(1) == ":":
                self.pos += 2
                inner = self.disjunction()
                self.expect_close()
                return f"(?:{inner})"
            if self.peek(1) == "<":
                m = _GROUP_NAME.match(self.src, self.pos + 2)
                if m is None or self.src[m.end():m.end() + 1] != ">":
                    raise self.error("invalid capture group name")
                self.pos = m.end() + 1
                return self.capture()
            raise self.error("invalid group")
        return self.capture()

    def capture(self) -> str:
        self.opened += 1
        number = self.opened
        inner = self.disjunction()
        self.expect_close()
        self.closed.add(number)
        return f"({inner})"

    def backreference(self, n: int) -> str:
        if n not in self.closed and self.lookbehinds == 0:
            # Before its group, or inside it: JavaScript has not set the group here (a quantifier
            # clears the captures inside it at each iteration), so it matches the empty string.
            return "(?:)"
        ref = f"(?i:\\{n})" if self.ignore_case else f"\\{n}"
        # A JavaScript backreference to a group that has not matched matches the empty string.
        return f"(?({n}){ref})"

    def atom_escape(self) -> str:
        self.pos += 1
        if self.pos >= len(self.src):
            raise self.error("\\ at end of pattern")
        c = self.peek()
        if c in "123456789":
            m = re.compile(r"[0-9]+").match(self.src, self.pos)
            assert m is not None
            n = int(m.group(0))
            if n <= self.group_count:
                self.pos = m.end()
                return self.backreference(n)
            if c in "89":
                self.pos += 1
                return self.literal(ord(c))
            return self.literal(self.legacy_octal())
        if c == "k" and self.names:
            m = re.compile(r"k<([^>]*)>").match(self.src, self.pos)
            if m is None or m.group(1) not in self.names:
                raise self.error("invalid named reference")
            self.pos = m.end()
            return self.backreference(self.names[m.group(1)])
        ranges = self.class_escape()
        if ranges is not None:
            return self.char_set(*ranges)
        if c == "c" and not ("a" <= self.peek(1).lower() <= "z" and self.peek(1).isascii()):
            # Annex B: a "\c" not followed by a letter is a literal backslash; "c" is read next.
            return self.literal(0x5C)
        return self.literal(self.character_escape(in_class=False))

    def class_escape(self) -> tuple[Ranges, bool] | None:
        c = self.peek()
        table = {"d": _DIGIT, "w": _WORD, "s": _SPACE}
        if c.lower() in table and c.isascii():
            self.pos += 1
            return table[c.lower()], c.isupper()
        return None

    def legacy_octal(self) -> int:
        m = re.compile(r"[0-3][0-7]{0,2}|[4-7][0-7]?").match(self.src, self.pos)
        assert m is not None
        self.pos = m.end()
        return int(m.group(0), 8)

    def character_escape(self, in_class: bool) -> int:
        """Reads the escape after a backslash (already consumed) and returns its code unit."""
        c = self.peek()
        simple = {"t": 0x09, "n": 0x0A, "v": 0x0B, "f": 0x0C, "r": 0x0D}
        if c in simple:
            self.pos += 1
            return simple[c]
        if c == "c":
            nxt = self.peek(1)
            if nxt.isascii() and (nxt.isalpha() or (in_class and (nxt.isdigit() or nxt == "_"))):
                self.pos += 2
                return ord(nxt) % 32
            return 0x5C  # caller handles the literal "c" that follows
        if c == "0" and not self.peek(1).isdigit():
            self.pos += 1
            return 0
        if c in "01234567" and c != "":
            return self.legacy_octal()
        if c == "x":
            h = self.src[self.pos + 1:self.pos + 3]
            if len(h) == 2 and all(ch in _HEX for ch in h):
                self.pos += 3
                return int(h, 16)
        elif c == "u":
            h = self.src[self.pos + 1:self.pos + 5]
            if len(h) == 4 and all(ch in _HEX for ch in h):
                self.pos += 5
                return int(h, 16)
        elif c == "k" and self.names:
            raise self.error("invalid escape \\k")
        self.pos += 1
        return ord(c)

    def character_class(self) -> str:
        self.pos += 1
        negate = self.peek() == "^"
        if negate:
            self.pos += 1
        ranges: Ranges = []
        while True:
            if self.pos >= len(self.src):
                raise self.error("unterminated character class")
            if self.peek() == "]":
                self.pos += 1
                break
            first = self.class_atom()
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.pos += 1
                second = self.class_atom()
                if isinstance(first, int) and isinstance(second, int):
                    if first > second:
                        raise self.error("range out of order in character class")
                    ranges.append((first, second))
                    continue
                # Annex B: a range with a class escape at either end is a union with "-".
                ranges.append((0x2D, 0x2D))
                for part in (first, second):
                    ranges.extend([(part, part)] if isinstance(part, int) else part)
                continue
            ranges.extend([(first, first)] if isinstance(first, int) else first)
        return self.char_set(ranges, negate)

    def class_atom(self) -> int | Ranges:
        c = self.peek()
        if c != "\\":
            self.pos += 1
            return ord(c)
        self.pos += 1
        if self.pos >= len(self.src):
            raise self.error("\\ at end of pattern")
        c = self.peek()
        if c == "b":
            self.pos += 1
            return 0x08
        if c == "-":
            self.pos += 1
            return 0x2D
        escape = self.class_escape()
        if escape is not None:
            ranges, negate = escape
            return _complement(ranges) if negate else list(ranges)
        if c in "89":
            self.pos += 1
            return ord(c)
        return self.character_escape(in_class=True)


@lru_cache(maxsize=512)
def compile_js_regex(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """Compiles a JavaScript pattern for `search` over `utf16_units(subject)`; raises JsRegexError."""
    translated = _Translator(utf16_units(pattern), ignore_case).translate()
    try:
        return re.compile(translated)
    except (re.error, OverflowError, RecursionError) as e:
        raise JsRegexError(f"not supported by this SDK: {e}") from None
