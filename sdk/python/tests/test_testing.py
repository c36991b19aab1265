"""experimentation.testing: the test client serves configured values through the real evaluator and records events."""

from __future__ import annotations

import re
import threading
import unittest
import uuid
from pathlib import Path
from typing import Any

from experimentation import Client, ErrorCode, Reason, User, evaluate_flag
from experimentation.testing import FakeClient, UnknownKeyError, create_test_client

DOCS = Path(__file__).resolve().parents[3] / "docs" / "sdk-python.md"


class TestingTestCase(unittest.TestCase):
    def client(self, **kwargs: Any) -> FakeClient:
        client = create_test_client(**kwargs)
        self.addCleanup(client.close)
        return client


class CreateTest(TestingTestCase):
    def test_is_a_real_client_ready_at_once_without_network(self) -> None:
        client = self.client(flags={"new-nav": True})
        self.assertIsInstance(client, Client)
        self.assertTrue(client.ready)
        self.assertEqual(client.ruleset_version, 1)
        self.assertTrue(client.refresh())
        self.assertIn("api_url=None", repr(client))

    def test_flag_types_follow_the_value(self) -> None:
        client = self.client(flags={"new-nav": True, "off-flag": False, "checkout-button": "green", "limits": {"max": 5},
                                    "ids": [1, 2], "pair": (1, "a"), "max-items": 5, "ratio": 0.25})
        self.assertIs(client.get_value("new-nav", "u1", False), True)
        self.assertIs(client.get_value("off-flag", "u1", True), False)
        self.assertEqual(client.get_value("checkout-button", "u1", "grey"), "green")
        self.assertEqual(client.get_value("limits", "u1", {}), {"max": 5})
        self.assertEqual(client.get_value("ids", "u1", []), [1, 2])
        self.assertEqual(client.get_value("pair", "u1", []), [1, "a"])
        self.assertEqual(client.get_value("max-items", "u1", 0), 5)
        self.assertEqual(client.get_value("ratio", "u1", 0), 0.25)

    def test_a_bool_is_a_boolean_flag_never_a_number(self) -> None:
        client = self.client(flags={"new-nav": True, "count": 1})
        self.assertEqual(client.evaluate("new-nav", "u1", 0).error_code, ErrorCode.TYPE_MISMATCH)
        self.assertEqual(client.evaluate("count", "u1", False).error_code, ErrorCode.TYPE_MISMATCH)
        result = client.evaluate("new-nav", "u1", False)
        self.assertEqual((result.value, result.variation_key, result.reason), (True, "on", Reason.DEFAULT))
        self.assertEqual(client.evaluate("count", "u1", 0).variation_key, "value-0")

    def test_production_semantics_explain_truthiness_and_type_mismatch(self) -> None:
        client = self.client(flags={"checkout-button": "green", "empty": ""})
        explained = client.evaluate("checkout-button", "u1", "grey", explain=True)
        self.assertEqual((explained.value, explained.variation_key, explained.reason), ("green", "green", Reason.DEFAULT))
        self.assertIsNotNone(explained.trace)
        self.assertTrue(client.is_feature_enabled("checkout-button", "u1"))
        self.assertFalse(client.is_feature_enabled("empty", "u1"))
        mismatch = client.evaluate("checkout-button", "u1", 3)
        self.assertEqual((mismatch.value, mismatch.reason, mismatch.error_code), (3, Reason.ERROR, ErrorCode.TYPE_MISMATCH))
        missing = client.evaluate("nope", "u1", "x")
        self.assertEqual((missing.value, missing.reason), ("x", Reason.FLAG_NOT_FOUND))

    def test_values_are_copied(self) -> None:
        limits: dict[str, Any] = {"max": 5}
        client = self.client(flags={"limits": limits})
        limits["max"] = 6
        self.assertEqual(client.get_value("limits", "u1", {}), {"max": 5})

    def test_initial_values_call_no_listener_as_a_bootstrap(self) -> None:
        changes: list[list[str]] = []
        self.client(flags={"new-nav": True}, on_change=changes.append)
        self.assertEqual(changes, [])

    def test_no_background_thread_is_left_and_close_works(self) -> None:
        client = create_test_client(flags={"new-nav": True}, experiments={"pricing-page": "treatment"})
        client._updater.join(5)
        client._flusher.join(5)
        self.assertFalse(client._updater.is_alive() or client._flusher.is_alive())
        self.assertIsNone(client._timed_timer)
        client.get_variant("pricing-page", "u1")
        client.track_event("bought", "u1")
        self.assertTrue(client.flush())
        client.close()
        client.close()
        self.assertEqual([t for t in threading.enumerate() if t.name.startswith("xp-")], [])
        with self.assertLogs("experimentation", "WARNING") as logs:
            client.track_event("after-close", "u1")
        self.assertEqual([e["name"] for e in client.tracked_events], ["bought"])
        self.assertIn("the client is closed", logs.output[0])


class BadInputTest(TestingTestCase):
    def test_invalid_flag_keys_are_refused_by_the_platform_rules(self) -> None:
        for key in ["", "-nav", "new nav", "naïve", "a" * 129, "new/nav"]:
            with self.subTest(key=key), self.assertRaisesRegex(ValueError, "not a valid key"):
                create_test_client(flags={key: True})
        self.client(flags={"a" * 128: True, "A1_b.c-d": True})
        client = self.client()
        with self.assertRaisesRegex(ValueError, "not a valid key"):
            client.set_flag("bad key", True)
        with self.assertRaisesRegex(TypeError, "must be a str"):
            client.set_flag(5, True)  # type: ignore[arg-type]
        with self.assertRaisesRegex(ValueError, "not a valid key"):
            client.set_experiment("bad key", "control")

    def test_a_value_that_contains_itself_is_named_where_it_repeats(self) -> None:
        in_list: list[Any] = [1]
        in_list.append(in_list)
        in_dict: dict[str, Any] = {"a": {}}
        in_dict["a"]["b"] = in_dict
        with self.assertRaisesRegex(ValueError, r"^the value of flag 'x'\[1\] refers to itself \(a list inside itself\), which JSON cannot hold$"):
            create_test_client(flags={"x": in_list})
        with self.assertRaisesRegex(ValueError, r"^the value of flag 'x' for unit 'u7'\['a'\]\['b'\] refers to itself \(a dict inside itself\)"):
            create_test_client().set_flag("x", {}, units={"u7": in_dict})
        shared = [1]
        client = self.client(flags={"x": [shared, shared, {"k": shared}]})
        self.assertEqual(client.get_value("x", "u1", []), [[1], [1], {"k": [1]}], "the same list twice is not a cycle")

    def test_values_that_are_not_json_are_refused(self) -> None:
        recursive: list[Any] = []
        recursive.append(recursive)
        cases: list[tuple[Any, type[Exception], str]] = [
            ({1, 2}, TypeError, "set"),
            (object(), TypeError, "object"),
            (float("nan"), ValueError, "nan"),
            (float("inf"), ValueError, "inf"),
            ({"a": {2: "x"}}, TypeError, "keys must be str"),
            ({"a": [float("nan")]}, ValueError, r"\['a'\]\[0\]"),
            (recursive, ValueError, r"\[0\] refers to itself"),
        ]
        client = self.client(flags={"x": 1})
        for value, error, message in cases:
            with self.subTest(value=repr(value)[:40]):
                with self.assertRaisesRegex(error, message):
                    create_test_client(flags={"x": value})
                with self.assertRaisesRegex(error, message):
                    client.set_flag("x", value)
        self.assertEqual(client.get_value("x", "u1", 0), 1)
        self.assertEqual(client.ruleset_version, 1)

    def test_per_unit_values_must_have_the_flag_type(self) -> None:
        client = self.client()
        with self.assertRaisesRegex(TypeError, "'user-7' is a number, but the flag serves a boolean"):
            client.set_flag("new-nav", True, units={"user-7": 1})
        with self.assertRaisesRegex(TypeError, "is a boolean, but the flag serves a string"):
            client.set_flag("button", "red", units={"user-7": True})
        with self.assertRaisesRegex(TypeError, "set"):
            client.set_flag("button", "red", units={"user-7": {"x"}})
        with self.assertRaisesRegex(TypeError, "is JSON, but the flag serves a number"):
            client.set_flag("limit", 1, units={"user-7": None})
        client.set_flag("config", {"a": 1}, units={"user-7": [1], "user-8": None})
        self.assertEqual(client.get_value("config", "user-7", []), [1])
        self.assertIsNone(client.get_value("config", "user-8", None))

    def test_invalid_variation_names_and_unit_ids_are_refused(self) -> None:
        with self.assertRaisesRegex(ValueError, "not a valid variation key"):
            create_test_client(experiments={"pricing-page": "Treatment B"})
        with self.assertRaisesRegex(TypeError, "must be a str"):
            create_test_client(experiments={"pricing-page": 1})  # type: ignore[dict-item]
        client = self.client(experiments={"pricing-page": "control"})
        with self.assertRaisesRegex(ValueError, "for unit 'user-7', '', is not a valid variation key"):
            client.set_experiment("pricing-page", "control", units={"user-7": ""})
        with self.assertRaisesRegex(TypeError, "unit ids must be str, int or uuid.UUID"):
            client.set_flag("f", True, units={True: False})
        with self.assertRaisesRegex(TypeError, "unit ids must be"):
            client.set_flag("f", True, units={(1, 2): False})
        with self.assertRaisesRegex(ValueError, "not a usable unit id"):
            client.set_flag("f", True, units={"": False})
        with self.assertRaisesRegex(ValueError, "'42' given twice"):
            client.set_flag("f", True, units={42: False, "42": True})
        with self.assertRaisesRegex(TypeError, "units must be a mapping"):
            client.set_flag("f", True, units=["u1"])  # type: ignore[arg-type]
        with self.assertRaisesRegex(TypeError, "flags must be a mapping"):
            create_test_client(flags=[("a", True)])  # type: ignore[arg-type]
        with self.assertRaisesRegex(TypeError, "strict must be True or False"):
            create_test_client(strict="yes")  # type: ignore[arg-type]

    def test_a_configuration_the_ruleset_cannot_hold_is_refused_and_the_last_kept(self) -> None:
        client = self.client(flags={"limit": 1})
        with self.assertRaisesRegex(ValueError, "flag 'limit' cannot be served: .*variations"):
            client.set_flag("limit", 0, units={f"u{i}": i for i in range(1, 101)})
        self.assertEqual(client.get_value("limit", "u5", 0), 1)
        self.assertEqual(client.ruleset_version, 1)


class SetFlagTest(TestingTestCase):
    def test_set_flag_changes_the_value_and_the_version(self) -> None:
        client = self.client(flags={"new-nav": True})
        client.set_flag("new-nav", False)
        self.assertFalse(client.is_feature_enabled("new-nav", "u1"))
        self.assertEqual(client.evaluate("new-nav", "u1").variation_key, "off")
        self.assertEqual(client.ruleset_version, 2)
        client.set_flag("added", "x")
        self.assertEqual(client.get_value("added", "u1", ""), "x")

    def test_per_unit_values(self) -> None:
        client = self.client(flags={"checkout-button": "green"})
        client.set_flag("checkout-button", "blue", units={"user-7": "red", "user-8": "red", 42: "teal", "user-9": "blue"})
        self.assertEqual(client.get_value("checkout-button", "user-1", ""), "blue")
        seven = client.evaluate("checkout-button", {"id": "user-7", "attributes": {"plan": "pro"}}, "")
        self.assertEqual((seven.value, seven.variation_key, seven.reason, seven.rule_id), ("red", "red", Reason.TARGETING_MATCH, "unit-values-1"))
        self.assertEqual(client.get_value("checkout-button", {"attributes": {"id": "user-8"}}, ""), "red")
        self.assertEqual(client.evaluate("checkout-button", 42, "").rule_id, "unit-values-2")
        self.assertEqual(client.get_value("checkout-button", "42", ""), "teal")
        nine = client.evaluate("checkout-button", "user-9", "")
        # A unit given the value for everyone needs no rule.
        self.assertEqual((nine.value, nine.reason, nine.rule_id), ("blue", Reason.DEFAULT, None))
        # Replaced whole: the per-unit values go with the next set_flag.
        client.set_flag("checkout-button", "blue")
        self.assertEqual(client.get_value("checkout-button", "user-7", ""), "blue")

    def test_the_ruleset_mapping_the_javascript_sdk_shares(self) -> None:
        client = self.client()
        unit = uuid.UUID("12345678-1234-5678-1234-567812345678")
        client.set_flag("limit", 1, units={"u1": 2, "u2": 1.0, unit: 2.0, "u3": 3})
        client.set_flag("copy", "Hello world", units={"u1": "hi", "u2": "value-1", "u3": "value-7"})
        client.set_flag("enabled", True, units={"u1": False, "u2": True})
        client.set_flag("config", {"a": 1, "b": 2}, units={"u1": {"b": 2, "a": 1}, "u2": {"a": 1.0, "b": 2}, "u3": None})
        client.set_experiment("pricing-page", "treatment", units={"u1": "control", "u2": "treatment", "u3": "control"})
        document = client._ruleset.source if client._ruleset is not None else None
        assert document is not None
        self.assertEqual(document["flags"]["limit"], {
            "variations": [{"key": "value-0", "value": 1}, {"key": "value-1", "value": 2}, {"key": "value-2", "value": 3}],
            "default": 0, "off": 0,
            "rules": [{"id": "unit-values-1", "type": "force", "condition": {"id": {"$in": ["u1", str(unit)]}}, "variation": 1},
                      {"id": "unit-values-2", "type": "force", "condition": {"id": {"$in": ["u3"]}}, "variation": 2}]})
        self.assertEqual([v["key"] for v in document["flags"]["copy"]["variations"]], ["value-0", "hi", "value-2", "value-3"])
        self.assertEqual(document["flags"]["enabled"], {
            "variations": [{"key": "on", "value": True}, {"key": "off", "value": False}], "default": 0, "off": 0,
            "rules": [{"id": "unit-values-1", "type": "force", "condition": {"id": {"$in": ["u1"]}}, "variation": 1}]})
        # Key order counts, as in JSON.stringify; 1.0 is 1.
        self.assertEqual(document["flags"]["config"]["variations"], [
            {"key": "value-0", "value": {"a": 1, "b": 2}}, {"key": "value-1", "value": {"b": 2, "a": 1}}, {"key": "value-2", "value": None}])
        self.assertEqual([r["condition"]["id"]["$in"] for r in document["flags"]["config"]["rules"]], [["u1"], ["u3"]])
        self.assertEqual(document["experiments"]["pricing-page"], {
            "hashAttribute": "id", "seed": "pricing-page", "hashVersion": 2, "coverage": 1, "weights": [1, 0],
            "variations": [{"key": "treatment"}, {"key": "control"}], "sticky": {"bucketVersion": 6, "minBucketVersion": 0}})
        self.assertEqual(client.get_value("limit", unit, 0), 2)
        self.assertIsNone(client.get_value("config", "u3", None))
        # The document is a ruleset any evaluator takes.
        self.assertEqual(evaluate_flag(document, "copy", {"attributes": {"id": "u1"}}).value, "hi")

    def test_remove_flag(self) -> None:
        client = self.client(flags={"new-nav": True, "other": 1})
        self.assertTrue(client.remove_flag("new-nav"))
        result = client.evaluate("new-nav", "u1", False)
        self.assertEqual((result.value, result.reason), (False, Reason.FLAG_NOT_FOUND))
        self.assertEqual(client.get_value("other", "u1", 0), 1)
        self.assertEqual(client.ruleset_version, 2)
        self.assertFalse(client.remove_flag("new-nav"))
        self.assertEqual(client.ruleset_version, 2)

    def test_change_listeners_fire_as_for_a_ruleset_update(self) -> None:
        changes: list[list[str]] = []
        versions: list[int | None] = []
        client = self.client(flags={"new-nav": True, "other": "x"}, on_change=changes.append, on_update=versions.append)
        client.set_flag("new-nav", False)
        client.set_flag("new-nav", False)  # the same values: a new version, no change
        client.set_flag("added", 1)
        client.remove_flag("other")
        client.set_experiment("pricing-page", "control")
        self.assertEqual(changes, [["new-nav"], ["added"], ["other"], []])
        # The initial values are a bootstrap: on_update(1), no on_change.
        self.assertEqual(versions, [1, 2, 3, 4, 5, 6])


class ExperimentTest(TestingTestCase):
    def test_every_unit_gets_the_variation_with_an_exposure(self) -> None:
        client = self.client(experiments={"pricing-page": "treatment"})
        units: list[User] = ["u1", "u2", 7, {"id": "u3"}]
        for unit in units:
            self.assertEqual(client.get_variant("pricing-page", unit), "treatment")
        result = client.get_experiment("pricing-page", "u1")
        self.assertTrue(result.in_experiment)
        self.assertEqual([(e["experiment"], e["variation"], e["unitId"]) for e in client.exposures],
                         [("pricing-page", "treatment", u) for u in ["u1", "u2", "7", "u3"]])
        self.assertIsNone(client.get_variant("unknown", "u1"))

    def test_set_experiment_with_per_unit_variations(self) -> None:
        client = self.client(experiments={"pricing-page": "treatment"})
        self.assertEqual(client.get_variant("pricing-page", "user-7"), "treatment")
        client.set_experiment("pricing-page", "control", units={"user-7": "treatment", "user-8": "big-discount"})
        self.assertEqual(client.get_variant("pricing-page", "user-1"), "control")
        self.assertEqual(client.get_variant("pricing-page", "user-7"), "treatment")
        eight = client.get_experiment("pricing-page", "user-8")
        self.assertEqual((eight.in_experiment, eight.variation_key, eight.variation_index), (True, "big-discount", 2))
        # A unit's own variation, then everyone's again, follows each change (nothing stays sticky).
        client.set_experiment("pricing-page", "treatment", units={"user-1": "control"})
        self.assertEqual(client.get_variant("pricing-page", "user-1"), "control")
        self.assertEqual(client.get_variant("pricing-page", "user-7"), "treatment")
        self.assertEqual(client.get_variant("pricing-page", "user-8"), "treatment")
        client.set_experiment("pricing-page", "control")
        self.assertEqual(client.get_variant("pricing-page", "user-1"), "control")
        self.assertEqual(client.get_variant("pricing-page", "user-7"), "control")
        self.assertEqual([(e["unitId"], e["variation"]) for e in client.exposures], [
            ("user-7", "treatment"), ("user-1", "control"), ("user-8", "big-discount"),
            ("user-8", "treatment"), ("user-7", "control")])

    def test_remove_experiment(self) -> None:
        client = self.client(experiments={"pricing-page": "treatment"})
        client.set_experiment("pricing-page", "control", units={"u1": "treatment"})
        self.assertTrue(client.remove_experiment("pricing-page"))
        self.assertIsNone(client.get_variant("pricing-page", "u1"))
        self.assertFalse(client.remove_experiment("pricing-page"))
        client.set_experiment("pricing-page", "control")
        self.assertEqual(client.get_variant("pricing-page", "u1"), "control")

    def test_forced_variations_still_work_and_record_no_exposure(self) -> None:
        client = self.client(experiments={"pricing-page": "treatment"})
        client.set_experiment("pricing-page", "treatment", units={"u2": "control"})
        self.assertEqual(client.get_variant("pricing-page", {"id": "u1", "forced_variations": {"pricing-page": "control"}}), "control")
        self.assertEqual(client.exposures, [])


class RecordingTest(TestingTestCase):
    def test_tracked_events_as_they_would_be_sent(self) -> None:
        client = self.client()
        client.track_event("purchase_completed", {"id": "user-7", "attributes": {"plan": "pro"}}, {"sku": "A1"}, value=99.99)
        client.track_event("viewed", 42)
        with self.assertLogs("experimentation", "WARNING"):
            client.track_event("", "u1")  # refused by the client as in production: not recorded
        events = client.tracked_events
        self.assertEqual([(e["name"], e["unitId"], e.get("properties"), e.get("value")) for e in events],
                         [("purchase_completed", "user-7", {"sku": "A1"}, 99.99), ("viewed", "42", None, None)])
        self.assertEqual(sorted(events[0]), ["name", "properties", "timestamp", "unitId", "value"])
        self.assertTrue(all(isinstance(e["timestamp"], int) for e in events))
        events[0]["name"] = "changed"
        self.assertEqual(client.tracked_events[0]["name"], "purchase_completed")
        self.assertEqual(client.exposures, [])

    def test_events_a_real_client_drops_are_not_recorded(self) -> None:
        client = self.client()
        with self.assertLogs("experimentation", "WARNING"):
            client.track_event("big", "u1", {"blob": "x" * 20_000})
        # Sent without the properties that do not fit, as in production.
        self.assertEqual([("big", e.get("properties")) for e in client.tracked_events], [("big", None)])

    def test_exposures_carry_the_flag_and_attributes_and_are_deduplicated(self) -> None:
        client = self.client(experiments={"pricing-page": "treatment"}, private_attributes=["email"])
        user = {"id": "u1", "attributes": {"plan": "pro", "email": "a@example.com"}}
        client.get_variant("pricing-page", user)
        client.get_variant("pricing-page", user)
        [exposure] = client.exposures
        self.assertIsInstance(exposure.pop("timestamp"), int)
        self.assertEqual(exposure, {
            "unitId": "u1", "experiment": "pricing-page", "variation": "treatment",
            "hashAttribute": "id", "attributes": {"plan": "pro"}})

    def test_reset_clears_events_exposures_and_their_deduplication(self) -> None:
        client = self.client(experiments={"pricing-page": "treatment"})
        client.get_variant("pricing-page", "u1")
        client.track_event("bought", "u1")
        client.reset()
        self.assertEqual((client.tracked_events, client.exposures), ([], []))
        client.get_variant("pricing-page", "u1")
        self.assertEqual(len(client.exposures), 1)

    def test_log_exposures_false_records_none(self) -> None:
        client = self.client(experiments={"pricing-page": "treatment"}, log_exposures=False)
        self.assertEqual(client.get_variant("pricing-page", "u1"), "treatment")
        self.assertEqual(client.exposures, [])


class NowTest(TestingTestCase):
    def test_now_is_the_clock_of_recorded_event_and_exposure_timestamps_as_in_the_javascript_sdk(self) -> None:
        clock = [1_700_000_000_000.9]
        client = self.client(experiments={"pricing-page": "treatment"}, now=lambda: clock[0])
        client.track_event("viewed", "u1")
        clock[0] = 1_700_000_000_500
        client.get_variant("pricing-page", "u1")
        clock[0] = -5.0  # as the JavaScript SDK's timestamp(): whole milliseconds, never below 0
        client.track_event("bought", "u1", value=3)
        self.assertEqual([(e["name"], e["timestamp"]) for e in client.tracked_events], [("viewed", 1_700_000_000_000), ("bought", 0)])
        self.assertEqual([e["timestamp"] for e in client.exposures], [1_700_000_000_500])
        self.assertIsInstance(client.tracked_events[0]["timestamp"], int)

    def test_now_that_is_not_callable_is_refused(self) -> None:
        with self.assertRaisesRegex(TypeError, r"^now must be a callable returning the current time in epoch milliseconds, got int$"):
            create_test_client(now=1_700_000_000_000)  # type: ignore[arg-type]

    def test_a_clock_returning_something_else_than_a_number_is_logged_and_the_event_not_recorded(self) -> None:
        client = self.client(flags={"limit": 5}, now=lambda: "noon")  # type: ignore[arg-type, return-value]
        with self.assertLogs("experimentation", "ERROR") as logs:
            client.track_event("viewed", "u1")
            self.assertEqual(client.get_value("limit", "u1", 0), 5, "evaluations still serve, at the current time")
        self.assertEqual(client.tracked_events, [])
        self.assertIn("now() must return the current time as a finite number of epoch milliseconds, got 'noon'", "\n".join(logs.output))


class SharedValuesTest(TestingTestCase):
    def test_a_value_changed_in_place_does_not_change_the_configuration(self) -> None:
        client = self.client(flags={"limits": {"max": 5, "tags": ["a"]}})
        served = client.get_value("limits", "u1", {})
        served["max"] = 1
        served["tags"].append("z")
        # As in production, the ruleset's own object: the next evaluation sees the change ...
        self.assertEqual(client.get_value("limits", "u2", {}), {"max": 1, "tags": ["a", "z"]})
        # ... but the configuration does not: the next ruleset serves what was set.
        client.set_flag("other", True)
        self.assertEqual(client.get_value("limits", "u2", {}), {"max": 5, "tags": ["a"]})

    def test_reset_serves_again_the_values_configured_when_one_was_changed_in_place(self) -> None:
        updates: list[int | None] = []
        client = self.client(flags={"limits": {"max": 5}, "ids": [1, 2]}, on_update=updates.append)
        client.set_flag("ids", [1, 2], units={"u7": [7]})
        client.reset()
        self.assertEqual((client.ruleset_version, updates), (2, [1, 2]), "nothing changed: no new ruleset")
        client.get_value("limits", "u1", {})["max"] = 1
        client.get_value("ids", "u7", [])[0] = object()  # not even JSON any more
        client.reset()
        self.assertEqual((client.get_value("limits", "u1", {}), client.get_value("ids", "u7", []), client.get_value("ids", "u1", [])),
                         ({"max": 5}, [7], [1, 2]))
        self.assertEqual((client.ruleset_version, updates), (3, [1, 2, 3]))


class StrictTest(TestingTestCase):
    def test_strict_raises_for_keys_not_configured_with_a_suggestion(self) -> None:
        client = self.client(flags={"new-nav": True, "checkout-button": "green"}, experiments={"pricing-page": "control"}, strict=True)
        with self.assertRaises(UnknownKeyError) as raised:
            client.is_feature_enabled("New-nav2", "u1")
        self.assertEqual(str(raised.exception), 'flag "New-nav2" is not configured in this strict test client '
                                                '(did you mean "new-nav"?); configured flags: "checkout-button", "new-nav"')
        self.assertIsInstance(raised.exception, LookupError)
        self.assertEqual((raised.exception.kind, raised.exception.key, raised.exception.configured),
                         ("flag", "New-nav2", ["checkout-button", "new-nav"]))
        for call in (lambda: client.get_value("zzz", "u1", 0), lambda: client.evaluate("zzz", "u1")):
            with self.assertRaisesRegex(UnknownKeyError, r'^flag "zzz" is not configured in this strict test client; configured flags: "checkout-button", "new-nav"$'):
                call()
        with self.assertRaisesRegex(UnknownKeyError, 'experiment "pricing-pag" .*did you mean "pricing-page"'):
            client.get_variant("pricing-pag", "u1")
        with self.assertRaisesRegex(UnknownKeyError, 'experiment "pricing"'):
            client.get_experiment("pricing", "u1")
        with self.assertRaisesRegex(UnknownKeyError, r'flag "pricing-page" .* \("pricing-page" is configured as an experiment\)'):
            client.get_value("pricing-page", "u1", "")
        with self.assertRaisesRegex(UnknownKeyError, r'\("new-nav" is configured as a flag\)'):
            client.get_variant("new-nav", "u1")
        self.assertTrue(client.is_feature_enabled("new-nav", "u1"))
        client.remove_flag("new-nav")
        with self.assertRaisesRegex(UnknownKeyError, r'configured flags: "checkout-button"$'):
            client.is_feature_enabled("new-nav", "u1")
        client.set_flag("new-nav", True)
        self.assertTrue(client.is_feature_enabled("new-nav", "u1"))

    def test_strict_with_nothing_configured(self) -> None:
        client = self.client(strict=True)
        with self.assertRaisesRegex(UnknownKeyError, r"configured flags: \(none\)$"):
            client.get_value("x", "u1", 1)


class ThreadSafetyTest(TestingTestCase):
    def test_set_flag_during_evaluations(self) -> None:
        client = self.client(flags={"limit": 0}, experiments={"pricing-page": "a"})
        stop = threading.Event()
        problems: list[str] = []

        def evaluate() -> None:
            while not stop.is_set():
                result = client.evaluate("limit", "user-7", 0)
                # Either everyone's value or the unit's own, of one setting: never an error or a mix.
                if result.error_code is not None or not (result.value == 0 or result.value % 2 == 0):
                    problems.append(repr(result))
                variant = client.get_variant("pricing-page", "user-7")
                if variant is None or not (variant == "a" or variant.startswith("unit-")):
                    problems.append(repr(variant))

        threads = [threading.Thread(target=evaluate) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            for i in range(1, 301):
                client.set_flag("limit", 2 * i, units={"user-7": 4 * i})
                client.set_experiment("pricing-page", "a", units={"user-7": f"unit-{i}"})
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        self.assertEqual(problems, [])
        self.assertEqual(client.ruleset_version, 601)
        self.assertEqual(client.get_value("limit", "user-7", 0), 1200)
        self.assertEqual(client.get_variant("pricing-page", "user-7"), "unit-300")

    def test_concurrent_setters_lose_no_change(self) -> None:
        client = self.client()

        def set_many(n: int) -> None:
            for i in range(50):
                client.set_flag(f"flag-{n}-{i}", i)

        threads = [threading.Thread(target=set_many, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        self.assertEqual(client.ruleset_version, 201)
        self.assertEqual(sum(client.get_value(f"flag-{n}-{i}", "u", -1) for n in range(4) for i in range(50)), 4 * sum(range(50)))


class DocsExampleTest(unittest.TestCase):
    def test_the_docs_main_example_runs_and_passes(self) -> None:
        text = DOCS.read_text(encoding="utf-8")
        section = text[text.index("## Testing code that uses flags"):]
        match = re.search(r"```python\n(.*?)```", section, re.S)
        assert match is not None
        namespace: dict[str, Any] = {"__name__": "docs_example"}
        exec(compile(match.group(1), str(DOCS), "exec"), namespace)
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(namespace["CheckoutPageTest"])
        self.assertEqual(suite.countTestCases(), 3)
        result = unittest.TestResult()
        suite.run(result)
        self.assertEqual((result.failures, result.errors), ([], []))
        self.assertEqual(result.testsRun, 3)


if __name__ == "__main__":
    unittest.main()
