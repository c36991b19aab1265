"""on_change when a ramp step or a rule's active window takes effect, with no new ruleset (short real timers:
the client has no injectable clock)."""

from __future__ import annotations

import threading
import time
import unittest
from typing import Any

from experimentation._changes import flags_changed_between, next_timed_change

from .test_client import ClientTestCase

ON_OFF = [{"key": "off", "value": False}, {"key": "on", "value": True}]


def rollout(schedule: list[list[float]], coverage: float = 0) -> dict[str, Any]:
    return {"id": "r", "type": "rollout", "variation": 1, "coverage": coverage, "schedule": schedule, "hashAttribute": "id", "seed": "ramp", "hashVersion": 2}


def timed_ruleset(version: int, t: int, **flags: Any) -> dict[str, Any]:
    """`ramp` reaches 100% at t+300 ms, `window` serves `on` from t+600 ms, `dependent` needs `ramp` on, `plain` is not timed."""
    return {
        "schemaVersion": 1,
        "environment": "production",
        "version": version,
        "flags": {
            "ramp": {"variations": ON_OFF, "default": 0, "off": 0, "rules": [rollout([[t + 300, 1]])]},
            "window": {"variations": ON_OFF, "default": 0, "off": 0, "rules": [{"id": "w", "type": "force", "variation": 1, "from": t + 600}]},
            "dependent": {"variations": ON_OFF, "default": 1, "off": 0, "prerequisites": [{"flag": "ramp", "variation": "on"}]},
            "plain": {"variations": ON_OFF, "default": 0, "off": 0},
            **flags,
        },
    }


def now_ms() -> int:
    return int(time.time() * 1000)


class Recorder:
    def __init__(self) -> None:
        self.changes: list[list[str]] = []
        self._cond = threading.Condition()

    def __call__(self, flags: list[str]) -> None:
        with self._cond:
            self.changes.append(flags)
            self._cond.notify_all()

    def wait_for(self, n: int, timeout: float = 3) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.changes) >= n, timeout)


class TimedChangesTest(ClientTestCase):
    def test_on_change_fires_when_a_ramp_step_or_a_window_takes_effect(self) -> None:
        seen = Recorder()
        client = self.client(api_url=None, bootstrap=timed_ruleset(1, now_ms()), on_change=seen)
        self.assertFalse(client.get_value("ramp", "u1", False))

        self.assertTrue(seen.wait_for(1))
        # The flag whose prerequisite is the ramped one may evaluate differently too.
        self.assertEqual(seen.changes, [["dependent", "ramp"]])
        self.assertEqual([client.get_value("ramp", "u1", False), client.get_value("dependent", "u1", False)], [True, True])
        self.assertTrue(seen.wait_for(2))
        self.assertEqual(seen.changes, [["dependent", "ramp"], ["window"]])
        self.assertTrue(client.get_value("window", "u1", False))

    def test_close_cancels_the_timer(self) -> None:
        seen = Recorder()
        client = self.client(api_url=None, bootstrap=timed_ruleset(1, now_ms() + 5000), on_change=seen)
        timers = [t for t in threading.enumerate() if t.name == "xp-timed-rules"]
        self.assertEqual(len(timers), 1)
        client.close(0.5)

        timers[0].join(0.5)
        self.assertFalse(timers[0].is_alive())
        self.assertEqual(seen.changes, [])

    def test_a_new_ruleset_replaces_the_timer(self) -> None:
        # Steps a little later than in the other tests: the client starts and refreshes before the first.
        t = now_ms() + 700
        self.server.set_ruleset(timed_ruleset(1, t))
        seen = Recorder()
        client = self.client(on_change=seen)
        self.assertTrue(seen.wait_for(1))
        # The ramp's step is gone; `plain` gets one at t+800 ms and the window stays.
        self.server.set_ruleset(timed_ruleset(2, t, ramp={"variations": ON_OFF, "default": 0, "off": 0, "rules": [rollout([])]},
                                              plain={"variations": ON_OFF, "default": 0, "off": 0, "rules": [rollout([[t + 800, 1]])]}))
        self.assertTrue(client.refresh())

        self.assertTrue(seen.wait_for(4))
        self.assertEqual(seen.changes[1:], [["dependent", "plain", "ramp"], ["window"], ["plain"]])


class TimedInstantsTest(unittest.TestCase):
    def test_the_instants_a_rule_changes_what_it_serves_and_the_flags_it_changes(self) -> None:
        doc = timed_ruleset(1, 0)
        self.assertEqual(next_timed_change(doc, 0), 300)
        self.assertEqual(next_timed_change(doc, 300), 600)
        self.assertIsNone(next_timed_change(doc, 600))
        self.assertEqual(flags_changed_between(doc, 0, 299), [])
        self.assertEqual(flags_changed_between(doc, 0, 600), ["dependent", "ramp", "window"])

    def test_a_step_keeping_the_coverage_and_entries_that_are_not_timed_rules_are_skipped(self) -> None:
        doc = {"flags": {"keep": {"rules": [rollout([[100, 0.5], [200, 0.5]], 0.5)]}, "broken": {"rules": "nope"}, "nothing": None}}
        self.assertIsNone(next_timed_change(doc, 0))


if __name__ == "__main__":
    unittest.main()
