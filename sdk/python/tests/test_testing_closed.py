"""A closed test client takes no new configuration, as the JavaScript test client (sdk/js/src/testing.ts
checkOpen): set_flag, set_experiment, remove_flag and remove_experiment after close() raise, change
nothing served and call no listener."""

from __future__ import annotations

import unittest
from collections.abc import Callable
from typing import Any

from experimentation.testing import FakeClient, create_test_client

MESSAGE = r"^xp testing: {}\(\) after close\(\): a closed client takes no new flags or experiments \(create a new test client\)$"


class ClosedTestClientTest(unittest.TestCase):
    def closed_client(self) -> tuple[FakeClient, list[Any]]:
        heard: list[Any] = []
        client = create_test_client(flags={"feature": True}, experiments={"pricing-page": "treatment"},
                                    on_update=lambda version: heard.append(("update", version)),
                                    on_change=lambda keys: heard.append(("change", keys)))
        client.close()
        heard.clear()
        return client, heard

    def check_refused(self, method: str, call: Callable[[FakeClient], Any]) -> None:
        client, heard = self.closed_client()
        version = client.ruleset_version
        with self.assertRaisesRegex(RuntimeError, MESSAGE.format(method)):
            call(client)
        self.assertEqual(heard, [])
        self.assertEqual(client.ruleset_version, version)
        self.assertTrue(client.is_feature_enabled("feature", "u1"))
        self.assertEqual(client.get_variant("pricing-page", "u1"), "treatment")

    def test_set_flag_after_close_raises(self) -> None:
        self.check_refused("set_flag", lambda c: c.set_flag("feature", False))

    def test_set_experiment_after_close_raises(self) -> None:
        self.check_refused("set_experiment", lambda c: c.set_experiment("pricing-page", "control"))

    def test_remove_flag_after_close_raises(self) -> None:
        self.check_refused("remove_flag", lambda c: c.remove_flag("feature"))

    def test_remove_experiment_after_close_raises(self) -> None:
        self.check_refused("remove_experiment", lambda c: c.remove_experiment("pricing-page"))

    def test_removing_an_unknown_key_after_close_raises_too(self) -> None:
        # As the JavaScript client: the closed client is the mistake, whatever the key.
        self.check_refused("remove_flag", lambda c: c.remove_flag("nope"))
        self.check_refused("remove_experiment", lambda c: c.remove_experiment("nope"))

    def test_changes_before_close_still_apply(self) -> None:
        client = create_test_client(flags={"feature": True})
        client.set_flag("feature", False)
        self.assertFalse(client.is_feature_enabled("feature", "u1"))
        client.close()
        self.assertFalse(client.is_feature_enabled("feature", "u1"))


if __name__ == "__main__":
    unittest.main()
