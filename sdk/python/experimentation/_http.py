"""A small HTTP helper over http.client: one connection per request, bounded by a timeout."""

from __future__ import annotations

import email.utils
import http.client
import time
import zlib
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

USER_AGENT: Final = "xp-python/0.1.0"
SDK_KEY_HEADER: Final = "X-XP-SDK-Key"
NETWORK_ERRORS: Final = (OSError, http.client.HTTPException, ValueError)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class Endpoint:
    """Where the API lives: scheme, host and base path, parsed once from `api_url`."""

    def __init__(self, api_url: str) -> None:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("api_url must be an absolute http(s) URL")
        if parts.query or parts.username or parts.password:
            raise ValueError("api_url must not carry a query string or credentials")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port
        self.base_path = parts.path.rstrip("/")
        # As given, less a trailing slash (for repr and messages; it holds no credentials).
        self.url = f"{parts.scheme}://{parts.netloc}{self.base_path}"

    def connect(self, timeout: float) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def path(self, path: str) -> str:
        return self.base_path + path


def request(endpoint: Endpoint, method: str, path: str, headers: dict[str, str], timeout: float,
            body: bytes | None = None, max_body: int = 64 * 1024 * 1024) -> Response:
    """Sends one request and reads the whole response; raises one of NETWORK_ERRORS on failure.

    `timeout` bounds the whole exchange (connect, send and each read), not only each socket call.
    """
    deadline = time.monotonic() + timeout
    conn = endpoint.connect(timeout)
    try:
        conn.request(method, endpoint.path(path), body=body, headers=headers)
        _set_remaining(conn, deadline)
        resp = conn.getresponse()
        chunks: list[bytes] = []
        size = 0
        while True:
            _set_remaining(conn, deadline)
            chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > max_body:
                raise ValueError("response too large")
            chunks.append(chunk)
        headers_out = {k.lower(): v for k, v in resp.getheaders()}
        body_out = b"".join(chunks)
        if headers_out.get("content-encoding", "").strip().lower() in ("gzip", "x-gzip"):
            body_out = _gunzip(body_out, max_body)
        return Response(resp.status, headers_out, body_out)
    finally:
        conn.close()


def _gunzip(data: bytes, max_body: int) -> bytes:
    """The inflated body of a gzip response (the ruleset is gzipped when asked), at most `max_body` bytes."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data, max_body + 1)
    if len(out) > max_body or d.unconsumed_tail:
        raise ValueError("response too large")
    if not d.eof:
        raise ValueError("truncated gzip response")
    return out


def _set_remaining(conn: http.client.HTTPConnection, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("request timed out")
    if conn.sock is not None:
        conn.sock.settimeout(remaining)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        return max(0.0, seconds) if seconds == seconds else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
