"""Bucket ranges, variation choice and namespaces (GrowthBook-compatible, clamped, never raising)."""

from __future__ import annotations

from collections.abc import Sequence

from .hashing import hash_value

__all__ = ["BucketRange", "get_equal_weights", "get_bucket_ranges", "choose_variation", "in_namespace"]

BucketRange = tuple[float, float]


def get_equal_weights(n: int) -> list[float]:
    """`n` equal weights of `1 / n`; empty when n <= 0."""
    if not n > 0:
        return []
    return [1 / n] * int(n)


def get_bucket_ranges(num_variations: int, coverage: float = 1, weights: Sequence[float] | None = None) -> list[BucketRange]:
    """Ranges [start, end) per variation; bad coverage is clamped, bad weights become equal weights.

    The operations run in the spec's order so every double matches the JavaScript result.
    """
    cov = 0.0 if coverage != coverage else coverage
    cov = 0 if cov < 0 else 1 if cov > 1 else cov
    equal = get_equal_weights(num_variations)
    w: Sequence[float] = equal if weights is None else weights
    if len(w) != num_variations:
        w = equal
    total: float = 0
    for x in w:
        total = total + x
    if not (0.99 <= total <= 1.01):
        w = equal
    cumulative: float = 0
    ranges: list[BucketRange] = []
    for x in w:
        start = cumulative
        cumulative = cumulative + x
        ranges.append((start, start + cov * x))
    return ranges


def choose_variation(n: float, ranges: Sequence[Sequence[float]]) -> int:
    """Index of the first range with start <= n < end, or -1."""
    for i, r in enumerate(ranges):
        if r[0] <= n < r[1]:
            return i
    return -1


def in_namespace(unit_id: str, namespace: Sequence[object]) -> bool:
    """Whether `unit_id` falls in `[namespace_id, start, end)` (hash version 1, seed "__" + id)."""
    n = hash_value("__" + str(namespace[0]), unit_id, 1)
    if n is None:
        return False
    start, end = namespace[1], namespace[2]
    return start <= n < end  # type: ignore[operator]
