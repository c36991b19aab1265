"""The xp client: keeps a ruleset fresh in the background, evaluates locally, sends events.

Nothing here raises into the application after construction: a missing API, a stalled API, a
bad ruleset or a failing event endpoint degrade to defaults, the last good ruleset and retries.
"""

from __future__ import annotations

import atexit
import inspect
import json
import logging
import math
import numbers
import os
import random
import re
import ssl
import threading
import time
import uuid
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Final, TypeVar, Union

from . import _http
from . import evaluation as _evaluation
from ._changes import diff_rulesets, flags_changed_between, next_timed_change
from ._evaluation_counts import APP_NAME_MESSAGE, APP_NAME_PATTERN, EvaluationCounter
from .conditions import get_path
from .evaluation import CompiledRuleset, compile_ruleset, evaluate_experiment, evaluate_flag
from .jsvalue import is_number, js_number_to_string, json_default, to_json_value, truthy
from .results import (
    ErrorCode,
    EvaluationContext,
    EvaluationResult,
    ExperimentAssignment,
    ExperimentResult,
    Reason,
    StickyBucketStore,
)

__all__ = ["Client", "User"]

log = logging.getLogger("experimentation")
T = TypeVar("T")

User = Union[str, int, uuid.UUID, Mapping[str, Any]]
"""A user id (a UUID is its string), or a mapping with `id` and optional `attributes`, `url` and `forced_variations` (other keys are attributes too)."""

# Keys of a user mapping that are not targeting attributes: what the JavaScript SDK's user object holds
# besides `attributes` (`forcedVariations` is accepted as well, as evaluation contexts accept it).
_USER_KEYS: Final = frozenset({"id", "attributes", "url", "forced_variations", "forcedVariations"})

MAX_EVENTS_PER_BATCH: Final = 500
MAX_EVENT_BYTES: Final = 16 * 1024
MAX_EXPOSURE_ATTRIBUTES: Final = 16
# How many other identifiers a tracked event may carry (`units`; the API's limit).
MAX_UNITS: Final = 10
MAX_EXPOSURE_ATTRIBUTE_CHARS: Final = 256
_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")


def _utf16_length(text: str) -> int:
    """A string's length as JavaScript (and the API) counts it, in UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _unit_attributes_of(document: Any) -> tuple[str, ...]:
    """The attributes a ruleset's experiments bucket on (hash and fallback), other than `id`, in the
    JavaScript SDK's order (UTF-16 code units), so both SDKs send the same `units`."""
    experiments = document.get("experiments") if isinstance(document, Mapping) else None
    names: set[str] = set()
    if isinstance(experiments, Mapping):
        for definition in experiments.values():
            if isinstance(definition, Mapping):
                for name in (definition.get("hashAttribute"), definition.get("fallbackAttribute")):
                    if isinstance(name, str) and name not in ("", "id") and _utf16_length(name) <= 256:
                        names.add(name)
    return tuple(sorted(names, key=lambda n: n.encode("utf-16-be", "surrogatepass")))


# At most one "event queue is full" warning and one count of dropped events per this many seconds.
DROP_LOG_INTERVAL: float = 30.0

# The shortest poll_interval (other than 0, no polling): shorter ones hammer the API without news sooner.
MIN_POLL_INTERVAL: float = 1.0

# Stream answers saying the API does not serve the stream here, as the JavaScript SDK reads them: these
# statuses, or a 404 whose JSON error code is STREAM_NOT_AVAILABLE (a deployment behind API Gateway, which
# buffers responses). Not an outage: the client polls every poll_interval, warned once, and asks for the
# stream again every STREAM_RECHECK_INTERVAL. A plain 404 (a wrong api_url, a proxy during a deploy) is an
# outage like any other, retried with backoff; so is a 400. A refused key (401, 403) is retried at the
# slowest backoff (backoff_max), so that a key the API accepts again works without a restart.
_STREAM_NOT_SERVED: Final = frozenset({405, 410, 501})
_STREAM_NOT_AVAILABLE: Final = "STREAM_NOT_AVAILABLE"
_KEY_REFUSED: Final = frozenset({401, 403})
# Bytes of a stream 404's body read for its error code: the API's JSON error is far shorter.
_ERROR_BODY_LIMIT: Final = 4096

# Seconds after which a stream the API does not serve, or that never answered while ruleset requests did
# (a proxy buffering it), is asked for again (the JavaScript SDK's STREAM_RECHECK_MS): a deployment can start
# serving it, a network path can change, and one request every 10 minutes costs little.
STREAM_RECHECK_INTERVAL: float = 600.0
# Stream requests in a row that must go unanswered (no headers within `timeout`), while a ruleset request is
# answered, before the stream is taken as unreadable here (the JavaScript SDK's SILENT_ATTEMPTS).
_SILENT_ATTEMPTS: Final = 2
# Event batches refused for what they hold: the same exposures would be refused again.
_INVALID_BATCH_STATUSES: Final = frozenset({400, 413, 422})

# Guards the check of which process a client's threads run in (`Client.postfork`); new in each forked child.
_fork_lock = threading.Lock()


def _reinit_fork_lock() -> None:
    global _fork_lock
    _fork_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_fork_lock)


def _json_loads(data: bytes) -> Any:
    def reject(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")
    return json.loads(data.decode("utf-8"), parse_constant=reject)


def _category(v: Any) -> str:
    """The JSON type of a value; an object, an array and null differ, as in the JavaScript SDK."""
    if isinstance(v, bool):
        return "boolean"
    if is_number(v) or isinstance(v, (numbers.Real, Decimal)):
        # A Decimal or a fraction default is a number, as attributes and values read them.
        return "number"
    if isinstance(v, str):
        return "string"
    if v is None:
        return "null"
    if isinstance(v, Mapping):
        return "object"
    return "array" if isinstance(v, (list, tuple)) else "json"


_MAX_SAFE_ID: Final = 2**53 - 1
_unsafe_id_warned = threading.Event()


def _warn_unsafe_int_id(given: int, read: Any) -> None:
    """Once per process: an int id past 2**53 is a JavaScript number, which keeps only 15-17 digits."""
    if not _unsafe_id_warned.is_set():
        _unsafe_id_warned.set()
        as_read = js_number_to_string(read) if is_number(read) and math.isfinite(read) else "Infinity, not an id"
        log.warning("unit id %s is an int beyond 2**53: it is read as JavaScript reads it (%s), so ids that differ "
                    "only in their last digits share a unit; pass such ids as str", str(given) if given.bit_length() <= 300 else f"of {given.bit_length()} bits", as_read)


def _short(value: Any) -> Any:
    """A caller's key or name as logs show it: at most 100 characters (a 100,000-character key is one log line otherwise)."""
    return value[:100] + "…" if isinstance(value, str) and len(value) > 100 else value


def _described_app_name(value: Any) -> str:
    """A bad app_name as its warning shows it: a string escaped (repr: a newline cannot split the log line) and
    cut after 100 characters, a number or bool as its literal, anything else by its type."""
    if isinstance(value, str):
        return repr(_short(value))
    if isinstance(value, (bool, int, float)):
        try:
            return _short(repr(value))
        except ValueError:  # an int of more digits than int-to-str allows
            pass
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _short_problems(message: str) -> str:
    """A validation message for a log line: its first three problems, at most 300 characters."""
    problems = message.split("; ")
    text = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    return text if len(text) <= 300 else text[:300] + "…"


def _seconds(name: str, value: Any, allow_zero: bool = False) -> float:
    """A duration option: a finite real number of seconds, positive (or 0 where that turns something off)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, numbers.Real)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero) or seconds > threading.TIMEOUT_MAX:
        raise ValueError(f"{name} must be {'0 or more' if allow_zero else 'more than 0'} seconds, got {value!r}")
    return seconds


def _count(name: str, value: Any, minimum: int = 1) -> int:
    """A size option: an int of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return int(value)


def _with_article(category: str) -> str:
    """A category for messages: "a string", "an object", "null"."""
    return category if category == "null" else ("an " if category[0] in "aeiou" else "a ") + category



def _sendable(event: dict[str, Any]) -> bool:
    """Whether the event can be sent: JSON-serialisable and within MAX_EVENT_BYTES (says why not)."""
    try:
        size = len(json.dumps(event, allow_nan=False, separators=(",", ":")).encode("utf-8"))
    except (TypeError, ValueError):
        log.warning("event %r dropped: it is not JSON-serialisable", event.get("name", event["type"]))
        return False
    if size > MAX_EVENT_BYTES:
        log.warning("event %r dropped: %d bytes is over the %d-byte limit", event.get("name", event["type"]), size, MAX_EVENT_BYTES)
        return False
    return True


class _ExposureListener:
    """One `on_exposure` subscription: its callback, and whether its failure was logged (once per subscription)."""

    __slots__ = ("callback", "failed")

    def __init__(self, callback: Callable[[dict[str, Any]], object]) -> None:
        self.callback = callback
        self.failed = False


class Client:
    """Evaluates flags and experiments locally against the ruleset of one SDK key's environment.

    Args:
        api_key: the SDK key; sent only in the `X-XP-SDK-Key` header, never in a URL or a log.
        api_url: where the xp API runs; None for an offline client that serves `bootstrap` only (tests,
            local development, a baked-in ruleset) and sends nothing.
        poll_interval: seconds between ruleset polls when the stream is not used or is down (while
            it is down, `stream_retry_max` when shorter; 0 disables polling).
        timeout: seconds any one HTTP request may take, and the longest the constructor waits for
            the first ruleset.
        streaming: follow `GET /sdk/v1/stream` (server-sent events) for instant updates, with
            polling as the fallback while the stream is down.
        flush_interval: seconds between event batches.
        batch_size: events per `POST /sdk/v1/events` (at most 500, the API's limit); batches go out one
            after another on one kept-alive connection, so this bounds the events sent per second.
        max_queue_size: events held in memory; beyond it new events are dropped with a log line.
        backoff_base, backoff_max: exponential backoff (with jitter) for failed event batches and
            stream reconnects (those at most `stream_retry_max` apart), in seconds.
        wait_for_ruleset: block the constructor (at most `timeout`) until the first ruleset arrives.
        bootstrap: a ruleset document (dict or JSON text) to serve until the API answers.
        sticky_bucket_store: keeps units in their variation across traffic changes.
        log_exposures: send an exposure event the first time a user is bucketed into a variation.
        exposure_cache_size: how many (user, experiment, variation) exposures are remembered for
            de-duplication.
        private_attributes: attribute names never sent with exposure events nor in tracked events' `units`,
            or True for all (a value still leaves as the unit id of an exposure to an experiment bucketed on it).
            By default a user's first exposure carries its flat attributes (strings, finite numbers,
            booleans; at most 256 characters with the name, the first 16), which results can be
            filtered and broken down by; nested values and longer strings never leave.
        on_update: called with the new ruleset version after each successful update.
        on_change: called with the keys of the flags that may evaluate differently after a ruleset
            update (the JavaScript SDK's `onChange`): changed, added or removed flags, and flags that
            depend on a changed experiment, prerequisite flag, saved group or holdout. Also called
            (with every flag key) when the first ruleset arrives from the API, but not for `bootstrap`;
            and, on a daemon timer thread, when a ramp step or a rule's active window (activeFrom /
            activeUntil) of the ruleset served takes effect, with the flags it changes.
        on_exposure: called with each exposure the client logs (as `on_exposure(listener)` subscribes one),
            to forward exposures to another tool (an "Experiment Viewed" event for Segment, GA, a warehouse).
        stream_idle_timeout: seconds without any stream data (heartbeats included) before reconnecting.
        stream_retry_max: the longest wait, in seconds, between stream reconnect attempts (jittered,
            never sooner than a `Retry-After`) and between ruleset polls while the stream is down (when
            shorter than `poll_interval`): a change made after an outage arrives within about this long
            of the API answering again.
        proxy: None for the environment's proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY, as urllib
            reads them; never for a loopback api_url), an http:// proxy URL (credentials allowed) to use
            always, or False for none. https API URLs go through a CONNECT tunnel.
        ssl_context: the ssl.SSLContext for an https api_url (a private CA, a client certificate); by
            default the system's trusted CAs.
        send_evaluation_counts: send how often each flag is evaluated, by the variation served (the console's
            "last evaluated" and "still used?"): `evaluate` (not with `explain=True`), `get_value` and
            `is_feature_enabled` are counted in memory by (flag key, variation key or None for the default) and
            sent as one `evaluations` record per 100 pairs at each flush of the event queue. No unit ids, no
            attributes. Nothing is counted by an offline client (api_url None).
        app_name: the application (service) this client runs in, e.g. "checkout-api": every `evaluations`
            record carries it as `app`, so the console tells which applications still evaluate a flag. 1 to 64
            ASCII letters, digits, ".", "_" and "-", starting with a letter or digit, case-sensitive ("Checkout-API"
            and "checkout-api" are two applications). Anything else (empty, too long, other characters, not a
            string) is dropped with one warning and the client works as without it. None (the default): no
            application named. Exposures and tracked events do not carry it.
    """

    def __init__(
        self,
        api_key: str,
        api_url: str | None = "http://localhost:8000",
        *,
        poll_interval: float = 30,
        timeout: float = 5,
        streaming: bool = True,
        flush_interval: float = 5,
        batch_size: int = 500,
        max_queue_size: int = 10_000,
        backoff_base: float = 1,
        backoff_max: float = 60,
        wait_for_ruleset: bool = True,
        bootstrap: Mapping[str, Any] | str | None = None,
        sticky_bucket_store: StickyBucketStore | None = None,
        log_exposures: bool = True,
        exposure_cache_size: int = 100_000,
        private_attributes: Iterable[str] | str | bool | None = (),
        on_update: Callable[[int | None], None] | None = None,
        on_change: Callable[[list[str]], None] | None = None,
        on_exposure: Callable[[dict[str, Any]], object] | None = None,
        stream_idle_timeout: float = 60,
        stream_retry_max: float = 5,
        proxy: str | bool | None = None,
        ssl_context: ssl.SSLContext | None = None,
        send_evaluation_counts: bool = True,
        app_name: str | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key must be a non-empty string")
        # A key read from a secret file usually ends with a newline; inside, no header can carry one.
        api_key = api_key.strip()
        if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in api_key):
            raise ValueError("api_key holds whitespace or control characters; give the SDK key as shown in the console")
        # None: offline, as the JavaScript SDK without apiUrl — the bootstrap ruleset only, no network, no events.
        self._offline = api_url is None
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError(f"ssl_context must be an ssl.SSLContext or None, got {type(ssl_context).__name__}")
        self._endpoint = _http.Endpoint("http://offline.invalid" if api_url is None else api_url, ssl_context=ssl_context)
        self._endpoint.proxy = None if self._offline else self._proxy_for(self._endpoint, proxy)
        self._key = api_key
        # Bad values are programming errors: refused here, naming the option, rather than a client that
        # never connects (timeout=0) or retries in a tight loop (backoff_base=0).
        poll = _seconds("poll_interval", 0 if poll_interval is None else poll_interval, allow_zero=True)
        if 0 < poll < MIN_POLL_INTERVAL:
            raise ValueError(f"poll_interval must be 0 (no polling) or at least {MIN_POLL_INTERVAL:g} seconds, got {poll_interval!r}")
        self._poll_interval = poll
        self._timeout = _seconds("timeout", timeout)
        self._streaming = streaming
        self._flush_interval = _seconds("flush_interval", flush_interval)
        self._batch_size = min(_count("batch_size", batch_size), MAX_EVENTS_PER_BATCH)
        self._max_queue = _count("max_queue_size", max_queue_size)
        self._backoff_base = _seconds("backoff_base", backoff_base)
        self._backoff_max = _seconds("backoff_max", backoff_max)
        if self._backoff_max < self._backoff_base:
            raise ValueError(f"backoff_max ({backoff_max!r}) must be at least backoff_base ({backoff_base!r})")
        if sticky_bucket_store is not None and not (callable(getattr(sticky_bucket_store, "get", None))
                                                    and callable(getattr(sticky_bucket_store, "set", None))):
            raise TypeError("sticky_bucket_store must have get(hash_attribute, hash_value) and set(hash_attribute, hash_value, assignments) methods")
        for name, callback in (("on_update", on_update), ("on_change", on_change), ("on_exposure", on_exposure)):
            if callback is not None and not callable(callback):
                raise TypeError(f"{name} must be callable or None, got {type(callback).__name__}")
        if not (private_attributes is None or isinstance(private_attributes, (bool, str, Iterable))):
            raise TypeError(f"private_attributes must be attribute names, a name, True or None, got {type(private_attributes).__name__}")
        # A counting label: a bad one (often from config: an empty or path-like service name) is dropped with a
        # warning, never a reason to stop a service from starting, as the JavaScript SDK drops its appName.
        # Checked offline too: the mistake shows in tests before production.
        if app_name is not None and not (isinstance(app_name, str) and APP_NAME_PATTERN.fullmatch(app_name)):
            log.warning("app_name %s, got %s: ignored, the client's evaluation counts name no application",
                        APP_NAME_MESSAGE, _described_app_name(app_name))
            app_name = None
        self._app_name = app_name
        self._store = sticky_bucket_store
        self._log_exposures = log_exposures
        self._exposure_cache_size = _count("exposure_cache_size", exposure_cache_size, minimum=0)
        # A plain string is one name: frozenset("email") would make only its letters private.
        self._private_attributes: frozenset[str] | None = (
            None if private_attributes is True
            else frozenset() if private_attributes is False or private_attributes is None
            else frozenset([private_attributes]) if isinstance(private_attributes, str)
            else frozenset(private_attributes)
        )
        self._on_update = on_update
        self._on_change = on_change
        self._stream_idle_timeout = _seconds("stream_idle_timeout", stream_idle_timeout)
        self._stream_retry_max = _seconds("stream_retry_max", stream_retry_max)

        self._ruleset: CompiledRuleset | None = None
        # The hash and fallback attributes of the ruleset's experiments, less private ones: what track_event sends as `units`.
        self._unit_attributes: tuple[str, ...] = ()
        # Private attributes warned about as left out of tracked events' `units` (once per client and attribute).
        self._warned_private: set[str] = set()
        # Sticky experiments warned about as served without a sticky_bucket_store (once per client and experiment).
        self._warned_sticky: set[str] = set()
        self._etag: str | None = None
        self._update_lock = threading.Lock()
        # Set when a ruleset is served; `_attempted` once the first fetch settled, whatever its outcome.
        self._ready = threading.Event()
        self._attempted = threading.Event()
        self._stop = threading.Event()
        self._closed = False
        self._close_lock = threading.Lock()
        self._fetch_failing = False
        self._fetch_problem = ""
        self._warned_closed = False
        # Whether an exposure's unit id the API refuses (a NUL, too long) was warned about: once per client.
        self._warned_unit_id = False
        self._stream_failing = False
        # Whether the last stream connection delivered an event (a stream that worked: its break is a first failure).
        self._stream_delivered = False
        # Whether the "the API does not serve the ruleset stream here" (or "this client cannot stream the
        # ruleset") warning was logged: once per client, as the JavaScript SDK's cannotStreamWarned.
        self._stream_not_served_warned = False
        # Set while the stream is taken as not served or unreadable here (polling, rechecked every
        # STREAM_RECHECK_INTERVAL); cleared when a stream delivers an event.
        self._cannot_stream = False
        # Stream requests in a row that had no answer within `timeout`, and when the first of them started (monotonic).
        self._silent_attempts = 0
        self._silent_since = 0.0
        # When a ruleset request last got an answer (200 or 304; monotonic).
        self._answered_at = -math.inf
        # No background ruleset poll before this (monotonic): a Retry-After the ruleset endpoint sent.
        self._poll_not_before = 0.0
        # Whether a refused SDK key was told (a warning), to tell when the API accepts it again (info): by the
        # ruleset polls (told ended when a poll is answered) and by the stream (when the stream is answered).
        self._key_refused = False
        self._stream_key_refused = False
        self._events_refused = False
        self._stream_conn: Any = None
        self._stream_lock = threading.Lock()
        # Event batches go out one after another on one kept-alive connection (a new TCP and TLS handshake
        # per batch capped the sender near batch_size / round trip).
        self._events_conn = _http.KeptAliveConnection(self._endpoint)

        self._queue: deque[dict[str, Any]] = deque()
        self._queue_lock = threading.Condition()
        self._send_lock = threading.Lock()
        self._events_failing = False
        # Events dropped unsent (queue overflow, close): since start, not yet reported in a log line,
        # and not yet reported by flush().
        self._dropped = 0
        self._unreported_drops = 0
        self._unflushed_drops = 0
        # When the last "queue is full" warning and the last count of drops were logged: at most one of
        # each per DROP_LOG_INTERVAL, however long the overload lasts.
        self._drop_warned_at = -math.inf
        self._drops_reported_at = -math.inf
        # Offline: events not sent anywhere.
        self._offline_events = 0
        # Evaluations by (flag, served variation) since the last flush, sent as `evaluations` records; None when
        # they are not sent (send_evaluation_counts False, offline, or closed).
        self._evaluation_counts: EvaluationCounter | None = (
            None if self._offline or not send_evaluation_counts else EvaluationCounter(self._queue_early_records, app=app_name))
        # Evaluation-count records in the queue: a full queue drops them first.
        self._records_queued = 0
        # Whether dropping evaluation counts from a full queue was warned about (once per client).
        self._warned_count_drops = False
        # Set by close() once it has flushed and cleared the queue.
        self._drained = False
        self._exposures: OrderedDict[tuple[str, str, str, str], None] = OrderedDict()
        self._exposures_lock = threading.Lock()
        # The on_exposure subscriptions: a tuple replaced (under the lock) at each change, read without it.
        self._exposure_listeners: tuple[_ExposureListener, ...] = () if on_exposure is None else (_ExposureListener(on_exposure),)
        self._exposure_listeners_lock = threading.Lock()
        # One timer for the next instant a timed rule of the ruleset served takes effect (on_change only);
        # timed rules that took effect up to `_timed_up_to` (epoch ms) were announced or came with the ruleset.
        self._timed_timer: threading.Timer | None = None
        self._timed_up_to = 0.0
        self._timed_lock = threading.Lock()

        if bootstrap is not None:
            self._apply_document(bootstrap if not isinstance(bootstrap, str) else self._parse_text(bootstrap), None, "bootstrap")

        # The process whose threads serve this client: a forked child has other threads to start (postfork()).
        self._pid = os.getpid()
        self._start_threads()
        # Both hooks hold the client only through a weak reference: registering them keeps no client alive.
        ref = weakref.ref(self)

        def close_at_exit() -> None:
            client = ref()
            if client is not None:
                client.close()
        self._atexit = close_at_exit
        atexit.register(close_at_exit)

        def restart_in_child() -> None:
            client = ref()
            if client is not None:
                client.postfork()
        # Once per client (a child's children inherit it); hooks cannot be unregistered, a dropped client's does nothing.
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=restart_in_child)
        if wait_for_ruleset:
            self._attempted.wait(self._timeout)

    def __repr__(self) -> str:
        version = None if self._ruleset is None else self._ruleset.version
        return f"<experimentation.Client api_url={None if self._offline else self._endpoint.url!r} ruleset_version={version}>"

    @staticmethod
    def _proxy_for(endpoint: _http.Endpoint, proxy: Any) -> _http.Proxy | None:
        """The proxy for the API: the `proxy` option, none when it is False, else the environment's (as urllib reads it)."""
        if proxy is False:
            return None
        if proxy is None:
            found, problem = _http.proxy_from_environment(endpoint.scheme, endpoint.host)
            if problem is not None:
                log.warning("the %s proxy of the environment cannot be used (%s); connecting to the API directly", endpoint.scheme, problem)
            elif found is not None:
                log.debug("connecting to the API through the proxy %s:%d (from the environment)", found.host, found.port)
            return found
        if not isinstance(proxy, str) or not proxy.strip():
            raise TypeError("proxy must be a proxy URL (http://host:port), False (no proxy) or None (the environment's)")
        return _http.parse_proxy(proxy.strip())

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- public API -----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once a ruleset (fetched or bootstrapped) is being served."""
        return self._ruleset is not None

    @property
    def ruleset_version(self) -> int | None:
        return None if self._ruleset is None else self._ruleset.version

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Waits for the first ruleset; returns whether one is being served."""
        self._ready.wait(self._timeout if timeout is None else timeout)
        return self.ready

    def evaluate(self, flag_key: str, user: User, default: Any = None, *, explain: bool = False) -> EvaluationResult[Any]:
        """The flag's value for the user with the reason, rule and experiment details. Never raises.

        When `default` is given and the flag serves a value of another type (boolean, number,
        string, object, array), `default` comes back with reason ERROR and code TYPE_MISMATCH.
        """
        try:
            ruleset = self._ruleset
            if ruleset is None:
                result = EvaluationResult(value=default, variation_key=None, reason=Reason.ERROR,
                                          error_code=ErrorCode.PROVIDER_NOT_READY, error_message="no ruleset yet")
            else:
                context = self._context(user)
                if context is None:
                    result = EvaluationResult(value=default, variation_key=None, reason=Reason.ERROR,
                                              error_code=ErrorCode.INVALID_CONTEXT, error_message="user must be an id or a mapping with an id")
                else:
                    result = evaluate_flag(ruleset, flag_key, context, default=default, explain=explain)
                    if default is not None and result.variation_key is not None and _category(result.value) != _category(default):
                        # The unit gets the default, not the variation: no exposure (as in the JavaScript SDK).
                        result = EvaluationResult(value=default, variation_key=None, reason=Reason.ERROR,
                                                  error_code=ErrorCode.TYPE_MISMATCH,
                                                  error_message=f"flag serves {_with_article(_category(result.value))}, the default is {_with_article(_category(default))}")
                    elif result.experiment is not None:
                        self._expose(result.experiment, flag_key, user)
        except Exception as e:
            log.error("evaluation of %r failed unexpectedly: %s", _short(flag_key), type(e).__name__)
            result = EvaluationResult(value=default, variation_key=None, reason=Reason.ERROR, error_code=ErrorCode.GENERAL)
        # Counted by the variation served (None: the default); a diagnostic (explain) is not a use of the flag.
        counts = self._evaluation_counts
        if counts is not None and not explain:
            # EvaluationCounter.count, inlined: one dict lookup pair and a next() once the pair was seen.
            try:
                next(counts.window[flag_key][result.variation_key])
            except (KeyError, TypeError):
                counts.add(flag_key, result.variation_key)
        return result

    def get_value(self, flag_key: str, user: User, default: T) -> T:
        """The flag's value, or `default` when it cannot be evaluated. Never raises."""
        return self.evaluate(flag_key, user, default).value  # type: ignore[no-any-return]

    def is_feature_enabled(self, flag_key: str, user: User) -> bool:
        """Whether the flag serves a truthy value (JavaScript truthiness) to the user; False on error."""
        return truthy(self.evaluate(flag_key, user).value)

    def get_experiment(self, experiment_key: str, user: User) -> ExperimentResult:
        """The user's assignment in a standalone experiment, with details. Never raises."""
        try:
            ruleset = self._ruleset
            if ruleset is None:
                return ExperimentResult(in_experiment=False, variation_index=-1, variation_key=None,
                                        error_code=ErrorCode.PROVIDER_NOT_READY, error_message="no ruleset yet")
            context = self._context(user)
            if context is None:
                return ExperimentResult(in_experiment=False, variation_index=-1, variation_key=None,
                                        error_code=ErrorCode.INVALID_CONTEXT, error_message="user must be an id or a mapping with an id")
            result = evaluate_experiment(ruleset, experiment_key, context)
            if result.in_experiment and result.variation_key is not None and result.hash_value is not None:
                self._record_exposure(result.hash_value, result.hash_attribute or "id", experiment_key, result.variation_key, None, user)
            return result
        except Exception as e:
            log.error("assignment in %r failed unexpectedly: %s", _short(experiment_key), type(e).__name__)
            return ExperimentResult(in_experiment=False, variation_index=-1, variation_key=None, error_code=ErrorCode.GENERAL)

    def get_variant(self, experiment_key: str, user: User) -> str | None:
        """The key of the user's variation in an experiment, or None when the user is not in it."""
        result = self.get_experiment(experiment_key, user)
        return result.variation_key if result.variation_index >= 0 else None

    def track_event(self, name: str, user: User, properties: Mapping[str, Any] | None = None, value: Any = None) -> None:
        """Queues a tracked event (e.g. `purchase_completed`); sent in the background. Never raises."""
        try:
            unit = self._unit_id(user)
            if unit is None:
                log.warning("track_event(%r) ignored: the user has no id", name)
                return
            # Lengths as the API counts them, in UTF-16 code units (an emoji counts 2), as the JavaScript SDK's.
            if not isinstance(name, str) or not 1 <= _utf16_len(name) <= 200:
                log.warning("track_event ignored: the name must be a string of 1 to 200 characters")
                return
            if "\0" in name:
                # The API refuses the whole event; refused here, where the caller can see it (as the JavaScript SDK).
                log.warning("track_event(%r) ignored: the name holds a NUL character, which the API refuses", name)
                return
            # A unit id the API refuses (a NUL, over 256 UTF-16 code units) is warned about once per client, as for exposures
            # and as the JavaScript SDK does: a service tracking for such ids would otherwise log at every call.
            storable = self._storable_unit_id(unit)
            if storable is None:
                return
            # Unpaired surrogates (not Unicode: the API refuses them) as U+FFFD, as the JavaScript SDK's wellFormed.
            name, unit = _well_formed(name), storable
            event: dict[str, Any] = {"id": uuid.uuid4().hex, "type": "track", "unitId": unit, "timestamp": _now_ms(), "name": name}
            units = self._other_units(user, unit)
            if units:
                event["units"] = units
            if properties is not None and not isinstance(properties, Mapping):
                # As the JavaScript SDK: the event is still worth sending, without them.
                log.warning("track_event(%r): properties must be a mapping, got %s; sent without them", name, type(properties).__name__)
                properties = None
            others: dict[Any, Any] = {} if properties is None else dict(properties)
            # As the JavaScript SDK's trackEvent(name, user, {value, ...}): a number under `value` in the
            # properties is the event's value. A `value` that is not a number is a property, not a reason to drop the event.
            if value is None and _is_numeric(others.get("value")):
                value = others.pop("value")
            elif value is not None and not _is_numeric(value):
                others["value"] = value
                value = None
            if value is not None:
                number = to_json_value(value)  # a Decimal or a Fraction as a float, an int too large for one as Infinity
                if not math.isfinite(number):
                    log.warning("track_event(%r) ignored: value must be a finite number", name)
                    return
                event["value"] = number
            if others:
                # Property by property, as the JavaScript SDK: one the API would refuse (not serialisable, nested
                # too deep, a NUL, a name too long) is left out, not the others nor the event.
                clean, dropped = _clean_properties(others)
                if dropped:
                    log.warning("track_event(%r): properties left out: %s", name, ", ".join(dropped))
                if clean:
                    event["properties"] = clean
                    if len(json.dumps(event, allow_nan=False, separators=(",", ":")).encode("utf-8")) > MAX_EVENT_BYTES:
                        log.warning("track_event(%r): properties too large (the event would exceed 16 KiB), sent without them", name)
                        event.pop("properties")
            self._enqueue(event)
        except Exception as e:
            log.error("track_event(%r) failed unexpectedly: %s", _short(name), type(e).__name__)

    def on_exposure(self, listener: Callable[[dict[str, Any]], object]) -> Callable[[], None]:
        """Calls `listener` with each exposure the client logs from now on; returns a function that unsubscribes it.

        Once per experiment + unit + variation, as exposures are de-duplicated (not with `log_exposures=False`),
        also on an offline client (`api_url=None`), never after `close()`; with a dict of the exposure as sent to
        xp (less the event's `id` and `type`, as the test client's `exposures`), a copy of its own. It runs on the
        thread that evaluated, inside the evaluation: keep it short. What it raises is logged once per
        subscription and never reaches the evaluation. For forwarding exposures to another tool.
        """
        if not callable(listener):
            raise TypeError(f"on_exposure takes a callable, got {type(listener).__name__}")
        subscription = _ExposureListener(listener)
        with self._exposure_listeners_lock:
            self._exposure_listeners = (*self._exposure_listeners, subscription)

        def unsubscribe() -> None:
            with self._exposure_listeners_lock:
                self._exposure_listeners = tuple(s for s in self._exposure_listeners if s is not subscription)
        return unsubscribe

    def flush(self, timeout: float | None = None) -> bool:
        """Sends queued events now; True when every one was delivered (none refused for good, none dropped
        from a full queue since the previous flush()). Waits at most `timeout`."""
        delivered = self._flush(timeout)
        with self._queue_lock:
            dropped, self._unflushed_drops = self._unflushed_drops, 0
        return delivered and dropped == 0

    def _flush(self, timeout: float | None) -> bool:
        deadline = time.monotonic() + (self._timeout * 2 if timeout is None else timeout)
        self._close_evaluation_window()
        failures = 0
        delivered = True
        while time.monotonic() < deadline:
            outcome = self._send_batch(deadline - time.monotonic())
            if outcome == "empty":
                return delivered
            if outcome == "dropped":
                delivered = False
            if outcome.startswith("retry:"):
                # Retried as Retry-After and the backoff ask, while that fits in the budget: a 503
                # during a deploy must not lose the queue at close().
                failures += 1
                wait = max(float(outcome[6:]), self._backoff(failures))
                if time.monotonic() + wait >= deadline:
                    return False
                time.sleep(wait)
        return delivered and self._queue_len() == 0

    def postfork(self) -> None:
        """Restarts background work in a process forked from the one that started the client. Idempotent.

        Runs by itself in the child of `os.fork()` (gunicorn --preload, uWSGI without lazy-apps, Celery
        prefork, multiprocessing's fork start method) through `os.register_at_fork`. Call it yourself, first
        thing in the child, where no fork hooks run (uWSGI without `py-call-osafterfork`, a fork from C
        code, a Python without `os.register_at_fork`). Does nothing in the process that started the client,
        when it already ran in this process, and (apart from new locks) for a closed client.

        The child gets new locks, keeps the ruleset and the exposure de-duplication memory, forgets the
        parent's stream connection without touching it, drops the events queued in the parent (the parent
        sends them) and starts its own updater and flusher threads.
        """
        try:
            _evaluation._reinit_after_fork()
            pid = os.getpid()
            with _fork_lock:
                if self._pid == pid:
                    return
                self._pid = pid
            self._restart_in_child()
        except Exception as e:
            log.error("restarting the client after fork failed: %s", type(e).__name__)

    def close(self, timeout: float | None = None) -> None:
        """Stops background work and flushes queued events (bounded by `timeout`). Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self._atexit)
        self._stop.set()
        with self._timed_lock:
            if self._timed_timer is not None:
                self._timed_timer.cancel()
                self._timed_timer = None
        self._abort_stream()
        with self._queue_lock:
            self._queue_lock.notify_all()
        # One budget for everything: the threads get up to 0.5 s each of it to stop, the flush the rest.
        deadline = time.monotonic() + (self._timeout * 2 if timeout is None else timeout)
        for thread in (self._updater, self._flusher):
            # close() may be called from a callback, on one of these threads: it cannot wait for itself.
            if thread is not threading.current_thread():
                thread.join(min(0.5, max(0.0, deadline - time.monotonic())))
        # The last window goes with the final flush; evaluations after close() are not counted.
        self._close_evaluation_window()
        self._evaluation_counts = None
        self.flush(max(0.0, deadline - time.monotonic()))
        with self._queue_lock:
            left = list(self._queue)
            self._queue.clear()
            self._records_queued = 0
            self._dropped += len(left)
            # A send still stalled in the flusher must not put its batch back where nothing sends it.
            self._drained = True
        self._report_drops(final=True)
        self._events_conn.close()
        if left:
            self._forget_exposures(left)
            log.warning("%d events could not be delivered before close and were dropped", len(left))

    # -- background threads and fork --------------------------------------------------------------

    def _start_threads(self) -> None:
        self._updater = threading.Thread(target=self._run_updates, name="xp-ruleset", daemon=True)
        self._flusher = threading.Thread(target=self._run_flusher, name="xp-events", daemon=True)
        self._updater.start()
        self._flusher.start()

    def _restart_in_child(self) -> None:
        """The child's half of postfork(): only the thread that forked exists here, so nothing may wait on the parent's threads."""
        # Every lock, condition and event is new: a copy may be held (or waited on) by a thread that did not survive the fork.
        self._update_lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._stream_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._exposures_lock = threading.Lock()
        self._exposure_listeners_lock = threading.Lock()
        self._queue_lock = threading.Condition()
        # The parent's timer thread did not survive the fork.
        self._timed_lock = threading.Lock()
        self._timed_timer = None
        ready, attempted, stop = threading.Event(), threading.Event(), threading.Event()
        if self._ruleset is not None:
            ready.set()
        if self._attempted.is_set():
            attempted.set()
        if self._closed:
            stop.set()
        self._ready, self._attempted, self._stop = ready, attempted, stop
        # The parent's stream and kept-alive event connection, forgotten without shutting them down: the
        # sockets are the parent's too, and it still uses them.
        self._stream_conn = None
        self._events_conn = _http.KeptAliveConnection(self._endpoint)
        # Events queued in the parent are the parent's to send (a batch in flight there too); sent from here, they would count twice.
        # The exposure memory is kept: the parent logged those exposures, and the last ruleset keeps serving at once.
        self._queue = deque()
        self._records_queued = 0
        self._dropped = self._unreported_drops = self._unflushed_drops = 0
        # The parent's counts are the parent's to send: the child counts its own evaluations.
        if self._evaluation_counts is not None:
            self._evaluation_counts = EvaluationCounter(self._queue_early_records, app=self._app_name)
        if self._closed:
            # A closed client stays closed; its close() ran (or is running) in the parent.
            self._drained = True
            return
        self._drained = False
        self._start_threads()
        with self._timed_lock:
            self._arm_timed_change()
        log.debug("client restarted in forked process %d: serving ruleset version %s", self._pid, self.ruleset_version)

    # -- users, exposures and events -------------------------------------------------------------

    @staticmethod
    def _id_string(raw: Any) -> str | None:
        if isinstance(raw, str):
            return raw if raw else None
        # A UUID as its string, a Decimal as a float; an int too large for a float is JavaScript's Infinity: not an id.
        given = raw
        raw = to_json_value(raw)
        if type(given) is int and abs(given) > _MAX_SAFE_ID:
            _warn_unsafe_int_id(given, raw)
        if isinstance(raw, str):
            return raw if raw else None
        if is_number(raw) and math.isfinite(raw):
            return js_number_to_string(raw)
        return None

    def _unit_id(self, user: User) -> str | None:
        if isinstance(user, Mapping):
            # As evaluation buckets it: the id, else attributes["id"].
            raw = user.get("id")
            if raw is None and isinstance(user.get("attributes"), Mapping):
                raw = user["attributes"].get("id")
            return self._id_string(raw)
        return self._id_string(user)

    def _other_units(self, user: User, unit: str) -> dict[str, str] | None:
        """The unit's other identifiers, for experiments bucketed on an attribute other than its id: its values
        (as bucketing reads them) of the ruleset's hash and fallback attributes that differ from `unit`, at
        most MAX_UNITS by attribute name, as the JavaScript SDK sends them. None when there are none."""
        names = self._unit_attributes
        if not names:
            return None
        context = self._context(user)
        if context is None or not isinstance(context.attributes, Mapping):
            return None
        units: dict[str, str] = {}
        for name in names:
            # Read as bucketing reads it: a dotted name (`organization.key`) is a path.
            value = self._id_string(get_path(context.attributes, name) if "." in name else context.attributes.get(name))
            # A value the API would refuse (too long, NUL, a surrogate) would lose the whole event: left out.
            if value is not None and value != unit and _utf16_length(value) <= 256 and not _UNSTORABLE.search(value):
                units[name] = value
                if len(units) == MAX_UNITS:
                    break
        return units or None

    def _tracked_unit_attributes(self, document: Any) -> tuple[str, ...]:
        """The ruleset's unit attributes (_unit_attributes_of) that tracked events may carry: not the private ones.
        Each private one an experiment buckets on is warned about once, as in the JavaScript SDK: that experiment's
        metrics then count only the events tracked with its value as the unit id."""
        hidden = self._private_attributes
        kept: list[str] = []
        for name in _unit_attributes_of(document):
            if hidden is not None and name not in hidden:
                kept.append(name)
            elif name not in self._warned_private:
                self._warned_private.add(name)
                on = [json.dumps(key, ensure_ascii=False) for key, definition in document["experiments"].items()
                      if isinstance(definition, Mapping) and name in (definition.get("hashAttribute"), definition.get("fallbackAttribute"))]
                log.warning('private attribute "%s" is left out of tracked events (private_attributes): the metrics of the experiments '
                            'bucketed on it (%s) count only the events tracked with its value as the unit id: '
                            'track_event(name, {"id": <%s>}) (warned once)', name, ", ".join(on), name)
        return tuple(kept)

    def _warn_sticky_without_store(self, document: Any) -> None:
        """Warns once per client and experiment, as the JavaScript SDK does, about a sticky experiment served to a client
        without a sticky_bucket_store: its split may move while it runs (a bandit), and without a store each unit is
        bucketed by the new split, may get another variation, is exposed to both and left out of the results."""
        if self._store is not None:
            return
        experiments = document.get("experiments") if isinstance(document, Mapping) else None
        if not isinstance(experiments, Mapping):
            return
        keys = [key for key, definition in experiments.items()
                if isinstance(definition, Mapping) and definition.get("sticky") is not None and key not in self._warned_sticky]
        if not keys:
            return
        self._warned_sticky.update(keys)
        one = len(keys) == 1
        log.warning("%s %s %s sticky bucketing (%s may move while %s, e.g. a bandit); this client has no sticky_bucket_store, "
                    "so %s units would be assigned again by the new split: pass one (InMemoryStickyBucketStore, or a shared "
                    "store with get and set methods, e.g. on Redis, across processes)",
                    "experiment" if one else "experiments", ", ".join(json.dumps(key, ensure_ascii=False) for key in keys),
                    "uses" if one else "use", "its split" if one else "their splits", "it runs" if one else "they run",
                    "its" if one else "their")

    def _context(self, user: User) -> EvaluationContext | None:
        if isinstance(user, Mapping):
            attributes: dict[str, Any] = {k: v for k, v in user.items() if k not in _USER_KEYS}
            extra = user.get("attributes")
            if extra is not None:
                if not isinstance(extra, Mapping):
                    return None
                attributes.update(extra)
            if user.get("id") is not None:
                # None is an absent id (as /sdk/v1/evaluate reads null): attributes["id"], when given, is the id.
                # A number as its decimal string, as the evaluation API takes unit ids (42 -> "42"): id
                # lists and $in conditions on ids then match it as they match the string.
                raw = user["id"]
                attributes["id"] = raw if isinstance(raw, str) else (self._id_string(raw) or to_json_value(raw))
            # QA overrides, as the JavaScript SDK's `url` and `forcedVariations`: a forced unit is served
            # its variation but is not in the experiment, so no exposure is logged for it.
            url = user.get("url")
            forced = user.get("forced_variations", user.get("forcedVariations"))
            if isinstance(url, str) or isinstance(forced, Mapping):
                return EvaluationContext(attributes=attributes, sticky_buckets=self._store, url=url if isinstance(url, str) else None,
                                         forced_variations=forced if isinstance(forced, Mapping) else None)
            return EvaluationContext(attributes=attributes, sticky_buckets=self._store)
        if not isinstance(user, str):
            # A UUID id as its string, an int too large for a float as Infinity.
            user = to_json_value(user)
        if isinstance(user, str) or is_number(user):
            # A bare id, as the JavaScript SDK takes one: "" is an empty id (rules that bucket skip it,
            # the flag's default serves) and NaN or Infinity a bucketing value of the wrong type
            # (TYPE_MISMATCH), as {"id": ...} gives; only what is neither an id nor a mapping is INVALID_CONTEXT.
            attributes = {"id": self._id_string(user) or user}
        else:
            return None
        return EvaluationContext(attributes=attributes, sticky_buckets=self._store)

    @staticmethod
    def _given_attributes(user: User) -> Mapping[str, Any]:
        """The attributes the caller gave (`attributes` and other top-level keys), without the unit id `_context` adds
        or the QA overrides (`url`, `forced_variations`).

        What exposures carry, as in the JavaScript SDK: the id is the event's `unitId` already.
        """
        if not isinstance(user, Mapping):
            return {}
        given: dict[str, Any] = {k: v for k, v in user.items() if k not in _USER_KEYS}
        extra = user.get("attributes")
        if isinstance(extra, Mapping):
            given.update(extra)
        return given

    def _expose(self, a: ExperimentAssignment, flag_key: str | None, user: User) -> None:
        if a.in_experiment:
            self._record_exposure(a.hash_value, a.hash_attribute, a.key, a.variation_key, flag_key, user)

    def _exposure_attributes(self, user: User) -> dict[str, str | int | float | bool] | None:
        """The user's flat attributes an exposure carries, less the private ones (the first 16 that fit)."""
        if self._private_attributes is None:
            return None
        out: dict[str, str | int | float | bool] = {}
        for name, value in self._given_attributes(user).items():
            if len(out) >= MAX_EXPOSURE_ATTRIBUTES:
                break
            if not isinstance(name, str) or name in self._private_attributes:
                continue
            sendable = (isinstance(value, bool) or isinstance(value, str)
                        or (isinstance(value, int) and abs(value) <= 2**53) or (isinstance(value, float) and math.isfinite(value)))
            # A name and its value take at most 256 characters (numbers and booleans count 24), as in the
            # JavaScript SDK: 16 of them keep the event far below MAX_EVENT_BYTES.
            if sendable and _utf16_len(name) + (_utf16_len(value) if isinstance(value, str) else 24) <= MAX_EXPOSURE_ATTRIBUTE_CHARS:
                out[name] = value
        return _clean_attributes(out)

    def _record_exposure(self, unit: str, hash_attribute: str, experiment: str, variation: str, flag_key: str | None,
                         user: User) -> None:
        if not self._log_exposures or not unit:
            return
        key = (hash_attribute, unit, experiment, variation)
        with self._exposures_lock:
            if key in self._exposures:
                self._exposures.move_to_end(key)
                return
            self._exposures[key] = None
            while len(self._exposures) > self._exposure_cache_size:
                self._exposures.popitem(last=False)
        # Still remembered as exposed (as the JavaScript SDK): a unit id the API cannot store is not retried.
        unit = self._storable_unit_id(unit)
        if unit is None:
            return
        event: dict[str, Any] = {"id": uuid.uuid4().hex, "type": "exposure", "unitId": unit, "timestamp": _now_ms(),
                                 "experiment": experiment, "variation": variation, "hashAttribute": hash_attribute}
        if flag_key is not None:
            event["flag"] = flag_key
        sent = self._exposure_attributes(user)
        if sent is not None:
            event["attributes"] = sent
        if not self._enqueue(event):
            # Not queued (queue full, client closed): the next evaluation tries again, or the unit is never counted.
            with self._exposures_lock:
                self._exposures.pop(key, None)
        elif self._exposure_listeners and not self._closed:
            self._announce_exposure(event)

    def _announce_exposure(self, event: Mapping[str, Any]) -> None:
        """Calls the on_exposure listeners with the exposure just logged, each with a copy of its own: a listener
        changes neither the queued event nor what the next one gets. What one raises is logged once."""
        for subscription in self._exposure_listeners:
            exposure = {k: dict(v) if k == "attributes" else v for k, v in event.items() if k not in ("id", "type")}
            problem: str | None = None
            try:
                returned = subscription.callback(exposure)
                if inspect.iscoroutine(returned):
                    # Nothing awaits it here: closed, so Python does not warn at every exposure that it never ran.
                    returned.close()
                    problem = "returned a coroutine, which the client does not await: pass a plain function"
            except Exception as e:
                problem = f"raised {type(e).__name__}"
            if problem is not None:
                with self._exposure_listeners_lock:
                    first, subscription.failed = not subscription.failed, True
                if first:
                    log.error("on_exposure listener %s (logged once per listener; it is still called)", problem)

    def _storable_unit_id(self, unit: str) -> str | None:
        """An exposure's unit id as the API stores it (unpaired surrogates as U+FFFD), or None, with one warning
        per client, for one it refuses (a NUL, over 256 UTF-16 code units): the unit is evaluated, but the
        API would refuse its whole exposure, so it is not sent (the JavaScript SDK's storableUnitId)."""
        length = _utf16_len(unit)
        if "\0" not in unit and length <= MAX_UNIT_ID_CHARS:
            return _well_formed(unit)
        if not self._warned_unit_id:
            self._warned_unit_id = True
            why = "holding a NUL character" if "\0" in unit else f"{length} characters long (at most {MAX_UNIT_ID_CHARS})"
            log.warning("unit id %s… is %s: it is evaluated, but the API cannot store its exposures and events, so they "
                        "are not sent (warned once)", json.dumps(_well_formed(unit[:40]), ensure_ascii=False), why)
        return None

    def _enqueue(self, event: dict[str, Any]) -> bool:
        """Queues an event; False when it was dropped (and why is logged)."""
        if self._offline:
            # Nowhere to send it: counted, not queued; True so an exposure is not retried at every evaluation.
            with self._queue_lock:
                self._offline_events += 1
            return self._capture_offline_event(event)
        if not _sendable(event):
            return False
        with self._queue_lock:
            if self._closed and self._stop.is_set() and not self._flusher.is_alive():
                # Once: an application still evaluating after close() would log a line per exposure.
                (log.debug if self._warned_closed else log.warning)("event dropped: the client is closed")
                self._warned_closed = True
                return False
            if len(self._queue) >= self._max_queue:
                if not self._records_queued:
                    self._note_drops_locked(1)
                    return False
                # Evaluation counts go first: exposures and tracked events are kept.
                self._drop_record_locked()
            self._queue.append(event)
            if len(self._queue) >= self._batch_size:
                self._queue_lock.notify_all()
        return True

    def _capture_offline_event(self, event: dict[str, Any]) -> bool:
        """What an offline client does with an event it cannot send: nothing (True: not worth a retry).

        The hook `experimentation.testing` records events through, so tests can assert what was tracked."""
        return True

    def _queue_len(self) -> int:
        with self._queue_lock:
            return len(self._queue)

    def _send_batch(self, timeout: float) -> str:
        """Sends one batch. Returns "empty", "sent", "dropped" or "retry:<seconds>".

        Waiting for a send already in flight (the flusher's) counts against `timeout`.
        """
        deadline = time.monotonic() + timeout
        if not self._send_lock.acquire(timeout=max(0.0, timeout)):
            return "retry:0"
        try:
            return self._send_batch_locked(deadline - time.monotonic())
        finally:
            self._send_lock.release()

    def _send_batch_locked(self, timeout: float) -> str:
        with self._queue_lock:
            if not self._queue:
                return "empty"
            batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
            if self._records_queued:
                self._records_queued -= sum(1 for e in batch if e["type"] == "evaluations")
        body = json.dumps({"events": batch}, separators=(",", ":")).encode("utf-8")
        retry_after: float | None = None
        try:
            resp = self._events_conn.request("POST", "/sdk/v1/events", self._headers({"Content-Type": "application/json"}),
                                             max(0.001, min(self._timeout, timeout)), body)
            if 200 <= resp.status < 300:
                self._events_failing = False
                self._events_refused = False
                self._report_drops()
                # Events the API refused for good (a NUL, nesting too deep) are not delivered: flush() says so.
                return "dropped" if self._log_rejections(resp.body) > 0 else "sent"
            if resp.status in (408, 429) or resp.status >= 500:
                retry_after = _http.parse_retry_after(resp.headers.get("retry-after")) or 0.0
                self._note_event_failure("event batch of %d refused with HTTP %d; will retry", len(batch), resp.status)
            else:
                # One error per run of refusals (a revoked key refuses every batch), until a batch is accepted.
                why = ("the SDK key was refused; check api_key" if resp.status in (401, 403)
                       else "api_url ends with /sdk/v1; give the base URL without it" if resp.status == 404 and self._endpoint.base_path.lower().endswith("/sdk/v1")
                       else "the API will never accept it")
                (log.debug if self._events_refused else log.error)("event batch of %d dropped: HTTP %d (%s)", len(batch), resp.status, why)
                self._events_refused = True
                if resp.status not in _INVALID_BATCH_STATUSES:
                    # Refused for the key or the URL, not for what the events hold: their units are
                    # exposed again at their next evaluation, as after a queue overflow.
                    self._forget_exposures(batch)
                return "dropped"
        except _http.NETWORK_ERRORS as e:
            self._note_event_failure("event batch of %d not sent (%s); will retry", len(batch), type(e).__name__)
            retry_after = 0.0
        trimmed: list[dict[str, Any]] = []
        with self._queue_lock:
            if self._drained:
                log.warning("%d events could not be delivered before close and were dropped", len(batch))
                trimmed = batch
            else:
                self._queue.extendleft(reversed(batch))
                self._records_queued += sum(1 for e in batch if e["type"] == "evaluations")
                # Over the bound (events queued while the batch was out): evaluation counts go first, then the
                # newest events, as at enqueue.
                while len(self._queue) > self._max_queue and self._records_queued:
                    self._drop_record_locked()
                while len(self._queue) > self._max_queue:
                    trimmed.append(self._queue.pop())
                if trimmed:
                    self._note_drops_locked(len(trimmed))
        self._forget_exposures(trimmed)
        return "dropped" if self._drained else f"retry:{retry_after}"

    def _note_drops_locked(self, n: int) -> None:
        """Counts events dropped unsent (under _queue_lock). One warning when drops begin; the count
        follows once a batch is accepted again (or at close), so an outage logs two lines, not one per
        event. Under sustained overload (events tracked faster than they are sent) batches are accepted
        all along: the pair is then logged at most once per DROP_LOG_INTERVAL, the count summing the drops since."""
        if self._unreported_drops == 0:
            now = time.monotonic()
            if now - self._drop_warned_at >= DROP_LOG_INTERVAL:
                self._drop_warned_at = now
                log.warning("event queue is full (max_queue_size %d): dropping events; the count follows once a batch is accepted "
                            "(if the API is up, events are tracked faster than they are sent: raise batch_size or max_queue_size)", self._max_queue)
        self._dropped += n
        self._unreported_drops += n
        self._unflushed_drops += n

    def _close_evaluation_window(self) -> None:
        """Queues the records of the evaluation-count window, which closes now (at each flush: the flusher's
        interval, not at each full batch; flush(), close()). A full queue takes none: counts are dropped before exposures and events."""
        counts = self._evaluation_counts
        if counts is None:
            return
        records = counts.close()
        if not records:
            return
        with self._queue_lock:
            self._queue_records_locked(records)

    def _queue_early_records(self, records: list[dict[str, Any]]) -> None:
        """Queues the records of an evaluation-count window closed early (MAX_EVALUATION_PAIRS reached, on the
        evaluating thread) as at a flush, and wakes the flusher to send them (after any backoff it is in)."""
        with self._queue_lock:
            if self._drained:
                # Counted by a thread racing close(): nothing is counted after it.
                return
            self._queue_records_locked(records)
            self._queue_lock.notify_all()

    def _queue_records_locked(self, records: list[dict[str, Any]]) -> None:
        """Queues evaluation-count records (under _queue_lock); a full queue takes none."""
        for record in records:
            if len(self._queue) >= self._max_queue:
                self._note_count_drops_locked(1)
            else:
                self._queue.append(record)
                self._records_queued += 1

    def _drop_record_locked(self) -> None:
        """Drops the oldest evaluation-count record in the queue (under _queue_lock; there is one)."""
        for i, e in enumerate(self._queue):
            if e["type"] == "evaluations":
                del self._queue[i]
                break
        self._records_queued -= 1
        self._note_count_drops_locked(1)

    def _note_count_drops_locked(self, n: int) -> None:
        """Counts evaluation-count records dropped from a full queue (under _queue_lock); warned once per client."""
        if not self._warned_count_drops:
            self._warned_count_drops = True
            log.warning("event queue is full (max_queue_size %d): dropping evaluation counts first, exposures and tracked "
                        "events are kept (warned once)", self._max_queue)
        self._dropped += n
        self._unflushed_drops += n

    def _report_drops(self, final: bool = False) -> None:
        with self._queue_lock:
            now = time.monotonic()
            if not self._unreported_drops or (not final and now - self._drops_reported_at < DROP_LOG_INTERVAL):
                return
            n, self._unreported_drops = self._unreported_drops, 0
            self._drops_reported_at = now
            total = self._dropped
        log.warning("%d events were dropped because the event queue was full (%d since the client started)", n, total)

    def _forget_exposures(self, events: Iterable[dict[str, Any]]) -> None:
        """Un-marks the exposures among events dropped unsent, so that the unit's next evaluation logs
        them again (as the JavaScript SDK does), instead of the unit never being counted."""
        keys = [(e["hashAttribute"], e["unitId"], e["experiment"], e["variation"]) for e in events if e.get("type") == "exposure"]
        if keys:
            with self._exposures_lock:
                for key in keys:
                    self._exposures.pop(key, None)

    def _note_event_failure(self, message: str, *args: Any) -> None:
        # Called under _send_lock. One warning per outage; the retries that follow, until a batch is
        # accepted again, are logged at debug level (as ruleset fetch failures are).
        (log.debug if self._events_failing else log.warning)(message, *args)
        self._events_failing = True

    @staticmethod
    def _log_rejections(body: bytes) -> int:
        """Logs the events an accepted batch had refused; returns how many."""
        try:
            rejected = _json_loads(body).get("rejected") or []
        except (ValueError, AttributeError):
            return 0
        if rejected:
            codes = sorted({str(r.get("code")) for r in rejected if isinstance(r, dict)})
            log.warning("the API rejected %d events (%s)", len(rejected), ", ".join(codes))
        return len(rejected) if isinstance(rejected, list) else 0

    def _run_flusher(self) -> None:
        if self._offline:
            return
        failures = 0
        # The evaluation-count window closes every flush_interval, not at each full batch: a busy client
        # sends a record per interval.
        window_due = time.monotonic() + self._flush_interval
        while not self._stop.is_set():
            with self._queue_lock:
                if len(self._queue) < self._batch_size:
                    self._queue_lock.wait(self._flush_interval)
            if self._stop.is_set():
                return
            if time.monotonic() >= window_due:
                window_due = time.monotonic() + self._flush_interval
                self._close_evaluation_window()
            while not self._stop.is_set():
                outcome = self._send_batch(self._timeout)
                if outcome.startswith("retry:"):
                    failures += 1
                    wait = max(float(outcome[6:]), self._backoff(failures))
                    self._stop.wait(wait)
                    continue
                failures = 0
                if outcome == "empty" or self._queue_len() < self._batch_size:
                    break

    def _backoff(self, failures: int) -> float:
        base = min(self._backoff_max, self._backoff_base * float(2 ** min(failures - 1, 30)))
        return base / 2 + random.random() * base / 2

    # -- ruleset updates --------------------------------------------------------------------------

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {_http.SDK_KEY_HEADER: self._key, "User-Agent": _http.USER_AGENT, "Accept": "application/json"}
        if extra:
            headers.update(extra)
        return headers

    @staticmethod
    def _parse_text(text: str) -> Any:
        try:
            return _json_loads(text.encode("utf-8"))
        except ValueError:
            return None

    def _apply_document(self, doc: Any, etag: str | None, source: str) -> bool:
        compiled = compile_ruleset(doc)
        if compiled.error is not None:
            # Which field is wrong ("ruleset.schemaVersion: must be one of [1]"), at most a few hundred characters.
            log.warning("ruleset from %s rejected (%s: %s); %s", source, compiled.error.code,
                        _short_problems(compiled.error_message or ""), self._fallback("keeping the last good one"))
            return False
        with self._update_lock:
            current = self._ruleset
            self._ruleset = compiled
            self._unit_attributes = self._tracked_unit_attributes(compiled.source)
            self._warn_sticky_without_store(compiled.source)
            if etag is not None:
                self._etag = etag
        self._ready.set()
        self._attempted.set()
        if current is None or current.version != compiled.version:
            log.info("serving ruleset version %s from %s", compiled.version, source)
            if self._on_update is not None:
                try:
                    self._on_update(compiled.version)
                except Exception as e:
                    log.error("on_update callback failed: %s", type(e).__name__)
        if self._on_change is None:
            return True
        with self._timed_lock:
            now = max(self._timed_up_to, _now_ms())
            # A timed rule that took effect before its timer ran (a suspended machine) is news too.
            due = [] if current is None else flags_changed_between(compiled.source, self._timed_up_to, now)
            # What its timed rules serve now came with it; the next one to take effect is announced then.
            self._timed_up_to = now
            self._arm_timed_change()
        if current is not None or source != "bootstrap":
            self._notify_change(self._on_change, None if current is None else current.source, compiled.source, due)
        return True

    def _arm_timed_change(self) -> None:
        """Sets the timer for the next instant a timed rule of the ruleset served takes effect, replacing any (under _timed_lock)."""
        if self._timed_timer is not None:
            self._timed_timer.cancel()
            self._timed_timer = None
        ruleset = self._ruleset
        if self._closed or self._on_change is None or ruleset is None:
            return
        try:
            next_at = next_timed_change(ruleset.source, self._timed_up_to)
        except Exception as e:
            log.error("could not read the ruleset's timed rules: %s", type(e).__name__)
            return
        if next_at is None:
            return
        # Further than a wait can last: it fires early, announces nothing and sets the timer again.
        delay = min(max(0.0, (next_at - time.time() * 1000) / 1000), threading.TIMEOUT_MAX)
        timer = threading.Timer(delay, self._timed_change)
        timer.name = "xp-timed-rules"
        timer.daemon = True
        self._timed_timer = timer
        timer.start()

    def _timed_change(self) -> None:
        """Calls on_change with the flags whose timed rules took effect since the last call, then re-arms."""
        with self._timed_lock:
            ruleset = self._ruleset
            if self._closed or ruleset is None:
                return
            now = max(self._timed_up_to, _now_ms())
            try:
                flags = flags_changed_between(ruleset.source, self._timed_up_to, now)
            except Exception as e:
                log.error("could not read the ruleset's timed rules: %s", type(e).__name__)
                flags = []
            self._timed_up_to = now
            self._arm_timed_change()
        callback = self._on_change
        if flags and callback is not None:
            try:
                callback(flags)
            except Exception as e:
                log.error("on_change callback failed: %s", type(e).__name__)

    @staticmethod
    def _notify_change(callback: Callable[[list[str]], None], previous: Any, document: Any, due: Iterable[str] = ()) -> None:
        # As the JavaScript SDK: the first ruleset from the API is news even when it has no flags; after
        # that, only an update that changes a flag or an experiment is (the same ruleset republished with
        # its keys in another order is not).
        try:
            flags, experiments = diff_rulesets(previous, document)
        except Exception as e:
            log.error("could not compare ruleset versions: %s", type(e).__name__)
            return
        flags = sorted(set(flags).union(due))
        if previous is None or flags or experiments:
            try:
                callback(flags)
            except Exception as e:
                log.error("on_change callback failed: %s", type(e).__name__)

    def _fallback(self, with_ruleset: str = "serving the last known ruleset") -> str:
        """What evaluations serve while the API fails, for log lines: without a ruleset yet, the callers' defaults."""
        return with_ruleset if self._ruleset is not None else "serving defaults until a ruleset arrives"

    def _note_stream_failure(self, message: str, *args: Any) -> None:
        # One warning per stream outage: the polls that succeed meanwhile do not end it (a stream
        # answering 503 every 5 s warned every 5 s); it ends when the stream delivers an event again.
        (log.debug if self._stream_failing else log.warning)(message + "; polling every %s until it is back", *args,
                                                              _duration(self._outage_poll_interval()))
        self._stream_failing = True

    def _outage_poll_interval(self) -> float:
        """How often the ruleset is polled while the stream is down: `poll_interval`, or `stream_retry_max` when shorter."""
        return min(self._poll_interval, self._stream_retry_max) if self._poll_interval > 0 else self._stream_retry_max

    def _stream_backoff(self, failures: int) -> float:
        """The wait before stream reconnect attempt `failures` (from 1): exponential from backoff_base, capped at stream_retry_max, jittered."""
        base = min(self._stream_retry_max, self._backoff_max, self._backoff_base * float(2 ** min(failures - 1, 30)))
        return base / 2 + random.random() * base / 2

    def _note_failure(self, message: str, *args: Any, problem: str = "unavailable") -> None:
        # The first failure is a warning; repeats stay at debug level until the API recovers or the
        # problem changes (an outage, then a refused key: both are worth a warning).
        (log.debug if self._fetch_failing and self._fetch_problem == problem else log.warning)(message, *args)
        self._fetch_failing = True
        self._fetch_problem = problem

    def _key_accepted(self, stream: bool = False) -> None:
        """A request the API answered with the key (a ruleset, or the stream with `stream`): told once after a
        refusal of that request, as the JavaScript SDK does; a poll answered while the stream still refuses
        the key (a key allowed to poll, not to stream, or a proxy refusing the stream) ends nothing told."""
        if stream and self._stream_key_refused:
            self._stream_key_refused = False
            log.info("the API accepts the SDK key again")
        elif not stream and self._key_refused:
            self._key_refused = False
            log.info("the API accepts the SDK key again")

    def _poll(self) -> None:
        """A background poll while the stream is down: none before a Retry-After the ruleset endpoint sent (see refresh)."""
        if time.monotonic() < self._poll_not_before:
            log.debug("ruleset poll skipped: the API asked to wait (Retry-After)")
            return
        self.refresh()

    def refresh(self) -> bool:
        """Fetches the ruleset now; returns True when a valid ruleset is being served afterwards."""
        if self._offline:
            return self.ready
        headers = self._headers()
        # Large rulesets are sent gzipped when asked (_http.request inflates them): a tenth of the bytes.
        headers["Accept-Encoding"] = "gzip"
        if self._etag is not None and self._ruleset is not None:
            headers["If-None-Match"] = self._etag
        try:
            resp = _http.request(self._endpoint, "GET", "/sdk/v1/ruleset", headers, self._timeout)
        except _http.NETWORK_ERRORS as e:
            self._note_failure("ruleset fetch failed (%s); %s", type(e).__name__, self._fallback())
            return self.ready
        if resp.status in (200, 304):
            self._answered_at = time.monotonic()
            self._key_accepted()
        if resp.status == 304:
            self._fetch_failing = False
            return self.ready
        if resp.status != 200:
            retry_after = _http.parse_retry_after(resp.headers.get("retry-after"))
            if retry_after:
                # Honoured by the polls while the stream is down, up to poll_interval (as the JavaScript SDK caps it).
                cap = self._poll_interval if self._poll_interval > 0 else self._backoff_max
                self._poll_not_before = time.monotonic() + min(retry_after, cap)
            if resp.status in (401, 403):
                self._key_refused = True
                self._note_failure("ruleset fetch answered HTTP %d: the SDK key was refused; check api_key (it may be revoked, "
                                   "rotated out and expired, or a key of another xp deployment); %s", resp.status, self._fallback(), problem="key")
            elif resp.status == 404 and self._endpoint.base_path.lower().endswith("/sdk/v1"):
                self._note_failure("ruleset fetch answered HTTP 404: api_url ends with /sdk/v1; give the API's base URL "
                                   "without it (the SDK adds /sdk/v1/...); %s", self._fallback(), problem="url")
            else:
                self._note_failure("ruleset fetch answered HTTP %d; %s", resp.status, self._fallback())
            return self.ready
        try:
            doc = _json_loads(resp.body)
        except (ValueError, UnicodeDecodeError):
            self._note_failure("ruleset response is not valid JSON; %s", self._fallback("keeping the last good ruleset"))
            return self.ready
        if self._apply_document(doc, resp.headers.get("etag"), "the API"):
            self._fetch_failing = False
        return self.ready

    def _run_updates(self) -> None:
        if self._offline:
            self._attempted.set()
            return
        self.refresh()
        self._attempted.set()
        stream_failures = 0
        use_stream = self._streaming
        while not self._stop.is_set():
            if use_stream:
                started = time.monotonic()
                outcome, retry_after, detail = self._follow_stream()
                if self._stop.is_set():
                    return
                if outcome == "not-served":
                    # Not an outage: retrying (and polling) every few seconds would only load the API.
                    self._note_stream_not_served(detail)
                    self._cannot_stream = True
                    stream_failures = 0
                    self._poll_until(time.monotonic() + STREAM_RECHECK_INTERVAL)
                    continue
                if self._silent(outcome, started):
                    # Stream requests never answered while ruleset requests are (a proxy buffering the stream):
                    # polled every poll_interval, the stream asked for again every STREAM_RECHECK_INTERVAL.
                    self._note_cannot_stream(f"{self._silent_attempts} stream requests had no answer within "
                                             f"{_duration(self._timeout)} while ruleset requests were answered")
                    self._cannot_stream = True
                    self._poll_until(time.monotonic() + STREAM_RECHECK_INTERVAL)
                    continue
                # A stream that delivered an event and then broke (an outage, a proxy's idle reset) is a new
                # first failure, retried after about backoff_base, not one more in a growing series; one that
                # ended without any (a proxy answering and closing at once) is one more failure, as in the
                # JavaScript SDK, so it is not reconnected about every backoff_base forever.
                if self._stream_delivered:
                    stream_failures = 0
                stream_failures += 1
                # Polled while the stream is down: once per attempt, so about every stream_retry_max at most
                # (never sooner than a Retry-After the ruleset endpoint sent, up to poll_interval).
                was_failing = self._fetch_failing
                self._poll()
                if outcome == "refused":
                    # A refused key rarely starts working soon: the stream is retried at the slowest backoff
                    # (backoff_max, jittered), polled every poll_interval meanwhile (below). Told once until the
                    # stream accepts the key, unless the poll just told it (it answers the same refusal).
                    told = self._stream_key_refused or (self._fetch_failing and self._fetch_problem == "key")
                    if not told:
                        self._stream_key_refused = True
                    (log.debug if told else log.warning)(
                        "the ruleset stream refused the SDK key (%s); check api_key (it may be revoked, rotated out and "
                        "expired, or a key of another xp deployment); retrying about every %s", detail, _duration(self._backoff_max))
                    self._stream_failing = True
                    wait = self._backoff(31)
                else:
                    wait = self._stream_backoff(max(1, stream_failures))
                    if self._poll_interval > 0:
                        wait = min(wait, self._poll_interval)
                if was_failing and not self._fetch_failing:
                    # The API answers again after failing: reconnect at once, not after a backoff grown during the outage.
                    wait = 0.0
                # Never sooner than the API's Retry-After (a 503 while it starts or at its stream limit, a 429).
                if outcome == "refused":
                    # The ruleset may still be served (a key allowed to poll, not to stream; a proxy refusing the
                    # stream): polled every poll_interval until the next stream attempt, as the JavaScript SDK
                    # polls independently of the stream's retries, so a change is not up to backoff_max late. A
                    # poll answered after failing (the key accepted again) brings the stream attempt forward.
                    resume = time.monotonic() + retry_after
                    self._poll_until(time.monotonic() + max(retry_after, wait), until_recovered=True)
                    self._stop.wait(max(0.0, resume - time.monotonic()))
                else:
                    self._stop.wait(max(retry_after, wait))
            elif self._poll_interval > 0:
                self._stop.wait(self._poll_interval)
                if not self._stop.is_set():
                    self.refresh()
            else:
                self._stop.wait()

    def _poll_until(self, deadline: float, until_recovered: bool = False) -> None:
        """Polls every poll_interval (not at all when it is 0) until the monotonic `deadline` or close(); with
        `until_recovered`, also until a poll is answered after failing."""
        next_poll = time.monotonic() + self._poll_interval
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= deadline:
                return
            if self._poll_interval > 0 and now >= next_poll:
                was_failing = self._fetch_failing
                self._poll()
                if until_recovered and was_failing and not self._fetch_failing:
                    return
                next_poll = time.monotonic() + self._poll_interval
                continue
            self._stop.wait((deadline if self._poll_interval <= 0 else min(deadline, next_poll)) - now)

    def _silent(self, outcome: str, started: float) -> bool:
        """Counts a stream attempt that had no answer within `timeout` (outcome "timeout"); True when the stream
        looks unreadable here: _SILENT_ATTEMPTS such attempts in a row (one once already taken so) while a
        ruleset request was answered since the first began (a network that drops everything fails those too)."""
        if outcome != "timeout":
            self._silent_attempts = 0
            return False
        if self._silent_attempts == 0:
            self._silent_since = started
        self._silent_attempts += 1
        return (self._silent_attempts >= (1 if self._cannot_stream else _SILENT_ATTEMPTS)
                and self._answered_at > self._silent_since)

    def _note_cannot_stream(self, why: str) -> None:
        """The stream never answers here: a warning once per client (shared with the not-served one, as in the JavaScript SDK), debug after."""
        self._note_polling_instead(
            "the ruleset stream still cannot be read (%s)", "this client cannot stream the ruleset (%s)", why,
            "; check for a proxy buffering /sdk/v1/stream, or pass streaming=False to skip the stream")

    def _note_stream_not_served(self, detail: str) -> None:
        """The API does not serve the stream here: a warning once per client (as the JavaScript SDK), debug after."""
        self._note_polling_instead(
            "the ruleset stream is still not served here (%s)", "the API does not serve the ruleset stream here (%s)", detail,
            ". Deployments behind API Gateway (which buffers responses) do not stream; pass streaming=False to skip the stream")

    def _note_polling_instead(self, again: str, first: str, detail: str, advice: str) -> None:
        """Polling instead of streaming: `first` (a %s for `detail`) warned once per client with `advice`, `again` at debug after."""
        minutes = f"{STREAM_RECHECK_INTERVAL / 60:g} minutes"
        if self._stream_not_served_warned:
            log.debug(again + "; polling, trying the stream again in %s", detail, minutes)
            return
        self._stream_not_served_warned = True
        polling = (f"polling /sdk/v1/ruleset every {_duration(self._poll_interval)} instead" if self._poll_interval > 0
                   else "not polling (poll_interval=0)")
        log.warning(first + ": %s, trying the stream again every %s" + advice.replace("%", "%%"), detail, polling, minutes)

    def _abort_stream(self) -> None:
        with self._stream_lock:
            conn = self._stream_conn
        if conn is not None:
            # The socket from connect(): once a `Connection: close` (or HTTP/1.0) response has it, conn.sock is None.
            _http.shutdown(conn.raw_sock)

    def _follow_stream(self) -> tuple[str, float, str]:
        """Reads the server-sent event stream until it breaks: "ended", "failed", "timeout" (no answer within
        `timeout`: no response headers), "refused" (401 or 403) or "not-served" (see _STREAM_NOT_SERVED).

        With the outcome come the wait the API asked for before reconnecting (`Retry-After`), or 0, and
        for an error answer what it was (`GET /sdk/v1/stream answered 404 STREAM_NOT_AVAILABLE`), else "".
        """
        conn = self._endpoint.connect(self._timeout)
        with self._stream_lock:
            self._stream_conn = conn
        self._stream_delivered = False
        resp: Any = None
        try:
            if self._stop.is_set():
                return "ended", 0.0, ""
            # Connecting, asking and the response's headers: within `timeout` in all, however slowly they come.
            watchdog = _http.Watchdog(conn, self._timeout)
            try:
                conn.connect()
                if self._stop.is_set():
                    return "ended", 0.0, ""
                self._endpoint.send(conn, "GET", "/sdk/v1/stream?include=ruleset", self._headers({"Accept": "text/event-stream"}))
                resp = conn.getresponse()
            finally:
                if watchdog.cancel():
                    raise TimeoutError("stream request timed out")
            # Headers came: this network path answers stream requests.
            self._silent_attempts = 0
            if resp.status != 200:
                retry_after = _http.parse_retry_after(resp.getheader("retry-after")) or 0.0
                code = self._error_code(conn, resp) if resp.status == 404 else None
                detail = f"GET /sdk/v1/stream answered {resp.status}" + ("" if code is None else f" {code}")
                if resp.status in _STREAM_NOT_SERVED or code == _STREAM_NOT_AVAILABLE:
                    return "not-served", retry_after, detail
                if resp.status in _KEY_REFUSED:
                    return "refused", retry_after, detail
                self._note_stream_failure("ruleset stream answered HTTP %d", resp.status)
                return "failed", retry_after, detail
            self._key_accepted(stream=True)
            if "text/event-stream" not in (resp.getheader("content-type") or ""):
                self._note_stream_failure("ruleset stream answered HTTP %d", resp.status)
                return "failed", _http.parse_retry_after(resp.getheader("retry-after")) or 0.0, ""
            # On the socket from connect(): after a `Connection: close` (or HTTP/1.0) response conn.sock is
            # None, and the stream would keep the request timeout, shorter than the heartbeat interval.
            if conn.raw_sock is not None:
                conn.raw_sock.settimeout(self._stream_idle_timeout)
            event, data = "message", list[str]()
            while not self._stop.is_set():
                raw = resp.readline(1024 * 1024 * 64)
                if not raw:
                    return "ended", 0.0, ""
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line == "":
                    if data:
                        self._on_stream_event(event, "\n".join(data))
                        if not self._stream_delivered:
                            self._stream_delivered = True
                            self._cannot_stream = False
                            if self._stream_failing:
                                self._stream_failing = False
                                log.info("ruleset stream reconnected; serving ruleset version %s", self.ruleset_version)
                    event, data = "message", list[str]()
                elif line.startswith(":"):
                    continue
                else:
                    field, _, val = line.partition(":")
                    val = val[1:] if val.startswith(" ") else val
                    if field == "event":
                        event = val
                    elif field == "data":
                        data.append(val)
            return "ended", 0.0, ""
        except _http.NETWORK_ERRORS as e:
            if not self._stop.is_set():
                self._note_stream_failure("ruleset stream broke (%s)", type(e).__name__)
            # A timeout before the response's headers: no answer (counted by _silent), not a broken stream.
            return "timeout" if resp is None and isinstance(e, TimeoutError) else "failed", 0.0, ""
        finally:
            with self._stream_lock:
                self._stream_conn = None
            if resp is not None:
                resp.close()
            conn.close()
            if conn.raw_sock is not None:
                conn.raw_sock.close()

    def _error_code(self, conn: Any, resp: Any) -> str | None:
        """The `error.code` of an error answer's JSON body (`{"error":{"code":…}}`), from its first
        _ERROR_BODY_LIMIT bytes read within `timeout`; None when the body is not such JSON or cannot be read."""
        watchdog = _http.Watchdog(conn, self._timeout)
        try:
            body = resp.read(_ERROR_BODY_LIMIT)
        except _http.NETWORK_ERRORS:
            return None
        finally:
            watchdog.cancel()
        try:
            error = _json_loads(body).get("error")
        except (ValueError, UnicodeDecodeError, AttributeError):
            return None
        code = error.get("code") if isinstance(error, dict) else None
        return code if isinstance(code, str) else None

    def _on_stream_event(self, event: str, data: str) -> None:
        if event != "ruleset":
            return
        try:
            payload = _json_loads(data.encode("utf-8"))
        except ValueError:
            log.warning("ruleset stream sent an unreadable event; ignoring it")
            return
        if not isinstance(payload, dict):
            return
        etag = payload.get("etag") if isinstance(payload.get("etag"), str) else None
        if "ruleset" in payload:
            if etag is not None and etag == self._etag and self._ruleset is not None:
                return
            if self._apply_document(payload["ruleset"], etag, "the stream"):
                self._fetch_failing = False
        elif etag is None or etag != self._etag:
            self.refresh()


def _duration(seconds: float) -> str:
    """A duration for a log line, as the JavaScript SDK writes it: `5 s`, `1.5 s`, `400 ms`."""
    return f"{round(seconds * 10) / 10:g} s" if seconds >= 1 else f"{round(seconds * 1000)} ms"


def _non_finite_as_null(v: Any, depth: int = 0) -> Any:
    """NaN and ±Infinity (floats, Decimals) as None, in mappings and lists too: what JSON.stringify
    sends for them in the JavaScript SDK, instead of losing every property of the event."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, Decimal):
        return v if v.is_finite() else None
    if depth >= 64:
        return v
    if isinstance(v, Mapping):
        return {k: _non_finite_as_null(item, depth + 1) for k, item in v.items()}
    if isinstance(v, (list, tuple)):
        return [_non_finite_as_null(item, depth + 1) for item in v]
    return v


_SURROGATE: Final = re.compile("[\ud800-\udfff]")
# The API's limits on tracked event properties (shared/src/model/event-check.ts): nesting, name length.
MAX_PROPERTY_DEPTH: Final = 32
MAX_PROPERTY_NAME_CHARS: Final = 200
MAX_UNIT_ID_CHARS: Final = 256


def _well_formed(text: str) -> str:
    """The string with every unpaired surrogate replaced by U+FFFD (JavaScript's `toWellFormed()`); a pair of
    surrogate code points, which JSON sends as one character, is joined."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _clean_attributes(attributes: dict[str, str | int | float | bool]) -> dict[str, str | int | float | bool] | None:
    """Exposure attributes as the API takes them, as the JavaScript SDK's cleanAttributes: unpaired surrogates
    fixed in names and values, any with a NUL in its name or value left out (the API refuses the whole
    exposure for one); None when none is left."""
    out: dict[str, str | int | float | bool] = {}
    for name, value in attributes.items():
        if "\0" in name or (isinstance(value, str) and "\0" in value):
            continue
        out[_well_formed(name)] = _well_formed(value) if isinstance(value, str) else value
    return out or None


def _clean_property(root: Any) -> tuple[Any, str | None]:
    """A property value (parsed JSON) with unpaired surrogates fixed, or why the API would refuse it.
    Iterative, so no value can overflow the stack."""
    holder = [root]
    stack: list[tuple[Any, int, Any, Any]] = [(root, 0, holder, 0)]
    while stack:
        v, depth, parent, slot = stack.pop()
        if isinstance(v, str):
            if "\0" in v:
                return None, "a string holds a NUL character"
            parent[slot] = _well_formed(v)
            continue
        if not isinstance(v, (dict, list)):
            continue
        if depth + 1 > MAX_PROPERTY_DEPTH:
            return None, f"nested more than {MAX_PROPERTY_DEPTH} levels deep"
        if isinstance(v, list):
            stack.extend((item, depth + 1, v, i) for i, item in enumerate(v))
            continue
        record: dict[str, Any] = {}
        for key, item in v.items():
            if "\0" in key:
                return None, "a key holds a NUL character"
            fixed = _well_formed(key)
            record[fixed] = item
            stack.append((item, depth + 1, record, fixed))
        parent[slot] = record
    return holder[0], None


def _clean_properties(properties: Mapping[Any, Any]) -> tuple[dict[str, Any], list[str]]:
    """Tracked event properties as the API takes them (the JavaScript SDK's cleanProperties): each one as JSON
    (datetimes, Decimals, UUIDs and Enums converted, NaN and infinities as null), unpaired surrogates as U+FFFD;
    one the API would refuse is left out and named, with why, in the list returned."""
    out: dict[str, Any] = {}
    dropped: list[str] = []
    for name, value in properties.items():
        problem: str | None = None
        try:
            # Through JSON, as the JavaScript SDK's JSON round trip: an int key becomes "1", a tuple a list.
            [(key, parsed)] = json.loads(json.dumps({name: _non_finite_as_null(value)}, allow_nan=False, separators=(",", ":"),
                                                    default=json_default)).items()
        except (TypeError, ValueError, RecursionError):
            key, parsed = name if isinstance(name, str) else repr(name), None
            problem = "it is not serialisable (a cycle, an object JSON cannot hold, nesting too deep)"
        if problem is None:
            key = _well_formed(key)
            if "\0" in key:
                problem = "its name holds a NUL character"
            elif _utf16_len(key) > MAX_PROPERTY_NAME_CHARS:
                problem = f"its name is longer than {MAX_PROPERTY_NAME_CHARS} characters"
            else:
                parsed, problem = _clean_property(parsed)
        if problem is None:
            out[key] = parsed
        else:
            dropped.append(f"{json.dumps(_well_formed(str(key)[:64]), ensure_ascii=False)} ({problem})")
    return out, dropped


def _is_numeric(v: Any) -> bool:
    """A number track_event takes as a value: int, float, Decimal, any other `numbers.Real`; never a bool."""
    return isinstance(v, (int, float, Decimal, numbers.Real)) and not isinstance(v, bool)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _utf16_len(s: str) -> int:
    """The length of a string in UTF-16 code units, as JavaScript's `length` counts it."""
    return len(s) + sum(1 for c in s if ord(c) > 0xFFFF)
