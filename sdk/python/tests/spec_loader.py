"""Reads the shared conformance corpus from shared/spec (never copied into this package)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "spec"


def read_spec(name: str) -> dict[str, Any]:
    with open(SPEC_DIR / name, encoding="utf-8") as f:
        return json.load(f)  # type: ignore[no-any-return]


def js_equal(a: Any, b: Any) -> bool:
    """Deep equality with JSON types kept apart (True is not 1) and numbers compared exactly."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(js_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(js_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b
