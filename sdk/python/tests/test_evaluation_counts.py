"""Flag evaluation counts: the `evaluations` records the client sends at each flush (the JavaScript SDK's
evaluation-counts.test.ts asserts the same records for the shared scenario)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from unittest import mock

from experimentation import Client
from experimentation import _evaluation_counts
from experimentation._evaluation_counts import APP_NAME_MESSAGE, APP_NAME_PATTERN, MAX_EVALUATION_PAIRS
from experimentation.testing import create_test_client

from .fake_server import API_KEY, FIXTURES, make_ruleset
from .test_client import FAST, ClientTestCase

T0 = 1_765_100_000_000
# The API's rule for a record's `app`, which _evaluation_counts restates.
EVENT_CHECK = Path(__file__).resolve().parents[3] / "shared" / "src" / "model" / "event-check.ts"

with open(FIXTURES / "evaluation-counts-scenario.json", encoding="utf-8") as f:
    SCENARIO: dict[str, Any] = json.load(f)


def run(client: Client, calls: list[dict[str, Any]]) -> None:
    for step in calls:
        for _ in range(step.get("times", 1)):
            flag, user = step["flag"], step["user"]
            if step["call"] == "getValue":
                client.get_value(flag, user, step["default"])
            elif step["call"] == "isFeatureEnabled":
                client.is_feature_enabled(flag, user)
            elif step["call"] == "evaluate":
                client.evaluate(flag, user, step["default"])
            elif step["call"] == "explain":
                client.evaluate(flag, user, step["default"], explain=True)
            elif step["call"] == "getVariant":
                client.get_variant(flag, user)
            else:
                raise AssertionError(f"unknown call {step['call']}")


def pairs(counter: Any) -> int:
    """The distinct (flag, variation) pairs a counter holds."""
    return sum(len(by_variation) for by_variation in counter.window.values())


class Clock:
    """A pinned clock for the records' start and timestamp (epoch ms)."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class EvaluationCountsTest(ClientTestCase):
    def records(self) -> list[dict[str, Any]]:
        """The evaluations records the server accepted, each checked against the wire contract's rules."""
        out = [e for e in self.server.events() if e["type"] == "evaluations"]
        for r in out:
            self.assertEqual(set(r) - {"app"}, {"id", "type", "start", "timestamp", "counts"})
            if "app" in r:
                self.assertRegex(r["app"], r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
            self.assertRegex(r["id"], r"^[A-Za-z0-9_-]{8,64}$")
            self.assertTrue(r["start"] <= r["timestamp"] <= r["start"] + 3_600_000)
            self.assertTrue(1 <= len(r["counts"]) <= 100)
            self.assertLessEqual(len(json.dumps(r, separators=(",", ":")).encode("utf-8")), 16 * 1024)
            pairs = [(c["flag"], c["variation"]) for c in r["counts"]]
            self.assertEqual(len(pairs), len(set(pairs)), "each pair at most once")
            for c in r["counts"]:
                self.assertEqual(set(c), {"flag", "variation", "count"})
                self.assertTrue(1 <= len(c["flag"]) <= 200 and "\0" not in c["flag"])
                self.assertTrue(isinstance(c["count"], int) and 1 <= c["count"] <= 1_000_000_000)
        return out

    def counts(self) -> list[dict[str, Any]]:
        return [c for r in self.records() for c in r["counts"]]

    def pin_clock(self, now: int) -> Clock:
        clock = Clock(now)
        self.enterContext(mock.patch.object(_evaluation_counts, "_now_ms", clock))
        return clock

    def test_sends_the_shared_scenarios_counts_as_the_javascript_sdk_does(self) -> None:
        clock = self.pin_clock(T0)
        self.server.set_ruleset(SCENARIO["ruleset"])
        client = self.client(flush_interval=30)

        run(client, SCENARIO["calls"])
        clock.now = T0 + 10_000
        self.assertTrue(client.flush(2))

        records = self.records()
        self.assertEqual(len(records), 1)
        self.assertEqual((records[0]["start"], records[0]["timestamp"]), (T0, T0 + 10_000))
        self.assertEqual(records[0]["counts"], SCENARIO["expected"])
        # What the fixture says, spelled out: explain, get_variant and the prerequisite inside `gated` do not count.
        self.assertEqual(records[0]["counts"], [
            {"flag": "checkout", "variation": "off", "count": 4},
            {"flag": "color", "variation": "c", "count": 1},
            {"flag": "color", "variation": None, "count": 1},
            {"flag": "missing", "variation": None, "count": 2},
            {"flag": "gated", "variation": "closed", "count": 2},
        ])
        # The get_variant exposure still goes as before.
        self.assertEqual([e["experiment"] for e in self.server.events() if e["type"] == "exposure"], ["exp-ab"])
        # No application named: no `app`.
        self.assertNotIn("app", records[0])

    def test_names_the_application_in_every_record_with_app_name_as_the_javascript_sdk_does(self) -> None:
        clock = self.pin_clock(T0)
        self.server.set_ruleset(SCENARIO["ruleset"])
        client = self.client(flush_interval=30, app_name=SCENARIO["app"]["appName"])

        run(client, SCENARIO["app"]["calls"])
        client.get_variant("exp-ab", "u1")
        client.track_event("buy", "u1")
        clock.now = T0 + 10_000
        self.assertTrue(client.flush(2))

        records = self.records()
        self.assertEqual([{k: v for k, v in r.items() if k != "id"} for r in records],
                         [{**SCENARIO["app"]["expected"], "start": T0, "timestamp": T0 + 10_000}])
        # What the fixture says, spelled out.
        self.assertEqual(records[0]["app"], "checkout-api")
        # Exposures and tracked events do not carry it.
        self.assertEqual([(e["type"], "app" in e) for e in self.server.events() if e["type"] != "evaluations"],
                         [("exposure", False), ("track", False)])

    def test_names_the_application_in_every_record_of_a_window_split_in_several_and_closed_early(self) -> None:
        client = self.client(flush_interval=30, app_name="web-shop")

        for i in range(MAX_EVALUATION_PAIRS + 1):
            client.get_value(f"made-up-{i}", "u1", False)
        self.assertTrue(client.flush(5))

        records = self.records()
        self.assertEqual(len(records), 11)
        self.assertEqual({r.get("app") for r in records}, {"web-shop"})

    def test_accepts_the_shared_scenarios_valid_app_names(self) -> None:
        for app_name in SCENARIO["app"]["validAppNames"]:
            with self.subTest(app_name=app_name):
                client = Client(API_KEY, None, bootstrap=make_ruleset(1), app_name=app_name)
                self.addCleanup(client.close)
                self.assertTrue(client.is_feature_enabled("feature", "u1"))

    def test_drops_an_invalid_app_name_with_one_warning_and_the_client_serves_and_counts_under_no_application(self) -> None:
        # A counting label from config (an empty SERVICE_NAME, "payments/refunds", a trailing newline) must not
        # stop a service from starting nor switch off its flags: as the JavaScript SDK, one warning naming the
        # option, the value (escaped, cut after 100 characters) and the rule; the client works without it.
        invalid: list[tuple[Any, str]] = [
            *((name, repr(name)) for name in SCENARIO["app"]["invalidAppNames"]),
            ("x" * 150, repr("x" * 100 + "…")), (42, "42"), (False, "False"), (["web"], "a list"), (10**5000, "an int"),
        ]
        for app_name, got in invalid:
            with self.subTest(got=got):
                with self.assertLogs("experimentation", "WARNING") as logs:
                    client = self.client(app_name=app_name)
                    value = client.get_value("feature", "u1", False)
                    self.assertTrue(client.flush(2))
                self.assertEqual([r.getMessage() for r in logs.records],
                                 [f"app_name {APP_NAME_MESSAGE}, got {got}: ignored, the client's evaluation counts name no application"])
                self.assertNotIn("\n", logs.records[0].getMessage())
                self.assertTrue(client.ready)
                self.assertIs(value, True)
        # Every client counted its evaluation, in a record that names no application.
        self.assertEqual([(r["counts"], "app" in r) for r in self.records()],
                         [([{"flag": "feature", "variation": "on", "count": 1}], False)] * len(invalid))

    def test_drops_an_invalid_app_name_offline_too_with_the_same_warning(self) -> None:
        with self.assertLogs("experimentation", "WARNING") as logs:
            client = Client(API_KEY, None, bootstrap=make_ruleset(1), app_name="web shop")
        self.addCleanup(client.close)
        self.assertEqual([r.getMessage() for r in logs.records],
                         [f"app_name {APP_NAME_MESSAGE}, got 'web shop': ignored, the client's evaluation counts name no application"])
        self.assertTrue(client.is_feature_enabled("feature", "u1"))

    def test_the_app_name_rule_is_the_apis(self) -> None:
        source = EVENT_CHECK.read_text(encoding="utf-8")
        pattern = re.search(r"export const APP_NAME_PATTERN = /\^(.*)\$/;", source)
        message = re.search(r"export const APP_NAME_MESSAGE = '(.*)';", source)
        assert pattern is not None and message is not None
        self.assertEqual(APP_NAME_PATTERN.pattern, pattern.group(1))
        self.assertEqual(APP_NAME_MESSAGE, message.group(1))

    def test_splits_a_window_into_records_of_at_most_100_pairs_each_with_its_own_id(self) -> None:
        client = self.client(flush_interval=30)

        for i in range(250):
            client.get_value(f"made-up-{i}", "u1", False)
        client.get_value("made-up-7", "u2", False)
        self.assertTrue(client.flush(2))

        records = self.records()
        self.assertEqual([len(r["counts"]) for r in records], [100, 100, 50])
        self.assertEqual(len({r["id"] for r in records}), 3)
        self.assertEqual(self.counts(), [{"flag": f"made-up-{i}", "variation": None, "count": 2 if i == 7 else 1} for i in range(250)])

    def test_splits_by_size_too_so_long_keys_never_make_a_record_over_16_kib_with_the_longest_app_name(self) -> None:
        client = self.client(flush_interval=30, app_name="a" * 64)
        keys = [f"{i:03d}" + "k" * 197 for i in range(100)]

        for key in keys:
            client.is_feature_enabled(key, "u1")
        self.assertTrue(client.flush(2))

        self.assertEqual([r["app"] for r in self.records()], ["a" * 64] * 2)
        self.assertEqual([c["flag"] for c in self.counts()], keys)

    def test_starts_a_new_window_at_each_flush_and_sends_nothing_when_nothing_was_evaluated(self) -> None:
        clock = self.pin_clock(T0)
        client = self.client(flush_interval=30)

        self.assertTrue(client.flush(2))
        self.assertEqual(self.server.requests_to("/sdk/v1/events"), [])

        client.get_value("feature", "u1", False)
        client.get_value("feature", "u1", False)
        clock.now = T0 + 5_000
        self.assertTrue(client.flush(2))
        clock.now = T0 + 7_000
        self.assertTrue(client.flush(2))
        self.assertEqual(len(self.server.requests_to("/sdk/v1/events")), 1)

        clock.now = T0 + 8_000
        client.get_value("color", "u1", "x")
        client.get_value("feature", "u1", False)
        clock.now = T0 + 9_000
        self.assertTrue(client.flush(2))

        self.assertEqual([{k: v for k, v in r.items() if k != "id"} for r in self.records()], [
            {"type": "evaluations", "start": T0, "timestamp": T0 + 5_000, "counts": [{"flag": "feature", "variation": "on", "count": 2}]},
            {"type": "evaluations", "start": T0 + 8_000, "timestamp": T0 + 9_000, "counts": [
                {"flag": "color", "variation": "blue", "count": 1}, {"flag": "feature", "variation": "on", "count": 1}]},
        ])

    def test_the_flusher_closes_the_window_at_its_interval(self) -> None:
        client = self.client(flush_interval=0.2)

        client.is_feature_enabled("feature", "u1")

        self.assertTrue(self.server.wait_for(lambda: any(e["type"] == "evaluations" for e in self.server.events())))
        self.assertEqual(self.counts(), [{"flag": "feature", "variation": "on", "count": 1}])

    def test_a_full_batch_sent_at_once_leaves_the_window_open_so_a_busy_client_sends_a_record_per_interval(self) -> None:
        client = self.client(flush_interval=30, batch_size=3)

        client.get_value("feature", "u1", False)
        for i in range(6):
            client.track_event("click", f"u{i}")
        self.assertTrue(self.server.wait_for(lambda: len(self.server.events()) == 6))
        client.get_value("feature", "u1", False)
        self.assertTrue(client.flush(2))

        self.assertEqual([e["type"] for e in self.server.events()[:6]], ["track"] * 6)
        self.assertEqual(self.counts(), [{"flag": "feature", "variation": "on", "count": 2}])

    def test_close_sends_the_last_window_and_nothing_is_counted_after_it(self) -> None:
        client = self.client(flush_interval=30)

        client.get_value("feature", "u1", False)
        client.close(2)
        client.get_value("feature", "u1", False)
        client.close(2)

        self.assertEqual(self.counts(), [{"flag": "feature", "variation": "on", "count": 1}])

    def test_sends_none_with_send_evaluation_counts_false(self) -> None:
        client = self.client(flush_interval=30, send_evaluation_counts=False)

        client.get_value("feature", "u1", False)
        client.evaluate("checkout-flag", "u1")
        client.track_event("buy", "u1")
        self.assertTrue(client.flush(2))

        self.assertEqual(sorted(e["type"] for e in self.server.events()), ["exposure", "track"])

    def test_an_offline_client_and_the_test_client_keep_no_counts(self) -> None:
        offline = Client(API_KEY, None, bootstrap=make_ruleset(1))
        self.addCleanup(offline.close)
        fake = create_test_client(flags={"feature": True})
        self.addCleanup(fake.close)

        for client in (offline, fake):
            client.get_value("feature", "u1", False)
            client.flush(1)
            self.assertIsNone(client._evaluation_counts)

    def test_a_full_queue_drops_evaluation_counts_before_exposures_and_events_and_says_so_once(self) -> None:
        client = self.client(flush_interval=30, max_queue_size=3)
        # Refused with a Retry-After longer than flush()'s budget: each flush() below makes one attempt.
        self.server.event_responses.extend([(503, {"Retry-After": "60"})] * 3)

        client.track_event("a", "u1")
        client.track_event("b", "u1")
        client.get_value("feature", "u1", False)
        self.assertFalse(client.flush(1))
        # The record waits behind the two events for the API to come back.
        self.assertEqual(client._queue_len(), 3)
        client.track_event("c", "u1")
        client.get_value("color", "u1", "x")
        self.assertFalse(client.flush(1))
        client.get_value("color", "u1", "x")
        self.assertFalse(client.flush(1))
        self.server.event_responses.clear()
        self.assertTrue(client.flush(2))

        self.assertEqual([e.get("name") for e in self.server.events()], ["a", "b", "c"])
        warned = [line for line in self.logs.output if line.startswith("WARNING") and "evaluation counts" in line]
        self.assertEqual(len(warned), 1, warned)

    def test_closes_a_window_early_at_1000_pairs_instead_of_dropping_any_so_1100_pairs_evaluated_3_times_count_3_each(self) -> None:
        client = self.client(flush_interval=30)

        for _ in range(3):
            for i in range(1099):
                client.get_value(f"input-{i}", "u1", False)
            # A defined flag evaluated after the made-up keys: dropping by call order lost it every window.
            client.get_value("feature", "u1", False)
        self.assertTrue(client.flush(5))

        totals: dict[tuple[str, Any], int] = {}
        for c in self.counts():
            pair = (c["flag"], c["variation"])
            totals[pair] = totals.get(pair, 0) + c["count"]
        self.assertEqual(len(totals), 1100)
        self.assertEqual(set(totals.values()), {3})
        self.assertEqual(totals[("feature", "on")], 3)
        # Windows of 1000, 1000, 1000 and 300 pairs.
        self.assertEqual(len(self.counts()), 3300)
        warned = [line for line in self.logs.output if line.startswith("WARNING") and "distinct (flag, variation) pairs" in line]
        self.assertEqual(len(warned), 1, warned)
        self.assertIn(f"{MAX_EVALUATION_PAIRS} distinct (flag, variation) pairs of 1000 distinct flag keys", warned[0])
        self.assertIn("flag keys made from input?", warned[0])
        self.assertEqual(len([line for line in self.logs.output if line.startswith("DEBUG") and "distinct (flag, variation) pairs" in line]), 2)

    def test_never_holds_more_than_1000_pairs_and_10000_made_up_keys_leave_in_records_as_they_come_each_counted(self) -> None:
        client = self.client(flush_interval=30)
        counter = client._evaluation_counts
        assert counter is not None

        most = 0
        for i in range(10_000):
            client.is_feature_enabled(f"made-up-{i}", "u1")
            most = max(most, pairs(counter))
        # Closed windows were queued (and sent) before the flush: only the last one is left.
        self.assertEqual(pairs(counter), MAX_EVALUATION_PAIRS)
        self.assertTrue(client.flush(5))

        self.assertEqual(most, MAX_EVALUATION_PAIRS)
        self.assertEqual(pairs(counter), 0)
        counts = self.counts()
        self.assertEqual(len(counts), 10_000)
        self.assertEqual(len({c["flag"] for c in counts}), 10_000)
        self.assertTrue(all(c["count"] == 1 and c["variation"] is None for c in counts))

    def test_a_full_queue_drops_the_records_of_windows_closed_early_before_exposures_and_events_and_says_so_once(self) -> None:
        client = self.client(flush_interval=30, max_queue_size=5)
        # Refused with a Retry-After longer than the test: the flusher's send fails once, then waits.
        self.server.event_responses.extend([(503, {"Retry-After": "60"})] * 3)

        client.track_event("a", "u1")
        client.track_event("b", "u1")
        for i in range(MAX_EVALUATION_PAIRS + 1):
            client.get_value(f"input-{i}", "u1", False)
        # The window closed at the 1,001st pair, before any flush: 10 records, 7 of them beyond the queue's 5.
        self.assertEqual(client._dropped, 7)
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to("/sdk/v1/events")) == 1))
        self.assertTrue(self.server.wait_for(lambda: client._queue_len() == 5))
        for i in range(MAX_EVALUATION_PAIRS):
            client.get_value(f"more-{i}", "u1", False)
        self.assertEqual(client._dropped, 17)
        self.assertEqual(client._queue_len(), 5)
        self.server.event_responses.clear()
        client.flush(2)

        self.assertEqual([e.get("name") for e in self.server.events() if e["type"] == "track"], ["a", "b"])
        warned = [line for line in self.logs.output if line.startswith("WARNING") and "dropping evaluation counts first" in line]
        self.assertEqual(len(warned), 1, warned)

    def test_leaves_out_keys_the_api_refuses_and_sends_unpaired_surrogates_as_replacement_characters(self) -> None:
        client = self.client(flush_interval=30)

        for key in ("", "x" * 201, "a\0b", "half\ud800", "half\udbff", "x" * 200, "\U0001F600" * 100, "\U0001F600" * 101):
            client.get_value(key, "u1", False)
        # Not a string: not counted, and no failure.
        client.get_value(["not", "a", "key"], "u1", False)  # type: ignore[arg-type]
        self.assertTrue(client.flush(2))

        self.assertEqual(self.counts(), [
            {"flag": "half\ufffd", "variation": None, "count": 2},
            {"flag": "x" * 200, "variation": None, "count": 1},
            # 200 UTF-16 code units, as the API counts them.
            {"flag": "\U0001F600" * 100, "variation": None, "count": 1},
        ])

    def test_dates_a_window_left_open_past_an_hour_to_its_last_hour_and_one_across_a_clock_set_back_to_its_end(self) -> None:
        clock = self.pin_clock(T0)
        client = self.client(flush_interval=30)

        client.get_value("feature", "u1", False)
        clock.now = T0 + 3 * 3_600_000
        self.assertTrue(client.flush(2))
        client.get_value("feature", "u1", False)
        clock.now = T0
        self.assertTrue(client.flush(2))

        self.assertEqual([(r["start"], r["timestamp"]) for r in self.records()], [(T0 + 2 * 3_600_000, T0 + 3 * 3_600_000), (T0, T0)])
