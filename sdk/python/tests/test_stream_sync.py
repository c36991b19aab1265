"""The stream and poll loop against answers where the Python SDK used to differ from the JavaScript SDK
(sdk/js/src/ruleset-sync.ts): a stream that ends without an event, failed polls with Retry-After, stream
requests never answered while polls are, and a refused key accepted again. Against a real local server."""

from __future__ import annotations

import json
import time
from unittest import mock

from experimentation import client as client_module

from .fake_server import API_KEY, Recorded, make_ruleset
from .test_client import ClientTestCase

STREAM = "/sdk/v1/stream"
RULESET = "/sdk/v1/ruleset"
EVENT_STREAM = {"Content-Type": "text/event-stream"}


def gaps(requests: list[Recorded]) -> list[float]:
    """Seconds between consecutive requests."""
    return [round(b.at - a.at, 3) for a, b in zip(requests, requests[1:])]


class EmptyStreamTest(ClientTestCase):
    """A stream answered 200 text/event-stream that ends at once, without an event (a misconfigured proxy)."""

    def test_a_stream_ending_without_an_event_is_retried_with_growing_backoff_and_one_that_delivered_as_a_first_failure(self) -> None:
        self.enterContext(mock.patch.object(client_module.random, "random", return_value=0.999))  # waits at their longest
        event = json.dumps({"version": 2, "etag": '"v2"', "ruleset": make_ruleset(2, color="green")})
        empty = (200, EVENT_STREAM, b"")
        delivering = (200, EVENT_STREAM, f": hi\n\nevent: ruleset\ndata: {event}\n\n".encode())
        self.server.stream_enabled = True
        # Five empty streams (backoff 0.05, 0.1, 0.2, 0.4, 0.8 s), one that delivers an event and ends, one empty again.
        self.server.stream_responses.extend([empty] * 5 + [delivering, empty])
        client = self.client(streaming=True, poll_interval=30, backoff_base=0.05, backoff_max=60, stream_retry_max=0.8)
        self.server.set_ruleset(make_ruleset(2, color="green"))  # what the polls get too, once the stream announced it

        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to(STREAM)) >= 8, timeout=8))
        g = gaps(self.server.requests_to(STREAM)[:8])
        # Growing, as the JavaScript SDK does (it was about backoff_base, 0.05 s, every time).
        self.assertLess(g[0], 0.5, g)
        self.assertGreaterEqual(g[3], 0.3, g)
        self.assertGreaterEqual(g[4], 0.6, g)
        self.assertLess(g[4], 2.5, g)
        # The stream that delivered an event broke: a new first failure, retried after about backoff_base.
        self.assertLess(g[5], 0.5, g)
        self.assertEqual(client.ruleset_version, 2)
        # A proxy ending the stream is reconnected quietly, as a deploy's clean end is.
        self.assertEqual([line for line in self.logs.output if line.startswith("WARNING")], [])


class PollRetryAfterTest(ClientTestCase):
    """Polls while the stream is down honour a Retry-After the ruleset endpoint sent, up to poll_interval."""

    def poll_after_a_503(self, retry_after: str, poll_interval: float) -> float:
        """Seconds from a poll answered 503 with `retry_after` to the next poll, the stream down all along."""
        self.server.stream_enabled = True
        # The stream is down all along (a 503 without Retry-After: reconnected about every stream_retry_max).
        self.server.stream_responses.extend([(503, {})] * 200)
        self.client(streaming=True, poll_interval=poll_interval, backoff_base=0.05, backoff_max=60, stream_retry_max=0.1)
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to(RULESET)) >= 3, timeout=3))
        with self.server.lock:
            self.server.ruleset_responses.append((503, {"Retry-After": retry_after}))
        self.assertTrue(self.server.wait_for(lambda: bool(self.server.ruleset_answered_at), timeout=3))
        refused = self.server.ruleset_answered_at[0]
        self.assertTrue(self.server.wait_for(lambda: any(r.at > refused for r in self.server.requests_to(RULESET)), timeout=6))
        return min(r.at for r in self.server.requests_to(RULESET) if r.at > refused) - refused

    def test_a_poll_answered_503_with_retry_after_is_not_repeated_sooner(self) -> None:
        waited = self.poll_after_a_503("1", poll_interval=30)
        # Not polled again at the next stream attempt (about 0.1 s): after the Retry-After, plus at most a stream wait.
        self.assertGreaterEqual(waited, 0.95)
        self.assertLess(waited, 2.5)

    def test_a_retry_after_longer_than_poll_interval_is_honoured_up_to_poll_interval(self) -> None:
        waited = self.poll_after_a_503("30", poll_interval=0.6)
        # As the JavaScript SDK caps it: at most poll_interval (0.6 s) late, not 30 s; yet not at the next stream attempt.
        self.assertGreaterEqual(waited, 0.55)
        self.assertLess(waited, 2.5)


class SilentStreamTest(ClientTestCase):
    """Stream requests never answered (no headers within timeout) while polls are: polled, the stream rechecked."""

    RECHECK = 1.2

    def setUp(self) -> None:
        super().setUp()
        self.enterContext(mock.patch.object(client_module, "STREAM_RECHECK_INTERVAL", self.RECHECK))

    def test_two_unanswered_stream_requests_fall_back_to_polling_and_the_stream_is_rechecked(self) -> None:
        self.server.stream_enabled = True
        # Unanswered three times: the first two (polling from then), the first recheck (one is enough then); then served.
        self.server.stream_responses.extend([(0, {})] * 3)
        client = self.client(streaming=True, timeout=0.3, poll_interval=0.25, backoff_base=0.01, backoff_max=0.05, stream_retry_max=0.05)

        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to(STREAM)) >= 4, timeout=3 * self.RECHECK + 4))
        streams = self.server.requests_to(STREAM)[:4]
        g = gaps(streams)
        # The second attempt soon after the first (timeout 0.3 s, then a short backoff) ...
        self.assertLess(g[0], 1.0, g)
        # ... then the stream is asked for again only after the recheck interval (it was every ~0.35 s), twice.
        self.assertGreaterEqual(g[1], self.RECHECK, g)
        self.assertLess(g[1], self.RECHECK + 1.5, g)
        self.assertGreaterEqual(g[2], self.RECHECK, g)
        # Meanwhile polled every poll_interval (0.25 s: about 6 in 1.5 s).
        between = [r for r in self.server.requests_to(RULESET) if streams[1].at < r.at < streams[2].at]
        self.assertGreaterEqual(len(between), 2, g)
        self.assertLessEqual(len(between), 9, g)
        warnings = [line for line in self.logs.output if line.startswith("WARNING")]
        fallback = [w for w in warnings if "cannot stream the ruleset" in w]
        self.assertEqual(len(fallback), 1, warnings)
        self.assertIn("(2 stream requests had no answer within 300 ms while ruleset requests were answered): polling "
                      "/sdk/v1/ruleset every 250 ms instead, trying the stream again every", fallback[0])
        # A stream served again is streamed from.
        time.sleep(0.3)
        self.server.push_stream_ruleset(make_ruleset(2, color="green"))
        self.assertTrue(self.server.wait_for(lambda: client.ruleset_version == 2, timeout=3))

    def test_unanswered_stream_requests_while_polls_fail_too_are_an_outage_retried_with_backoff(self) -> None:
        # A network that drops everything: not taken for a buffering proxy, the stream retried at its backoff.
        self.server.stream_enabled = True
        self.server.stream_responses.extend([(0, {})] * 3)
        self.client(streaming=True, timeout=0.3, poll_interval=0.25, backoff_base=0.01, backoff_max=0.05, stream_retry_max=0.05)
        self.server.mode = "stall"
        self.server.stall_seconds = 10
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to(STREAM)) >= 3, timeout=4))
        g = gaps(self.server.requests_to(STREAM)[:3])
        self.assertLess(g[1], self.RECHECK, g)
        self.assertFalse([line for line in self.logs.output if "cannot stream the ruleset" in line])


class KeyAcceptedAgainTest(ClientTestCase):
    def test_a_refused_key_accepted_again_is_logged_at_info_level(self) -> None:
        client = self.client(poll_interval=0.05)
        self.assertTrue(client.ready)
        client._key = "xp_server_wrong_key_0000000"  # noqa: SLF001 - the key is revoked ...
        self.assertTrue(self.server.wait_for(lambda: any("SDK key was refused" in line for line in self.logs.output)))
        client._key = API_KEY  # noqa: SLF001 - ... and restored
        self.assertTrue(self.server.wait_for(lambda: any("accepts the SDK key again" in line for line in self.logs.output)))
        time.sleep(0.3)
        self.assertEqual([line for line in self.logs.output if "accepts the SDK key again" in line],
                         ["INFO:experimentation:the API accepts the SDK key again"])
