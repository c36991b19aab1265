"""A sticky experiment (a bandit's split moves while it runs) served to a client without a sticky_bucket_store is
warned about once per client and experiment, as in the JavaScript SDK (sdk/js/src/__tests__/sticky-warning.test.ts)."""

from __future__ import annotations

import unittest
from typing import Any

from experimentation import Client, InMemoryStickyBucketStore

from .fake_server import make_ruleset
from .test_client import ClientTestCase


def sticky_ruleset(version: int, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """make_ruleset at `version` with experiment `checkout` and the `extra` ones sticky, as a bandit's are."""
    ruleset = make_ruleset(version)
    base = ruleset["experiments"]["checkout"]
    base["sticky"] = {"bucketVersion": 1, "minBucketVersion": 0}
    for key in extra:
        ruleset["experiments"][key] = {**base, "seed": key}
    return ruleset


class StickyWithoutStoreTest(ClientTestCase):
    def _run(self, first: dict[str, Any], second: dict[str, Any], **options: Any) -> Client:
        """A client bootstrapped with `first` that then loads `second` from the API (two rulesets installed)."""
        self.server.set_ruleset(second)
        # Requests bounded by seconds, not FAST's 0.2: on a loaded machine a first fetch timed out is not polled again.
        client = self.client(bootstrap=first, timeout=5, **options)
        self.assertTrue(self.server.wait_for(lambda: client.ruleset_version == second["version"], timeout=10))
        return client

    def _warnings(self) -> list[str]:
        return [line for line in self.logs.output if "sticky bucketing" in line]

    def test_a_sticky_experiment_is_warned_about_once_naming_it_and_what_to_do(self) -> None:
        client = self._run(sticky_ruleset(1), sticky_ruleset(2))
        client.get_variant("checkout", "u1")

        self.assertEqual(self._warnings(), [
            'WARNING:experimentation:experiment "checkout" uses sticky bucketing (its split may move while it runs, e.g. a '
            "bandit); this client has no sticky_bucket_store, so its units would be assigned again by the new split: pass one "
            "(InMemoryStickyBucketStore, or a shared store with get and set methods, e.g. on Redis, across processes)",
        ])

    def test_ruleset_updates_warn_only_about_experiments_newly_sticky(self) -> None:
        client = self._run(sticky_ruleset(1), sticky_ruleset(2))
        for ruleset in (sticky_ruleset(3), sticky_ruleset(4, ("bandit-b", "bandit-c")), sticky_ruleset(5, ("bandit-b", "bandit-c"))):
            self.server.set_ruleset(ruleset)
            client.refresh()
            self.assertEqual(client.ruleset_version, ruleset["version"])

        warnings = self._warnings()
        self.assertEqual(len(warnings), 2)
        self.assertIn('experiment "checkout" uses sticky bucketing', warnings[0])
        self.assertIn('experiments "bandit-b", "bandit-c" use sticky bucketing (their splits may move while they run, e.g. a bandit)', warnings[1])
        self.assertNotIn("checkout", warnings[1])

    def test_nothing_is_warned_with_a_sticky_bucket_store(self) -> None:
        client = self._run(sticky_ruleset(1), sticky_ruleset(2), sticky_bucket_store=InMemoryStickyBucketStore())
        self.server.set_ruleset(sticky_ruleset(3, ("bandit-b",)))
        client.refresh()

        self.assertEqual(client.ruleset_version, 3)
        self.assertEqual(self._warnings(), [])

    def test_nothing_is_warned_for_rulesets_without_sticky_experiments(self) -> None:
        client = self._run(make_ruleset(1), make_ruleset(2))
        self.server.set_ruleset(make_ruleset(3))
        client.refresh()

        self.assertEqual(client.ruleset_version, 3)
        self.assertEqual(self._warnings(), [])

    def test_an_offline_client_with_a_sticky_bootstrap_is_warned_too(self) -> None:
        self.client(api_url=None, bootstrap=sticky_ruleset(1))

        self.assertEqual(len(self._warnings()), 1)


if __name__ == "__main__":
    unittest.main()
