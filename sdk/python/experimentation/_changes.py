"""Which flags and experiments a ruleset update may change: the Python twin of the JavaScript SDK's
`diffRulesets` (sdk/js/src/ruleset-state.ts), giving the same keys for the same two rulesets.

Entries are compared as JSON values, not as text: object key order does not matter (a restarted
server may republish the same ruleset with its keys in another order), array order does, `true` is
not `1`, and `1` is `1.0`. A changed saved group marks only the flags and experiments whose conditions
name it (`$inGroup`, `$notInGroup`); a changed holdout, the experiments in it. Changes then spread to
the flags that run a changed experiment or have a changed flag as a prerequisite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .jsvalue import is_number

__all__ = ["diff_rulesets", "flags_changed_between", "next_timed_change"]


def same_json(a: Any, b: Any) -> bool:
    """Whether two JSON values are equal whatever the order of object keys (JavaScript's `sameJson`)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if is_number(a) or is_number(b):
        # `1 == 1.0`, as JavaScript has one number type; NaN (from a dict bootstrap) is never equal.
        return is_number(a) and is_number(b) and a == b
    if isinstance(a, Mapping):
        return (isinstance(b, Mapping) and len(a) == len(b)
                and all(k in b and same_json(v, b[k]) for k, v in a.items()))
    if isinstance(a, (list, tuple)):
        return (isinstance(b, (list, tuple)) and len(a) == len(b)
                and all(same_json(x, y) for x, y in zip(a, b)))
    if isinstance(b, (Mapping, list, tuple)):
        return False
    return type(a) is type(b) and a == b


def _section(doc: Any, name: str) -> Mapping[str, Any]:
    section = doc.get(name) if isinstance(doc, Mapping) else None
    return section if isinstance(section, Mapping) else {}


_ABSENT = object()


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> set[str]:
    return {key for key in before.keys() | after.keys()
            if (before.get(key, _ABSENT) is _ABSENT) != (after.get(key, _ABSENT) is _ABSENT)
            or not same_json(before.get(key), after.get(key))}


def _names_group(condition: Any, groups: set[str]) -> bool:
    """Whether a condition (any JSON inside it) names one of the groups with `$inGroup` / `$notInGroup`."""
    if isinstance(condition, (list, tuple)):
        return any(_names_group(e, groups) for e in condition)
    if not isinstance(condition, Mapping):
        return False
    return any(v in groups if k in ("$inGroup", "$notInGroup") and isinstance(v, str) else _names_group(v, groups)
               for k, v in condition.items())


def _listed(value: Any) -> list[Mapping[str, Any]]:
    return [e for e in value if isinstance(e, Mapping)] if isinstance(value, (list, tuple)) else []


def _named(reference: Any, keys: set[str]) -> bool:
    return isinstance(reference, str) and reference in keys


def diff_rulesets(previous: Any, current: Any) -> tuple[list[str], list[str]]:
    """The sorted keys of the flags whose results may differ, and of the experiments changed, added or removed.

    `previous` None (no ruleset before) reports every flag and experiment of `current`.
    """
    flags = _section(current, "flags")
    changed_flags = _changed(_section(previous, "flags"), flags)
    changed_experiments = _changed(_section(previous, "experiments"), _section(current, "experiments"))
    groups = _changed(_section(previous, "savedGroups"), _section(current, "savedGroups"))
    holdouts = _changed(_section(previous, "holdouts"), _section(current, "holdouts"))
    if groups or holdouts:
        for key, exp in _section(current, "experiments").items():
            if isinstance(exp, Mapping) and (_named(exp.get("holdout"), holdouts) or (groups and _names_group(exp.get("condition"), groups))):
                changed_experiments.add(key)

    grew = True
    while grew:
        grew = False
        for key, flag in flags.items():
            if key in changed_flags or not isinstance(flag, Mapping):
                continue
            if (any((r.get("type") == "experiment" and _named(r.get("experiment"), changed_experiments))
                    or (groups and _names_group(r.get("condition"), groups)) for r in _listed(flag.get("rules")))
                    or any(_named(p.get("flag"), changed_flags) for p in _listed(flag.get("prerequisites")))):
                changed_flags.add(key)
                grew = True
    return sorted(changed_flags), sorted(changed_experiments)


def _change_instants(flag: Any) -> list[float]:
    """When a flag's rules change what it can serve with no new ruleset (the JavaScript SDK's timed-changes.ts):
    a rule's window opening (`from`) or closing (`until`), a ramp step that changes a rollout's coverage."""
    out: list[float] = []
    for rule in _listed(flag.get("rules") if isinstance(flag, Mapping) else None):
        out.extend(t for t in (rule.get("from"), rule.get("until")) if is_number(t) and math.isfinite(t))
        schedule = rule.get("schedule")
        if rule.get("type") == "rollout" and isinstance(schedule, (list, tuple)):
            # In time order, as evaluation applies them: a step keeping the coverage it follows changes nothing.
            steps = sorted((s for s in schedule if isinstance(s, (list, tuple)) and len(s) == 2 and is_number(s[0])
                            and math.isfinite(s[0]) and is_number(s[1])), key=lambda s: s[0])
            coverage = rule.get("coverage")
            for at, c in steps:
                if not (is_number(coverage) and c == coverage):
                    out.append(at)
                coverage = c
    return out


def next_timed_change(document: Any, after: float) -> float | None:
    """The earliest instant (epoch ms) after `after` at which a flag's timed rule changes what it serves, if any."""
    later = [t for flag in _section(document, "flags").values() for t in _change_instants(flag) if t > after]
    return min(later) if later else None


def flags_changed_between(document: Any, after: float, up_to: float) -> list[str]:
    """The sorted keys of the flags whose timed rules took effect in (`after`, `up_to`], with the flags
    whose prerequisites lead to them."""
    flags = _section(document, "flags")
    changed = {key for key, flag in flags.items() if any(after < t <= up_to for t in _change_instants(flag))}
    grew = bool(changed)
    while grew:
        grew = False
        for key, flag in flags.items():
            if key not in changed and isinstance(flag, Mapping) and any(_named(p.get("flag"), changed) for p in _listed(flag.get("prerequisites"))):
                changed.add(key)
                grew = True
    return sorted(changed)
