"""An in-process stand-in for the xp SDK endpoints that can fail, stall, lie and flip flags."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

API_KEY = "xp_server_secret_key_123456"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def read_fixture(name: str) -> dict[str, Any]:
    """A ruleset document from tests/fixtures (JSON files the JavaScript SDK can be run against too)."""
    with open(FIXTURES / name, encoding="utf-8") as f:
        return json.load(f)  # type: ignore[no-any-return]


def make_ruleset(version: int, enabled: bool = True, color: str = "blue") -> dict[str, Any]:
    """A small valid ruleset: a boolean flag, a string flag, an experiment and a flag running it."""
    return {
        "schemaVersion": 1,
        "environment": "production",
        "version": version,
        "experiments": {
            "checkout": {
                "hashAttribute": "id", "seed": "checkout", "hashVersion": 2, "coverage": 1, "weights": [0.5, 0.5],
                "variations": [{"key": "control", "value": "old"}, {"key": "treatment", "value": "new"}],
            },
        },
        "flags": {
            "feature": {"on": enabled, "variations": [{"key": "off", "value": False}, {"key": "on", "value": True}], "default": 1, "off": 0},
            "color": {"variations": [{"key": color, "value": color}], "default": 0, "off": 0},
            "checkout-flag": {
                "variations": [{"key": "old", "value": "old"}, {"key": "new", "value": "new"}], "default": 0, "off": 0,
                "rules": [{"id": "exp", "type": "experiment", "experiment": "checkout", "variations": [0, 1]}],
            },
        },
    }


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out on purpose leave broken pipes behind


class Recorded:
    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes, client_port: int = 0) -> None:
        self.method, self.path, self.headers, self.body, self.at = method, path, headers, body, time.monotonic()
        # The client's port: requests with the same one came on the same (kept-alive) connection.
        self.client_port = client_port

    def json(self) -> Any:
        return json.loads(self.body)


class FakeServer:
    """Modes for GET /sdk/v1/ruleset: ok, fail (500), stall, garbage, invalid, flip."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mode = "ok"
        self.version = 1
        self.enabled = True
        self.ruleset = make_ruleset(1)
        self.stall_seconds = 2.0
        self.requests: list[Recorded] = []
        self.accepted: list[dict[str, Any]] = []
        self.event_responses: deque[tuple[int, dict[str, str]]] = deque()
        self.events_received = threading.Condition()
        self.stream_enabled = False
        # Answers for GET /sdk/v1/stream, used up one per request before the stream itself is served:
        # (status, headers), or (status, headers, body) for another body than an UNAVAILABLE error; status 0
        # answers nothing at all (the request is held for stall_seconds, as a buffering proxy holds it).
        self.stream_responses: deque[tuple[Any, ...]] = deque()
        self.stream_queue: deque[str] = deque()
        # Answers for GET /sdk/v1/ruleset, used up one per request before the mode applies: (status, headers).
        self.ruleset_responses: deque[tuple[int, dict[str, str]]] = deque()
        # When each of those was answered (monotonic).
        self.ruleset_answered_at: list[float] = []
        self.stream_wakeup = threading.Event()
        self.release = threading.Event()
        # As the API while it starts: every request answered 503 "xp is starting" with Retry-After: 1.
        self.starting = False
        # How many more GET requests the SDK key is accepted for before it is refused (401) for good, as a
        # key revoked at that moment; None: accepted always. Revoked by the server, not by changing the
        # client's key from the test, so no request the client already sent with the key can race it.
        self.key_accepted_for: int | None = None
        # Closes the connection after answering an event batch, without saying so (as a keep-alive timeout does).
        self.close_after_events = False
        # Open client connections, ended by stop() as a crash ends them (kept-alive ones included).
        self.connections: set[Any] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with server.lock:
                    server.connections.add(self.connection)

            def finish(self) -> None:
                with server.lock:
                    server.connections.discard(self.connection)
                super().finish()

            def record(self, body: bytes = b"") -> None:
                with server.lock:
                    server.requests.append(Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                                    self.client_address[1]))

            def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self.record()
                if server.starting:
                    self.send(503, b'{"error":{"code":"UNAVAILABLE","message":"xp is starting; retry in a moment"}}',
                              {"Content-Type": "application/json", "Retry-After": "1"})
                    return
                with server.lock:
                    revoked = server.key_accepted_for is not None and server.key_accepted_for <= 0
                    if server.key_accepted_for is not None:
                        server.key_accepted_for -= 1
                if revoked or self.headers.get("X-XP-SDK-Key") != API_KEY:
                    self.send(401, b'{"error":{"code":"UNAUTHORIZED","message":"bad key"}}')
                    return
                if self.path.startswith("/sdk/v1/stream"):
                    self.stream()
                    return
                if self.path != "/sdk/v1/ruleset":
                    self.send(404)
                    return
                with server.lock:
                    answer = server.ruleset_responses.popleft() if server.ruleset_responses else None
                    if answer is not None:
                        server.ruleset_answered_at.append(time.monotonic())
                if answer is not None:
                    self.send(answer[0], b'{"error":{"code":"UNAVAILABLE","message":"later"}}', {"Content-Type": "application/json", **answer[1]})
                    return
                mode = server.mode
                if mode == "fail":
                    self.send(500, b'{"error":{"code":"INTERNAL","message":"boom"}}')
                    return
                if mode == "stall":
                    server.release.wait(server.stall_seconds)
                    mode = "ok"
                if mode == "garbage":
                    self.send(200, b"<html>definitely not json", {"Content-Type": "application/json", "ETag": '"garbage"'})
                    return
                if mode == "invalid":
                    self.send(200, b'{"schemaVersion": 99, "flags": []}', {"Content-Type": "application/json", "ETag": '"invalid"'})
                    return
                with server.lock:
                    if mode == "flip":
                        server.version += 1
                        server.enabled = not server.enabled
                        server.ruleset = make_ruleset(server.version, server.enabled)
                    etag = f'"v{server.ruleset["version"]}"'
                    body = json.dumps(server.ruleset).encode()
                if self.headers.get("If-None-Match") == etag:
                    self.send(304, b"", {"ETag": etag})
                    return
                self.send(200, body, {"Content-Type": "application/json", "ETag": etag})

            def stream(self) -> None:
                with server.lock:
                    refusal = server.stream_responses.popleft() if server.stream_responses else None
                if refusal is not None and refusal[0] == 0:
                    server.release.wait(server.stall_seconds)
                    self.close_connection = True
                    return
                if refusal is not None:
                    body = refusal[2] if len(refusal) > 2 else b'{"error":{"code":"UNAVAILABLE","message":"later"}}'
                    self.send(refusal[0], body, refusal[1])
                    return
                if not server.stream_enabled:
                    # As the API where it does not serve the stream (behind API Gateway): polled, not retried.
                    self.send(404, b'{"error":{"code":"STREAM_NOT_AVAILABLE","message":"no stream here"}}',
                              {"Content-Type": "application/json"})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

                def chunk(text: str) -> None:
                    data = text.encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                chunk("retry: 3000\n\n: heartbeat\n\n")
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not server.release.is_set():
                    server.stream_wakeup.wait(0.05)
                    server.stream_wakeup.clear()
                    with server.lock:
                        chunks = list(server.stream_queue)
                        server.stream_queue.clear()
                    try:
                        for text in chunks:
                            # split mid-line to prove the client reassembles events across chunks
                            chunk(text[: len(text) // 2])
                            chunk(text[len(text) // 2:])
                    except OSError:
                        return
                try:
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass
                self.close_connection = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                self.record(body)
                if self.path != "/sdk/v1/events" or self.headers.get("X-XP-SDK-Key") != API_KEY:
                    self.send(404)
                    return
                with server.lock:
                    status, headers = server.event_responses.popleft() if server.event_responses else (202, {})
                if status == 0:
                    # Stalls this batch (status 0 = no answer within stall_seconds), then accepts it.
                    server.release.wait(server.stall_seconds)
                    status = 202
                elif status < 0:
                    # Stalls this batch for stall_seconds, then refuses it with HTTP -status (-503: a slow 503).
                    server.release.wait(server.stall_seconds)
                    status = -status
                if status == 202:
                    events = json.loads(body)["events"]
                    # As the API refuses an invalid event of a valid batch (per-event reasons): here, by its name.
                    rejected = [{"index": i, "code": "INVALID_EVENT", "message": "refused by the fake"} for i, e in enumerate(events) if e.get("name") == "refused-by-api"]
                    kept = [e for e in events if e.get("name") != "refused-by-api"]
                    with server.lock:
                        server.accepted.extend(kept)
                    self.send(202, json.dumps({"accepted": len(kept), "rejected": rejected}).encode(), {"Content-Type": "application/json", **headers})
                else:
                    self.send(status, b'{"error":{"code":"UNAVAILABLE","message":"later"}}', headers)
                if server.close_after_events:
                    self.close_connection = True
                with server.events_received:
                    server.events_received.notify_all()

        self._handler = Handler
        self._listen(0)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def _listen(self, port: int) -> None:
        self.httpd = _QuietServer(("127.0.0.1", port), self._handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stops the API (a crash, a restart): open connections end and new ones are refused until resume()."""
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        with self.lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def resume(self) -> None:
        """Starts the API again on the same port."""
        self.release.clear()
        self._listen(self.httpd.server_address[1])

    def push_stream_ruleset(self, ruleset: dict[str, Any]) -> None:
        data = json.dumps({"version": ruleset["version"], "etag": f'"v{ruleset["version"]}"', "ruleset": ruleset})
        with self.lock:
            self.ruleset = ruleset
            self.stream_queue.append(f"event: ruleset\nid: {ruleset['version']}\ndata: {data}\n\n")
        self.stream_wakeup.set()

    def set_ruleset(self, ruleset: dict[str, Any]) -> None:
        with self.lock:
            self.ruleset = ruleset

    def requests_to(self, path: str, method: str | None = None) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(path) and (method is None or r.method == method)]

    def events(self) -> list[dict[str, Any]]:
        """Every event the server accepted (202), in arrival order."""
        with self.lock:
            return list(self.accepted)

    def wait_for(self, predicate: Any, timeout: float = 3.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            with self.events_received:
                self.events_received.wait(0.02)
        return bool(predicate())

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
