"""The client against an in-process fake API that fails, stalls, returns garbage and flips flags."""

from __future__ import annotations

import copy
import logging
import re
import socket
import threading
import time
import unittest
from typing import Any, ClassVar
from decimal import Decimal
from fractions import Fraction
from unittest import mock

from experimentation import Client, ErrorCode, Reason, evaluate_flag
from experimentation import client as client_module
from experimentation._changes import diff_rulesets

from .fake_server import API_KEY, FakeServer, make_ruleset, read_fixture

FAST: dict[str, Any] = {"timeout": 0.2, "streaming": False, "poll_interval": 0, "backoff_base": 0.01, "backoff_max": 0.05}


def closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


class ClientTestCase(unittest.TestCase):
    def setUp(self) -> None:
        # Polling every few milliseconds keeps these tests fast; applications get at least a second.
        self.enterContext(mock.patch.object(client_module, "MIN_POLL_INTERVAL", 0.0))
        self.server = FakeServer()
        self.addCleanup(self.server.close)
        self.logs = self.enterContext(self.assertLogs("experimentation", level="DEBUG"))
        logging.getLogger("experimentation").debug("test start")

    def client(self, **options: Any) -> Client:
        c = Client(api_key=API_KEY, api_url=options.pop("api_url", self.server.url), **{**FAST, **options})
        self.addCleanup(c.close, 0.5)
        return c

    def tearDown(self) -> None:
        for line in self.logs.output:
            self.assertNotIn(API_KEY, line, "the SDK key must never be logged")
        for r in self.server.requests:
            self.assertNotIn(API_KEY, r.path, "the SDK key must never be in a URL")


class RulesetTest(ClientTestCase):
    def test_fetches_the_ruleset_with_the_key_in_a_header_and_revalidates_with_etag(self) -> None:
        client = self.client()

        self.assertTrue(client.ready)
        self.assertTrue(client.is_feature_enabled("feature", "u1"))
        self.assertEqual(client.get_value("color", "u1", "x"), "blue")
        self.assertTrue(client.refresh())

        fetches = self.server.requests_to("/sdk/v1/ruleset")
        self.assertEqual(len(fetches), 2)
        self.assertEqual(fetches[0].headers["x-xp-sdk-key"], API_KEY)
        self.assertNotIn("if-none-match", fetches[0].headers)
        self.assertEqual(fetches[1].headers["if-none-match"], '"v1"')
        self.assertEqual(client.ruleset_version, 1)

    def test_api_down_at_start_serves_defaults_without_raising_or_blocking(self) -> None:
        started = time.monotonic()
        client = self.client(api_url=closed_port_url())
        elapsed = time.monotonic() - started

        self.assertLess(elapsed, 1.0)
        self.assertFalse(client.ready)
        result = client.evaluate("feature", "u1", False)
        self.assertEqual((result.value, result.reason, result.error_code), (False, Reason.ERROR, ErrorCode.PROVIDER_NOT_READY))
        self.assertEqual(client.get_value("color", {"id": "u1"}, "fallback"), "fallback")
        self.assertFalse(client.is_feature_enabled("feature", "u1"))
        self.assertIsNone(client.get_variant("checkout", "u1"))
        client.track_event("purchase", "u1", {"sku": "a"}, 9.5)

    def test_stalled_api_at_start_blocks_no_longer_than_the_timeout(self) -> None:
        self.server.mode = "stall"
        started = time.monotonic()
        client = self.client(timeout=0.2)
        elapsed = time.monotonic() - started

        self.assertLess(elapsed, 0.8)
        self.assertEqual(client.evaluate("feature", "u1").reason, Reason.ERROR)

    def test_keeps_serving_the_last_good_ruleset_when_the_api_fails_stalls_or_lies(self) -> None:
        client = self.client()
        self.assertEqual(client.ruleset_version, 1)

        for mode in ("fail", "stall", "garbage", "invalid"):
            with self.subTest(mode):
                self.server.mode = mode
                started = time.monotonic()
                client.refresh()
                self.assertLess(time.monotonic() - started, 0.8, "a refresh is bounded by the timeout")
                self.assertEqual(client.ruleset_version, 1)
                self.assertEqual(client.evaluate("feature", "u1").reason, Reason.DEFAULT)
                self.assertTrue(client.is_feature_enabled("feature", "u1"))

        self.server.mode = "ok"
        self.server.set_ruleset(make_ruleset(2, enabled=False))
        client.refresh()
        self.assertEqual(client.ruleset_version, 2)
        self.assertFalse(client.is_feature_enabled("feature", "u1"))

    def test_polling_follows_a_flag_flipping_on_every_poll_while_threads_evaluate(self) -> None:
        self.server.mode = "flip"
        versions: list[int | None] = []
        seen_versions = threading.Event()
        errors: list[BaseException] = []
        values: set[bool] = set()
        stop = threading.Event()

        def on_update(version: int | None) -> None:
            versions.append(version)
            if len(versions) >= 4:
                seen_versions.set()

        client = self.client(poll_interval=0.02, on_update=on_update)

        def evaluate_continuously() -> None:
            try:
                while not stop.is_set():
                    values.add(client.is_feature_enabled("feature", "u1"))
                    client.get_variant("checkout", "u1")
            except BaseException as e:  # noqa: BLE001 - the assertion below reports it
                errors.append(e)

        threads = [threading.Thread(target=evaluate_continuously) for _ in range(4)]
        for t in threads:
            t.start()
        self.assertTrue(seen_versions.wait(3), f"saw versions {versions}")
        stop.set()
        for t in threads:
            t.join(2)

        self.assertEqual(errors, [])
        self.assertEqual(values, {True, False})
        self.assertEqual(versions, sorted(versions))

    def test_streaming_updates_arrive_without_polling(self) -> None:
        self.server.stream_enabled = True
        client = self.client(streaming=True, poll_interval=0)
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to("/sdk/v1/stream")) == 1))
        updated = threading.Event()

        def on_update(version: int | None) -> None:
            if version == 2:
                updated.set()
        client._on_update = on_update  # noqa: SLF001 - test hook

        self.server.push_stream_ruleset(make_ruleset(2, color="green"))

        self.assertTrue(updated.wait(3))
        self.assertEqual(client.get_value("color", "u1", "x"), "green")
        self.assertEqual(len(self.server.requests_to("/sdk/v1/ruleset")), 1, "no polling while the stream works")
        stream = self.server.requests_to("/sdk/v1/stream")[0]
        self.assertEqual(stream.path, "/sdk/v1/stream?include=ruleset")
        self.assertEqual(stream.headers["x-xp-sdk-key"], API_KEY)

    def test_falls_back_to_polling_when_the_stream_is_unavailable(self) -> None:
        client = self.client(streaming=True, poll_interval=0.02)
        self.server.set_ruleset(make_ruleset(3, color="red"))

        self.assertTrue(self.server.wait_for(lambda: client.ruleset_version == 3))
        self.assertEqual(client.get_value("color", "u1", "x"), "red")
        self.assertEqual(len(self.server.requests_to("/sdk/v1/stream")), 1, "a 404 stream is not retried")

    def test_a_deployment_that_does_not_stream_is_polled_at_poll_interval_not_as_an_outage(self) -> None:
        # The evaluation Lambda behind API Gateway (buffered responses) answers the stream 404
        # STREAM_NOT_AVAILABLE: polled every poll_interval, not every stream_retry_max, warned once (as
        # the JavaScript SDK does), the stream asked for again only after STREAM_RECHECK_INTERVAL (600 s).
        self.server.stream_enabled = True
        self.server.stream_responses.append((404, {"Content-Type": "application/json"},
                                             b'{"error":{"code":"STREAM_NOT_AVAILABLE","message":"no stream here"}}'))
        client = self.client(streaming=True, poll_interval=0.25, stream_retry_max=0.02, backoff_base=0.01)
        self.server.set_ruleset(make_ruleset(3, color="red"))

        self.assertTrue(self.server.wait_for(lambda: client.ruleset_version == 3))
        time.sleep(1.1)

        self.assertEqual(len(self.server.requests_to("/sdk/v1/stream")), 1, "a stream the API does not serve is not retried")
        # The first fetch, then one every 0.25 s (about 4 in 1.1 s), not one every 0.02 s.
        self.assertLessEqual(len(self.server.requests_to("/sdk/v1/ruleset")), 7)
        self.assertGreaterEqual(len(self.server.requests_to("/sdk/v1/ruleset")), 3)
        warnings = [line for line in self.logs.output if line.startswith("WARNING")]
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn("the API does not serve the ruleset stream here (GET /sdk/v1/stream answered 404 STREAM_NOT_AVAILABLE): "
                      "polling /sdk/v1/ruleset every 250 ms instead, trying the stream again every 10 minutes", warnings[0])
        self.assertNotIn("broke", warnings[0], "not an outage")

    def test_a_stream_refused_with_retry_after_is_not_reconnected_sooner(self) -> None:
        self.server.stream_enabled = True
        self.server.stream_responses.extend([(503, {"Retry-After": "1"}), (429, {"Retry-After": "1"})])
        self.client(streaming=True, poll_interval=0.02)

        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to("/sdk/v1/stream")) == 3, timeout=5))
        first, second, third = self.server.requests_to("/sdk/v1/stream")
        self.assertGreaterEqual(second.at - first.at, 0.95)
        self.assertGreaterEqual(third.at - second.at, 0.95)
        # One warning for the outage, though polls succeeded between the refusals.
        self.assertEqual(len([line for line in self.logs.output if line.startswith("WARNING") and "ruleset stream answered HTTP" in line]), 1)

    def test_after_an_outage_a_ruleset_published_as_the_api_comes_back_arrives_within_stream_retry_max(self) -> None:
        # The API goes away (connections refused), starts (503 "xp is starting", Retry-After: 1), and a
        # kill switch is published the moment it is healthy: the streaming client holds it within about
        # stream_retry_max (or the Retry-After, when longer), not after a reconnect backoff grown during
        # the outage (from 0.1 s, it would be 3.2 s by then) nor at the next poll_interval (30 s).
        uncaught: list[Any] = []
        self.enterContext(mock.patch.object(threading, "excepthook", uncaught.append))
        self.enterContext(mock.patch.object(client_module.random, "random", return_value=0.999))  # the longest jittered waits
        self.server.stream_enabled = True
        client = self.client(streaming=True, poll_interval=30, backoff_base=0.1, backoff_max=60, stream_retry_max=0.4)
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to("/sdk/v1/stream")) == 1))

        self.server.stop()
        time.sleep(2.3)
        self.server.starting = True
        self.server.resume()
        resumed = time.monotonic()
        time.sleep(1.5)
        self.server.starting = False
        back = time.monotonic()
        self.server.push_stream_ruleset(make_ruleset(2, enabled=False))

        self.assertTrue(self.server.wait_for(lambda: client.ruleset_version == 2, timeout=8))
        took = time.monotonic() - back
        self.assertFalse(client.is_feature_enabled("feature", {"id": "u1"}))
        # At most the Retry-After of the last 503 (1 s) or stream_retry_max (0.4 s), plus a round trip.
        self.assertLess(took, 1.6)
        # Not hammering: no stream attempt sooner than the Retry-After of the 503s while it started.
        self.assertLessEqual(len([r for r in self.server.requests_to("/sdk/v1/stream") if resumed <= r.at < back]), 2)
        self.assertTrue(self.server.wait_for(lambda: any("ruleset stream reconnected" in line for line in self.logs.output)))
        broke = [line for line in self.logs.output if line.startswith("WARNING") and "ruleset stream" in line]
        self.assertEqual(len(broke), 1, broke)
        self.assertRegex(broke[0], r"ruleset stream (broke \(\w+\)|answered HTTP 503); polling every 400 ms until it is back$")
        self.assertEqual([line for line in self.logs.output if "ruleset stream reconnected" in line],
                         ["INFO:experimentation:ruleset stream reconnected; serving ruleset version 2"])
        self.assertEqual(uncaught, [])

    def test_bootstrap_serves_before_the_api_answers(self) -> None:
        client = self.client(api_url=closed_port_url(), bootstrap=make_ruleset(5, color="teal"))

        self.assertTrue(client.ready)
        self.assertEqual(client.get_value("color", "u1", "x"), "teal")
        self.assertEqual(client.evaluate("color", "u1").reason, Reason.DEFAULT)

    def test_users_types_and_bad_input_never_raise(self) -> None:
        client = self.client()

        self.assertTrue(client.is_feature_enabled("feature", {"id": "u1", "attributes": {"plan": "pro"}}))
        self.assertTrue(client.is_feature_enabled("feature", {"id": "u1", "plan": "pro"}))
        self.assertEqual(client.evaluate("feature", None).error_code, ErrorCode.INVALID_CONTEXT)  # type: ignore[arg-type]
        self.assertEqual(client.evaluate("feature", {"id": "u1", "attributes": "x"}).error_code, ErrorCode.INVALID_CONTEXT)
        mismatch = client.evaluate("color", "u1", 42)
        self.assertEqual((mismatch.value, mismatch.reason, mismatch.error_code), (42, Reason.ERROR, ErrorCode.TYPE_MISMATCH))
        missing = client.evaluate("no-such-flag", "u1", "d")
        self.assertEqual((missing.value, missing.reason), ("d", Reason.FLAG_NOT_FOUND))
        explained = client.evaluate("checkout-flag", "u1", explain=True)
        self.assertEqual(explained.trace[0].outcome, "matched")  # type: ignore[index]
        client.track_event("", "u1")
        client.track_event("ok", None)  # type: ignore[arg-type]
        client.track_event("ok", "u1", value=float("nan"))
        client.track_event("ok", "u1", {"x": object()})
        queued = list(client._queue)  # noqa: SLF001
        self.assertEqual([e["type"] for e in queued], ["exposure", "track"], "no invalid track event was queued")
        self.assertNotIn("properties", queued[1], "properties that cannot be sent are left out, the event kept")


    def test_a_bare_empty_or_non_finite_id_is_evaluated_as_the_same_id_in_a_mapping_as_the_javascript_sdk_does(self) -> None:
        client = self.client()
        self.assertTrue(client.wait_until_ready(5))

        for bare in ("", float("nan"), float("inf")):
            for flag in ("feature", "checkout-flag", "color"):
                with self.subTest(bare=bare, flag=flag):
                    as_mapping = client.evaluate(flag, {"id": bare}, "d")
                    result = client.evaluate(flag, bare, "d")
                    self.assertEqual((result.value, result.reason, result.error_code), (as_mapping.value, as_mapping.reason, as_mapping.error_code))
                    self.assertNotEqual(result.error_code, ErrorCode.INVALID_CONTEXT)
        self.assertEqual(client.evaluate("feature", True, "d").error_code, ErrorCode.INVALID_CONTEXT)  # type: ignore[arg-type]

    def test_a_numeric_id_is_targeted_as_its_decimal_string_as_the_evaluation_api_does(self) -> None:
        on = {"variations": [{"key": "off", "value": False}, {"key": "on", "value": True}], "default": 0, "off": 0}
        ruleset = make_ruleset(1)
        ruleset["flags"]["beta"] = {**on, "rules": [{"id": "list", "type": "force", "condition": {"id": {"$inGroup": "beta-ids"}}, "variation": 1}]}
        ruleset["flags"]["staff"] = {**on, "rules": [{"id": "ids", "type": "force", "condition": {"id": {"$in": ["42", "7"]}}, "variation": 1}]}
        ruleset["savedGroups"] = {"beta-ids": ["42", "1001"]}
        client = self.client(api_url=closed_port_url(), bootstrap=ruleset, log_exposures=False)

        for flag in ("beta", "staff", "checkout-flag"):
            for user in (42, 42.0, {"id": 42}, {"id": 42, "attributes": {"plan": "pro"}}, {"id": 42, "attributes": {"id": 42}}):
                with self.subTest(flag=flag, user=user):
                    # What POST /sdk/v1/evaluate computes for {"unit": {"id": "42", "attributes": ...}}: unit.id wins.
                    given = user.get("attributes", {}) if isinstance(user, dict) else {}
                    server = evaluate_flag(ruleset, flag, {"attributes": {**given, "id": "42"}})
                    result = client.evaluate(flag, user)
                    self.assertEqual((result.value, result.variation_key, result.reason), (server.value, server.variation_key, server.reason))
        self.assertTrue(client.is_feature_enabled("beta", 42))
        self.assertTrue(client.is_feature_enabled("staff", 42))
        self.assertFalse(client.is_feature_enabled("beta", 43))


class OverridesTest(ClientTestCase):
    # What the JavaScript SDK returns for the same users and fixture (checked against sdk/js/dist with a
    # node script): variation, inExperiment and forced of the standalone experiments and of the flags that
    # run them, and the exposures logged. A forced or URL-overridden unit is served but not tracked.
    CASES: ClassVar[list[tuple[dict[str, Any], dict[str, Any]]]] = [
        ({"id": "user-1"}, {
            "demo-checkout-cta": ("control", True, None), "locked-pricing": ("low", True, None), "checkout-cta": "Buy", "price": 9,
            "exposures": [("demo-checkout-cta", "control"), ("locked-pricing", "low")]}),
        ({"id": "user-1", "url": "https://shop.example/cart?xp_demo-checkout-cta=treatment"}, {
            "demo-checkout-cta": ("treatment", False, True), "locked-pricing": ("low", True, None), "checkout-cta": "Buy now", "price": 9,
            "exposures": [("locked-pricing", "low")]}),
        ({"id": "user-1", "forced_variations": {"demo-checkout-cta": 1, "locked-pricing": "high"}}, {
            "demo-checkout-cta": ("treatment", False, True), "locked-pricing": ("high", False, True), "checkout-cta": "Buy now", "price": 12,
            "exposures": []}),
        # urlOverride: false (allowUrlOverride off) ignores the URL for that experiment only.
        ({"id": "user-1", "url": "https://shop.example/?xp_locked-pricing=high&xp_demo-checkout-cta=1"}, {
            "demo-checkout-cta": ("treatment", False, True), "locked-pricing": ("low", True, None), "checkout-cta": "Buy now", "price": 9,
            "exposures": [("locked-pricing", "low")]}),
        ({"id": "user-2", "attributes": {"plan": "pro"}, "url": "https://shop.example/?xp_demo-checkout-cta=nope"}, {
            "demo-checkout-cta": ("control", True, None), "locked-pricing": ("high", True, None), "checkout-cta": "Buy", "price": 12,
            "exposures": [("demo-checkout-cta", "control"), ("locked-pricing", "high")]}),
    ]

    def test_url_and_forced_variations_in_the_user_force_variations_untracked_as_in_the_javascript_sdk(self) -> None:
        ruleset = read_fixture("overrides-ruleset.json")
        for user, expected in self.CASES:
            with self.subTest(user=user):
                client = self.client(api_url=closed_port_url(), bootstrap=ruleset)

                for key in ("demo-checkout-cta", "locked-pricing"):
                    result = client.get_experiment(key, user)
                    self.assertEqual((result.variation_key, result.in_experiment, result.forced), expected[key], key)
                cta = client.evaluate("checkout-cta", user, "x")
                self.assertEqual(cta.value, expected["checkout-cta"])
                self.assertEqual((cta.experiment.variation_key, cta.experiment.in_experiment, cta.experiment.forced),  # type: ignore[union-attr]
                                 expected["demo-checkout-cta"])
                self.assertEqual(client.get_value("price", user, 0), expected["price"])
                # The URL is an override, not a targeting attribute (as in the JavaScript SDK).
                self.assertFalse(client.get_value("url-targeted", user, False))

                queued = list(client._queue)  # noqa: SLF001
                self.assertEqual([(e["experiment"], e["variation"]) for e in queued], expected["exposures"])
                for e in queued:
                    self.assertEqual(e.get("attributes"), user.get("attributes"), "the URL is not an exposure attribute")

    def test_forced_variations_in_javascript_spelling_and_malformed_overrides(self) -> None:
        client = self.client(api_url=closed_port_url(), bootstrap=read_fixture("overrides-ruleset.json"), log_exposures=False)

        self.assertEqual(client.get_variant("demo-checkout-cta", {"id": "user-1", "forcedVariations": {"demo-checkout-cta": "treatment"}}), "treatment")
        self.assertTrue(client.get_experiment("demo-checkout-cta", {"id": "user-1", "forced_variations": {"demo-checkout-cta": "treatment"}}).forced)
        # Not a string, not a mapping: ignored, as the evaluation functions ignore them; the user is bucketed as usual
        # (the JavaScript SDK answers GENERAL for a url that is not a string).
        for user in ({"id": "user-1", "url": 42}, {"id": "user-1", "forced_variations": ["treatment"]}, {"id": "user-1", "url": None}):
            with self.subTest(user=user):
                result = client.get_experiment("demo-checkout-cta", user)
                self.assertEqual((result.variation_key, result.in_experiment), ("control", True))


class ReadinessTest(ClientTestCase):
    def test_wait_until_ready_waits_for_a_ruleset_after_a_failed_first_fetch(self) -> None:
        self.server.mode = "fail"
        client = self.client(timeout=0.5, poll_interval=0.2)
        self.assertFalse(client.ready)

        threading.Timer(0.3, lambda: setattr(self.server, "mode", "ok")).start()
        started = time.monotonic()
        self.assertTrue(client.wait_until_ready(5))
        self.assertGreater(time.monotonic() - started, 0.2, "it waited for the ruleset, not for the first attempt")

    def test_a_failed_start_logs_that_defaults_are_served_and_a_later_failure_the_last_known_ruleset(self) -> None:
        refused = Client(api_key="xp_server_revoked_key", api_url=self.server.url, **FAST)
        self.addCleanup(refused.close, 0.5)
        self.client(api_url=closed_port_url())
        for mode in ("garbage", "invalid"):
            self.server.mode = mode
            self.client()

        failures = [line for line in self.logs.output if re.search(r"ruleset (fetch|response|from the API)", line)]
        self.assertEqual(len(failures), 4, self.logs.output)
        self.assertIn("HTTP 401", failures[0])
        for line in failures:
            self.assertIn("serving defaults until a ruleset arrives", line)
            self.assertNotIn("last", line)

        self.server.mode = "ok"
        client = self.client()
        self.server.mode = "fail"
        client.refresh()
        self.assertIn("ruleset fetch answered HTTP 500; serving the last known ruleset", self.logs.output[-1])
        self.server.mode = "garbage"
        client.refresh()
        self.assertIn("not valid JSON; keeping the last good ruleset", self.logs.output[-1])

    def test_wait_until_ready_gives_up_after_its_timeout(self) -> None:
        self.server.mode = "fail"
        client = self.client(timeout=0.2, poll_interval=0.1)

        started = time.monotonic()
        self.assertFalse(client.wait_until_ready(0.4))
        self.assertGreaterEqual(time.monotonic() - started, 0.35)


def reordered(value: Any) -> Any:
    """The same JSON value with the keys of every object in reverse order, as another serialiser may write it."""
    if isinstance(value, dict):
        return {k: reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(e) for e in value]
    return value


def grouped_ruleset(version: int) -> dict[str, Any]:
    """make_ruleset plus flags and an experiment whose conditions use saved groups, and a holdout."""
    on = {"variations": [{"key": "off", "value": False}, {"key": "on", "value": True}], "default": 0, "off": 0}
    ruleset = make_ruleset(version)
    ruleset["savedGroups"] = {"beta-ids": ["u1", "u2"], "staff": ["u9"], "unused": ["x"]}
    ruleset["holdouts"] = {"h1": {"hashAttribute": "id", "seed": "h1", "coverage": 0.1}}
    ruleset["experiments"]["checkout"]["holdout"] = "h1"
    ruleset["experiments"]["gated"] = {
        "hashAttribute": "id", "seed": "gated", "hashVersion": 2, "coverage": 1, "weights": [0.5, 0.5],
        "condition": {"id": {"$inGroup": "staff"}}, "variations": [{"key": "a"}, {"key": "b"}],
    }
    ruleset["flags"].update({
        "beta": {**on, "rules": [{"id": "r", "type": "force", "condition": {"id": {"$inGroup": "beta-ids"}}, "variation": 1}]},
        "nested": {**on, "rules": [{"id": "r", "type": "force", "condition": {"orgs": {"$elemMatch": {"id": {"$inGroup": "beta-ids"}}}}, "variation": 1}]},
        "not-staff": {**on, "rules": [{"id": "r", "type": "force", "condition": {"$or": [{"country": "FR"}, {"id": {"$notInGroup": "staff"}}]}, "variation": 1}]},
        "gated-flag": {**on, "rules": [{"id": "r", "type": "experiment", "experiment": "gated", "variations": [0, 1]}]},
        "after-beta": {**on, "prerequisites": [{"flag": "beta", "variation": "on"}]},
        "adults": {**on, "rules": [{"id": "r", "type": "force", "condition": {"age": {"$gte": 18, "$lt": 130}, "company": {"id": "acme", "tier": "gold"}}, "variation": 1}]},
    })
    return ruleset


class ChangeDetectionTest(unittest.TestCase):
    def test_names_changed_flags_and_flags_that_use_a_changed_experiment(self) -> None:
        changed = make_ruleset(2, color="red")
        changed["experiments"]["checkout"]["coverage"] = 0.5

        self.assertEqual(diff_rulesets(make_ruleset(1), changed), (["checkout-flag", "color"], ["checkout"]))

    def test_propagates_through_prerequisites_and_reports_added_and_removed_flags(self) -> None:
        before, after = grouped_ruleset(1), grouped_ruleset(2)
        after["flags"]["beta"]["on"] = False
        del after["flags"]["feature"]
        after["flags"]["new"] = after["flags"]["color"]

        self.assertEqual(diff_rulesets(before, after), (["after-beta", "beta", "feature", "new"], []))

    def test_the_first_ruleset_reports_every_flag_and_experiment(self) -> None:
        self.assertEqual(diff_rulesets(None, make_ruleset(1)), (["checkout-flag", "color", "feature"], ["checkout"]))

    def test_json_key_order_does_not_matter_but_json_types_do(self) -> None:
        before = grouped_ruleset(1)
        self.assertEqual(diff_rulesets(before, reordered(grouped_ruleset(2))), ([], []))
        self.assertEqual(diff_rulesets(reordered(before), grouped_ruleset(2)), ([], []))

        same = grouped_ruleset(2)
        same["experiments"]["checkout"]["coverage"] = 1.0  # the number 1, as JSON and JavaScript read it
        self.assertEqual(diff_rulesets(before, same), ([], []))

        typed = grouped_ruleset(2)
        typed["flags"]["feature"]["variations"][1]["value"] = 1  # true is not 1
        typed["experiments"]["gated"]["variations"].reverse()  # array order counts
        self.assertEqual(diff_rulesets(before, typed), (["feature", "gated-flag"], ["gated"]))

    def test_a_changed_saved_group_marks_only_the_flags_and_experiments_whose_conditions_use_it(self) -> None:
        before = grouped_ruleset(1)
        cases = {
            "beta-ids": (["after-beta", "beta", "nested"], []),
            "staff": (["gated-flag", "not-staff"], ["gated"]),
            "unused": ([], []),
            "new-group": ([], []),
        }
        for group, expected in cases.items():
            with self.subTest(group):
                after = grouped_ruleset(2)
                after["savedGroups"][group] = ["someone-else"]

                self.assertEqual(diff_rulesets(before, after), expected)

        removed = grouped_ruleset(2)
        del removed["savedGroups"]
        self.assertEqual(diff_rulesets(before, removed), (["after-beta", "beta", "gated-flag", "nested", "not-staff"], ["gated"]))

    def test_a_changed_holdout_marks_its_experiments_and_their_flags(self) -> None:
        after = grouped_ruleset(2)
        after["holdouts"]["h1"]["coverage"] = 0.2

        self.assertEqual(diff_rulesets(grouped_ruleset(1), after), (["checkout-flag"], ["checkout"]))


class ChangesTest(ClientTestCase):
    def test_on_change_gets_the_changed_flag_keys_and_on_update_still_the_version(self) -> None:
        changes: list[list[str]] = []
        versions: list[int | None] = []
        self.server.set_ruleset(grouped_ruleset(1))
        client = self.client(on_change=changes.append, on_update=versions.append)
        # The first ruleset from the API reports every flag (the callback runs right after the constructor returns).
        self.assertTrue(self.server.wait_for(lambda: len(changes) == 1))

        self.server.set_ruleset(grouped_ruleset(2) | {"savedGroups": {"beta-ids": ["u3"], "staff": ["u9"], "unused": ["x"]}})
        client.refresh()
        # A server restart republishes the same ruleset, its keys in another order: nothing changed.
        self.server.set_ruleset(reordered(grouped_ruleset(3) | {"savedGroups": {"beta-ids": ["u3"], "staff": ["u9"], "unused": ["x"]}}))
        client.refresh()
        changed = grouped_ruleset(4) | {"savedGroups": {"beta-ids": ["u3"], "staff": ["u9"], "unused": ["x"]}}
        changed["flags"]["color"] = make_ruleset(4, color="red")["flags"]["color"]
        self.server.set_ruleset(changed)
        client.refresh()

        self.assertEqual(versions, [1, 2, 3, 4])
        self.assertEqual(changes, [sorted(grouped_ruleset(1)["flags"]), ["after-beta", "beta", "nested"], ["color"]])

    def test_on_change_over_the_stream_and_after_a_bootstrap_as_in_the_javascript_sdk(self) -> None:
        self.server.stream_enabled = True
        self.server.mode = "fail"
        changes: list[list[str]] = []
        client = self.client(streaming=True, bootstrap=make_ruleset(1, color="boot"), on_change=changes.append)
        self.assertEqual(changes, [], "a bootstrap ruleset is not a change")

        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to("/sdk/v1/stream")) == 1))
        self.server.push_stream_ruleset(make_ruleset(2, color="live"))
        self.assertTrue(self.server.wait_for(lambda: client.ruleset_version == 2))
        self.server.push_stream_ruleset(reordered(make_ruleset(3, color="live")))
        self.server.push_stream_ruleset(make_ruleset(4, enabled=False, color="live"))
        self.assertTrue(self.server.wait_for(lambda: len(changes) == 2))

        self.assertEqual(client.ruleset_version, 4)
        self.assertEqual(changes, [["color"], ["feature"]], "the bootstrap was compared with the API's ruleset")

    def test_close_from_an_update_callback_flushes_and_raises_nothing(self) -> None:
        self.server.stream_enabled = True
        closed = threading.Event()
        holder: list[Any] = []

        def on_update(version: int | None) -> None:
            if version == 2:
                holder[0].close()
                closed.set()
        client = self.client(streaming=True, batch_size=100, flush_interval=30, on_update=on_update)
        holder.append(client)
        self.assertTrue(client.wait_until_ready())
        for i in range(3):
            client.track_event("purchase", f"u{i}")
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to("/sdk/v1/stream")) == 1))
        self.server.push_stream_ruleset(make_ruleset(2, color="live"))

        self.assertTrue(closed.wait(5))
        self.assertTrue(self.server.wait_for(lambda: len([e for e in self.server.events() if e["type"] == "track"]) == 3))
        self.assertFalse(any("callback failed" in line for line in self.logs.output))

    def test_a_key_read_with_its_newline_works_and_one_with_spaces_inside_is_refused(self) -> None:
        client = Client(api_key=API_KEY + "\n", api_url=self.server.url, **FAST)
        self.addCleanup(client.close, 0.5)
        self.assertTrue(client.wait_until_ready())
        self.assertEqual(self.server.requests[-1].headers.get("x-xp-sdk-key"), API_KEY)
        with self.assertRaisesRegex(ValueError, "whitespace or control characters"):
            Client(api_key="xpk_cli_ab cd", api_url=self.server.url, **FAST)

    def test_a_failing_on_change_callback_is_logged_and_the_update_kept(self) -> None:
        def on_change(flags: list[str]) -> None:
            raise RuntimeError("boom")
        client = self.client(on_change=on_change)
        self.server.set_ruleset(make_ruleset(2, color="red"))

        self.assertTrue(client.refresh())
        self.assertEqual(client.get_value("color", "u1", "x"), "red")
        self.assertTrue(any("on_change callback failed: RuntimeError" in line for line in self.logs.output))


class EventsTest(ClientTestCase):
    def test_events_are_batched_by_size_and_follow_the_event_schema(self) -> None:
        client = self.client(batch_size=5, flush_interval=30)
        before = int(time.time() * 1000)

        for i in range(12):
            client.track_event("purchase_completed", f"u{i}", {"sku": "a", "n": i}, value=9.99)

        self.assertTrue(self.server.wait_for(lambda: len(self.server.events()) == 10))
        posts = self.server.requests_to("/sdk/v1/events", "POST")
        self.assertEqual([len(p.json()["events"]) for p in posts], [5, 5])
        self.assertEqual(posts[0].headers["x-xp-sdk-key"], API_KEY)
        self.assertEqual(posts[0].headers["content-type"], "application/json")
        event = self.server.events()[0]
        self.assertEqual(set(event), {"id", "type", "unitId", "timestamp", "name", "value", "properties"})
        self.assertRegex(event["id"], r"^[0-9a-f]{32}$")
        self.assertEqual((event["type"], event["unitId"], event["name"], event["value"]), ("track", "u0", "purchase_completed", 9.99))
        self.assertEqual(event["properties"], {"sku": "a", "n": 0})
        self.assertIsInstance(event["timestamp"], int)
        self.assertGreaterEqual(event["timestamp"], before)

        client.close()

        ids = [e["id"] for e in self.server.events()]
        self.assertEqual(len(ids), 12, "close() flushes the rest")
        self.assertEqual(len(set(ids)), 12)

    def test_tracked_events_carry_the_other_unit_ids_experiments_bucket_on_as_the_javascript_sdk_does(self) -> None:
        ruleset = make_ruleset(1)
        ruleset["experiments"]["exp-device"] = {"hashAttribute": "deviceId", "seed": "exp-device", "hashVersion": 2, "coverage": 1, "weights": [0.5, 0.5],
                                                "variations": [{"key": "control"}, {"key": "treatment"}]}
        ruleset["experiments"]["exp-company"] = {"hashAttribute": "companyId", "fallbackAttribute": "anonymousId", "seed": "exp-company", "hashVersion": 2,
                                                 "coverage": 1, "weights": [0.5, 0.5], "variations": [{"key": "a"}, {"key": "b"}]}
        self.server.ruleset = ruleset
        client = self.client(batch_size=100, flush_interval=30)

        full = {"id": "u1", "attributes": {"deviceId": "dev1", "companyId": 7, "anonymousId": "anon1"}}
        self.assertIsNotNone(client.get_variant("exp-device", full))
        client.track_event("buy", full)
        client.track_event("buy", {"id": "u2", "attributes": {"deviceId": "u2", "companyId": "", "anonymousId": None}})
        client.track_event("buy", "u3")
        client.track_event("buy", {"id": "u4", "attributes": {"deviceId": True, "companyId": float("nan"), "anonymousId": "anon\x00"}})
        client.track_event("buy", {"id": 5, "attributes": {"deviceId": 5, "anonymousId": 6.0}})
        client.flush()

        tracks = [e for e in self.server.events() if e["type"] == "track"]
        exposure = next(e for e in self.server.events() if e["type"] == "exposure")
        # The same units as the JavaScript SDK's test (sdk/js/src/__tests__/events.test.ts): sorted by name,
        # numbers as their decimal string (6.0 as "6"), nothing equal to the id, empty, not a bucketing value or refused by the API.
        self.assertEqual([(e["unitId"], e.get("units")) for e in tracks], [
            ("u1", {"anonymousId": "anon1", "companyId": "7", "deviceId": "dev1"}),
            ("u2", None),
            ("u3", None),
            ("u4", None),
            ("5", {"anonymousId": "6"}),
        ])
        self.assertEqual(list(tracks[0]["units"]), ["anonymousId", "companyId", "deviceId"])
        self.assertEqual((exposure["experiment"], exposure["unitId"]), ("exp-device", "dev1"))

    @staticmethod
    def _bucketed_on_attributes(version: int) -> dict[str, Any]:
        """make_ruleset plus experiments bucketed on email (with a fallback on deviceId), on deviceId, and on companyId
        with a fallback on email: as the JavaScript SDK's private-attributes tests (sdk/js/src/__tests__/events.test.ts)."""
        ruleset = make_ruleset(version)
        for key, hash_attribute, fallback in (("exp-email", "email", "deviceId"), ("exp-device", "deviceId", None), ("exp-company", "companyId", "email")):
            ruleset["experiments"][key] = {"hashAttribute": hash_attribute, **({} if fallback is None else {"fallbackAttribute": fallback}),
                                           "seed": key, "hashVersion": 2, "coverage": 1, "weights": [0.5, 0.5],
                                           "variations": [{"key": "control"}, {"key": "treatment"}]}
        return ruleset

    _PRIVATE_USER: ClassVar[dict[str, Any]] = {"id": "u2", "attributes": {"email": "never.in.exp@example.org", "deviceId": "dev-2", "companyId": "acme", "plan": "pro"}}

    def _track_with_private(self, private_attributes: Any) -> tuple[list[dict[str, Any]], list[str]]:
        """A client bootstrapped with version 1 that then loads version 2 from the API (two rulesets, one warning per
        attribute); its exposure to exp-email and a tracked purchase, and the private-attribute warnings."""
        self.server.ruleset = self._bucketed_on_attributes(2)
        client = self.client(batch_size=100, flush_interval=30, bootstrap=self._bucketed_on_attributes(1), private_attributes=private_attributes)
        self.assertTrue(self.server.wait_for(lambda: client.ruleset_version == 2))
        client.get_variant("exp-email", self._PRIVATE_USER)
        client.track_event("purchase", self._PRIVATE_USER, value=5)
        client.flush()
        return self.server.events(), [line for line in self.logs.output if "private attribute" in line]

    def test_tracked_events_leave_private_attributes_out_of_units_keep_the_others_and_warn_once_per_attribute(self) -> None:
        events, warnings = self._track_with_private(["email", "phone"])

        track = next(e for e in events if e["type"] == "track")
        self.assertEqual(track["units"], {"companyId": "acme", "deviceId": "dev-2"})
        self.assertNotIn("never.in.exp@example.org", repr([e for e in events if e["type"] == "track"]))
        # The one way the value leaves: as the unit id of an exposure to the experiment bucketed on it, without attributes.email.
        exposures = [e for e in events if e["type"] == "exposure"]
        self.assertEqual([(e["experiment"], e["unitId"], e["hashAttribute"], e["attributes"]) for e in exposures],
                         [("exp-email", "never.in.exp@example.org", "email", {"deviceId": "dev-2", "companyId": "acme", "plan": "pro"})])
        # The same words as the JavaScript SDK's warning, with Python's names.
        self.assertEqual(warnings, [
            'WARNING:experimentation:private attribute "email" is left out of tracked events (private_attributes): the metrics of the '
            'experiments bucketed on it ("exp-email", "exp-company") count only the events tracked with its value as the unit id: '
            'track_event(name, {"id": <email>}) (warned once)',
        ])

    def test_tracked_events_carry_no_units_with_private_attributes_true_warning_once_for_each_attribute_bucketed_on(self) -> None:
        events, warnings = self._track_with_private(True)

        track = next(e for e in events if e["type"] == "track")
        self.assertEqual((track["unitId"], track["name"], track["value"]), ("u2", "purchase", 5))
        self.assertNotIn("units", track)
        exposure = next(e for e in events if e["type"] == "exposure")
        self.assertEqual(exposure["unitId"], "never.in.exp@example.org")
        self.assertNotIn("attributes", exposure)
        self.assertEqual([sum(f'attribute "{name}"' in w for w in warnings) for name in ("companyId", "deviceId", "email")], [1, 1, 1])
        self.assertIn('("exp-email", "exp-device")', next(w for w in warnings if 'attribute "deviceId"' in w))

    def test_tracked_events_keep_units_and_nothing_is_warned_when_no_private_attribute_is_bucketed_on(self) -> None:
        events, warnings = self._track_with_private(["plan"])

        track = next(e for e in events if e["type"] == "track")
        self.assertEqual(track["units"], {"companyId": "acme", "deviceId": "dev-2", "email": "never.in.exp@example.org"})
        self.assertEqual(warnings, [])

    def test_tracked_events_carry_at_most_ten_other_unit_ids_and_none_for_rulesets_bucketing_on_ids(self) -> None:
        ruleset = make_ruleset(1)
        attributes: dict[str, Any] = {}
        for i in range(12):
            name = f"attr{i:02d}"
            ruleset["experiments"][f"exp-{i}"] = {"hashAttribute": name, "seed": f"exp-{i}", "hashVersion": 2, "coverage": 1, "weights": [1],
                                                  "variations": [{"key": "only"}]}
            attributes[name] = f"value-{i}"
        self.server.ruleset = ruleset
        client = self.client(batch_size=100, flush_interval=30)

        client.track_event("buy", {"id": "u1", "attributes": attributes})
        client.flush()
        self.server.ruleset = make_ruleset(2)
        ids_only = self.client(batch_size=100, flush_interval=30)
        ids_only.track_event("buy", {"id": "u1", "attributes": {"deviceId": "dev1"}})
        ids_only.flush()

        first, second = self.server.events()
        self.assertEqual(list(first["units"]), [f"attr{i:02d}" for i in range(10)])
        self.assertNotIn("units", second)

    def test_events_are_sent_after_the_flush_interval(self) -> None:
        client = self.client(batch_size=100, flush_interval=0.05)

        client.track_event("signup", "u1")
        client.track_event("signup", "u2")

        self.assertTrue(self.server.wait_for(lambda: len(self.server.events()) == 2))
        self.assertEqual(len(self.server.requests_to("/sdk/v1/events", "POST")), 1)

    def test_failed_batches_are_retried_with_backoff_until_accepted(self) -> None:
        self.server.event_responses.extend([(500, {}), (503, {})])
        client = self.client(batch_size=2, flush_interval=30)

        client.track_event("a", "u1")
        client.track_event("b", "u1")

        self.assertTrue(self.server.wait_for(lambda: len(self.server.events()) == 2))
        posts = self.server.requests_to("/sdk/v1/events", "POST")
        self.assertEqual(len(posts), 3)
        self.assertEqual(posts[0].body, posts[2].body, "the same events (same ids) are retried")

    def test_network_errors_are_retried(self) -> None:
        client = self.client(api_url=closed_port_url(), batch_size=1, flush_interval=30)

        client.track_event("a", "u1")

        # Between attempts the batch is back in the queue (during one it is out, being sent): wait for such a moment.
        self.assertTrue(self.server.wait_for(lambda: client._queue_len() == 1), "the event stays queued while the API is unreachable")  # noqa: SLF001
        self.assertTrue(self.server.wait_for(lambda: sum("will retry" in line for line in self.logs.output) >= 3))
        retries = [line.split(":")[0] for line in self.logs.output if "will retry" in line]
        self.assertEqual(retries, ["WARNING"] + ["DEBUG"] * (len(retries) - 1), "one warning per outage, then debug")

    def test_failed_sends_warn_once_per_outage_and_log_their_retries_at_debug_level(self) -> None:
        self.server.event_responses.extend([(500, {}), (503, {}), (502, {})])
        client = self.client(batch_size=1, flush_interval=30)

        client.track_event("a", "u1")
        self.assertTrue(self.server.wait_for(lambda: len(self.server.events()) == 1))
        self.server.event_responses.append((503, {}))
        client.track_event("b", "u1")
        self.assertTrue(self.server.wait_for(lambda: len(self.server.events()) == 2))

        retries = [(line.split(":")[0], line.split("HTTP ")[1][:3]) for line in self.logs.output if "will retry" in line]
        # The API recovered in between: the second outage warns again.
        self.assertEqual(retries, [("WARNING", "500"), ("DEBUG", "503"), ("DEBUG", "502"), ("WARNING", "503")])

    def test_retry_after_is_honoured(self) -> None:
        self.server.event_responses.append((429, {"Retry-After": "1"}))
        client = self.client(batch_size=1, flush_interval=30)

        client.track_event("a", "u1")

        self.assertTrue(self.server.wait_for(lambda: len(self.server.events()) == 1, timeout=4))
        first, second = self.server.requests_to("/sdk/v1/events", "POST")
        self.assertGreaterEqual(second.at - first.at, 0.95)

    def test_a_batch_the_api_refuses_for_good_is_dropped_with_a_log_line(self) -> None:
        self.server.event_responses.append((400, {}))
        client = self.client(batch_size=1, flush_interval=30)

        client.track_event("a", "u1")

        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to("/sdk/v1/events", "POST")) == 1))
        self.assertTrue(self.server.wait_for(lambda: any("dropped: HTTP 400" in line for line in self.logs.output)))
        self.assertEqual(client._queue_len(), 0)  # noqa: SLF001
        client.close()
        self.assertEqual(len(self.server.requests_to("/sdk/v1/events", "POST")), 1)

    def test_flush_reports_a_batch_the_api_refused_for_good_as_not_delivered(self) -> None:
        self.server.event_responses.append((401, {}))
        client = self.client(batch_size=100, flush_interval=30)

        client.track_event("a", "u1")

        self.assertFalse(client.flush(timeout=2))
        self.assertEqual(client._queue_len(), 0)  # noqa: SLF001
        client.track_event("b", "u1")
        self.assertTrue(client.flush(timeout=2))

    def test_a_full_queue_drops_new_events_with_a_log_line(self) -> None:
        client = self.client(api_url=closed_port_url(), batch_size=100, flush_interval=30, max_queue_size=3)

        for i in range(5):
            client.track_event("a", f"u{i}")

        self.assertEqual(client._queue_len(), 3)  # noqa: SLF001
        self.assertTrue(any("queue is full" in line for line in self.logs.output))

    def test_close_flushes_and_the_context_manager_closes(self) -> None:
        with Client(api_key=API_KEY, api_url=self.server.url, **{**FAST, "flush_interval": 30}) as client:
            client.track_event("a", "u1")
            client.track_event("b", "u2")
            self.assertEqual(self.server.events(), [])

        self.assertEqual([e["name"] for e in self.server.events()], ["a", "b"])
        client.close()
        client.track_event("late", "u1")
        self.assertEqual(len(self.server.events()), 2)

    def test_close_retries_a_refused_send_as_retry_after_asks_so_a_brief_503_loses_nothing(self) -> None:
        self.server.event_responses.append((503, {"Retry-After": "1"}))
        client = self.client(flush_interval=30)
        for i in range(5):
            client.track_event("x", f"u{i}")
        started = time.monotonic()

        client.close(timeout=5)

        self.assertGreaterEqual(time.monotonic() - started, 0.95, "Retry-After is honoured at close too")
        self.assertEqual(len(self.server.events()), 5)
        self.assertFalse(any("dropped" in line for line in self.logs.output))

    def test_flush_retries_within_its_timeout(self) -> None:
        self.server.event_responses.extend([(500, {}), (503, {})])
        client = self.client(flush_interval=30)
        client.track_event("x", "u1")

        self.assertTrue(client.flush(timeout=3))
        self.assertEqual(len(self.server.events()), 1)

    def test_properties_that_cannot_be_sent_are_left_out_and_the_event_kept(self) -> None:
        client = self.client(flush_interval=30)

        client.track_event("big", "u1", {"blob": "x" * 20_000}, value=3)
        client.track_event("odd", "u2", {"when": object()})
        client.flush(timeout=2)

        self.assertEqual([(e["name"], e.get("value"), "properties" in e) for e in self.server.events()], [("big", 3, False), ("odd", None, False)])
        self.assertTrue(any("sent without them" in line for line in self.logs.output))

    def test_a_408_is_retried_like_the_javascript_sdk_does(self) -> None:
        self.server.event_responses.append((408, {}))
        client = self.client(flush_interval=30)
        client.track_event("x", "u1")

        self.assertTrue(client.flush(timeout=3))
        self.assertEqual(len(self.server.events()), 1)

    def test_an_event_for_a_user_whose_id_is_in_the_attributes_is_sent_as_evaluation_buckets_it(self) -> None:
        client = self.client(flush_interval=30)

        client.track_event("purchase", {"attributes": {"id": "attr-only", "plan": "pro"}})
        client.flush(timeout=2)

        self.assertEqual([e["unitId"] for e in self.server.events()], ["attr-only"])

    def test_a_none_id_is_an_absent_one_so_attributes_id_buckets_the_user_as_the_evaluation_api_does(self) -> None:
        client = self.client(api_url=closed_port_url(), bootstrap=make_ruleset(1), flush_interval=30)

        for flag in ("checkout-flag", "color", "feature"):
            with self.subTest(flag=flag):
                # POST /sdk/v1/evaluate reads {"unit": {"id": null, "attributes": {"id": ...}}} as attributes.id.
                server = evaluate_flag(make_ruleset(1), flag, {"attributes": {"id": "attr-id", "plan": "pro"}})
                result = client.evaluate(flag, {"id": None, "attributes": {"id": "attr-id", "plan": "pro"}})
                self.assertEqual((result.value, result.variation_key, result.reason), (server.value, server.variation_key, server.reason))
        split = client.evaluate("checkout-flag", {"id": None, "attributes": {"id": "attr-id"}})
        self.assertNotEqual(split.reason, "DEFAULT", "the id in the attributes buckets the user")

    def test_a_decimal_default_is_a_number_and_repr_shows_the_whole_api_url(self) -> None:
        ruleset = make_ruleset(1)
        ruleset["flags"]["limit"] = {"variations": [{"key": "a", "value": 100.5}], "default": 0, "off": 0}
        url = closed_port_url()
        client = self.client(api_url=url + "/xp/", bootstrap=ruleset, log_exposures=False)

        self.assertEqual(client.get_value("limit", "u1", Decimal(1)), 100.5)
        self.assertEqual(client.get_value("limit", "u1", Fraction(1, 2)), 100.5)
        self.assertEqual(client.evaluate("limit", "u1", "x").error_code, ErrorCode.TYPE_MISMATCH)
        self.assertEqual(repr(client), f"<experimentation.Client api_url='{url}/xp' ruleset_version=1>")

    def test_an_int_id_beyond_2_53_is_read_as_javascript_reads_it_with_one_warning(self) -> None:
        client = self.client(api_url=closed_port_url(), bootstrap=make_ruleset(1), log_exposures=False)
        client_module._unsafe_id_warned.clear()  # noqa: SLF001

        with self.assertLogs("experimentation", "WARNING") as logs:
            same = {client.evaluate("checkout-flag", 2**60 + i).bucket for i in range(3)}
            client.evaluate("checkout-flag", 10**5000)
        self.assertEqual(len(same), 1, "JavaScript reads these ids as one number")
        warned = [r for r in logs.output if "beyond 2**53" in r]
        self.assertEqual(len(warned), 1)
        self.assertIn("pass such ids as str", warned[0])

    def test_close_does_not_hang_when_the_api_stalls(self) -> None:
        self.server.mode = "ok"
        client = self.client(flush_interval=30)
        self.server.event_responses.append((503, {}))
        client.track_event("a", "u1")
        started = time.monotonic()

        client.close(timeout=0.3)

        self.assertLess(time.monotonic() - started, 2.0)

    def test_flush_and_close_keep_their_timeout_while_a_background_send_stalls(self) -> None:
        self.server.stall_seconds = 3.0
        self.server.event_responses.append((0, {}))
        client = self.client(timeout=2, flush_interval=0.01)
        client.track_event("a", "u1")
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to("/sdk/v1/events", "POST")) == 1))
        client.track_event("b", "u1")

        started = time.monotonic()
        self.assertFalse(client.flush(timeout=0.3))
        self.assertLess(time.monotonic() - started, 0.8, "flush waits for the stalled send no longer than its timeout")
        started = time.monotonic()
        client.close(timeout=0.3)
        # The threads' time to stop comes out of the same budget.
        self.assertLess(time.monotonic() - started, 0.8, "close waits for the stalled send no longer than its timeout")
        self.server.release.set()

    def test_a_send_that_fails_after_close_reports_its_events_dropped_instead_of_requeueing_them(self) -> None:
        self.server.stall_seconds = 3.0
        self.server.event_responses.append((0, {}))
        client = self.client(timeout=1, flush_interval=0.01)
        client.track_event("a", "u1")
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to("/sdk/v1/events", "POST")) == 1))

        client.close(timeout=0.2)
        # The flusher's request times out after close has drained the queue.
        dropped = "1 events could not be delivered before close and were dropped"
        self.assertTrue(self.server.wait_for(lambda: any(dropped in line for line in self.logs.output), timeout=5))
        self.server.release.set()

        self.assertEqual(client._queue_len(), 0)

    def test_exposures_are_logged_once_per_user_experiment_and_variation(self) -> None:
        client = self.client(batch_size=100, flush_interval=30)

        variant = client.get_variant("checkout", "u1")
        self.assertIn(variant, ("control", "treatment"))
        self.assertEqual(client.get_variant("checkout", "u1"), variant)
        client.get_value("checkout-flag", "u1", "old")
        client.get_value("checkout-flag", "u1", "old")
        client.get_variant("checkout", "u2")
        client.get_variant("no-such-experiment", "u3")
        client.flush()

        exposures = [e for e in self.server.events() if e["type"] == "exposure"]
        self.assertEqual([(e["unitId"], e["experiment"]) for e in exposures], [("u1", "checkout"), ("u2", "checkout")])
        first = exposures[0]
        self.assertEqual(first["variation"], variant)
        self.assertEqual(first["hashAttribute"], "id")
        self.assertRegex(first["id"], r"^[0-9a-f]{32}$")
        self.assertNotIn("flag", first)
        self.assertTrue(all(re.fullmatch(r"[A-Za-z0-9_-]{8,64}", e["id"]) for e in exposures))

    def test_a_type_mismatch_serves_the_default_and_logs_no_exposure(self) -> None:
        client = self.client(batch_size=100, flush_interval=30)

        result = client.evaluate("checkout-flag", "u1", 5)

        self.assertEqual((result.value, result.reason, result.error_code), (5, Reason.ERROR, ErrorCode.TYPE_MISMATCH))
        self.assertEqual(client._queue_len(), 0, "the unit was served the default, not a variation")  # noqa: SLF001
        client.get_value("checkout-flag", "u1", "old")
        self.assertEqual(client._queue_len(), 1)  # noqa: SLF001

    def test_an_object_an_array_and_null_are_different_types_as_in_the_javascript_sdk(self) -> None:
        def serving(default: int) -> Client:
            ruleset = make_ruleset(1)
            ruleset["flags"]["limits"] = {"variations": [{"key": "o", "value": {"max": 3}}, {"key": "a", "value": [1, 2]},
                                                         {"key": "n", "value": None}], "default": default, "off": 0}
            return self.client(api_url=closed_port_url(), bootstrap=ruleset)

        as_array = serving(0).evaluate("limits", "u1", [])
        self.assertEqual((as_array.value, as_array.reason, as_array.error_code), ([], Reason.ERROR, ErrorCode.TYPE_MISMATCH))
        self.assertEqual(as_array.error_message, "flag serves an object, the default is an array")
        self.assertEqual(serving(0).get_value("limits", "u1", {"max": 0}), {"max": 3})
        self.assertEqual(serving(1).get_value("limits", "u1", {"max": 0}), {"max": 0})
        self.assertEqual(serving(1).get_value("limits", "u1", [0]), [1, 2])
        self.assertEqual(serving(2).get_value("limits", "u1", {"max": 0}), {"max": 0})
        self.assertIsNone(serving(2).get_value("limits", "u1", None))

    def test_exposures_carry_the_flat_attributes_less_private_ones(self) -> None:
        client = self.client(batch_size=100, flush_interval=30, private_attributes=["email"])

        client.get_variant("checkout", {"id": "u1", "country": "US", "age": 30, "beta": True, "email": "a@example.com",
                                        "nested": {"x": 1}, "long": "x" * 255, "nan": float("nan"), "huge": 10**400})
        client.get_value("checkout-flag", {"id": "u2", "attributes": {"plan": "pro"}}, "old")
        client.flush()
        quiet = self.client(batch_size=100, flush_interval=30, private_attributes=True)
        quiet.get_variant("checkout", {"id": "u3", "country": "US"})
        quiet.flush()

        exposures = {e["unitId"]: e for e in self.server.events() if e["type"] == "exposure"}
        self.assertEqual(exposures["u1"]["attributes"], {"country": "US", "age": 30, "beta": True})
        self.assertEqual(exposures["u2"]["attributes"], {"plan": "pro"})
        self.assertNotIn("attributes", exposures["u3"])

    def test_flush_says_false_when_the_api_refused_some_events_of_a_batch(self) -> None:
        client = self.client(batch_size=100, flush_interval=30)

        client.track_event("purchase", "u1")
        client.track_event("refused-by-api", "u1")
        refused = client.flush()
        client.track_event("purchase", "u2")
        clean = client.flush()

        self.assertEqual((refused, clean), (False, True))
        self.assertEqual(sorted(e["unitId"] for e in self.server.events() if e["type"] == "track"), ["u1", "u2"])
        self.assertTrue(any("the API rejected 1 events (INVALID_EVENT)" in line for line in self.logs.output))

    def test_refusals_and_drops_after_close_are_logged_once_not_per_batch_or_event(self) -> None:
        client = self.client(batch_size=1, flush_interval=30)
        with self.server.lock:
            self.server.event_responses.extend([(401, {})] * 3)

        for i in range(3):
            client.track_event("purchase", f"u{i}")
        client.flush()
        client.close()
        for i in range(3):
            client.get_variant("checkout", {"id": f"late-{i}"})

        logged = lambda level, text: len([line for line in self.logs.output if line.startswith(level) and text in line])  # noqa: E731
        self.assertEqual(logged("ERROR", "dropped: HTTP 401"), 1)
        self.assertEqual(logged("WARNING", "the client is closed"), 1)

    def test_a_private_attribute_given_as_a_string_is_one_name(self) -> None:
        client = self.client(batch_size=100, flush_interval=30, private_attributes="email")
        none = self.client(batch_size=100, flush_interval=30, private_attributes=None)

        client.get_variant("checkout", {"id": "u1", "attributes": {"email": "alice@example.com", "plan": "pro"}})
        client.flush()
        none.get_variant("checkout", {"id": "u2", "attributes": {"plan": "pro"}})
        none.flush()

        exposures = {e["unitId"]: e for e in self.server.events() if e["type"] == "exposure"}
        self.assertEqual(exposures["u1"]["attributes"], {"plan": "pro"})
        self.assertEqual(exposures["u2"]["attributes"], {"plan": "pro"})

    def test_an_exposure_dropped_from_a_full_queue_is_sent_at_the_next_evaluation(self) -> None:
        client = self.client(batch_size=100, flush_interval=30, max_queue_size=1)

        client.get_variant("checkout", {"id": "a"})
        client.get_variant("checkout", {"id": "b"})  # the queue is full: dropped
        client.flush()
        client.get_variant("checkout", {"id": "b"})
        client.flush()

        self.assertEqual(sorted(e["unitId"] for e in self.server.events() if e["type"] == "exposure"), ["a", "b"])

    def test_exposures_carry_the_attributes_the_javascript_sdk_sends_for_the_same_user(self) -> None:
        # The cases of the JavaScript SDK's exposure test (sdk/js/src/__tests__/events.test.ts), plus ids:
        # the unit id is the event's unitId, not one of its attributes, unless the caller put it there.
        client = self.client(batch_size=100, flush_interval=30, private_attributes=["email"])
        many = {f"a{i}": i for i in range(60)}

        client.get_variant("checkout", {"id": "u1", "attributes": {"country": "US", "age": 30, "beta": True, "email": "a@example.com",
                                                                   "nested": {"x": 1}, "list": [1], "nan": float("nan")}})
        client.get_value("checkout-flag", {"id": "u2", "attributes": {"plan": "pro"}}, "old")
        client.get_variant("checkout", {"id": "u3", "attributes": many})
        client.get_variant("checkout", {"id": "u4", "attributes": {"fits": "x" * 252, "long": "x" * 253}})
        client.get_variant("checkout", "u5")
        client.get_variant("checkout", 6)
        client.get_variant("checkout", {"attributes": {"id": "u7", "plan": "pro"}})
        client.get_variant("checkout", {"id": "u8", "plan": "pro"})
        # Lengths count UTF-16 code units, as JavaScript's: 126 emoji are 252 of them, 127 are 254.
        client.get_variant("checkout", {"id": "u9", "attributes": {"fits": "\U0001F600" * 126, "long": "\U0001F600" * 127}})
        client.flush()

        exposures = {e["unitId"]: e.get("attributes") for e in self.server.events() if e["type"] == "exposure"}
        self.assertEqual(exposures, {
            "u1": {"country": "US", "age": 30, "beta": True},
            "u2": {"plan": "pro"},
            "u3": {f"a{i}": i for i in range(16)},
            "u4": {"fits": "x" * 252},
            "u5": None,
            "6": None,
            "u7": {"id": "u7", "plan": "pro"},
            "u8": {"plan": "pro"},
            "u9": {"fits": "\U0001F600" * 126},
        })


if __name__ == "__main__":
    unittest.main()
