"""Findings of the production test of the SDK: a stream answered `Connection: close`, responses sent
byte by byte, event throughput and its log lines under overload, and HTTP proxies."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import unittest
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

from experimentation import Client, _http
from experimentation import client as client_module

from .fake_server import API_KEY, make_ruleset
from .test_client import FAST, ClientTestCase


class _Server:
    """A local HTTP server whose requests `handle(handler)` answers (the body read as `handler.body`); it counts connections."""

    def __init__(self, handle: Callable[[BaseHTTPRequestHandler], None]) -> None:
        self.requests: list[tuple[str, str]] = []
        self.connections = 0
        self.stop = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                outer.connections += 1

            def do_any(self) -> None:
                outer.requests.append((self.command, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(length) if length else None
                try:
                    handle(self)
                except OSError:
                    self.close_connection = True

            do_GET = do_POST = do_CONNECT = do_any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def paths(self, prefix: str) -> list[str]:
        return [p for _, p in self.requests if p.startswith(prefix)]

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _send_json(h: BaseHTTPRequestHandler, status: int, doc: Any) -> None:
    body = json.dumps(doc).encode()
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


class StreamAnsweredConnectionCloseTest(ClientTestCase):
    def test_a_stream_answered_connection_close_keeps_the_idle_timeout_and_close_ends_it(self) -> None:
        # As an HTTP/1.0-style proxy answers: `Connection: close`, no length. The heartbeat comes less often
        # than the request timeout but more often than the idle timeout: the stream must stay up.
        ruleset = make_ruleset(1)

        def handle(h: BaseHTTPRequestHandler) -> None:
            if h.path.startswith("/sdk/v1/stream"):
                h.send_response(200)
                h.send_header("Content-Type", "text/event-stream")
                h.send_header("Connection", "close")
                h.end_headers()
                h.wfile.write(b"event: ruleset\ndata: " + json.dumps({"version": 1, "ruleset": ruleset}).encode() + b"\n\n")
                h.wfile.flush()
                while not server.stop.wait(0.7):
                    h.wfile.write(b": heartbeat\n\n")
                    h.wfile.flush()
                h.close_connection = True
            else:
                _send_json(h, 200, ruleset)

        server = _Server(handle)
        self.addCleanup(server.close)
        client = self.client(api_url=server.url, streaming=True, timeout=0.25, stream_idle_timeout=3)

        time.sleep(1.6)
        self.assertEqual(len(server.paths("/sdk/v1/stream")), 1, "the stream was not reconnected")
        self.assertEqual([line for line in self.logs.output if line.startswith("WARNING")], [])

        started = time.monotonic()
        client.close()
        self.assertLess(time.monotonic() - started, 0.6)
        self.assertFalse(client._updater.is_alive(), "close() shut the stream down")  # noqa: SLF001


class _Drip:
    """Answers event batches one byte every 50 ms (a 100-byte head takes 5 s); serves the ruleset at once."""

    def __init__(self) -> None:
        def handle(h: BaseHTTPRequestHandler) -> None:
            if h.command == "GET":
                _send_json(h, 200, make_ruleset(1))
                return
            body = b'{"accepted":1,"rejected":[]}'
            raw = b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            for i in range(len(raw)):
                if self.server.stop.wait(0.05):
                    break
                h.wfile.write(raw[i:i + 1])
                h.wfile.flush()
            h.close_connection = True

        self.server = _Server(handle)


class OverallDeadlineTest(ClientTestCase):
    def drip(self) -> _Server:
        drip = _Drip().server
        self.addCleanup(drip.close)
        return drip

    def test_a_request_whose_response_drips_ends_at_its_timeout(self) -> None:
        drip = self.drip()
        started = time.monotonic()
        with self.assertRaises(TimeoutError):
            _http.request(_http.Endpoint(drip.url), "POST", "/sdk/v1/events", {}, 0.5, b"{}")
        self.assertLess(time.monotonic() - started, 0.8)

    def test_flush_and_close_keep_their_timeout_when_the_api_answers_byte_by_byte(self) -> None:
        drip = self.drip()
        client = self.client(api_url=drip.url, timeout=5, flush_interval=30)
        client.track_event("a", "u1")

        started = time.monotonic()
        self.assertFalse(client.flush(timeout=1))
        self.assertLess(time.monotonic() - started, 1.5)

        started = time.monotonic()
        client.close(timeout=1)
        self.assertLess(time.monotonic() - started, 1.5)


class KeptAliveEventsTest(ClientTestCase):
    def event_ports(self) -> set[int]:
        return {r.client_port for r in self.server.requests_to("/sdk/v1/events", "POST")}

    def test_event_batches_share_one_kept_alive_connection(self) -> None:
        client = self.client(batch_size=2, flush_interval=30)
        for i in range(6):
            client.track_event("a", f"u{i}")
        self.assertTrue(client.flush(2))
        client.track_event("b", "u9")
        self.assertTrue(client.flush(2))

        self.assertEqual(len(self.server.requests_to("/sdk/v1/events", "POST")), 4)
        self.assertEqual(len(self.server.events()), 7)
        self.assertEqual(len(self.event_ports()), 1, "one connection for every batch")

    def test_a_connection_the_server_closed_while_idle_is_replaced_without_losing_or_warning(self) -> None:
        self.server.close_after_events = True
        client = self.client(batch_size=100, flush_interval=30)
        client.track_event("a", "u1")
        self.assertTrue(client.flush(2))
        time.sleep(0.05)
        client.track_event("b", "u1")
        self.assertTrue(client.flush(2))
        # And when the close races the next request (seen only once the request is sent): sent again, once.
        with mock.patch.object(_http, "_dropped", return_value=False):
            time.sleep(0.05)
            client.track_event("c", "u1")
            self.assertTrue(client.flush(2))

        self.assertEqual([e["name"] for e in self.server.events()], ["a", "b", "c"])
        self.assertEqual(len(self.event_ports()), 3)
        self.assertFalse(any(line.startswith("WARNING") for line in self.logs.output), self.logs.output)


class OverloadLogTest(ClientTestCase):
    def test_sustained_overload_logs_one_pair_of_drop_lines_per_interval_with_the_counts(self) -> None:
        # Each round tracks twice what the queue holds while batches are accepted all along.
        client = self.client(batch_size=100, max_queue_size=5, flush_interval=30)
        for _ in range(5):
            for i in range(10):
                client.track_event("a", f"u{i}")
            client.flush(2)
        drops = [line for line in self.logs.output if "queue is full" in line or "were dropped" in line]
        self.assertEqual(len(drops), 2, drops)
        self.assertIn("5 events were dropped", drops[1])

        # Once the interval has passed: the count of every drop not logged yet, then a new pair at the next overload.
        with mock.patch.object(client_module, "DROP_LOG_INTERVAL", 0.0):
            for _ in range(2):
                for i in range(10):
                    client.track_event("a", f"u{i}")
                client.flush(2)
        client.close()
        drops = [line for line in self.logs.output if "queue is full" in line or "were dropped" in line]
        self.assertEqual(len(drops), 5, drops)
        self.assertIn("25 events were dropped because the event queue was full (30 since the client started)", drops[2])
        self.assertIn("queue is full", drops[3])
        self.assertIn("5 events were dropped because the event queue was full (35 since the client started)", drops[4])


class _ForwardProxy:
    """An HTTP proxy: forwards absolute-form requests to `upstream` and refuses CONNECT (502); records both."""

    def __init__(self, upstream_port: int) -> None:
        self.seen: list[tuple[str, str, str | None]] = []

        def handle(h: BaseHTTPRequestHandler) -> None:
            self.seen.append((h.command, h.path, h.headers.get("Proxy-Authorization")))
            if h.command == "CONNECT":
                h.send_response(502)
                h.send_header("Content-Length", "0")
                h.end_headers()
                h.close_connection = True
                return
            parts = urlsplit(h.path)
            conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=5)
            headers = {k: v for k, v in h.headers.items() if k.lower() not in ("proxy-authorization", "connection", "content-length")}
            conn.request(h.command, parts.path + (f"?{parts.query}" if parts.query else ""), body=h.body, headers=headers)  # type: ignore[attr-defined]
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            h.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)

        self.server = _Server(handle)


class ProxyTest(ClientTestCase):
    def proxy(self) -> _ForwardProxy:
        proxy = _ForwardProxy(int(self.server.url.rsplit(":", 1)[1]))
        self.addCleanup(proxy.server.close)
        return proxy

    def test_the_environments_http_proxy_carries_ruleset_and_events(self) -> None:
        proxy = self.proxy()
        port = self.server.url.rsplit(":", 1)[1]
        with mock.patch.dict(os.environ, {"HTTP_PROXY": proxy.server.url, "http_proxy": proxy.server.url, "NO_PROXY": "", "no_proxy": ""}):
            # A name only the proxy resolves (to the fake API): the client must not look it up itself.
            client = self.client(api_url=f"http://xp-api.invalid:{port}", flush_interval=30)
            self.assertTrue(client.ready)
            client.track_event("a", "u1")
            self.assertTrue(client.flush(2))
        self.assertEqual([(m, p) for m, p, _ in proxy.seen],
                         [("GET", f"http://xp-api.invalid:{port}/sdk/v1/ruleset"), ("POST", f"http://xp-api.invalid:{port}/sdk/v1/events")])
        self.assertEqual(len(self.server.events()), 1)

    def test_no_proxy_loopback_and_proxy_false_bypass_the_environments_proxy(self) -> None:
        proxy = self.proxy()
        with mock.patch.dict(os.environ, {"HTTP_PROXY": proxy.server.url, "http_proxy": proxy.server.url,
                                          "NO_PROXY": "api.example,.corp", "no_proxy": "api.example,.corp"}):
            self.assertIsNone(_http.proxy_from_environment("http", "api.example")[0])
            self.assertIsNone(_http.proxy_from_environment("http", "xp.corp")[0])
            self.assertEqual(_http.proxy_from_environment("http", "api.other")[0], _http.Proxy("127.0.0.1", proxy.server.port))
            self.assertTrue(self.client().ready, "a loopback API is reached directly")
            self.assertTrue(self.client(proxy=False).ready)
        self.assertEqual(proxy.seen, [])

    def test_an_explicit_proxy_with_credentials_and_a_connect_tunnel_for_https(self) -> None:
        proxy = self.proxy()
        url = proxy.server.url.replace("http://", "http://us%40er:p%3Ass@")
        client = self.client(proxy=url, flush_interval=30)
        self.assertTrue(client.ready)
        self.assertEqual(proxy.seen[0][2], "Basic dXNAZXI6cDpzcw==")  # us@er:p:ss

        secure = self.client(api_url="https://xp-api.invalid", proxy=url)
        self.assertFalse(secure.ready, "the proxy refused the tunnel: defaults are served, nothing raises")
        self.assertIn(("CONNECT", "xp-api.invalid:443", "Basic dXNAZXI6cDpzcw=="), proxy.seen)
        with self.assertRaises(ValueError):
            Client(API_KEY, self.server.url, proxy="socks5://127.0.0.1:1080", **FAST)


if __name__ == "__main__":
    unittest.main()
