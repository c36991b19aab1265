"""xp experimentation SDK: local evaluation of feature flags and experiments.

    from experimentation import Client

    with Client(api_key="xpk_srv_...") as client:
        if client.is_feature_enabled("new-checkout", "user-123"):
            ...
"""

from __future__ import annotations

from .bucketing import choose_variation, get_bucket_ranges, in_namespace
from .conditions import eval_condition
from .evaluation import CompiledRuleset, compile_ruleset, evaluate_experiment, evaluate_flag, resolve_split_url
from .hashing import fnv1a32, hash_value
from .results import (
    ErrorCode,
    EvaluationContext,
    EvaluationResult,
    ExperimentAssignment,
    ExperimentResult,
    Reason,
    SkipReason,
    StickyBucketStore,
    TraceStep,
)
from .client import Client, User
from .sticky import InMemoryStickyBucketStore
from .version import padded_version_string

__version__ = "0.1.0"

__all__ = [
    "Client",
    "CompiledRuleset",
    "ErrorCode",
    "EvaluationContext",
    "EvaluationResult",
    "ExperimentAssignment",
    "ExperimentResult",
    "InMemoryStickyBucketStore",
    "Reason",
    "SkipReason",
    "StickyBucketStore",
    "TraceStep",
    "User",
    "choose_variation",
    "compile_ruleset",
    "eval_condition",
    "evaluate_experiment",
    "evaluate_flag",
    "fnv1a32",
    "get_bucket_ranges",
    "hash_value",
    "in_namespace",
    "padded_version_string",
    "resolve_split_url",
]
