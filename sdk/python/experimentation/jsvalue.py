"""JavaScript value semantics over JSON values parsed by Python.

Conditions follow GrowthBook's JavaScript SDK, so comparisons use JavaScript's coercions
(ToString, ToNumber, truthiness, strict equality, relational comparison), not Python's.
JSON values map as: None ↔ null, bool ↔ boolean, int/float ↔ number, str ↔ string,
list/tuple ↔ array, dict ↔ object. Any other Python object behaves like a plain object, unless
`to_json_value` converted it first (datetime, date, Decimal, UUID, Enum, other real numbers).
"""

from __future__ import annotations

import enum
import json
import math
import numbers
import re
import uuid
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Final

__all__ = [
    "is_number",
    "js_number_to_string",
    "to_js_string",
    "to_js_number",
    "truthy",
    "strict_equals",
    "strict_key",
    "to_json",
    "type_name",
    "less_than",
    "js_string_less",
    "utf16_units",
    "to_json_value",
    "json_default",
]

_MAX_SAFE = 2**53
_NAN: Final = float("nan")
# JavaScript's WhiteSpace and LineTerminator code points (what String.prototype.trim removes).
_JS_WS: Final = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_DECIMAL: Final = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_NON_DECIMAL: Final = re.compile(r"0(?:[xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)")
_ARRAY_INDEX: Final = re.compile(r"0|[1-9][0-9]*")


def is_number(v: object) -> bool:
    """True for JavaScript numbers: int or float, never bool."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def js_number_to_string(x: float | int) -> str:
    """JavaScript's Number::toString: shortest round-trip digits, exponent from 1e21 and below 1e-6."""
    if type(x) is int and -_MAX_SAFE <= x <= _MAX_SAFE:
        return str(x)
    f = _exact_float(x)
    if f != f:
        return "NaN"
    if f in (math.inf, -math.inf):
        return "Infinity" if f > 0 else "-Infinity"
    if f == 0:
        return "0"
    if f.is_integer() and abs(f) < _MAX_SAFE:
        return str(int(f))
    sign = "-" if f < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(f))).as_tuple()
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    stripped = digits.rstrip("0")
    exponent = int(exponent) + len(digits) - len(stripped)
    digits = stripped
    # value = 0.digits × 10^n
    n = len(digits) + exponent
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    es = ("+" if e >= 0 else "-") + str(abs(e))
    if k == 1:
        return sign + digits + "e" + es
    return sign + digits[0] + "." + digits[1:] + "e" + es


def to_js_string(v: Any) -> str:
    """JavaScript's String(v) for JSON values (`value + ""` in GrowthBook)."""
    if type(v) is str:
        return v
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if is_number(v):
        return js_number_to_string(v)
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, (list, tuple)):
        return ",".join("" if e is None else to_js_string(e) for e in v)
    return "[object Object]"


def _to_primitive(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return to_js_string(v)
    if isinstance(v, dict) or not (v is None or isinstance(v, (bool, int, float, str))):
        return "[object Object]"
    return v


def _string_to_number(s: str) -> float:
    t = s.strip(_JS_WS)
    if t == "":
        return 0.0
    if _DECIMAL.fullmatch(t):
        return float(t.replace("Infinity", "inf"))
    if _NON_DECIMAL.fullmatch(t):
        return _exact_float(int(t[2:], {"x": 16, "o": 8, "b": 2}[t[1].lower()]))
    return _NAN


def _exact_float(v: int | float) -> float:
    """The nearest double, as JavaScript rounds a number: past the largest double (an int such as
    10**400, a string "0x" followed by 300 "f"s) that is Infinity, where Python's float() raises."""
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def to_js_number(v: Any) -> float:
    """JavaScript's ToNumber (`value * 1` in GrowthBook); NaN when not a number."""
    if v is None or v is False:
        return 0.0
    if v is True:
        return 1.0
    if is_number(v):
        return _exact_float(v)
    if isinstance(v, str):
        return _string_to_number(v)
    p = _to_primitive(v)
    return _string_to_number(p) if isinstance(p, str) else _NAN


def truthy(v: Any) -> bool:
    """JavaScript's `!!v`: false only for false, 0, NaN, "" and null."""
    if v is None or v is False:
        return False
    if v is True:
        return True
    if is_number(v):
        return bool(v == v and v != 0)
    if isinstance(v, str):
        return v != ""
    return True


def strict_key(v: Any) -> tuple[Any, ...] | None:
    """A hashable key under which `===` equal primitives collide; None for arrays and objects."""
    if v is None:
        return ("null",)
    if v is True or v is False:
        return ("bool", v)
    if is_number(v):
        return ("num", float(v))
    if isinstance(v, str):
        return ("str", v)
    return None


def strict_equals(a: Any, b: Any) -> bool:
    """JavaScript's `===`: same type and value; arrays and objects only equal themselves."""
    ka = strict_key(a)
    if ka is None:
        return a is b
    return ka == strict_key(b)


def _key_order(d: dict[Any, Any]) -> list[Any]:
    # JavaScript orders array-index keys numerically before the others (which keep insertion order).
    keys = [str(k) for k in d]
    index_keys = [k for k in keys if _ARRAY_INDEX.fullmatch(k) and int(k) < 2**32 - 1]
    if not index_keys:
        return list(d)
    index_set = set(index_keys)
    originals = {str(k): k for k in d}
    ordered = sorted(index_keys, key=int) + [k for k in keys if k not in index_set]
    return [originals[k] for k in ordered]


def to_json(v: Any) -> str:
    """JSON.stringify(v): compact, JavaScript number forms and key order."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if is_number(v):
        f = float(v)
        return "null" if f != f or f in (math.inf, -math.inf) else js_number_to_string(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(to_json(e) for e in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(str(k), ensure_ascii=False) + ":" + to_json(v[k]) for k in _key_order(v)) + "}"
    return "{}"


def type_name(v: Any) -> str:
    """GrowthBook's $type names: string, number, boolean, array, object, null."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "array"
    return "object"


def js_string_less(a: str, b: str) -> bool:
    """`a < b` for JavaScript strings: UTF-16 code unit order (differs from code points above U+FFFF)."""
    if a.isascii() and b.isascii():
        return a < b
    return a.encode("utf-16-be", "surrogatepass") < b.encode("utf-16-be", "surrogatepass")


def less_than(a: Any, b: Any, or_equal: bool) -> bool:
    """JavaScript's `a < b` (or `a <= b`) on any JSON values."""
    pa, pb = _to_primitive(a), _to_primitive(b)
    if isinstance(pa, str) and isinstance(pb, str):
        if or_equal:
            return not js_string_less(pb, pa)
        return js_string_less(pa, pb)
    x, y = to_js_number(pa), to_js_number(pb)
    return x <= y if or_equal else x < y


def utf16_units(s: str) -> str:
    """The string with every character above U+FFFF split into its two surrogate code units."""
    if s.isascii() or max(s) <= "\uffff":
        return s
    b = s.encode("utf-16-le", "surrogatepass")
    return "".join(chr(b[i] | (b[i + 1] << 8)) for i in range(0, len(b), 2))


# -- Python values that are not JSON, as JavaScript sees their usual counterparts ------------------

_PLAIN: Final = frozenset({str, float, bool, type(None)})
_PLAIN_OR_INT: Final = _PLAIN | {int}
# Ints below this are exact floats or at least finite ones: only larger ones need a look.
_HUGE: Final = 2**1023
_MAX_DEPTH: Final = 64
_UTC: Final = timezone.utc
_EPOCH: Final = datetime(1970, 1, 1)


def _huge_int(v: int) -> float | int:
    """An int too large for a float is JavaScript's Infinity (`Number(10n ** 400n)`), not an OverflowError."""
    try:
        float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf
    return v


def iso_instant(v: datetime) -> str:
    """JavaScript's `Date.prototype.toISOString()` for a datetime: UTC, milliseconds, `Z`
    (`2026-01-01T00:00:00.000Z`). An aware datetime is converted to UTC; a naive one is taken as UTC."""
    naive = v.replace(tzinfo=None)
    offset = v.utcoffset() if v.tzinfo is not None else None
    shift = 0
    if offset:
        try:
            naive = naive - offset
        except OverflowError:
            # Year 0 or 10000 in UTC: computed 400 years (one whole calendar cycle) away.
            shift = 400 if v.year < 5000 else -400
            naive = naive.replace(year=naive.year + shift) - offset
    year = naive.year - shift
    ms = naive.microsecond // 1000
    text = f"{naive.month:02d}-{naive.day:02d}T{naive.hour:02d}:{naive.minute:02d}:{naive.second:02d}.{ms:03d}Z"
    return (f"{year:04d}-" if 0 <= year <= 9999 else f"{year:+07d}-") + text


def iso_second(v: datetime) -> str:
    """The instant conditions compare a datetime as: `iso_instant` to the second (`2026-01-01T00:00:00Z`),
    the form conditions write dates in; with milliseconds, the instant `…00.000Z` would sort before
    `…00Z`. The JavaScript evaluator reads a `Date` attribute the same way."""
    text = iso_instant(v)
    return f"{text[:-5]}Z"


def to_json_value(v: Any, _depth: int = 0) -> Any:
    """A Python value as the JSON value evaluation reads (the object itself when it is JSON already).

    `datetime` → JavaScript's `toISOString()` (naive datetimes are UTC), `date` → `YYYY-MM-DD`,
    `Decimal` and other real numbers → float (NaN stays NaN), `numbers.Integral` → int, an int too
    large for a float → ±Infinity, `UUID` → its string, `Enum` → its value (converted too); inside
    lists, tuples (→ lists) and mappings (→ dicts) as well. Anything else is returned unchanged.
    """
    t = type(v)
    if t in _PLAIN:
        return v
    if t is int:
        return v if -_HUGE < v < _HUGE else _huge_int(v)
    if _depth >= _MAX_DEPTH:
        return v
    if t is dict or (isinstance(v, Mapping) and not isinstance(v, enum.Enum)):
        if t is dict and _is_json(v, _depth):
            return v
        out: dict[Any, Any] | None = None if t is dict else {}
        for k, item in v.items():
            c = to_json_value(item, _depth + 1)
            if out is None and c is not item:
                out = dict(v)
            if out is not None:
                out[k] = c
        return v if out is None else out
    if t is list or t is tuple:
        if _is_json(v, _depth):
            return v
        return [to_json_value(item, _depth + 1) for item in v]
    if isinstance(v, enum.Enum):
        return to_json_value(v.value, _depth + 1)
    if isinstance(v, (str, bool)):
        return v
    if isinstance(v, int):
        return v if -_HUGE < v < _HUGE else _huge_int(v)
    if isinstance(v, float):
        return v
    if isinstance(v, datetime):
        return iso_second(v)
    if isinstance(v, date):
        return f"{v.year:04d}-{v.month:02d}-{v.day:02d}"
    if isinstance(v, Decimal):
        return math.nan if v.is_nan() else float(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, numbers.Integral):
        return to_json_value(int(v), _depth + 1)
    if isinstance(v, numbers.Real):
        return float(v)
    if isinstance(v, (list, tuple)):
        return [to_json_value(item, _depth + 1) for item in v]
    return v


def _is_json(v: Any, depth: int) -> bool:
    """Whether `to_json_value` would return `v` itself: JSON values only (tuples count as arrays), ints
    within a float's range. Allocates nothing: the check every evaluation pays."""
    t = type(v)
    if t in _PLAIN:
        return True
    if t is int:
        return -_HUGE < v < _HUGE  # type: ignore[no-any-return]
    if depth >= _MAX_DEPTH:
        return True
    if t is dict:
        items = v.values()
    elif t is list or t is tuple:
        items = v
    else:
        return False
    if _PLAIN.issuperset(map(type, items)):
        return True
    for item in items:
        if type(item) not in _PLAIN and not _is_json(item, depth + 1):
            return False
    return True


def json_default(v: Any) -> Any:
    """A `default=` for `json.dumps`: datetimes, dates, Decimals, UUIDs and Enums as `to_json_value`
    converts them; anything else stays unserialisable (TypeError)."""
    if isinstance(v, datetime):
        # As JSON.stringify writes a Date in JavaScript: with milliseconds.
        return iso_instant(v)
    c = to_json_value(v)
    if c is v:
        raise TypeError(f"{type(v).__name__} is not JSON serialisable")
    return c
