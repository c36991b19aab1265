"""The exposure listener (`on_exposure`): what teams coming from GrowthBook's on_experiment_viewed, Statsig or
Optimizely forward to Segment, GA or a warehouse. Once per exposure logged, with the fields sent to xp, a copy of
its own, never able to break an evaluation."""

from __future__ import annotations

import gc
import threading
import unittest
import warnings
from typing import Any
from unittest import mock

from experimentation import Client
from experimentation import client as client_module
from experimentation.testing import create_test_client

from .fake_server import API_KEY, FakeServer, make_ruleset

NOW = 1_700_000_000_000
FAST: dict[str, Any] = {"timeout": 0.5, "streaming": False, "poll_interval": 0, "backoff_base": 0.01, "backoff_max": 0.05}


class ExposureListenerTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.enterContext(mock.patch.object(client_module, "_now_ms", return_value=NOW))

    def offline(self, **options: Any) -> Client:
        """An offline client (api_url=None) serving make_ruleset's flag `checkout-flag` over experiment `checkout`."""
        client = Client(API_KEY, None, bootstrap=make_ruleset(1), **options)
        self.addCleanup(client.close)
        return client


class OnExposureTest(ExposureListenerTestCase):
    def test_called_once_per_new_exposure_with_the_exposure_as_sent_on_an_offline_client(self) -> None:
        seen: list[dict[str, Any]] = []
        client = self.offline(on_exposure=seen.append)
        user = {"id": "u1", "attributes": {"plan": "pro", "nested": {"no": 1}}}

        variation = client.evaluate("checkout-flag", user).experiment.variation_key  # type: ignore[union-attr]
        client.evaluate("checkout-flag", user)
        client.get_value("checkout-flag", user, "x")
        # The same experiment, unit and variation by another path: the same exposure, de-duplicated.
        client.get_variant("checkout", user)

        self.assertIn(variation, ("control", "treatment"))
        self.assertEqual(seen, [{"unitId": "u1", "timestamp": NOW, "experiment": "checkout", "variation": variation,
                                 "hashAttribute": "id", "flag": "checkout-flag", "attributes": {"plan": "pro"}}])

        # Another unit, by a standalone assignment (no flag, no attributes): a new exposure.
        other = client.get_variant("checkout", "u2")
        self.assertEqual(seen[1:], [{"unitId": "u2", "timestamp": NOW, "experiment": "checkout", "variation": other, "hashAttribute": "id"}])

    def test_not_called_with_log_exposures_off_nor_outside_an_experiment(self) -> None:
        seen: list[dict[str, Any]] = []
        self.offline(log_exposures=False, on_exposure=seen.append).evaluate("checkout-flag", "u1")
        client = self.offline(on_exposure=seen.append)
        client.get_value("color", "u1", "red")
        client.get_value("missing", "u1", "x")
        # A type mismatch serves the default, not the variation: no exposure.
        client.get_value("checkout-flag", "u1", 0)
        self.assertEqual(seen, [])

    def test_each_listener_gets_a_copy_of_its_own_and_the_event_sent_is_unchanged(self) -> None:
        server = FakeServer()
        self.addCleanup(server.close)

        def tamper(exposure: dict[str, Any]) -> None:
            exposure["variation"] = "hacked"
            exposure["attributes"]["plan"] = "free"
        seen: list[dict[str, Any]] = []
        # Exposures only: the evaluation counts the client would send are not what this test is about.
        client = Client(API_KEY, server.url, **FAST, on_exposure=tamper, send_evaluation_counts=False)
        self.addCleanup(client.close, 0.5)
        client.on_exposure(seen.append)

        client.evaluate("checkout-flag", {"id": "u1", "plan": "pro"})
        self.assertTrue(client.flush(2))
        self.assertTrue(server.wait_for(lambda: len(server.events()) == 1))

        sent = server.events()[0]
        self.assertEqual(sent["type"], "exposure")
        self.assertIsInstance(sent["id"], str)
        # What a listener gets is exactly what was sent (less the event's id and type), whatever another listener did.
        self.assertEqual({k: v for k, v in sent.items() if k not in ("id", "type")}, seen[0])
        self.assertEqual((seen[0]["attributes"], sent["attributes"]), ({"plan": "pro"}, {"plan": "pro"}))
        self.assertNotEqual(sent["variation"], "hacked")

    def test_private_attributes_are_left_out_as_in_the_exposure_sent(self) -> None:
        some: list[dict[str, Any]] = []
        every: list[dict[str, Any]] = []
        user = {"id": "u1", "plan": "pro", "email": "a@example.com"}
        self.offline(private_attributes=["email"], on_exposure=some.append).evaluate("checkout-flag", user)
        self.offline(private_attributes=True, on_exposure=every.append).evaluate("checkout-flag", user)
        self.assertEqual(some[0]["attributes"], {"plan": "pro"})
        self.assertEqual(len(every), 1)
        self.assertNotIn("attributes", every[0])

    def test_a_raising_listener_never_breaks_evaluation_and_is_logged_once(self) -> None:
        seen: list[str] = []

        def broken(_exposure: dict[str, Any]) -> None:
            raise ConnectionError("segment is down")

        async def not_awaited(_exposure: dict[str, Any]) -> None:
            seen.append("coroutine ran")  # never: nothing awaits it
        client = self.offline(on_exposure=broken)
        client.on_exposure(not_awaited)
        client.on_exposure(lambda e: seen.append(e["unitId"]))

        with self.assertLogs("experimentation", "ERROR") as logs, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = [client.evaluate("checkout-flag", unit) for unit in ("u1", "u2", "u3")]
            variant = client.get_variant("checkout", "u4")
            gc.collect()

        for result in results:
            self.assertIsNone(result.error_code)
            self.assertIn(result.value, ("old", "new"))
        self.assertIn(variant, ("control", "treatment"))
        # The listeners after a broken one still get every exposure.
        self.assertEqual(seen, ["u1", "u2", "u3", "u4"])
        failures = [line for line in logs.output if "on_exposure listener" in line]
        # Four exposures, two broken listeners: one line each.
        self.assertEqual(len(failures), 2, logs.output)
        self.assertIn("raised ConnectionError", failures[0])
        self.assertIn("returned a coroutine", failures[1])
        self.assertEqual([w for w in caught if issubclass(w.category, RuntimeWarning)], [])

    def test_unsubscribe_stops_one_listener_and_the_others_go_on(self) -> None:
        client = self.offline()
        a: list[str] = []
        b: list[str] = []
        stop_a = client.on_exposure(lambda e: a.append(e["unitId"]))
        client.on_exposure(lambda e: b.append(e["unitId"]))
        client.get_variant("checkout", "u1")
        stop_a()
        stop_a()
        client.get_variant("checkout", "u2")
        self.assertEqual((a, b), (["u1"], ["u1", "u2"]))

    def test_not_called_after_close(self) -> None:
        seen: list[str] = []
        client = self.offline(on_exposure=lambda e: seen.append(e["unitId"]))
        client.get_variant("checkout", "u1")
        client.close()
        client.get_variant("checkout", "u2")
        self.assertEqual(seen, ["u1"])

    def test_a_listener_must_be_callable(self) -> None:
        with self.assertRaisesRegex(TypeError, "on_exposure must be callable or None, got str"):
            Client(API_KEY, None, on_exposure="track")  # type: ignore[arg-type]
        with self.assertRaisesRegex(TypeError, "on_exposure takes a callable, got int"):
            self.offline().on_exposure(5)  # type: ignore[arg-type]

    def test_thread_safe_each_exposure_reported_once_while_listeners_come_and_go(self) -> None:
        counted: list[str] = []
        lock = threading.Lock()

        def count(exposure: dict[str, Any]) -> None:
            with lock:
                counted.append(exposure["unitId"])
        client = self.offline(on_exposure=count)
        stop = threading.Event()

        def churn() -> None:
            while not stop.is_set():
                client.on_exposure(lambda _e: None)()

        def evaluate(worker: int) -> None:
            for i in range(300):
                for _ in range(2):
                    client.get_variant("checkout", f"w{worker}-u{i}")
        churner = threading.Thread(target=churn)
        churner.start()
        workers = [threading.Thread(target=evaluate, args=(w,)) for w in range(6)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        stop.set()
        churner.join()
        self.assertEqual(len(counted), 6 * 300)
        self.assertEqual(len(set(counted)), 6 * 300)


class TestClientExposureTest(ExposureListenerTestCase):
    def test_the_test_client_reports_what_exposures_records_again_after_reset(self) -> None:
        from_option: list[dict[str, Any]] = []
        from_method: list[dict[str, Any]] = []
        client = create_test_client(experiments={"checkout": "treatment"}, flags={"banner": True}, now=lambda: NOW,
                                    private_attributes=["email"], on_exposure=from_option.append)
        self.addCleanup(client.close)
        client.on_exposure(from_method.append)
        user = {"id": "u1", "attributes": {"plan": "pro", "email": "a@example.com"}}

        self.assertEqual(client.get_variant("checkout", user), "treatment")
        client.get_variant("checkout", user)
        client.get_value("banner", user, False)

        self.assertEqual(from_option, [{"unitId": "u1", "timestamp": NOW, "experiment": "checkout", "variation": "treatment",
                                        "hashAttribute": "id", "attributes": {"plan": "pro"}}])
        self.assertEqual(from_option, client.exposures)
        self.assertEqual(from_method, from_option)

        client.reset()
        client.get_variant("checkout", user)
        self.assertEqual(len(from_option), 2)


if __name__ == "__main__":
    unittest.main()
