"""Sticky-bucket stores: keep a unit in its variation when an experiment's traffic changes."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping

__all__ = ["InMemoryStickyBucketStore"]


class InMemoryStickyBucketStore:
    """A process-local, thread-safe store; use a shared store (Redis, a database) across processes."""

    def __init__(self, initial: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self._lock = threading.Lock()
        self._docs: dict[str, dict[str, str]] = {k: dict(v) for k, v in (initial or {}).items()}
        ref = weakref.ref(self)

        def new_lock_in_child() -> None:
            # A forked child has a copy of the store; the copied lock may be held by a thread that did not survive the fork.
            store = ref()
            if store is not None:
                store._lock = threading.Lock()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=new_lock_in_child)

    @staticmethod
    def key(hash_attribute: str, hash_value: str) -> str:
        return f"{hash_attribute}||{hash_value}"

    def get(self, hash_attribute: str, hash_value: str) -> Mapping[str, str] | None:
        with self._lock:
            doc = self._docs.get(self.key(hash_attribute, hash_value))
            return None if doc is None else dict(doc)

    def set(self, hash_attribute: str, hash_value: str, assignments: Mapping[str, str]) -> None:
        with self._lock:
            self._docs[self.key(hash_attribute, hash_value)] = dict(assignments)

    def snapshot(self) -> dict[str, dict[str, str]]:
        """A copy of everything stored, keyed by "<hashAttribute>||<hashValue>"."""
        with self._lock:
            return {k: dict(v) for k, v in self._docs.items()}
