"""Version strings padded so that plain string order is version order ($veq ... $vlte)."""

from __future__ import annotations

import re
from typing import Any, Final

from .jsvalue import is_number, js_number_to_string

__all__ = ["padded_version_string"]

# JavaScript's /(^v|\+.*$)/g: "." stops at line terminators and "$" is the very end.
_STRIP: Final = re.compile("^v|\\+[^\n\r\u2028\u2029]*\\Z")
_SEPARATORS: Final = re.compile(r"[-.]")
_DIGITS: Final = re.compile(r"[0-9]+")


def padded_version_string(value: Any) -> str:
    """Drops a leading "v" and build metadata, pads numeric parts to 5, appends "~" to releases."""
    if is_number(value):
        s = js_number_to_string(value)
    elif isinstance(value, str) and value != "":
        s = value
    else:
        s = "0"
    parts = _SEPARATORS.split(_STRIP.sub("", s))
    if len(parts) == 3:
        parts.append("~")
    return "-".join(p.rjust(5) if _DIGITS.fullmatch(p) else p for p in parts)
