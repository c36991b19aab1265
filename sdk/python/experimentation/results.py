"""Result types, reasons and error codes shared by evaluation and the client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, Protocol, TypeVar, runtime_checkable

__all__ = [
    "Reason",
    "ErrorCode",
    "SkipReason",
    "StickyBucketStore",
    "EvaluationContext",
    "ExperimentAssignment",
    "TraceStep",
    "EvaluationResult",
    "ExperimentResult",
]

T = TypeVar("T")


class Reason:
    """Why an evaluation returned its value."""

    DEFAULT: Final = "DEFAULT"  # the flag is on and no rule matched: its default variation
    TARGETING_MATCH: Final = "TARGETING_MATCH"  # a force rule's condition matched
    SPLIT: Final = "SPLIT"  # a rollout, split or experiment rule bucketed the unit
    PREREQUISITE_FAILED: Final = "PREREQUISITE_FAILED"  # a prerequisite flag is off, failed its own or did not serve what it needs
    DISABLED: Final = "DISABLED"  # the flag is off in this environment: its off variation
    FLAG_NOT_FOUND: Final = "FLAG_NOT_FOUND"  # no such flag: the caller's default
    ERROR: Final = "ERROR"  # bad ruleset, rule or context, or no ruleset yet: the caller's default


class ErrorCode:
    """What went wrong when the reason is ERROR or FLAG_NOT_FOUND."""

    FLAG_NOT_FOUND: Final = "FLAG_NOT_FOUND"  # the flag or experiment is not in the ruleset
    PARSE_ERROR: Final = "PARSE_ERROR"  # the ruleset, or this flag's entry, does not match the schema
    INVALID_RULE: Final = "INVALID_RULE"  # unknown operator, invalid regex, missing experiment
    PREREQUISITE_CYCLE: Final = "PREREQUISITE_CYCLE"  # prerequisites form a cycle
    INVALID_CONTEXT: Final = "INVALID_CONTEXT"  # the context or its attributes are not objects
    TYPE_MISMATCH: Final = "TYPE_MISMATCH"  # a bucketing attribute is neither a string nor a number
    PROVIDER_NOT_READY: Final = "PROVIDER_NOT_READY"  # the client has no ruleset yet (API unreachable)
    GENERAL: Final = "GENERAL"  # an unexpected failure; the default was still returned


class SkipReason:
    """Why a unit was left out of an experiment (it then falls through to the next rule)."""

    NOT_RUNNING: Final = "NOT_RUNNING"  # the experiment is not in the ruleset
    NO_HASH_ATTRIBUTE: Final = "NO_HASH_ATTRIBUTE"  # the unit has no value for the hash attribute
    STICKY_BLOCKED: Final = "STICKY_BLOCKED"  # a sticky assignment from a bucket version below the minimum
    NAMESPACE: Final = "NAMESPACE"  # outside the experiment's namespace range
    HOLDOUT: Final = "HOLDOUT"  # in the experiment's holdout
    CONDITION: Final = "CONDITION"  # the experiment's own condition did not match
    COVERAGE: Final = "COVERAGE"  # hashed outside the traffic coverage


@runtime_checkable
class StickyBucketStore(Protocol):
    """Stores sticky-bucket assignments per unit: `"<experiment>__<bucketVersion>"` → variation key."""

    def get(self, hash_attribute: str, hash_value: str) -> Mapping[str, str] | None:
        """The unit's assignments, or None."""

    def set(self, hash_attribute: str, hash_value: str, assignments: Mapping[str, str]) -> None:
        """Persists all of the unit's assignments (not only the new one)."""


@dataclass(frozen=True)
class EvaluationContext:
    """Everything evaluation knows about the unit and the moment."""

    attributes: Mapping[str, Any] = field(default_factory=dict)
    now: float | None = None
    """Epoch milliseconds, for schedules and active windows; defaults to the current time."""
    url: str | None = None
    """The page URL, for QA overrides `?xp_<experiment>=<variation key or index>`."""
    forced_variations: Mapping[str, str | int] | None = None
    sticky_buckets: StickyBucketStore | None = None


@dataclass(frozen=True, slots=True)
class ExperimentAssignment:
    """How an experiment assigned the unit, present when an experiment decided the value."""

    key: str
    variation_key: str
    variation_index: int
    in_experiment: bool
    """True when the unit was bucketed (and is tracked); False when forced."""
    hash_attribute: str
    hash_value: str
    bucket: float | None = None
    sticky: bool | None = None
    forced: bool | None = None


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One rule considered during an explained evaluation."""

    outcome: str
    rule_id: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class EvaluationResult(Generic[T]):
    """The value served and why. Fields that do not apply are None. Do not mutate `value`."""

    value: T
    variation_key: str | None
    reason: str
    rule_id: str | None = None
    bucket: float | None = None
    experiment: ExperimentAssignment | None = None
    prerequisite: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    trace: tuple[TraceStep, ...] | None = None


@dataclass(frozen=True, slots=True)
class ExperimentResult:
    """A standalone experiment assignment (`get_variant`, split URLs); variation_index -1 when out."""

    in_experiment: bool
    variation_index: int
    variation_key: str | None
    value: Any = None
    url: str | None = None
    hash_attribute: str | None = None
    hash_value: str | None = None
    bucket: float | None = None
    sticky: bool | None = None
    forced: bool | None = None
    skip_reason: str | None = None
    error_code: str | None = None
    error_message: str | None = None
