"""Unit-testing code that uses flags and experiments: no network, no API, deterministic.

    from experimentation.testing import create_test_client

    client = create_test_client(flags={"new-nav": True}, experiments={"pricing-page": "treatment"})
    client.set_flag("checkout-button", "blue", units={"user-7": "red"})
    assert client.get_value("checkout-button", "user-7", "blue") == "red"
    client.track_event("purchase_completed", "user-7", value=9.99)
    assert client.tracked_events[0]["name"] == "purchase_completed"

The client is a real offline `Client` serving a real ruleset built from the values given, so every
evaluation goes through the production evaluator (reasons, type mismatches, `is_feature_enabled` on
non-boolean flags, exposures). Each change builds a new ruleset version and applies it as an update
from the API would be applied: `on_update` and `on_change` are called as they are in production.

How values become a ruleset (the JavaScript SDK's `@xp/sdk/testing` builds the same):

- A flag's type follows its value: a bool is a boolean flag (never a number, though True is an int),
  a str a string flag, an int or finite float a number flag, a dict, list (or tuple) or None a JSON
  flag. Per-unit values must have the flag's type.
- Its variations are its distinct values (the same JSON text as JavaScript writes it: key order
  counts, 1.0 is 1), the value for everyone first (index 0: the default and off variation), then
  per-unit values in order of first appearance. A variation is named "on" / "off" for True / False, by
  the string itself for a string that is a valid key not of the form "value-<n>", else "value-<i>"
  (i its index).
- Per-unit values other than the value for everyone are force rules, one per distinct value in order
  of first appearance, with the ids "unit-values-1", "unit-values-2"... and the condition
  {"id": {"$in": [unit ids]}}.
- An experiment has one variation per distinct variation name (the name for everyone first, then
  per-unit names in order), weights 1 for the first and 0 for the others, coverage 1, bucketed on
  "id" (hash version 2, seed = the experiment key). Per-unit variations are stored sticky-bucket
  assignments (the experiment gets `sticky`, the client a read-only store holding them), so those
  units are in the experiment (with an exposure) and their result has `sticky=True`. Here the bucket
  version is the ruleset version that set them (so an evaluation racing a change reads the assignments
  of its own ruleset); the JavaScript SDK, single-threaded, uses 0.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import numbers
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from .client import Client, User, _sendable
from .evaluation import compile_ruleset
from .jsvalue import js_number_to_string
from .results import EvaluationContext, EvaluationResult, ExperimentResult

__all__ = ["FakeClient", "UnknownKeyError", "create_test_client"]

log = logging.getLogger("experimentation")

# The platform's key rules (shared/src/model/keys.ts): flags, experiments and variations.
_KEY_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_KEY_MAX_LENGTH: Final = 128
_KEY_RULES: Final = 'must be 1 to 128 characters, start with an ASCII letter or digit and contain only ASCII letters, digits, "_", "." and "-"'
_MAX_DEPTH: Final = 64
# Keys generated for flag variations: a string value of this form is not its own key, so keys never collide.
_GENERATED: Final = re.compile(r"value-[0-9]+")
# Sticky-bucket assignments kept per experiment: those of its latest versions, for evaluations still
# running on a ruleset a few updates old (a test evaluating on other threads while it changes values).
_KEPT_VERSIONS: Final = 8
ENVIRONMENT: Final = "test"
SDK_KEY: Final = "xpk_test"


class UnknownKeyError(LookupError):
    """A strict test client evaluated a flag or experiment it was not given."""

    def __init__(self, kind: str, key: Any, configured: Iterable[str], other_kind: Iterable[str] = ()) -> None:
        self.kind = kind
        self.key = key
        self.configured = sorted(configured)
        name = json.dumps(key) if isinstance(key, str) else repr(key)
        if isinstance(key, str) and key in set(other_kind):
            hint = f" ({name} is configured as {'an experiment' if kind == 'flag' else 'a flag'})"
        else:
            near = _nearest(key, self.configured) if isinstance(key, str) else None
            hint = "" if near is None else f" (did you mean {json.dumps(near)}?)"
        listed = ", ".join(json.dumps(k) for k in self.configured) or "(none)"
        super().__init__(f"{kind} {name} is not configured in this strict test client{hint}; configured {kind}s: {listed}")

    def __str__(self) -> str:
        return str(self.args[0])


def _distance(a: str, b: str) -> int:
    """Levenshtein distance, for "did you mean"."""
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i]
        for j in range(1, len(b) + 1):
            row.append(min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1])))
        previous = row
    return previous[len(b)]


def _nearest(key: str, keys: Iterable[str]) -> str | None:
    """The configured key closest to `key` when it looks like a typo: at most 2 edits, ignoring case (the JavaScript SDK's rule)."""
    best: str | None = None
    best_distance = 3
    for k in keys:
        d = _distance(key.lower(), k.lower())
        if d < best_distance and d < max(len(k), len(key)):
            best, best_distance = k, d
    return best


def _check_key(kind: str, key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"{kind} key must be a str, got {type(key).__name__}")
    if not 1 <= len(key) <= _KEY_MAX_LENGTH or not _KEY_PATTERN.fullmatch(key):
        raise ValueError(f"{kind} key {key!r} is not a valid key: it {_KEY_RULES}")
    return key


def _json_value(value: Any, path: str, depth: int = 0, within: frozenset[int] = frozenset()) -> Any:
    """A copy of `value` as JSON (tuples as lists), or a clear error naming where it is not JSON.

    `within` holds the ids of the dicts and lists `value` is inside of: one met again is a cycle, named at
    its first repeat (`...[0] refers to itself`), not 64 levels down."""
    if depth > _MAX_DEPTH:
        raise ValueError(f"{path} is nested more than {_MAX_DEPTH} levels deep")
    # Subclasses (an IntEnum, a str Enum) as the plain value JSON holds.
    if value is None or isinstance(value, bool):
        return None if value is None else bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path} is {value!r}, which JSON cannot hold; give a finite number")
        return float(value)
    if isinstance(value, (Mapping, list, tuple)):
        if id(value) in within:
            raise ValueError(f"{path} refers to itself (a {type(value).__name__} inside itself), which JSON cannot hold")
        within = within | {id(value)}
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{path} has the key {k!r}: JSON object keys must be str")
            out[k] = _json_value(v, f"{path}[{k!r}]", depth + 1, within)
        return out
    if isinstance(value, (list, tuple)):
        return [_json_value(v, f"{path}[{i}]", depth + 1, within) for i, v in enumerate(value)]
    raise TypeError(f"{path} is a {type(value).__name__}, which is not a JSON value (bool, str, int, float, dict, list)")


def _flag_type(value: Any) -> str:
    if isinstance(value, bool):  # before int: True is an int
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (int, float)):
        return "number"
    return "json"


def _described(kind: str) -> str:
    return "JSON" if kind == "json" else f"a {kind}"


def _flag_value(value: Any, path: str) -> Any:
    if not (value is None or isinstance(value, (bool, str, int, float, Mapping, list, tuple))):
        raise TypeError(f"{path} is a {type(value).__name__}: a flag serves a bool, str, int, float, dict, list or None (JSON null)")
    return _json_value(value, path)


def _unit_id(unit: Any, where: str) -> str:
    """A unit id as the client reads a user's id: a str, an int as its decimal string, a UUID as its string."""
    if isinstance(unit, bool) or not isinstance(unit, (str, int, uuid.UUID)):
        raise TypeError(f"{where}: unit ids must be str, int or uuid.UUID, got {type(unit).__name__}")
    read = Client._id_string(unit)
    if read is None:
        raise ValueError(f"{where}: {unit!r} is not a usable unit id")
    return read


def _units(units: Any, where: str) -> list[tuple[str, Any]]:
    if units is None:
        return []
    if not isinstance(units, Mapping):
        raise TypeError(f"{where}: units must be a mapping of unit id to value, got {type(units).__name__}")
    read: dict[str, Any] = {}
    for given, value in units.items():
        unit = _unit_id(given, where)
        if unit in read:
            raise ValueError(f"{where}: {given!r} is the unit {unit!r} given twice (an int id is read as its decimal string)")
        read[unit] = value
    return list(read.items())


def _json_text(value: Any) -> str:
    """The value as JavaScript's JSON.stringify writes it (key order kept, 1.0 as 1): values with the same
    text are one variation, as in the JavaScript SDK's test client."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (int, float)):
        return js_number_to_string(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_json_text(v)}" for k, v in value.items()) + "}"
    return "[" + ",".join(_json_text(v) for v in value) + "]"


def _variation_key(value: Any, index: int) -> str:
    """A flag variation's key: "on" / "off" for a boolean, a string that is a valid key (and not of the form
    "value-<n>") itself, any other value "value-<index>"."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, str) and len(value) <= _KEY_MAX_LENGTH and _KEY_PATTERN.fullmatch(value) and not _GENERATED.fullmatch(value):
        return value
    return f"value-{index}"


class _FlagConfig:
    __slots__ = ("value", "units")

    def __init__(self, value: Any, units: list[tuple[str, Any]]) -> None:
        self.value = value
        self.units = units


class _ExperimentConfig:
    __slots__ = ("variation", "units")

    def __init__(self, variation: str, units: list[tuple[str, str]]) -> None:
        self.variation = variation
        self.units = units


def _flag_document(config: _FlagConfig) -> dict[str, Any]:
    values: list[Any] = [config.value]
    texts: list[str] = [_json_text(config.value)]
    by_variation: dict[int, list[str]] = {}
    for unit, value in config.units:
        text = _json_text(value)
        if text in texts:
            index = texts.index(text)
        else:
            index = len(values)
            values.append(value)
            texts.append(text)
        if index != 0:
            # A unit given the value for everyone needs no rule.
            by_variation.setdefault(index, []).append(unit)
    # Copies: what evaluations return is the ruleset's own object (as in production), and a test changing it
    # in place must not change the configuration the next ruleset (or reset()) is built from.
    flag: dict[str, Any] = {"variations": [{"key": _variation_key(v, i), "value": copy.deepcopy(v)} for i, v in enumerate(values)],
                            "default": 0, "off": 0}
    if by_variation:
        flag["rules"] = [{"id": f"unit-values-{n}", "type": "force", "condition": {"id": {"$in": ids}}, "variation": index}
                         for n, (index, ids) in enumerate(by_variation.items(), start=1)]
    return flag


def _experiment_document(key: str, config: _ExperimentConfig, bucket_version: int) -> dict[str, Any]:
    names = list(dict.fromkeys([config.variation, *(v for _, v in config.units)]))
    experiment: dict[str, Any] = {
        "hashAttribute": "id",
        "seed": key,
        "hashVersion": 2,
        "coverage": 1,
        "weights": [1 if i == 0 else 0 for i in range(len(names))],
        "variations": [{"key": name} for name in names],
    }
    if config.units:
        experiment["sticky"] = {"bucketVersion": bucket_version, "minBucketVersion": 0}
    return experiment


class _UnitAssignments:
    """The sticky-bucket store holding the per-unit variations of experiments, read-only to evaluation.

    Keyed by bucket version (the ruleset version that set them), so an evaluation on a ruleset a few
    updates old still reads the assignments of that ruleset."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (experiment key, bucket version) -> unit id -> variation key
        self._assignments: dict[tuple[str, int], dict[str, str]] = {}

    def get(self, hash_attribute: str, hash_value: str) -> Mapping[str, str] | None:
        if hash_attribute != "id":
            return None
        with self._lock:
            found = {f"{exp}__{version}": units[hash_value] for (exp, version), units in self._assignments.items() if hash_value in units}
        return found or None

    def set(self, hash_attribute: str, hash_value: str, assignments: Mapping[str, str]) -> None:
        """Ignored: a unit given no variation of its own follows the experiment's variation for everyone, even after it changes."""

    def put(self, experiment: str, version: int, units: Mapping[str, str]) -> None:
        with self._lock:
            if units:
                self._assignments[(experiment, version)] = dict(units)
            versions = sorted(v for e, v in self._assignments if e == experiment)
            for old in versions[:-_KEPT_VERSIONS]:
                del self._assignments[(experiment, old)]


class FakeClient(Client):
    """An offline `Client` for tests, serving flags and experiments set in code and recording the events
    it would send. Create it with `create_test_client`."""

    # Not a test case, whatever a test runner's naming rules (pytest collects classes named Test*).
    __test__ = False

    def __init__(
        self,
        flags: Mapping[str, Any] | None = None,
        experiments: Mapping[str, str] | None = None,
        *,
        strict: bool = False,
        on_update: Callable[[int | None], None] | None = None,
        on_change: Callable[[list[str]], None] | None = None,
        on_exposure: Callable[[dict[str, Any]], object] | None = None,
        private_attributes: Iterable[str] | str | bool | None = (),
        log_exposures: bool = True,
        now: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(strict, bool):
            raise TypeError(f"strict must be True or False, got {type(strict).__name__}")
        if now is not None and not callable(now):
            raise TypeError(f"now must be a callable returning the current time in epoch milliseconds, got {type(now).__name__}")
        self._strict = strict
        self._now = now
        self._config_lock = threading.RLock()
        self._flag_configs: dict[str, _FlagConfig] = {}
        self._experiment_configs: dict[str, _ExperimentConfig] = {}
        self._bucket_versions: dict[str, int] = {}
        self._unit_assignments = _UnitAssignments()
        self._version = 0
        self._tracked: list[dict[str, Any]] = []
        self._exposed: list[dict[str, Any]] = []
        self._recorded_lock = threading.Lock()
        for key, value in _mapping("flags", flags).items():
            _check_key("flag", key)
            self._flag_configs[key] = self._flag_config(key, value, None)
        for key, variation in _mapping("experiments", experiments).items():
            _check_key("experiment", key)
            self._experiment_configs[key] = self._experiment_config(key, variation, None)
        self._version = 1
        document = _document(self._flag_configs, self._experiment_configs, self._version, self._bucket_versions)
        _check_compiles(document)
        self._served = document
        super().__init__(SDK_KEY, None, bootstrap=document, wait_for_ruleset=False, sticky_bucket_store=self._unit_assignments,
                         on_update=on_update, on_change=on_change, on_exposure=on_exposure, private_attributes=private_attributes,
                         log_exposures=log_exposures)

    # -- configuration ----------------------------------------------------------------------------

    def set_flag(self, key: str, value: Any, *, units: Mapping[Any, Any] | None = None) -> None:
        """Serves `value` to every unit, and to the units in `units` (unit id -> value) their own value.

        Replaces the flag's previous values, per-unit ones included, as a new ruleset version."""
        self._check_open("set_flag")
        _check_key("flag", key)
        config = self._flag_config(key, value, units)
        with self._config_lock:
            flags = {**self._flag_configs, key: config}
            self._apply(flags, self._experiment_configs, None)

    def remove_flag(self, key: str) -> bool:
        """Takes the flag out of the ruleset: evaluations get their default with reason FLAG_NOT_FOUND (or
        raise in strict mode). False, and no new ruleset, when the flag was not configured."""
        self._check_open("remove_flag")
        with self._config_lock:
            if key not in self._flag_configs:
                return False
            flags = {k: c for k, c in self._flag_configs.items() if k != key}
            self._apply(flags, self._experiment_configs, None)
            return True

    def set_experiment(self, key: str, variation: str, *, units: Mapping[Any, str] | None = None) -> None:
        """Puts every unit in `variation` of the experiment, and the units in `units` (unit id -> variation) in theirs."""
        self._check_open("set_experiment")
        _check_key("experiment", key)
        config = self._experiment_config(key, variation, units)
        with self._config_lock:
            experiments = {**self._experiment_configs, key: config}
            self._apply(self._flag_configs, experiments, key)

    def remove_experiment(self, key: str) -> bool:
        """Takes the experiment out of the ruleset: units are in no variation (get_variant returns None, or
        raises in strict mode). False, and no new ruleset, when the experiment was not configured."""
        self._check_open("remove_experiment")
        with self._config_lock:
            if key not in self._experiment_configs:
                return False
            experiments = {k: c for k, c in self._experiment_configs.items() if k != key}
            # Its stored per-unit variations go with the next set_experiment of it (a new bucket version).
            self._apply(self._flag_configs, experiments, None)
            return True

    # -- what was recorded ------------------------------------------------------------------------

    @property
    def tracked_events(self) -> list[dict[str, Any]]:
        """Copies of the events `track_event` recorded, oldest first, as they would be sent (without the
        event's random `id` and its `type`): `name`, `unitId`, `timestamp` (epoch ms) and, when given,
        `properties`, `value` and `units`."""
        with self._recorded_lock:
            return copy.deepcopy(self._tracked)

    @property
    def exposures(self) -> list[dict[str, Any]]:
        """Copies of the exposures recorded, oldest first, as they would be sent (without `id` and `type`):
        `experiment`, `variation`, `unitId`, `hashAttribute`, `timestamp`, and `flag` and `attributes` when
        they apply. As in production, a unit's exposure to a variation is recorded once (until `reset()`)."""
        with self._recorded_lock:
            return copy.deepcopy(self._exposed)

    def reset(self) -> None:
        """Forgets the recorded events and exposures, and which exposures were seen (the next is recorded again),
        and serves again the values last configured when a value an evaluation returned was changed in place
        (a dict or list flag value is the ruleset's own object, as in production): as a new ruleset version,
        only then."""
        with self._recorded_lock:
            self._tracked.clear()
            self._exposed.clear()
        with self._exposures_lock:
            self._exposures.clear()
        with self._config_lock:
            if self._served_was_changed():
                self._apply(self._flag_configs, self._experiment_configs, None)

    def _served_was_changed(self) -> bool:
        """Whether the flag values being served differ from the configured ones (changed in place by a test)."""
        configured = _document(self._flag_configs, {}, self._version, {})["flags"]
        try:
            return _json_text(self._served["flags"]) != _json_text(configured) or self._served["flags"] != configured
        except (TypeError, ValueError, RecursionError, AttributeError):
            return True  # changed into something that is not JSON any more

    def _clock(self) -> int | None:
        """The time `now` gives, as a timestamp (whole epoch ms, at least 0, as the JavaScript SDK's); None without
        `now`. A clock giving something else raises TypeError saying so."""
        if self._now is None:
            return None
        at = self._now()
        if isinstance(at, bool) or not isinstance(at, numbers.Real) or not math.isfinite(at):
            raise TypeError(f"the test client's now() must return the current time as a finite number of epoch milliseconds, got {at!r}")
        return max(0, math.floor(at))

    def _context(self, user: User) -> EvaluationContext | None:
        # With `now`, evaluations read the time from it too (schedules, active windows), as with the JavaScript SDK's `now`.
        context = super()._context(user)
        if context is None or self._now is None:
            return context
        try:
            return dataclasses.replace(context, now=self._clock())
        except TypeError as e:
            log.error("%s; evaluating at the current time", e)
            return context

    def _capture_offline_event(self, event: dict[str, Any]) -> bool:
        # What a client with an API would queue: the same events are dropped (closed client, too large).
        if self._closed:
            (log.debug if self._warned_closed else log.warning)("event dropped: the client is closed")
            self._warned_closed = True
            return False
        if self._now is not None:
            try:
                event["timestamp"] = self._clock()
            except TypeError as e:
                log.error("event %r not recorded: %s", event.get("name", event["type"]), e)
                return False
        if not _sendable(event):
            return False
        recorded = {k: copy.deepcopy(v) for k, v in event.items() if k not in ("id", "type")}
        with self._recorded_lock:
            (self._exposed if event["type"] == "exposure" else self._tracked).append(recorded)
        return True

    def _restart_in_child(self) -> None:
        # New locks in a forked child, as the client's own: a copy may be held by a thread that did not survive the fork.
        self._config_lock = threading.RLock()
        self._recorded_lock = threading.Lock()
        self._unit_assignments._lock = threading.Lock()
        super()._restart_in_child()

    # -- strict mode ------------------------------------------------------------------------------

    def evaluate(self, flag_key: str, user: User, default: Any = None, *, explain: bool = False) -> EvaluationResult[Any]:
        """`Client.evaluate`; with `strict`, raises `UnknownKeyError` for a flag this client was not given."""
        # The configuration is replaced whole, never changed in place: read without the lock.
        if self._strict and flag_key not in self._flag_configs:
            raise UnknownKeyError("flag", flag_key, self._flag_configs, self._experiment_configs)
        return super().evaluate(flag_key, user, default, explain=explain)

    def get_experiment(self, experiment_key: str, user: User) -> ExperimentResult:
        """`Client.get_experiment`; with `strict`, raises `UnknownKeyError` for an experiment this client was not given."""
        if self._strict and experiment_key not in self._experiment_configs:
            raise UnknownKeyError("experiment", experiment_key, self._experiment_configs, self._flag_configs)
        return super().get_experiment(experiment_key, user)

    # -- building rulesets ------------------------------------------------------------------------

    @staticmethod
    def _flag_config(key: str, value: Any, units: Any) -> _FlagConfig:
        where = f"flag {key!r}"
        copied = _flag_value(value, f"the value of {where}")
        kind = _flag_type(copied)
        per_unit: list[tuple[str, Any]] = []
        for unit, v in _units(units, where):
            unit_value = _flag_value(v, f"the value of {where} for unit {unit!r}")
            if _flag_type(unit_value) != kind:
                raise TypeError(f"the value of {where} for unit {unit!r} is {_described(_flag_type(unit_value))}, but the flag serves {_described(kind)} "
                                "(its value for everyone): every value of a flag has one type")
            per_unit.append((unit, unit_value))
        return _FlagConfig(copied, per_unit)

    @staticmethod
    def _experiment_config(key: str, variation: Any, units: Any) -> _ExperimentConfig:
        where = f"experiment {key!r}"
        per_unit = [(unit, _check_variation(where, v, f" for unit {unit!r}")) for unit, v in _units(units, where)]
        return _ExperimentConfig(_check_variation(where, variation, ""), per_unit)

    def _check_open(self, method: str) -> None:
        """A closed client gets no new ruleset: a change after close() is a mistake of the test, said so (as the
        JavaScript test client's XpError CLOSED), rather than served without telling its listeners."""
        if self._closed:
            raise RuntimeError(f"xp testing: {method}() after close(): a closed client takes no new flags or experiments "
                               "(create a new test client)")

    def _apply(self, flags: dict[str, _FlagConfig], experiments: dict[str, _ExperimentConfig], set_experiment: str | None) -> None:
        """Serves the configuration as the next ruleset version (under _config_lock), or raises and keeps serving the current one."""
        version = self._version + 1
        bucket_versions = dict(self._bucket_versions)
        if set_experiment is not None:
            # A new bucket version for what set_experiment gave: its per-unit variations, stored under it.
            bucket_versions[set_experiment] = version
        document = _document(flags, experiments, version, bucket_versions)
        _check_compiles(document)
        if set_experiment is not None and experiments[set_experiment].units:
            # Stored before the ruleset naming their bucket version is served.
            self._unit_assignments.put(set_experiment, version, dict(experiments[set_experiment].units))
        self._flag_configs, self._experiment_configs, self._version, self._bucket_versions = flags, experiments, version, bucket_versions
        self._served = document
        if not self._apply_document(document, None, "the test configuration"):
            raise RuntimeError("the test configuration could not be served; see the log")


def _document(flags: Mapping[str, _FlagConfig], experiments: Mapping[str, _ExperimentConfig], version: int,
              bucket_versions: Mapping[str, int]) -> dict[str, Any]:
    """The ruleset serving a configuration, at `version`."""
    return {
        "schemaVersion": 1,
        "environment": ENVIRONMENT,
        "version": version,
        "flags": {key: _flag_document(config) for key, config in flags.items()},
        "experiments": {key: _experiment_document(key, config, bucket_versions.get(key, version)) for key, config in experiments.items()},
    }

def _mapping(name: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping of key to value, got {type(value).__name__}")
    return value


def _check_variation(where: str, name: Any, for_unit: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"the variation of {where}{for_unit} must be a str (a variation key), got {type(name).__name__}")
    if not 1 <= len(name) <= _KEY_MAX_LENGTH or not _KEY_PATTERN.fullmatch(name):
        raise ValueError(f"the variation of {where}{for_unit}, {name!r}, is not a valid variation key: it {_KEY_RULES}")
    return name


def _check_compiles(document: Mapping[str, Any]) -> None:
    """The production evaluator's verdict on the ruleset (too many distinct values, for one): a clear error now, not at evaluation."""
    compiled = compile_ruleset(document)
    if compiled.error is not None:
        raise ValueError(f"the test configuration is not a valid ruleset: {compiled.error.message}")
    for kind, table in (("flag", compiled.flags), ("experiment", compiled.experiments)):
        for key, item in table.items():
            if item.error is not None:
                raise ValueError(f"{kind} {key!r} cannot be served: {item.error.message}")


def create_test_client(
    flags: Mapping[str, Any] | None = None,
    experiments: Mapping[str, str] | None = None,
    *,
    strict: bool = False,
    on_update: Callable[[int | None], None] | None = None,
    on_change: Callable[[list[str]], None] | None = None,
    on_exposure: Callable[[dict[str, Any]], object] | None = None,
    private_attributes: Iterable[str] | str | bool | None = (),
    log_exposures: bool = True,
    now: Callable[[], float] | None = None,
) -> FakeClient:
    """A client for unit tests: serves `flags` (key -> value for everyone) and `experiments` (key -> the
    variation every unit is in), ready at once, without network or background threads, and records the
    events and exposures it would send (`tracked_events`, `exposures`).

    With `strict`, evaluating a flag or experiment not configured raises `UnknownKeyError` (naming the
    key, the configured ones and the closest match) instead of serving the default. Bad keys, values
    that are not JSON and invalid variation keys raise ValueError or TypeError here and in the setters.

    `now`, a callable returning the current time in epoch milliseconds (as the JavaScript SDK's `now`
    option), is the clock of the recorded events' `timestamp` (and of evaluations), so tests can assert
    timestamps: `create_test_client(now=lambda: 1_700_000_000_000)`.
    """
    return FakeClient(flags, experiments, strict=strict, on_update=on_update, on_change=on_change, on_exposure=on_exposure,
                      private_attributes=private_attributes, log_exposures=log_exposures, now=now)
