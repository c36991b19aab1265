"""A stream that refuses the SDK key (401, 403) while GET /sdk/v1/ruleset accepts it: a key allowed to
poll but not to stream, or a proxy refusing the stream. As the JavaScript SDK (sdk/js/src/ruleset-sync.ts),
the ruleset is polled every poll_interval meanwhile, not once per stream attempt at the slowest backoff;
and `the API accepts the SDK key again` is told only when what was refused accepts it again. Against a
real local server."""

from __future__ import annotations

import threading
import time

from .fake_server import API_KEY, Recorded, make_ruleset
from .test_client import ClientTestCase

STREAM = "/sdk/v1/stream"
RULESET = "/sdk/v1/ruleset"
JSON = {"Content-Type": "application/json"}
REFUSED = (401, JSON, b'{"error":{"code":"UNAUTHORIZED","message":"no"}}')
ACCEPTED_AGAIN = "accepts the SDK key again"


def gaps(requests: list[Recorded]) -> list[float]:
    """Seconds between consecutive requests."""
    return [round(b.at - a.at, 3) for a, b in zip(requests, requests[1:])]


class StreamRefusedPollsAcceptedTest(ClientTestCase):
    def test_the_ruleset_is_polled_every_poll_interval_while_the_stream_is_retried_at_the_slowest_backoff(self) -> None:
        self.server.stream_enabled = True
        self.server.stream_responses.extend([REFUSED] * 50)
        # The stream retried every 1-2 s (backoff_max, jittered); polls were as far apart, not every 0.25 s.
        client = self.client(streaming=True, poll_interval=0.25, stream_retry_max=0.02, backoff_base=0.01, backoff_max=2)
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to(STREAM)) >= 3, timeout=8))
        streams = self.server.requests_to(STREAM)[:3]
        for gap in gaps(streams):
            self.assertGreaterEqual(gap, 0.95)
            self.assertLess(gap, 3.5)
        polls = [r for r in self.server.requests_to(RULESET) if streams[0].at <= r.at <= streams[2].at]
        g = gaps(polls)
        # Every 0.25 s (a poll at each stream attempt too): at least 2 s / 0.25 s, less 2 for a busy machine.
        self.assertGreaterEqual(len(polls), 6, g)
        self.assertLess(max(g), 0.9, g)
        # A change is served by the next poll.
        self.server.set_ruleset(make_ruleset(2, color="green"))
        self.assertTrue(self.server.wait_for(lambda: client.ruleset_version == 2, timeout=1.5))
        warnings = [line for line in self.logs.output if line.startswith("WARNING")]
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn("the ruleset stream refused the SDK key (GET /sdk/v1/stream answered 401)", warnings[0])

    def test_accepted_again_is_told_when_the_stream_accepts_the_key_not_when_a_poll_does(self) -> None:
        self.server.stream_enabled = True
        self.server.stream_responses.extend([REFUSED] * 3)
        client = self.client(streaming=True, poll_interval=0.1, stream_retry_max=0.02, backoff_base=0.01, backoff_max=0.6)
        # Refused three times (polls answered all along), then the stream is served.
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to(STREAM)) >= 3, timeout=5))
        third = self.server.requests_to(STREAM)[2].at
        self.assertTrue(self.server.wait_for(lambda: any(r.at > third for r in self.server.requests_to(RULESET)), timeout=3))
        self.assertEqual([line for line in self.logs.output if ACCEPTED_AGAIN in line], [],
                         "the polls were never refused, and the stream still refuses the key")
        updated = threading.Event()
        client._on_update = lambda version: version == 2 and updated.set()  # noqa: SLF001 - test hook
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to(STREAM)) >= 4, timeout=3))
        time.sleep(0.2)
        self.server.push_stream_ruleset(make_ruleset(2))
        self.assertTrue(updated.wait(3))
        self.assertEqual([line for line in self.logs.output if ACCEPTED_AGAIN in line],
                         ["INFO:experimentation:the API accepts the SDK key again"])

    def test_a_stream_still_refusing_the_key_after_the_polls_accept_it_again_is_warned_about(self) -> None:
        self.server.stream_enabled = True
        client = self.client(streaming=True, poll_interval=0.1, stream_retry_max=0.02, backoff_base=0.01, backoff_max=0.6)
        self.assertTrue(client.ready)
        client._key = "xp_server_wrong_key_0000000"  # noqa: SLF001 - revoked: the stream ends, both refuse the key
        self.server.release.set()
        self.assertTrue(self.server.wait_for(lambda: any("SDK key was refused" in line for line in self.logs.output), timeout=5))
        self.server.release.clear()
        time.sleep(0.3)
        self.assertEqual([line for line in self.logs.output if ACCEPTED_AGAIN in line], [])
        # The key accepted again by the polls, but the stream still refuses it twice (a proxy refusing the stream).
        self.server.stream_responses.extend([REFUSED] * 2)
        updated = threading.Event()
        client._on_update = lambda version: version == 2 and updated.set()  # noqa: SLF001 - test hook
        client._key = API_KEY  # noqa: SLF001 - ... and restored
        self.assertTrue(self.server.wait_for(lambda: not self.server.stream_responses, timeout=4))
        self.assertTrue(self.server.wait_for(lambda: len([line for line in self.logs.output if ACCEPTED_AGAIN in line]) >= 2, timeout=4))
        self.server.push_stream_ruleset(make_ruleset(2))
        self.assertTrue(updated.wait(3))
        told = [line.partition(":")[0] + ": " + line.split(":", 2)[2][:45] for line in self.logs.output
                if ACCEPTED_AGAIN in line or (line.startswith("WARNING") and "refused" in line)]
        # The whole API refused it (the poll's warning; the stream's refusal adds none), the polls accept it
        # again, the stream still refuses it (a warning: it was told accepted), then the stream accepts it.
        self.assertEqual(told, ["WARNING: ruleset fetch answered HTTP 401: the SDK key ",
                                "INFO: the API accepts the SDK key again",
                                "WARNING: the ruleset stream refused the SDK key (GET /",
                                "INFO: the API accepts the SDK key again"], told)
