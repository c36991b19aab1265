"""How the client reacts to the answers of `GET /sdk/v1/stream`, as the JavaScript SDK does
(sdk/js/src/ruleset-sync.ts): 404 STREAM_NOT_AVAILABLE, 405, 410 and 501 mean "no stream here" (a
warning once, polling every poll_interval, the stream asked for again every STREAM_RECHECK_INTERVAL);
a plain 404 and a 400 are outages retried with backoff; a refused key (401, 403) is retried at the
slowest backoff, so a key the API accepts again works without a restart. Against a real local server."""

from __future__ import annotations

import threading
import time
from typing import Any
from unittest import mock

from experimentation import client as client_module

from .fake_server import make_ruleset
from .test_client import ClientTestCase

STREAM = "/sdk/v1/stream"
RULESET = "/sdk/v1/ruleset"
JSON = {"Content-Type": "application/json"}
NOT_AVAILABLE = b'{"error":{"code":"STREAM_NOT_AVAILABLE","message":"the stream is not served here"}}'


def error(code: str) -> bytes:
    return b'{"error":{"code":"%s","message":"no"}}' % code.encode()


def assert_streams_update(test: ClientTestCase, client: client_module.Client, ruleset: dict[str, Any]) -> None:
    """The client, streaming, gets version 2 of the ruleset pushed on the stream within 3 s."""
    updated = threading.Event()
    client._on_update = lambda version: version == 2 and updated.set()  # noqa: SLF001 - test hook
    time.sleep(0.2)
    test.server.push_stream_ruleset(ruleset)
    test.assertTrue(updated.wait(3))


class StreamNotServedTest(ClientTestCase):
    """404 STREAM_NOT_AVAILABLE, 405, 410, 501: polled every poll_interval, the stream re-asked every recheck interval."""

    RECHECK = 0.8

    def setUp(self) -> None:
        super().setUp()
        self.enterContext(mock.patch.object(client_module, "STREAM_RECHECK_INTERVAL", self.RECHECK))

    def check_not_served(self, answer: tuple[int, dict[str, str], bytes], label: str) -> None:
        self.server.stream_enabled = True
        # The answer twice: the first request and the first recheck; then the stream is served.
        self.server.stream_responses.extend([answer, answer])
        # timeout=2: a poll slowed by a loaded machine is not an outage warning here.
        client = self.client(streaming=True, poll_interval=0.2, stream_retry_max=0.02, backoff_base=0.01, backoff_max=0.05, timeout=2)
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to(STREAM)) >= 3, timeout=5))
        first, second, third = self.server.requests_to(STREAM)[:3]
        # Asked for again after the recheck interval, not after a few-millisecond backoff, nor never.
        self.assertGreaterEqual(second.at - first.at, self.RECHECK - 0.05)
        self.assertLess(second.at - first.at, self.RECHECK + 0.5)
        self.assertGreaterEqual(third.at - second.at, self.RECHECK - 0.05)
        # Meanwhile polled every poll_interval (0.2 s: about 3 in 0.8 s), not every stream_retry_max (0.02 s:
        # about 40). At least one, not "about 3": a loaded machine can stall the client for half a second.
        between = [r for r in self.server.requests_to(RULESET) if first.at < r.at < second.at]
        self.assertGreaterEqual(len(between), 1, label)
        self.assertLessEqual(len(between), (second.at - first.at) / 0.2 + 1, label)
        self.assertLessEqual(len(between), 5, label)
        # One warning, however many rechecks; no outage warning.
        warnings = [line for line in self.logs.output if line.startswith("WARNING")]
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn(f"the API does not serve the ruleset stream here (GET /sdk/v1/stream answered {label}): polling "
                      "/sdk/v1/ruleset every 200 ms instead, trying the stream again every", warnings[0])
        # A deployment that serves the stream again is streamed from.
        assert_streams_update(self, client, make_ruleset(2, color="green"))

    def test_404_stream_not_available(self) -> None:
        self.check_not_served((404, JSON, NOT_AVAILABLE), "404 STREAM_NOT_AVAILABLE")

    def test_405(self) -> None:
        self.check_not_served((405, {}, b""), "405")

    def test_410(self) -> None:
        self.check_not_served((410, JSON, error("GONE")), "410")

    def test_501(self) -> None:
        # What a proxy that does not relay event streams answers (its own text, not the API's JSON).
        self.check_not_served((501, {}, b"<html><body>501: streaming is not relayed by this proxy</body></html>"), "501")

    def test_without_polling_only_the_stream_is_asked_for_again(self) -> None:
        self.server.stream_responses.append((404, JSON, NOT_AVAILABLE))
        self.server.stream_enabled = True
        self.client(streaming=True, poll_interval=0, stream_retry_max=0.02)
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to(STREAM)) >= 2, timeout=5))
        first, second = self.server.requests_to(STREAM)[:2]
        self.assertGreaterEqual(second.at - first.at, self.RECHECK - 0.05)
        # poll_interval=0: no polls while waiting for the recheck (the first fetch only).
        self.assertEqual(len([r for r in self.server.requests_to(RULESET) if first.at < r.at < second.at]), 0)
        self.assertTrue(any("not polling (poll_interval=0)" in line for line in self.logs.output if line.startswith("WARNING")))


class StreamOutageAnswersTest(ClientTestCase):
    """A plain 404 (a wrong api_url, a proxy during a deploy) and a 400 are outages: retried with backoff."""

    def check_outage(self, answer: tuple[int, dict[str, str], bytes], status: int) -> None:
        self.server.stream_enabled = True
        self.server.stream_responses.extend([answer, answer])
        # timeout=2: a request slowed by a loaded machine is not a second (timeout) warning here.
        client = self.client(streaming=True, poll_interval=30, stream_retry_max=0.1, backoff_base=0.05, backoff_max=5, timeout=2)
        # Retried within stream_retry_max (and streamed from once served), not switched off.
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to(STREAM)) >= 3, timeout=3))
        first, second, third = self.server.requests_to(STREAM)[:3]
        self.assertLess(second.at - first.at, 1.0)
        self.assertLess(third.at - second.at, 1.0)
        assert_streams_update(self, client, make_ruleset(2))
        warnings = [line for line in self.logs.output if line.startswith("WARNING")]
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn(f"ruleset stream answered HTTP {status}; polling every 100 ms until it is back", warnings[0])
        self.assertFalse([line for line in self.logs.output if "does not serve the ruleset stream" in line])

    def test_404_without_stream_not_available_is_an_outage(self) -> None:
        self.check_outage((404, JSON, error("NOT_FOUND")), 404)

    def test_404_from_a_proxy_with_an_html_body_is_an_outage(self) -> None:
        self.check_outage((404, {"Content-Type": "text/html"}, b"<html><body>404 Not Found</body></html>"), 404)

    def test_404_with_no_body_is_an_outage(self) -> None:
        self.check_outage((404, {}, b""), 404)

    def test_400_is_an_outage(self) -> None:
        self.check_outage((400, JSON, error("BAD_REQUEST")), 400)

    def test_400_honours_retry_after(self) -> None:
        self.server.stream_enabled = True
        self.server.stream_responses.append((400, {"Retry-After": "1", **JSON}, error("BAD_REQUEST")))
        self.client(streaming=True, poll_interval=30, stream_retry_max=0.05, backoff_base=0.01)
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to(STREAM)) >= 2, timeout=3))
        first, second = self.server.requests_to(STREAM)[:2]
        self.assertGreaterEqual(second.at - first.at, 0.95)


class StreamKeyRefusedTest(ClientTestCase):
    """401 and 403: retried at the slowest backoff (backoff_max, jittered), never switched off for good."""

    def check_refused(self, status: int) -> None:
        self.server.stream_enabled = True
        self.server.stream_responses.extend([(status, JSON, error("UNAUTHORIZED")), (status, JSON, error("UNAUTHORIZED"))])
        client = self.client(streaming=True, poll_interval=30, stream_retry_max=0.02, backoff_base=0.01, backoff_max=0.6)
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to(STREAM)) >= 3, timeout=4))
        first, second, third = self.server.requests_to(STREAM)[:3]
        # The slowest backoff: between half and all of backoff_max (0.6 s), not stream_retry_max (0.02 s).
        for gap in (second.at - first.at, third.at - second.at):
            self.assertGreaterEqual(gap, 0.28)
            self.assertLess(gap, 1.2)
        # The key accepted again: streamed from without a restart.
        assert_streams_update(self, client, make_ruleset(2))
        warnings = [line for line in self.logs.output if line.startswith("WARNING")]
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn(f"the ruleset stream refused the SDK key (GET /sdk/v1/stream answered {status}); check api_key", warnings[0])
        self.assertIn("retrying about every 600 ms", warnings[0])

    def test_401(self) -> None:
        self.check_refused(401)

    def test_403(self) -> None:
        self.check_refused(403)

    def test_a_key_refused_by_the_whole_api_is_warned_about_once(self) -> None:
        # The poll after the refused stream says it (the key is refused); the stream's refusal adds no warning.
        # The key is revoked by the server right after the first ruleset fetch, before the stream's first
        # request: were it revoked from the test while the client runs, that request could still carry an
        # accepted key (a stream refusing a key the polls accept, which is a warning of its own).
        self.server.stream_enabled = True
        self.server.key_accepted_for = 1
        client = self.client(streaming=True, poll_interval=30, stream_retry_max=0.02, backoff_base=0.01, backoff_max=0.3)
        self.assertTrue(client.ready)
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to(STREAM)) >= 4, timeout=5))
        self.assertGreaterEqual(len(self.server.requests_to(RULESET)), 4, "the first fetch, then a poll after each refused stream")
        warnings = [line for line in self.logs.output if line.startswith("WARNING")]
        self.assertEqual(len([w for w in warnings if "SDK key was refused" in w or "refused the SDK key" in w]), 1, warnings)
