"""FNV-1a 32-bit hashing and the GrowthBook-compatible bucketing hash (versions 1 and 2).

Strings are hashed over their UTF-16 code units, exactly what JavaScript's `charCodeAt` returns, so
an id hashes the same here as in the TypeScript evaluator and in GrowthBook's SDKs.
"""

from __future__ import annotations

from typing import Final

__all__ = ["fnv1a32", "hash_value", "seed_state", "hash_v2_from_seed"]

FNV_OFFSET: Final = 0x811C9DC5
FNV_PRIME: Final = 0x01000193
_MASK: Final = 0xFFFFFFFF


def _update(state: int, s: str) -> int:
    h = state
    if s.isascii():
        for c in s.encode("ascii"):
            h = ((h ^ c) * FNV_PRIME) & _MASK
        return h
    b = s.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(b), 2):
        h = ((h ^ (b[i] | (b[i + 1] << 8))) * FNV_PRIME) & _MASK
    return h


def fnv1a32(s: str) -> int:
    """FNV-1a 32-bit of a string's UTF-16 code units, as an unsigned integer."""
    return _update(FNV_OFFSET, s)


def seed_state(seed: str) -> int:
    """The FNV state after hashing `seed`; version 2 can continue from it for `seed + value`."""
    return _update(FNV_OFFSET, seed)


def hash_v2_from_seed(state: int, value: str) -> float:
    """Version-2 hash continuing from `seed_state(seed)`; equals `hash_value(seed, value, 2)`."""
    # String(n) of a uint32 has the same digits as Python's str(n).
    return (_update(FNV_OFFSET, str(_update(state, value))) % 10000) / 10000


def hash_value(seed: str, value: str, version: float) -> float | None:
    """Bucketing hash in [0, 1).

    Version 2: fnv(str(fnv(seed + value))) % 10000 / 10000; version 1: fnv(value + seed) % 1000 / 1000;
    any other version: None.
    """
    if version == 2 and not isinstance(version, bool):
        return hash_v2_from_seed(_update(FNV_OFFSET, seed), value)
    if version == 1 and not isinstance(version, bool):
        return (_update(_update(FNV_OFFSET, value), seed) % 1000) / 1000
    return None
