"""Local evaluation of flags and experiments against a ruleset (shared/spec/README.md semantics).

A ruleset is compiled once (`compile_ruleset`, cached per ruleset object) into lookup tables,
condition closures and pre-built results, so an evaluation does no parsing or validation.
Evaluation never raises: problems come back as reason ERROR with an error code.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Final, TypeVar
from urllib.parse import unquote_plus

from .bucketing import BucketRange, choose_variation, get_bucket_ranges
from .conditions import ConditionTest, compile_condition, explain_condition_failure, get_path, prepare_groups
from .hashing import hash_v2_from_seed, hash_value, seed_state
from .jsvalue import is_number, js_number_to_string, to_js_number, to_json_value
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
from .schema import check_envelope, check_experiment, check_flag, check_holdout

__all__ = ["CompiledRuleset", "compile_ruleset", "evaluate_flag", "evaluate_experiment", "resolve_split_url"]

T = TypeVar("T")
log = logging.getLogger("experimentation")

# Prerequisite chains deeper than this are treated as unmet (cycles are caught when compiling).
MAX_DEPTH: Final = 32
_DIGITS: Final = re.compile(r"[0-9]+")
_FORCE, _ROLLOUT, _SPLIT, _EXPERIMENT = 0, 1, 2, 3
_TYPE_MISMATCH: Final = object()
_PLAIN: Final = frozenset({str, bool, float, type(None)})
_dumps: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=True).encode


class _Invalid(Exception):
    """A flag or experiment that cannot be evaluated safely; becomes an ERROR result."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _CompiledRule:
    __slots__ = (
        "id", "kind", "test", "start", "until", "result", "variation", "coverage", "schedule",
        "hash_attribute", "fallback_attribute", "seed", "seed_state", "hash_version", "ranges",
        "experiment", "variation_map", "condition",
    )

    def __init__(self, rule: Mapping[str, Any], kind: int, test: ConditionTest | None) -> None:
        self.id: str = rule["id"]
        self.kind = kind
        self.test = test
        # The condition `test` was compiled from, for explanations.
        self.condition: Any = rule.get("condition")
        self.start: float | None = rule.get("from")
        self.until: float | None = rule.get("until")
        self.result: EvaluationResult[Any] | None = None
        self.variation: int = -1
        self.coverage: float = 1
        self.schedule: list[tuple[float, float]] | None = None
        self.hash_attribute: str = rule.get("hashAttribute", "id")
        self.fallback_attribute: str | None = rule.get("fallbackAttribute")
        self.seed: str = rule.get("seed", "")
        self.seed_state = seed_state(self.seed)
        self.hash_version: int = rule.get("hashVersion", 2)
        self.ranges: list[BucketRange] = []
        self.experiment: str = ""
        self.variation_map: list[int] = []


class _CompiledFlag:
    __slots__ = ("key", "error", "on", "variations", "prerequisites", "rules", "timed",
                 "default_result", "disabled_result", "prerequisite_failed")

    def __init__(self, key: str, error: _Invalid | None = None) -> None:
        self.key = key
        self.error = error
        self.on = False
        self.variations: list[Mapping[str, Any]] = []
        self.prerequisites: list[Mapping[str, str]] = []
        self.rules: list[_CompiledRule] = []
        self.timed = False
        self.default_result: EvaluationResult[Any] = _EMPTY_RESULT
        self.disabled_result: EvaluationResult[Any] = _EMPTY_RESULT
        self.prerequisite_failed: list[EvaluationResult[Any]] = []


class _CompiledExperiment:
    __slots__ = ("key", "error", "definition", "variations", "ranges", "test", "namespace",
                 "namespace_seed", "holdout", "override_param", "seed_state")

    def __init__(self, key: str, definition: Mapping[str, Any] | None, error: _Invalid | None = None) -> None:
        d = definition or {}
        self.key = key
        self.error = error
        self.definition = d
        self.variations: list[Mapping[str, Any]] = list(d.get("variations") or [])
        self.ranges: list[BucketRange] = []
        self.test: ConditionTest | None = None
        ns = d.get("namespace")
        self.namespace: Sequence[Any] | None = ns
        self.namespace_seed = "" if ns is None else f"__{ns[0]}"
        self.holdout: Mapping[str, Any] | None = None
        self.override_param = f"xp_{key}"
        self.seed_state = seed_state(d.get("seed", "") if isinstance(d.get("seed", ""), str) else "")


class CompiledRuleset:
    """A validated, compiled ruleset. `error` is set (and nothing else) when the document is malformed."""

    __slots__ = ("source", "error", "flags", "experiments", "groups", "version", "environment", "__weakref__")

    def __init__(self, source: Any, error: _Invalid | None = None) -> None:
        self.source = source
        self.error = error
        self.flags: dict[str, _CompiledFlag] = {}
        self.experiments: dict[str, _CompiledExperiment] = {}
        self.groups: dict[str, Any] = {}
        self.version: int | None = None
        self.environment: str | None = None

    @property
    def error_message(self) -> str | None:
        return None if self.error is None else self.error.message

    def flag_keys(self) -> list[str]:
        return list(self.flags)

    def experiment_keys(self) -> list[str]:
        return list(self.experiments)


_EMPTY_RESULT: Final[EvaluationResult[Any]] = EvaluationResult(value=None, variation_key=None, reason=Reason.DEFAULT)


# Conditions compiled so far in one ruleset, by their JSON text: (the condition, its test).
_Memo = dict[str, tuple[Any, ConditionTest]]


def _json_text(value: Any) -> str | None:
    """A condition's or flag's JSON text (key order kept), or None when it is not plain JSON."""
    try:
        return _dumps(value)
    except (TypeError, ValueError, RecursionError):
        return None


def _compile_test(condition: Any, path: str, memo: _Memo) -> ConditionTest | None:
    """The condition's test; a condition that recurs in the ruleset (the same segment in many flags) is
    compiled once. Tests are pure functions, so sharing one is safe; a condition with problems is never
    shared (its messages name its own path)."""
    if condition is None:
        return None
    text = _json_text(condition)
    if text is not None:
        hit = memo.get(text)
        # Equal text and equal values: the same condition (not {True: 1} beside {"true": 1}, nor 1 beside 1.0).
        if hit is not None and hit[0] == condition:
            return hit[1]
    test, problems = compile_condition(condition, path)
    if problems:
        raise _Invalid(ErrorCode.INVALID_RULE, "; ".join(problems))
    if text is not None:
        memo[text] = (condition, test)
    return test


def _check_index(i: int, length: int, path: str) -> None:
    if i >= length:
        raise _Invalid(ErrorCode.PARSE_ERROR, f"{path}: variation index {i} is out of range ({length} variations)")


def _compile_experiment(key: str, raw: Any, holdouts: Mapping[str, Any], broken_holdouts: Mapping[str, str],
                        memo: _Memo) -> _CompiledExperiment:
    path = f"experiments.{key}"
    problems = check_experiment(raw, path)
    if problems:
        return _CompiledExperiment(key, None, _Invalid(ErrorCode.PARSE_ERROR, "; ".join(problems)))
    try:
        n = len(raw["variations"])
        if len(raw["weights"]) != n:
            raise _Invalid(ErrorCode.PARSE_ERROR, f"{path}.weights: expected {n} weights, got {len(raw['weights'])}")
        if "force" in raw:
            _check_index(raw["force"], n, f"{path}.force")
        holdout = None
        if "holdout" in raw:
            holdout = holdouts.get(raw["holdout"])
            if holdout is None:
                broken = broken_holdouts.get(raw["holdout"])
                if broken is not None:
                    raise _Invalid(ErrorCode.PARSE_ERROR, broken)
                raise _Invalid(ErrorCode.INVALID_RULE, f'{path}.holdout: unknown holdout "{raw["holdout"]}"')
        exp = _CompiledExperiment(key, raw)
        exp.ranges = get_bucket_ranges(n, raw["coverage"], raw["weights"])
        exp.test = _compile_test(raw.get("condition"), f"{path}.condition", memo)
        exp.holdout = holdout
        return exp
    except _Invalid as e:
        return _CompiledExperiment(key, raw, e)


def _compile_rule(flag_key: str, flag: Mapping[str, Any], rule: Mapping[str, Any], index: int,
                  experiments: Mapping[str, _CompiledExperiment], memo: _Memo) -> _CompiledRule:
    path = f"flags.{flag_key}.rules[{index}]"
    variations = flag["variations"]
    n = len(variations)
    test = _compile_test(rule.get("condition"), f"{path}.condition", memo)
    kind = rule["type"]
    if kind == "force":
        _check_index(rule["variation"], n, f"{path}.variation")
        c = _CompiledRule(rule, _FORCE, test)
        c.variation = int(rule["variation"])
        v = variations[c.variation]
        c.result = EvaluationResult(value=v["value"], variation_key=v["key"], reason=Reason.TARGETING_MATCH, rule_id=c.id)
        return c
    if kind == "rollout":
        _check_index(rule["variation"], n, f"{path}.variation")
        c = _CompiledRule(rule, _ROLLOUT, test)
        c.variation = int(rule["variation"])
        c.coverage = rule["coverage"]
        if "schedule" in rule:
            c.schedule = sorted(((s[0], s[1]) for s in rule["schedule"]), key=lambda s: s[0])
        return c
    if kind == "split":
        if len(rule["weights"]) != n:
            raise _Invalid(ErrorCode.PARSE_ERROR, f"{path}.weights: expected {n} weights (one per variation), got {len(rule['weights'])}")
        c = _CompiledRule(rule, _SPLIT, test)
        c.ranges = get_bucket_ranges(n, 1, rule["weights"])
        return c
    exp = experiments.get(rule["experiment"])
    if exp is None:
        raise _Invalid(ErrorCode.INVALID_RULE, f'{path}.experiment: unknown experiment "{rule["experiment"]}"')
    if exp.error is not None:
        raise exp.error
    if len(rule["variations"]) != len(exp.variations):
        raise _Invalid(ErrorCode.PARSE_ERROR,
                       f'{path}.variations: experiment "{exp.key}" has {len(exp.variations)} variations, the rule maps {len(rule["variations"])}')
    for i, v in enumerate(rule["variations"]):
        _check_index(v, n, f"{path}.variations[{i}]")
    c = _CompiledRule(rule, _EXPERIMENT, test)
    c.experiment = exp.key
    c.variation_map = [int(v) for v in rule["variations"]]
    return c


def _compile_flag(key: str, raw: Any, experiments: Mapping[str, _CompiledExperiment], memo: _Memo) -> _CompiledFlag:
    problems = check_flag(raw, f"flags.{key}")
    if problems:
        return _CompiledFlag(key, _Invalid(ErrorCode.PARSE_ERROR, "; ".join(problems)))
    try:
        variations = raw["variations"]
        n = len(variations)
        _check_index(raw["default"], n, f"flags.{key}.default")
        _check_index(raw["off"], n, f"flags.{key}.off")
        rules = [_compile_rule(key, raw, r, i, experiments, memo) for i, r in enumerate(raw.get("rules") or [])]
    except _Invalid as e:
        return _CompiledFlag(key, e)
    flag = _CompiledFlag(key)
    flag.on = raw.get("on") is not False
    flag.variations = variations
    flag.prerequisites = list(raw.get("prerequisites") or [])
    flag.rules = rules
    flag.timed = any(r.start is not None or r.until is not None or r.schedule is not None for r in rules)
    d, off = variations[int(raw["default"])], variations[int(raw["off"])]
    flag.default_result = EvaluationResult(value=d["value"], variation_key=d["key"], reason=Reason.DEFAULT)
    flag.disabled_result = EvaluationResult(value=off["value"], variation_key=off["key"], reason=Reason.DISABLED)
    flag.prerequisite_failed = [
        EvaluationResult(value=off["value"], variation_key=off["key"], reason=Reason.PREREQUISITE_FAILED, prerequisite=p["flag"])
        for p in flag.prerequisites
    ]
    return flag


def _mark_cycles(flags: dict[str, _CompiledFlag]) -> None:
    state: dict[str, str] = {}
    cyclic: set[str] = set()

    def visit(key: str, stack: list[str]) -> None:
        s = state.get(key)
        if s == "done":
            return
        if s == "visiting":
            cyclic.update(stack[stack.index(key):])
            return
        state[key] = "visiting"
        stack.append(key)
        for p in flags[key].prerequisites:
            if p["flag"] in flags:
                visit(p["flag"], stack)
        stack.pop()
        state[key] = "done"

    for key in list(flags):
        visit(key, [])
    for key in cyclic:
        flags[key] = _CompiledFlag(key, _Invalid(
            ErrorCode.PREREQUISITE_CYCLE, f'flags.{key}.prerequisites: prerequisites form a cycle through "{key}"'))


def _compile(ruleset: Any) -> CompiledRuleset:
    if not isinstance(ruleset, Mapping):
        return CompiledRuleset(ruleset, _Invalid(ErrorCode.PARSE_ERROR, "ruleset: must be an object"))
    problems = check_envelope(ruleset if isinstance(ruleset, dict) else dict(ruleset))
    if problems:
        return CompiledRuleset(ruleset, _Invalid(ErrorCode.PARSE_ERROR, "; ".join(problems)))
    compiled = CompiledRuleset(ruleset)
    compiled.version = int(ruleset["version"])
    compiled.environment = ruleset["environment"]
    compiled.groups = prepare_groups(ruleset.get("savedGroups"))
    holdouts: dict[str, Any] = {}
    broken_holdouts: dict[str, str] = {}
    for key, raw in (ruleset.get("holdouts") or {}).items():
        problems = check_holdout(raw, f"holdouts.{key}")
        if problems:
            broken_holdouts[key] = "; ".join(problems)
        else:
            holdouts[key] = raw
    memo: _Memo = {}
    for key, raw in (ruleset.get("experiments") or {}).items():
        compiled.experiments[key] = _compile_experiment(key, raw, holdouts, broken_holdouts, memo)
    global _last_flags
    previous, seen = _last_flags, {}
    for key, raw in ruleset["flags"].items():
        compiled.flags[key] = _reuse_or_compile_flag(key, raw, compiled.experiments, memo, previous, seen)
    _last_flags = seen
    _mark_cycles(compiled.flags)
    return compiled


# The flags of the ruleset compiled last, by key and JSON text: a refresh compiles only what changed.
_FlagEntry = tuple[Any, tuple[Any, ...], _CompiledFlag]
_last_flags: dict[str, _FlagEntry] = {}


def _experiment_states(raw: Any, experiments: Mapping[str, _CompiledExperiment]) -> tuple[Any, ...]:
    """What a flag's compiled form takes from the experiments its rules name (which must exist, be valid
    and have as many variations as the rule maps)."""
    states: list[Any] = []
    for rule in raw.get("rules") or ():
        if isinstance(rule, dict) and rule.get("type") == "experiment":
            name = rule.get("experiment")
            exp = experiments.get(name) if isinstance(name, str) else None
            states.append(None if exp is None else
                          (exp.error.code, exp.error.message) if exp.error is not None else len(exp.variations))
    return tuple(states)


def _reuse_or_compile_flag(key: str, raw: Any, experiments: Mapping[str, _CompiledExperiment], memo: _Memo,
                           previous: Mapping[str, _FlagEntry], seen: dict[str, _FlagEntry]) -> _CompiledFlag:
    """The compiled flag of the previous ruleset when this flag has not changed (same key, JSON text and
    experiments), else a new one. A compiled flag is never modified, so two rulesets can share it."""
    text = _json_text(raw) if isinstance(raw, dict) and isinstance(raw.get("rules") or (), list) else None
    if text is None:
        return _compile_flag(key, raw, experiments, memo)
    text = f"{key}\n{text}"
    states = _experiment_states(raw, experiments)
    hit = previous.get(text)
    if hit is not None and hit[1] == states and hit[0] == raw:
        seen[text] = hit
        return hit[2]
    flag = _compile_flag(key, raw, experiments, memo)
    seen[text] = (raw, states, flag)
    return flag


_cache: OrderedDict[int, CompiledRuleset] = OrderedDict()
_cache_lock = threading.Lock()
_cache_pid = os.getpid()
_CACHE_SIZE: Final = 16


def _reinit_after_fork() -> None:
    """Gives a forked child a new compile-cache lock (once per process): the copy may be held by a thread
    of the parent that does not exist in the child. Run by `os.register_at_fork` and by `Client.postfork()`."""
    global _cache_lock, _cache_pid
    if _cache_pid != os.getpid():
        _cache_pid = os.getpid()
        _cache_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


def compile_ruleset(ruleset: Any) -> CompiledRuleset:
    """The compiled form of a ruleset document, built on first use and cached per object.

    Passing a `CompiledRuleset` returns it unchanged. Do not mutate a ruleset after compiling it.
    """
    if isinstance(ruleset, CompiledRuleset):
        return ruleset
    key = id(ruleset)
    hit = _cache.get(key)
    if hit is not None and hit.source is ruleset:
        return hit
    try:
        compiled = _compile(ruleset)
    except Exception as e:  # a document shaped in a way the checks did not foresee
        log.warning("ruleset could not be compiled: %s", type(e).__name__)
        compiled = CompiledRuleset(ruleset, _Invalid(ErrorCode.PARSE_ERROR, "ruleset: could not be compiled"))
    if isinstance(ruleset, (dict, list)) or ruleset is None:
        with _cache_lock:
            _cache[key] = compiled
            _cache.move_to_end(key)
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return compiled


# -- evaluation ---------------------------------------------------------------------------------

class _Context:
    __slots__ = ("attributes", "now", "url", "forced", "store")

    def __init__(self, attributes: Mapping[str, Any], now: Any, url: Any, forced: Any, store: Any) -> None:
        self.attributes = attributes
        self.now = now
        self.url = url
        self.forced = forced
        self.store = store


_EMPTY_ATTRIBUTES: Final[Mapping[str, Any]] = {}


def _read_context(context: Any) -> _Context | None:
    if context is None:
        return _Context(_EMPTY_ATTRIBUTES, None, None, None, None)
    if isinstance(context, EvaluationContext):
        attributes: Any = context.attributes
        now, url, forced, store = context.now, context.url, context.forced_variations, context.sticky_buckets
    elif isinstance(context, Mapping):
        attributes = context.get("attributes", _EMPTY_ATTRIBUTES)
        now, url = context.get("now"), context.get("url")
        forced = context.get("forced_variations", context.get("forcedVariations"))
        store = context.get("sticky_buckets", context.get("stickyBuckets"))
    else:
        return None
    if not isinstance(attributes, Mapping):
        return None
    return _Context(attributes, now, url if isinstance(url, str) else None,
                    forced if isinstance(forced, Mapping) else None, store)


def _attribute(attributes: Mapping[str, Any], name: str) -> Any:
    """An attribute as evaluation reads it: at a dotted path as conditions read it (`organization.key`), and
    a datetime, Decimal, UUID, Enum or huge int as `to_json_value` makes it (as conditions convert theirs)."""
    if "." in name:
        return get_path(attributes, name)
    v = attributes.get(name)
    return v if type(v) in _PLAIN else to_json_value(v)


def _read_hash_value(attributes: Mapping[str, Any], name: str, fallback: str | None) -> Any:
    v = _attribute(attributes, name)
    if (v is None or v == "") and fallback is not None:
        v = _attribute(attributes, fallback)
    if isinstance(v, str):
        return None if v == "" else v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        f = float(v)
        return js_number_to_string(v) if f == f and f not in (float("inf"), float("-inf")) else _TYPE_MISMATCH
    if v is None:
        return None
    return _TYPE_MISMATCH


def _used_hash_attribute(attributes: Mapping[str, Any], name: str, fallback: str | None) -> str:
    """The attribute a unit's bucketing id comes from: the fallback when the hash attribute is absent or empty."""
    v = _attribute(attributes, name)
    return fallback if (v is None or v == "") and fallback is not None else name


def _fallback_value(attributes: Mapping[str, Any], fallback: str | None, hash_value: str) -> str | None:
    """The fallback attribute's value as a bucketing id, when the unit has one other than `hash_value`."""
    if fallback is None:
        return None
    v = _read_hash_value(attributes, fallback, None)
    return None if v is _TYPE_MISMATCH or v == hash_value else v  # type: ignore[no-any-return]


def _hash_value_or_raise(attributes: Mapping[str, Any], name: str, fallback: str | None) -> str | None:
    v = _read_hash_value(attributes, name, fallback)
    if v is _TYPE_MISMATCH:
        raise _Invalid(ErrorCode.TYPE_MISMATCH, f'attribute "{name}" must be a string or a number to be used for bucketing')
    return v  # type: ignore[no-any-return]


def _instant(ms: Any) -> str:
    """Epoch milliseconds as an ISO instant in a trace, as JavaScript's toISOString writes it (years
    0-9999; the number itself beyond them)."""
    if not (-62_167_219_200_000 <= ms <= 253_402_300_799_999):
        return js_number_to_string(ms)
    seconds, millis = divmod(int(ms), 1000)
    at = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)
    return at.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"


def _js_text(x: float | None) -> str:
    """A bucket or coverage in a trace, as the JavaScript engine writes it (`none` for no bucket)."""
    return "none" if x is None else js_number_to_string(x)


def _bucket_of(seed: str, state: int, version: int, value: str) -> float | None:
    return hash_v2_from_seed(state, value) if version == 2 else hash_value(seed, value, version)


def _index_of_key(exp: _CompiledExperiment, key: Any) -> int:
    for i, v in enumerate(exp.variations):
        if v["key"] == key:
            return i
    return -1


def _variation_index_of(exp: _CompiledExperiment, ref: Any) -> int:
    if isinstance(ref, str):
        i = _index_of_key(exp, ref)
        if i >= 0:
            return i
        if not _DIGITS.fullmatch(ref):
            return -1
        n = float(int(ref))
    else:
        n = to_js_number(ref)
    if n == n and n not in (float("inf"), float("-inf")) and n.is_integer() and 0 <= n < len(exp.variations):
        return int(n)
    return -1


def _finite_number(v: Any) -> bool:
    """A JavaScript finite number: not a bool, NaN or an infinity (nor an int beyond a double's range)."""
    if not is_number(v):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _url_override(url: str, exp: _CompiledExperiment) -> int:
    q = url.find("?")
    if q < 0 or url.find(exp.override_param, q) < 0:
        return -1
    end = url.find("#", q)
    query = url[q + 1:] if end < 0 else url[q + 1:end]
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, raw = pair.partition("=")
        if unquote_plus(name, errors="replace") == exp.override_param:
            return _variation_index_of(exp, unquote_plus(raw, errors="replace"))
    return -1


def _assignment(exp: _CompiledExperiment, index: int, hash_value_: str, *, bucket: float | None = None,
                sticky: bool | None = None, forced: bool | None = None, hash_attribute: str | None = None) -> ExperimentAssignment:
    return ExperimentAssignment(
        key=exp.key,
        variation_key=exp.variations[index]["key"],
        variation_index=index,
        in_experiment=forced is not True,
        hash_attribute=hash_attribute if hash_attribute is not None else exp.definition["hashAttribute"],
        hash_value=hash_value_,
        bucket=bucket,
        sticky=sticky,
        forced=forced,
    )


def _store_get(store: StickyBucketStore, attribute: str, value: str) -> Mapping[str, str] | None:
    try:
        return store.get(attribute, value)
    except Exception as e:
        log.warning("sticky bucket store failed to read: %s", type(e).__name__)
        return None


def _assign(compiled: CompiledRuleset, exp: _CompiledExperiment, ctx: _Context) -> ExperimentAssignment | str:
    d = exp.definition
    if d.get("urlOverride") is not False and ctx.url is not None:
        forced = _url_override(ctx.url, exp)
        if forced >= 0:
            return _assignment(exp, forced, "", forced=True)
    if ctx.forced is not None:
        ref = ctx.forced.get(exp.key)
        if ref is not None:
            forced = _variation_index_of(exp, ref)
            if forced >= 0:
                return _assignment(exp, forced, "", forced=True)
    if "force" in d:
        return _assignment(exp, int(d["force"]), "", forced=True)
    attributes = ctx.attributes
    hv = _hash_value_or_raise(attributes, d["hashAttribute"], d.get("fallbackAttribute"))
    if hv is None:
        return SkipReason.NO_HASH_ATTRIBUTE
    # Exposures name the attribute the id came from; sticky assignments stay keyed by the hash attribute.
    used = _used_hash_attribute(attributes, d["hashAttribute"], d.get("fallbackAttribute"))
    sticky = d.get("sticky")
    store: StickyBucketStore | None = ctx.store if sticky is not None else None
    stored: Mapping[str, str] | None = None
    if store is not None and sticky is not None:
        stored = _store_get(store, d["hashAttribute"], hv)
        # A unit hashed by its fallback before (a visitor's device id) and by its hash attribute now
        # (logged in) keeps what its fallback was given: its assignments count too, behind its own.
        earlier = _fallback_value(attributes, d.get("fallbackAttribute"), hv) if used == d["hashAttribute"] else None
        before = None if earlier is None else _store_get(store, d["hashAttribute"], earlier)
        assignments = stored if before is None else {**before, **(stored or {})}
        if assignments is not None:
            for v in range(int(sticky["minBucketVersion"])):
                if assignments.get(f"{exp.key}__{v}") is not None:
                    return SkipReason.STICKY_BLOCKED
            entry = f"{exp.key}__{sticky['bucketVersion']}"
            key = assignments.get(entry)
            index = -1 if key is None else _index_of_key(exp, key)
            if index >= 0:
                if stored is None or stored.get(entry) != key:
                    # Kept from the fallback: stored under the unit's own id too, which it keeps on other devices.
                    try:
                        store.set(d["hashAttribute"], hv, {**(stored or {}), entry: key})
                    except Exception as e:
                        log.warning("sticky bucket store failed to write: %s", type(e).__name__)
                return _assignment(exp, index, hv, sticky=True, hash_attribute=used)
    if exp.namespace is not None:
        n = hash_value(exp.namespace_seed, hv, 1)
        if n is None or n < exp.namespace[1] or n >= exp.namespace[2]:
            return SkipReason.NAMESPACE
    if exp.holdout is not None:
        holdout_value = _hash_value_or_raise(attributes, exp.holdout["hashAttribute"], None)
        if holdout_value is not None:
            h = hash_value(exp.holdout["seed"], holdout_value, 2)
            if h is not None and h < exp.holdout["coverage"]:
                return SkipReason.HOLDOUT
    if exp.test is not None and not exp.test(attributes, compiled.groups):
        return SkipReason.CONDITION
    bucket = _bucket_of(d["seed"], exp.seed_state, d["hashVersion"], hv)
    index = -1 if bucket is None else choose_variation(bucket, exp.ranges)
    if bucket is None or index < 0:
        return SkipReason.COVERAGE
    if store is not None and sticky is not None:
        try:
            store.set(d["hashAttribute"], hv, {**(stored or {}), f"{exp.key}__{sticky['bucketVersion']}": exp.variations[index]["key"]})
        except Exception as e:
            log.warning("sticky bucket store failed to write: %s", type(e).__name__)
    return _assignment(exp, index, hv, bucket=bucket, hash_attribute=used)


def _effective_coverage(rule: _CompiledRule, now: float) -> float:
    coverage = rule.coverage
    if rule.schedule is not None:
        for at, c in rule.schedule:
            if at <= now:
                coverage = c
            else:
                break
    return coverage


def _eval_flag(compiled: CompiledRuleset, flag: _CompiledFlag, ctx: _Context,
               trace: list[TraceStep] | None, depth: int) -> EvaluationResult[Any]:
    if flag.error is not None:
        raise flag.error
    if not flag.on:
        return flag.disabled_result
    for i, p in enumerate(flag.prerequisites):
        parent = compiled.flags.get(p["flag"])
        failed: str | None = None
        if parent is not None and parent.error is None and not parent.on:
            # A parent that is off fails its dependents, whatever its off variation is (as LaunchDarkly and GrowthBook do).
            failed = ("is switched off: a flag that is off fails every prerequisite on it, "
                      f"whatever variation the prerequisite needs (this one needs {p['variation']})")
        else:
            served: EvaluationResult[Any] | None = None
            if parent is not None and depth < MAX_DEPTH:
                try:
                    served = _eval_flag(compiled, parent, ctx, None, depth + 1)
                except _Invalid:
                    served = None  # an erroring parent serves nothing
            if served is not None and served.reason == Reason.PREREQUISITE_FAILED:
                failed = f"failed its prerequisite {served.prerequisite}, needs {p['variation']}"
            elif served is None or served.variation_key != p["variation"]:
                failed = f"served {(served.variation_key if served is not None else None) or 'nothing'}, needs {p['variation']}"
        if failed is not None:
            if trace is not None:
                trace.append(TraceStep("prerequisite-failed", None, f"{p['flag']} {failed}"))
            return flag.prerequisite_failed[i]
    now = 0.0
    if flag.timed:
        now = ctx.now if _finite_number(ctx.now) else time.time() * 1000
    attributes = ctx.attributes
    for rule in flag.rules:
        if (rule.start is not None and now < rule.start) or (rule.until is not None and now >= rule.until):
            if trace is not None:
                starts = rule.start is not None and now < rule.start
                trace.append(TraceStep("inactive", rule.id, f"starts {_instant(rule.start)}" if starts else f"ended {_instant(rule.until)}"))
            continue
        if rule.test is not None and not rule.test(attributes, compiled.groups):
            if trace is not None:
                trace.append(TraceStep("condition-false", rule.id, explain_condition_failure(rule.condition, attributes, compiled.groups)))
            continue
        kind = rule.kind
        if kind == _FORCE:
            if trace is not None:
                trace.append(TraceStep("matched", rule.id))
            return rule.result  # type: ignore[return-value]
        if kind == _ROLLOUT or kind == _SPLIT:
            hv = _hash_value_or_raise(attributes, rule.hash_attribute, rule.fallback_attribute)
            if hv is None:
                if trace is not None:
                    trace.append(TraceStep("no-hash-attribute", rule.id, rule.hash_attribute))
                continue
            bucket = _bucket_of(rule.seed, rule.seed_state, rule.hash_version, hv)
            coverage: float | None = None
            if kind == _ROLLOUT:
                coverage = _effective_coverage(rule, now)
                if bucket is None or coverage <= 0 or bucket > coverage:
                    if trace is not None:
                        trace.append(TraceStep("outside-rollout", rule.id, f"bucket {_js_text(bucket)} > coverage {_js_text(coverage)}"))
                    continue
                index = rule.variation
            else:
                index = -1 if bucket is None else choose_variation(bucket, rule.ranges)
                if bucket is None or index < 0:
                    if trace is not None:
                        trace.append(TraceStep("outside-split", rule.id))
                    continue
            v = flag.variations[index]
            if trace is not None:
                # The same words as the JavaScript engine's trace (numbers as JavaScript writes them).
                detail = f"bucket {_js_text(bucket)}" + ("" if coverage is None else f" <= coverage {_js_text(coverage)}")
                trace.append(TraceStep("matched", rule.id, detail))
            return EvaluationResult(value=v["value"], variation_key=v["key"], reason=Reason.SPLIT, rule_id=rule.id, bucket=bucket)
        exp = compiled.experiments[rule.experiment]
        a = _assign(compiled, exp, ctx)
        if isinstance(a, str):
            if trace is not None:
                trace.append(TraceStep("not-in-experiment", rule.id, a))
            continue
        v = flag.variations[rule.variation_map[a.variation_index]]
        if trace is not None:
            kept = " (kept from the stored sticky assignment)" if a.sticky else ""
            trace.append(TraceStep("forced" if a.forced else "matched", rule.id, f"{exp.key}: {a.variation_key}{kept}"))
        return EvaluationResult(value=v["value"], variation_key=v["key"], reason=Reason.SPLIT, rule_id=rule.id,
                                bucket=a.bucket, experiment=a)
    return flag.default_result


def _error_result(code: str, message: str, default: Any, reason: str = Reason.ERROR) -> EvaluationResult[Any]:
    return EvaluationResult(value=default, variation_key=None, reason=reason, error_code=code, error_message=message)


def evaluate_flag(ruleset: Any, flag_key: str, context: EvaluationContext | Mapping[str, Any] | None = None,
                  default: T | None = None, explain: bool = False) -> EvaluationResult[Any]:
    """Evaluates one flag for one unit. Never raises.

    `ruleset` is a ruleset document (parsed JSON) or a `CompiledRuleset`. `context` is an
    `EvaluationContext` or a mapping with `attributes`, `now` (epoch ms), `url`,
    `forced_variations` and `sticky_buckets`. A malformed ruleset or context, an unknown operator
    or an invalid regex gives `default` with reason ERROR and an error code.
    """
    try:
        compiled = compile_ruleset(ruleset)
        if compiled.error is not None:
            return _error_result(compiled.error.code, compiled.error.message, default)
        ctx = _read_context(context)
        if ctx is None:
            return _error_result(ErrorCode.INVALID_CONTEXT, "context and context.attributes must be objects", default)
        flag = compiled.flags.get(flag_key)
        if flag is None:
            return _error_result(ErrorCode.FLAG_NOT_FOUND, "flag not found", default, Reason.FLAG_NOT_FOUND)
        if explain:
            trace: list[TraceStep] = []
            result = _eval_flag(compiled, flag, ctx, trace, 0)
            return replace(result, trace=tuple(trace))
        return _eval_flag(compiled, flag, ctx, None, 0)
    except _Invalid as e:
        return _error_result(e.code, e.message, default)
    except Exception as e:
        log.error("unexpected evaluation failure for flag %r: %s", flag_key, type(e).__name__)
        return _error_result(ErrorCode.GENERAL, "unexpected evaluation failure", default)


def _experiment_error(code: str, message: str) -> ExperimentResult:
    return ExperimentResult(in_experiment=False, variation_index=-1, variation_key=None, error_code=code, error_message=message)


_NOT_IN: Final = {
    r: ExperimentResult(in_experiment=False, variation_index=-1, variation_key=None, skip_reason=r)
    for r in (SkipReason.NOT_RUNNING, SkipReason.NO_HASH_ATTRIBUTE, SkipReason.STICKY_BLOCKED, SkipReason.NAMESPACE,
              SkipReason.HOLDOUT, SkipReason.CONDITION, SkipReason.COVERAGE)
}


def evaluate_experiment(ruleset: Any, experiment_key: str,
                        context: EvaluationContext | Mapping[str, Any] | None = None) -> ExperimentResult:
    """Assigns a unit to a standalone experiment; variation_index is -1 (with skip_reason) when out. Never raises."""
    try:
        compiled = compile_ruleset(ruleset)
        if compiled.error is not None:
            return _experiment_error(compiled.error.code, compiled.error.message)
        ctx = _read_context(context)
        if ctx is None:
            return _experiment_error(ErrorCode.INVALID_CONTEXT, "context and context.attributes must be objects")
        exp = compiled.experiments.get(experiment_key)
        if exp is None:
            return _NOT_IN[SkipReason.NOT_RUNNING]
        if exp.error is not None:
            return _experiment_error(exp.error.code, exp.error.message)
        a = _assign(compiled, exp, ctx)
        if isinstance(a, str):
            return _NOT_IN[a]
        v = exp.variations[a.variation_index]
        return ExperimentResult(
            in_experiment=a.in_experiment,
            variation_index=a.variation_index,
            variation_key=a.variation_key,
            value=v.get("value"),
            url=v.get("url"),
            hash_attribute=a.hash_attribute,
            hash_value=a.hash_value,
            bucket=a.bucket,
            sticky=a.sticky,
            forced=a.forced,
        )
    except _Invalid as e:
        return _experiment_error(e.code, e.message)
    except Exception as e:
        log.error("unexpected evaluation failure for experiment %r: %s", experiment_key, type(e).__name__)
        return _experiment_error(ErrorCode.GENERAL, "unexpected evaluation failure")


def resolve_split_url(ruleset: Any, experiment_key: str,
                      context: EvaluationContext | Mapping[str, Any] | None = None) -> ExperimentResult:
    """A split-URL experiment: the variation's URL, or the first variation's URL for a unit outside it."""
    result = evaluate_experiment(ruleset, experiment_key, context)
    if result.variation_index >= 0 or result.error_code is not None:
        return result
    exp = compile_ruleset(ruleset).experiments.get(experiment_key)
    url = exp.variations[0].get("url") if exp is not None and exp.variations else None
    return result if url is None else replace(result, url=url)
