"""Exposures lost to a full queue, Python values as attributes and event values, `serverOnly`
snapshots, option validation and log messages (the findings of the exploratory test of the SDK)."""

from __future__ import annotations

import copy
import enum
import json
import logging
import time
import unittest
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

from experimentation import Client, ErrorCode, Reason, evaluate_flag
from experimentation.jsvalue import iso_instant, to_json_value

from .fake_server import API_KEY, make_ruleset
from .test_client import FAST, ClientTestCase, closed_port_url


def ruleset_with(flags: dict[str, Any]) -> dict[str, Any]:
    doc = make_ruleset(1)
    doc["flags"].update(flags)
    return doc


def forced_when(condition: dict[str, Any]) -> dict[str, Any]:
    """A flag serving "yes" when the condition holds, else "no"."""
    return {"variations": [{"key": "no", "value": "no"}, {"key": "yes", "value": "yes"}], "default": 0, "off": 0,
            "rules": [{"id": "r", "type": "force", "variation": 1, "condition": condition}]}


class Plan(enum.Enum):
    PRO = "pro"
    NESTED = {"tier": Decimal("3")}


class Level(enum.IntEnum):
    HIGH = 7


class QueueOverflowTest(ClientTestCase):
    def exposed_units(self) -> list[str]:
        return sorted(e["unitId"] for e in self.server.events() if e["type"] == "exposure")

    def test_exposures_dropped_while_the_events_endpoint_fails_are_sent_once_when_units_are_evaluated_again(self) -> None:
        # The first batch stalls, then fails (503): it goes back to the head of a queue filled meanwhile,
        # and the newest events are trimmed. Those units, and the ones refused by the full queue, must be
        # exposed again at their next evaluation, and every unit exactly once.
        self.server.stall_seconds = 0.5
        self.server.event_responses.append((-503, {}))
        client = self.client(timeout=2, batch_size=5, max_queue_size=10, flush_interval=30)

        for i in range(5):
            client.get_variant("checkout", f"u{i}")
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to("/sdk/v1/events", "POST")) == 1))
        for i in range(5, 20):
            client.get_variant("checkout", f"u{i}")  # u15..u19: the queue is full
        # The failed batch is retried and the queue drained: u0..u9 (u10..u14 were trimmed).
        self.assertTrue(self.server.wait_for(lambda: len(self.exposed_units()) == 10, timeout=5))
        self.assertEqual(self.exposed_units(), sorted(f"u{i}" for i in range(10)))

        for i in range(20):
            client.get_variant("checkout", f"u{i}")
        first = client.flush(5)
        for i in range(20):
            client.get_variant("checkout", f"u{i}")
        second = client.flush(5)

        self.assertEqual(self.exposed_units(), sorted(f"u{i}" for i in range(20)), "every unit exactly once")
        self.assertEqual((first, second), (False, True), "flush() says events were dropped since the previous flush()")
        warnings = [line for line in self.logs.output if line.startswith("WARNING") and "dropped" in line or "queue is full" in line]
        self.assertEqual(len([w for w in warnings if "queue is full (max_queue_size 10)" in w]), 1, warnings)
        self.assertEqual(len([w for w in warnings if "10 events were dropped" in w]), 1, warnings)

    def test_exposures_of_a_batch_refused_for_the_key_are_sent_again_but_not_those_refused_as_invalid(self) -> None:
        client = self.client(batch_size=100, flush_interval=30)
        self.server.event_responses.append((401, {}))
        client.get_variant("checkout", "a")
        self.assertFalse(client.flush(2))
        client.get_variant("checkout", "a")
        self.assertTrue(client.flush(2))

        self.server.event_responses.append((400, {}))
        client.get_variant("checkout", "b")
        self.assertFalse(client.flush(2))
        client.get_variant("checkout", "b")
        self.assertTrue(client.flush(2))

        self.assertEqual(self.exposed_units(), ["a"], "a batch refused as invalid would be refused again: not resent")
        self.assertTrue(any(line.startswith("ERROR") and "HTTP 401 (the SDK key was refused" in line for line in self.logs.output))

    def test_events_left_at_close_forget_their_exposures(self) -> None:
        client = self.client(api_url=closed_port_url(), bootstrap=make_ruleset(1), batch_size=100, flush_interval=30)
        client.get_variant("checkout", "a")
        self.assertEqual(len(client._exposures), 1)  # noqa: SLF001
        client.close(0.1)
        self.assertEqual(len(client._exposures), 0)  # noqa: SLF001


class AttributeTypesTest(unittest.TestCase):
    def evaluate(self, condition: dict[str, Any], attributes: dict[str, Any]) -> Any:
        doc = ruleset_with({"f": forced_when(condition)})
        return evaluate_flag(doc, "f", {"attributes": {"id": "u1", **attributes}}).value

    def test_datetimes_compare_as_their_javascript_iso_string(self) -> None:
        rule = {"signupDate": {"$gte": "2026-01-01T00:00:00Z"}}
        utc = timezone.utc
        self.assertEqual(self.evaluate(rule, {"signupDate": datetime(2025, 12, 31, 23, 0, tzinfo=utc)}), "no")
        self.assertEqual(self.evaluate(rule, {"signupDate": datetime(2026, 6, 1, tzinfo=utc)}), "yes")
        # 01:00 in UTC+02:00 is still 2025 in UTC.
        self.assertEqual(self.evaluate(rule, {"signupDate": datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=2)))}), "no")
        self.assertEqual(self.evaluate({"d": {"$lt": "2026-01-01"}}, {"d": date(2025, 12, 31)}), "yes")
        # The exact instant of the threshold, and one with milliseconds after it (compared to the second).
        self.assertEqual(self.evaluate(rule, {"signupDate": datetime(2026, 1, 1, tzinfo=utc)}), "yes")
        self.assertEqual(self.evaluate(rule, {"signupDate": datetime(2025, 12, 31, 23, 59, 59, 999000, tzinfo=utc)}), "no")
        self.assertEqual(self.evaluate({"d": "2025-12-31"}, {"d": date(2025, 12, 31)}), "yes")
        explained = evaluate_flag(ruleset_with({"f": forced_when(rule)}), "f",
                                  {"attributes": {"signupDate": datetime(2025, 12, 31, 23, 0, tzinfo=utc)}}, explain=True)
        self.assertIn('signupDate is "2025-12-31T23:00:00Z"', str(explained.trace[0].detail if explained.trace else ""))

    def test_iso_instant_is_javascript_to_iso_string(self) -> None:
        # The right-hand sides are what node prints for new Date(<the same instant>).toISOString().
        self.assertEqual(iso_instant(datetime(2026, 1, 1)), "2026-01-01T00:00:00.000Z", "naive is UTC")
        self.assertEqual(iso_instant(datetime(2026, 1, 1, 1, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))), "2025-12-31T23:30:00.123Z")
        self.assertEqual(iso_instant(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))), "0000-12-31T19:00:00.000Z")
        self.assertEqual(iso_instant(datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))), "+010000-01-01T04:00:00.000Z")

    def test_decimals_uuids_enums_and_nested_values_are_converted_and_bools_stay_bools(self) -> None:
        self.assertEqual(self.evaluate({"ltv": {"$gt": 100}}, {"ltv": Decimal("150")}), "yes")
        self.assertEqual(self.evaluate({"ltv": {"$gt": 100}}, {"ltv": Decimal("NaN")}), "no")
        self.assertEqual(self.evaluate({"ltv": {"$gt": 100}}, {"ltv": Fraction(301, 2)}), "yes")
        u = uuid.UUID("12345678-1234-5678-1234-567812345678")
        self.assertEqual(self.evaluate({"org": {"$in": [str(u)]}}, {"org": u}), "yes")
        self.assertEqual(self.evaluate({"plan": "pro"}, {"plan": Plan.PRO}), "yes")
        self.assertEqual(self.evaluate({"level": {"$eq": 7}}, {"level": Level.HIGH}), "yes")
        self.assertEqual(self.evaluate({"p.tier": {"$gte": 3}}, {"p": Plan.NESTED}), "yes")
        self.assertEqual(self.evaluate({"company.since": {"$lt": "2020"}}, {"company": {"since": date(2019, 5, 1)}}), "yes")
        self.assertEqual(self.evaluate({"dates": {"$elemMatch": {"$gt": "2026"}}}, {"dates": (date(2025, 1, 1), datetime(2026, 3, 1))}), "yes")
        self.assertEqual(self.evaluate({"beta": {"$eq": True}}, {"beta": True}), "yes")
        self.assertEqual(self.evaluate({"beta": {"$eq": 1}}, {"beta": True}), "no", "a bool is not the number 1")
        self.assertIs(to_json_value(True), True)
        plain = {"a": 1, "b": [1, "x", None], "c": {"d": 2.5}}
        self.assertIs(to_json_value(plain), plain, "JSON values are not copied")


class AttributeTypesClientTest(ClientTestCase):
    def test_a_uuid_id_buckets_and_is_exposed_as_its_string(self) -> None:
        client = self.client(batch_size=100, flush_interval=30)
        ids = [uuid.UUID(int=i * 7919 + 1) for i in range(40)]
        for u in ids:
            self.assertEqual(client.get_variant("checkout", {"id": u}), client.get_variant("checkout", str(u)))
            self.assertEqual(client.get_variant("checkout", u), client.get_variant("checkout", str(u)))
            self.assertIsNotNone(client.get_variant("checkout", u))
        self.assertEqual({client.get_variant("checkout", u) for u in ids}, {"control", "treatment"})
        client.track_event("purchase", {"id": ids[0]})
        self.assertTrue(client.flush(2))
        events = self.server.events()
        self.assertEqual(sorted(e["unitId"] for e in events if e["type"] == "exposure"), sorted(str(u) for u in ids))
        self.assertEqual([e["unitId"] for e in events if e["type"] == "track"], [str(ids[0])])

    def test_a_huge_int_id_is_javascripts_infinity_without_an_error_log(self) -> None:
        client = self.client(bootstrap=ruleset_with({"big": forced_when({"n": {"$gt": 1e308}})}), api_url=closed_port_url())
        huge = client.evaluate("checkout-flag", 10**400, "old")
        infinite = client.evaluate("checkout-flag", float("inf"), "old")  # type: ignore[arg-type]
        self.assertEqual((huge.reason, huge.error_code), (infinite.reason, infinite.error_code))
        self.assertEqual(huge.error_code, ErrorCode.TYPE_MISMATCH)
        self.assertEqual(client.evaluate("checkout-flag", {"id": -(10**400)}, "old").error_code, ErrorCode.TYPE_MISMATCH)
        self.assertEqual(client.get_value("big", {"id": "u1", "n": 10**400}, "x"), "yes")
        client.track_event("purchase", 10**400)
        client.track_event("purchase", "u1", value=10**400)
        self.assertFalse([line for line in self.logs.output if line.startswith("ERROR")])


class TrackEventValuesTest(ClientTestCase):
    def sent(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        client = self.client(batch_size=100, flush_interval=30)
        client.track_event("purchase", "u1", *args, **kwargs)
        client.flush(2)
        client.close(0.5)
        events = [e for e in self.server.events() if e["type"] == "track"]
        self.server.accepted.clear()
        return events

    def tracked(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        events = self.sent(*args, **kwargs)
        self.assertEqual(len(events), 1)
        return events[0]

    def test_decimal_and_other_real_values_are_numbers(self) -> None:
        self.assertEqual(self.tracked({"sku": "A1"}, value=Decimal("9.99"))["value"], 9.99)
        self.assertEqual(self.tracked(value=Fraction(1, 4))["value"], 0.25)
        self.assertEqual(self.sent(value=Decimal("NaN")), [], "not finite: dropped, as a NaN float is")

    def test_non_finite_properties_are_sent_as_null_as_json_stringify_does(self) -> None:
        event = self.tracked({"sku": "A1", "ratio": float("nan"), "deep": {"x": [1, float("inf")], "d": Decimal("-Infinity")}})
        self.assertEqual(event["properties"], {"sku": "A1", "ratio": None, "deep": {"x": [1, None], "d": None}})

    def test_a_value_that_is_not_a_number_is_a_property_as_in_the_javascript_sdk(self) -> None:
        event = self.tracked({"sku": "A1"}, value=True)
        self.assertEqual((event.get("value"), event["properties"]), (None, {"sku": "A1", "value": True}))
        event = self.tracked(value="5")
        self.assertEqual((event.get("value"), event["properties"]), (None, {"value": "5"}))

    def test_a_number_under_value_in_the_properties_is_the_event_value_as_in_the_javascript_sdk(self) -> None:
        # JavaScript: trackEvent("purchase", user, { value: 99.99, sku: "A1" }).
        event = self.tracked({"value": 99.99, "sku": "A1"})
        self.assertEqual((event["value"], event["properties"]), (99.99, {"sku": "A1"}))
        event = self.tracked({"value": "99.99"})
        self.assertEqual((event.get("value"), event["properties"]), (None, {"value": "99.99"}))
        event = self.tracked({"value": 1, "sku": "A1"}, value=2)
        self.assertEqual((event["value"], event["properties"]), (2, {"value": 1, "sku": "A1"}), "value= wins")
        self.assertNotIn("properties", self.tracked({"value": 5}))

    def test_datetimes_and_other_python_values_in_properties_are_serialised_not_dropped(self) -> None:
        u = uuid.UUID(int=1)
        event = self.tracked({"at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "day": date(2026, 1, 2), "sku": "A1",
                              "price": Decimal("9.99"), "order": u, "plan": Plan.PRO, "list": [Decimal("1")]})
        self.assertEqual(event["properties"], {"at": "2026-01-02T03:04:05.000Z", "day": "2026-01-02", "sku": "A1",
                                               "price": 9.99, "order": str(u), "plan": "pro", "list": [1.0]})
        event = self.tracked({"sku": "A1", "thing": object()})
        self.assertEqual(event["properties"], {"sku": "A1"}, "what is still not JSON is left out, the other properties and the event are kept")


class ServerOnlySnapshotTest(ClientTestCase):
    def snapshot(self) -> dict[str, Any]:
        # What the JavaScript SDK's getSnapshot({ includeServerOnly: true }) writes: the document with its
        # `serverOnly` field (sdk/js/src/client.ts: { ...rs.document, serverOnly: rs.serverOnly }).
        doc = make_ruleset(7)
        doc["serverOnly"] = {"flags": ["color"], "experiments": ["checkout"]}
        return doc

    def test_a_javascript_snapshot_with_server_only_keys_is_served_whole(self) -> None:
        for bootstrap in (self.snapshot(), json.dumps(self.snapshot())):
            client = self.client(api_url=closed_port_url(), bootstrap=bootstrap)
            self.assertEqual(client.ruleset_version, 7)
            self.assertEqual(client.get_value("color", "u1", "x"), "blue", "a server SDK evaluates server-only flags")
            self.assertIsNotNone(client.get_variant("checkout", "u1"))
        self.assertFalse([line for line in self.logs.output if "rejected" in line])
        self.assertEqual(evaluate_flag(self.snapshot(), "feature", {"attributes": {"id": "u1"}}).value, True)

    def test_a_malformed_server_only_field_or_ruleset_is_rejected_naming_the_field(self) -> None:
        doc = self.snapshot()
        doc["serverOnly"] = {"flags": "color"}
        client = self.client(api_url=closed_port_url(), bootstrap=doc)
        self.assertFalse(client.ready)
        bad = copy.deepcopy(make_ruleset(1))
        bad["schemaVersion"] = 2
        self.client(api_url=closed_port_url(), bootstrap=bad)
        rejected = [line for line in self.logs.output if "rejected" in line]
        self.assertEqual(len(rejected), 2, rejected)
        self.assertIn("ruleset.serverOnly.flags: expected an array of strings", rejected[0])
        self.assertIn("ruleset.schemaVersion", rejected[1])


class OptionsTest(unittest.TestCase):
    def setUp(self) -> None:
        self.enterContext(self.assertLogs("experimentation", level="DEBUG"))
        logging.getLogger("experimentation").debug("test start")

    def test_bad_options_raise_naming_the_option(self) -> None:
        cases: list[tuple[dict[str, Any], type[Exception], str]] = [
            ({"timeout": 0}, ValueError, "timeout"),
            ({"timeout": -1}, ValueError, "timeout"),
            ({"timeout": float("nan")}, ValueError, "timeout"),
            ({"timeout": "5"}, TypeError, "timeout"),
            ({"backoff_base": 0}, ValueError, "backoff_base"),
            ({"backoff_max": 0.5, "backoff_base": 1}, ValueError, "backoff_max"),
            ({"poll_interval": "30"}, TypeError, "poll_interval"),
            ({"poll_interval": 0.01}, ValueError, "poll_interval"),
            ({"poll_interval": -1}, ValueError, "poll_interval"),
            ({"flush_interval": 0}, ValueError, "flush_interval"),
            ({"stream_idle_timeout": 0}, ValueError, "stream_idle_timeout"),
            ({"stream_retry_max": 0}, ValueError, "stream_retry_max"),
            ({"batch_size": 0}, ValueError, "batch_size"),
            ({"batch_size": 10.5}, TypeError, "batch_size"),
            ({"max_queue_size": 0}, ValueError, "max_queue_size"),
            ({"max_queue_size": True}, TypeError, "max_queue_size"),
            ({"exposure_cache_size": -1}, ValueError, "exposure_cache_size"),
            ({"on_change": "not callable"}, TypeError, "on_change"),
            ({"sticky_bucket_store": object()}, TypeError, "sticky_bucket_store"),
            ({"private_attributes": 5}, TypeError, "private_attributes"),
        ]
        for options, error, name in cases:
            with self.subTest(options=options), self.assertRaisesRegex(error, name):
                Client(api_key=API_KEY, api_url=closed_port_url(), wait_for_ruleset=False, **options)

    def test_good_edge_values_are_accepted(self) -> None:
        for options in ({"poll_interval": 0}, {"poll_interval": None}, {"poll_interval": 1}, {"batch_size": 10_000},
                        {"exposure_cache_size": 0}, {"timeout": Decimal("0.5")}):
            with self.subTest(options=options):
                Client(api_key=API_KEY, api_url=closed_port_url(), **{**FAST, **options}).close(0.1)


class KeyAndUrlLogsTest(ClientTestCase):
    def test_a_refused_key_is_named_once_and_the_key_never_logged(self) -> None:
        client = Client(api_key="xpk_wrong_key_abcdef", api_url=self.server.url, **FAST)
        self.addCleanup(client.close, 0.5)
        for _ in range(3):
            client.refresh()
        refused = [line for line in self.logs.output if "SDK key was refused" in line]
        self.assertEqual([line.split(":")[0] for line in refused], ["WARNING", "DEBUG", "DEBUG", "DEBUG"])
        self.assertFalse([line for line in self.logs.output if "xpk_wrong_key_abcdef" in line])

    def test_an_api_url_ending_with_sdk_v1_gets_a_hint(self) -> None:
        self.client(api_url=self.server.url + "/sdk/v1")
        self.assertTrue(any(line.startswith("WARNING") and "api_url ends with /sdk/v1" in line for line in self.logs.output))
        self.client(api_url=self.server.url + "/other")
        self.assertFalse(any("/other" in line for line in self.logs.output))


if __name__ == "__main__":
    unittest.main()


class OfflineTest(ClientTestCase):
    def test_without_an_api_url_the_client_serves_its_bootstrap_and_sends_nothing(self) -> None:
        started = time.monotonic()
        client = self.client(api_url=None, bootstrap=make_ruleset(3), wait_for_ruleset=True)
        self.assertLess(time.monotonic() - started, 1.0, "an offline client waits for nothing")
        self.assertEqual((client.ruleset_version, client.ready), (3, True))
        self.assertEqual(client.get_value("color", "u1", "x"), "blue")
        self.assertIsNotNone(client.get_variant("checkout", "u1"))
        client.track_event("purchase", "u1", value=5)
        self.assertTrue(client.refresh())
        self.assertTrue(client.flush(0.5))
        client.close(0.5)
        self.assertEqual(self.server.requests, [], "no request reaches any server")
        self.assertIn("api_url=None", repr(client))

    def test_without_an_api_url_or_bootstrap_every_flag_serves_its_default(self) -> None:
        client = self.client(api_url=None)
        self.assertEqual((client.ready, client.get_value("color", "u1", "fallback")), (False, "fallback"))
        self.assertEqual(self.server.requests, [])
