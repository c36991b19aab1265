"""The ruleset may come gzipped: the SDK asks for it and inflates it (urllib/http.client do not)."""

from __future__ import annotations

import gzip
import json
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from experimentation import Client, _http

from .fake_server import API_KEY, make_ruleset


class _GzipServer:
    """Serves GET /sdk/v1/ruleset gzipped when the request accepts gzip, as the xp API does."""

    def __init__(self, body: bytes) -> None:
        self.seen: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                accept = self.headers.get("Accept-Encoding")
                outer.seen.append(accept)
                zipped = accept is not None and "gzip" in accept
                payload = gzip.compress(body) if zipped else body
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("ETag", '"v1"')
                if zipped:
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class GzipRulesetTest(unittest.TestCase):
    def test_the_client_asks_for_a_gzipped_ruleset_and_inflates_it(self) -> None:
        server = _GzipServer(json.dumps(make_ruleset(7, color="green")).encode())
        self.addCleanup(server.close)
        client = Client(api_key=API_KEY, api_url=server.url, timeout=2, streaming=False, poll_interval=3600)
        self.addCleanup(client.close, 0.5)

        self.assertTrue(client.refresh())
        self.assertEqual(client.get_value("color", {"id": "u1"}, "none"), "green")
        self.assertIn("gzip", server.seen[-1] or "")

    def test_a_gzipped_body_is_inflated_within_the_size_limit(self) -> None:
        server = _GzipServer(b"x" * 10_000)
        self.addCleanup(server.close)
        endpoint = _http.Endpoint(server.url)

        ok = _http.request(endpoint, "GET", "/sdk/v1/ruleset", {"Accept-Encoding": "gzip"}, 2)
        self.assertEqual(ok.body, b"x" * 10_000)
        with self.assertRaises(ValueError):
            _http.request(endpoint, "GET", "/sdk/v1/ruleset", {"Accept-Encoding": "gzip"}, 2, max_body=1_000)


if __name__ == "__main__":
    unittest.main()
