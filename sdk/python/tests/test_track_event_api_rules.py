"""track_event against the API's event rules (cloud/src/http/sdk/event-batch.ts, shared/src/model/event-check.ts), as the
JavaScript SDK's trackEvent applies them: an event the API would refuse as a whole is not sent, and a property it would
refuse is left out so the rest of the event survives."""

from __future__ import annotations

from typing import Any

from .test_client import ClientTestCase


def nested(levels: int) -> Any:
    """A value nesting `levels` lists ([1] is 1 level)."""
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


class TrackEventApiRulesTest(ClientTestCase):
    def sent(self, name: Any, user: Any = "u1", *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        client = self.client(batch_size=100, flush_interval=30)
        client.track_event(name, user, *args, **kwargs)
        client.flush(2)
        client.close(0.5)
        events = [e for e in self.server.events() if e["type"] == "track"]
        self.server.accepted.clear()
        return events

    def tracked(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        events = self.sent(*args, **kwargs)
        self.assertEqual(len(events), 1)
        return events[0]

    def warnings(self) -> str:
        return "\n".join(line for line in self.logs.output if line.startswith("WARNING"))

    def test_a_name_with_a_nul_drops_the_event_which_the_api_would_refuse(self) -> None:
        self.assertEqual(self.sent("bought\0"), [])
        self.assertIn("the name holds a NUL character, which the API refuses", self.warnings())

    def test_names_and_unit_ids_are_measured_and_fixed_as_the_api_reads_them(self) -> None:
        # 100 emoji are 200 UTF-16 code units, what the API (and JavaScript's length) counts.
        self.assertEqual(self.tracked("\U0001F600" * 100)["name"], "\U0001F600" * 100)
        self.assertEqual(self.sent("\U0001F600" * 101), [])
        # Unpaired surrogates, which the API refuses, as U+FFFD (JavaScript's toWellFormed).
        event = self.tracked("lone\ud800", "unit\udfff")
        self.assertEqual((event["name"], event["unitId"]), ("lone\ufffd", "unit\ufffd"))
        self.assertEqual(self.sent("bought", "u\0"), [])
        self.assertEqual(self.sent("bought", "\U0001F600" * 129), [])
        self.assertEqual(self.tracked("bought", "\U0001F600" * 128)["unitId"], "\U0001F600" * 128)

    def test_a_unit_id_the_api_refuses_is_warned_about_once_per_client_not_at_every_call(self) -> None:
        client = self.client(batch_size=100, flush_interval=30)
        for i in range(5):
            client.track_event("bought", "x" * 300)
            client.track_event("viewed", f"u{i}\0")
        client.track_event("bought", "u-ok")
        client.flush(2)
        client.close(0.5)
        self.assertEqual([e["unitId"] for e in self.server.events() if e["type"] == "track"], ["u-ok"])
        refused = [line for line in self.warnings().splitlines() if "the API cannot store its exposures and events" in line]
        self.assertEqual(len(refused), 1, self.warnings())
        self.assertIn("300 characters long (at most 256)", refused[0])

    def test_properties_that_are_not_a_mapping_send_the_event_without_them(self) -> None:
        for properties in ([1, 2], "sku", 5):
            with self.subTest(properties=properties):
                event = self.tracked("bought", "u1", properties, value=2)
                self.assertEqual((event["name"], event.get("value"), "properties" in event), ("bought", 2, False))
        self.assertIn("properties must be a mapping, got list; sent without them", self.warnings())

    def test_a_property_that_cannot_be_serialised_is_left_out_alone(self) -> None:
        cycle: list[Any] = []
        cycle.append(cycle)
        event = self.tracked("bought", "u1", {"sku": "A1", "callback": lambda: 1, "cycle": cycle, (1, 2): "tuple key", "n": 2})
        self.assertEqual(event["properties"], {"sku": "A1", "n": 2})
        self.assertIn("properties left out: \"callback\" (it is not serialisable", self.warnings())

    def test_a_property_the_api_would_refuse_is_left_out_and_surrogates_are_replaced(self) -> None:
        event = self.tracked("bought", "u1", {
            "nul": "a\0b", "nul-key": {"k\0": 1}, "nul-deep": [{"x": ["\0"]}], "x" * 201: 1, "deep": nested(33),
            "ok-deep": nested(32), "lone": "a\ud800b", "lone-key": {"\udc00": ["c\udbff"]}, "\ud800name": 1, 3: "int key", "y" * 200: 1,
        })
        self.assertEqual(event["properties"], {
            "ok-deep": nested(32), "lone": "a\ufffdb", "lone-key": {"\ufffd": ["c\ufffd"]}, "\ufffdname": 1, "3": "int key", "y" * 200: 1,
        })
        warned = self.warnings()
        for why in ('"nul" (a string holds a NUL character)', '"nul-key" (a key holds a NUL character)', '"nul-deep" (a string holds a NUL',
                    "(its name is longer than 200 characters)", '"deep" (nested more than 32 levels deep)'):
            self.assertIn(why, warned)

    def test_properties_too_large_for_the_event_are_still_left_out_together(self) -> None:
        event = self.tracked("bought", "u1", {"sku": "A1", "blob": "x" * 20_000}, value=3)
        self.assertEqual((event.get("value"), "properties" in event), (3, False))
        self.assertIn("properties too large (the event would exceed 16 KiB), sent without them", self.warnings())
