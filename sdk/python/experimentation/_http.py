"""A small HTTP helper over http.client: requests bounded by one overall deadline, a keep-alive
connection for a series of requests (event batches), and HTTP proxies."""

from __future__ import annotations

import base64
import email.utils
import http.client
import ipaddress
import select
import socket
import ssl
import threading
import time
import urllib.request
import zlib
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote, urlsplit

USER_AGENT: Final = "xp-python/0.1.0"
SDK_KEY_HEADER: Final = "X-XP-SDK-Key"
NETWORK_ERRORS: Final = (OSError, http.client.HTTPException, ValueError)
# What a kept-alive connection the server closed while it sat idle fails with at its next request
# (RemoteDisconnected is a ConnectionResetError): sent again once, on a new connection.
_STALE_CONNECTION_ERRORS: Final = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy: requests to http URLs go through it in absolute form, https ones through a CONNECT tunnel."""

    host: str
    port: int
    # The Proxy-Authorization header, when the proxy URL carries credentials.
    authorization: str | None = None


class _Socketed:
    """Keeps the socket from connect(): http.client hands it to a response that ends the connection
    (`Connection: close`, HTTP/1.0) and sets `sock` to None, but timeouts and shutdown still need it."""

    raw_sock: socket.socket | None = None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self.raw_sock = self.sock  # type: ignore[attr-defined]


class _HTTPConnection(_Socketed, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_Socketed, http.client.HTTPSConnection):
    pass



def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_proxy(url: str) -> Proxy:
    """A proxy URL (`http://[user:password@]host:port`, or `host:port`) as a Proxy; ValueError when it is not one."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.scheme != "http":
        raise ValueError(f"proxy must be an http:// URL (a proxy spoken to over TLS or SOCKS is not supported), got scheme {parts.scheme!r}")
    try:
        port = parts.port or 80
    except ValueError as e:
        raise ValueError(f"proxy has an invalid port: {e}") from None
    if not parts.hostname:
        raise ValueError("proxy must name a host")
    authorization = None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode("utf-8")
        authorization = "Basic " + base64.b64encode(credentials).decode("ascii")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return Proxy(host, port, authorization)


def proxy_from_environment(scheme: str, host: str) -> tuple[Proxy | None, str | None]:
    """The proxy urllib would use for `scheme://host` (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY and,
    on macOS and Windows, the system settings), with what was wrong with it when it cannot be used.

    A loopback host (localhost, 127.0.0.1, ::1) is never proxied from the environment: a proxy set for
    the internet is not meant for a local API.
    """
    proxies = urllib.request.getproxies()
    url = proxies.get(scheme) or proxies.get("all")
    if not url or _is_loopback(host) or urllib.request.proxy_bypass(host):
        return None, None
    # As urllib: the proxy itself is spoken to in plain HTTP whatever the scheme of its URL (an
    # https URL's TLS runs inside the CONNECT tunnel); other schemes (socks5://) cannot be used.
    if "://" in url and urlsplit(url).scheme == "https":
        url = "http://" + url.split("://", 1)[1]
    try:
        return parse_proxy(url), None
    except ValueError as e:
        return None, str(e)


class Endpoint:
    """Where the API lives: scheme, host and base path, parsed once from `api_url`, and how to reach it."""

    def __init__(self, api_url: str, proxy: Proxy | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("api_url must be an absolute http(s) URL")
        if parts.query or parts.username or parts.password:
            raise ValueError("api_url must not carry a query string or credentials")
        self.scheme = parts.scheme
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port
        self.netloc = parts.netloc
        self.base_path = parts.path.rstrip("/")
        # As given, less a trailing slash (for repr and messages; it holds no credentials).
        self.url = f"{parts.scheme}://{parts.netloc}{self.base_path}"
        self.proxy = proxy
        self.ssl_context = ssl_context

    def connect(self, timeout: float) -> _HTTPConnection | _HTTPSConnection:
        """A connection, not yet open (http.client opens it at the first request, or call its connect())."""
        proxy = self.proxy
        if proxy is None:
            if self.https:
                return _HTTPSConnection(self.host, self.port, timeout=timeout, context=self.ssl_context)
            return _HTTPConnection(self.host, self.port, timeout=timeout)
        if self.https:
            conn = _HTTPSConnection(proxy.host, proxy.port, timeout=timeout, context=self.ssl_context)
            host = f"[{self.host}]" if ":" in self.host else self.host
            conn.set_tunnel(host, self.port or 443, headers={"Proxy-Authorization": proxy.authorization} if proxy.authorization else None)
            return conn
        return _HTTPConnection(proxy.host, proxy.port, timeout=timeout)

    def path(self, path: str) -> str:
        return self.base_path + path

    def send(self, conn: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str], body: bytes | None = None) -> None:
        """Sends a request on `conn`: in absolute form, with the proxy's credentials, through an HTTP proxy."""
        if self.proxy is not None and not self.https:
            if self.proxy.authorization:
                headers = {**headers, "Proxy-Authorization": self.proxy.authorization}
            conn.request(method, f"{self.scheme}://{self.netloc}{self.path(path)}", body=body, headers=headers)
        else:
            conn.request(method, self.path(path), body=body, headers=headers)


class Watchdog:
    """Shuts a connection's socket down at a deadline, so that no exchange outlives its timeout however
    slowly the server sends (a socket timeout bounds each read, not the many reads of a response).

    One short-lived timer thread per exchange, ended by cancel().
    """

    def __init__(self, conn: Any, timeout: float) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._done = False
        self.fired = False
        self._timer = threading.Timer(max(0.0, timeout), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            shutdown(getattr(self._conn, "raw_sock", None))

    def cancel(self) -> bool:
        """Stops the watchdog; returns whether it fired (the connection is then unusable)."""
        with self._lock:
            self._done = True
        self._timer.cancel()
        return self.fired


def shutdown(sock: socket.socket | None) -> None:
    """Shuts a socket down (both ways), waking a thread blocked reading it; never raises."""
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except (OSError, ValueError):
            pass


def _set_remaining(conn: Any, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("request timed out")
    sock = getattr(conn, "raw_sock", None) or conn.sock
    if sock is not None:
        sock.settimeout(remaining)


def _exchange(endpoint: Endpoint, conn: Any, method: str, path: str, headers: dict[str, str], deadline: float,
              body: bytes | None, max_body: int) -> tuple[Response, bool]:
    """One request and its whole response on `conn` (opened here when it is not), all by `deadline`.

    Returns the response and whether the connection may carry another request. Raises one of
    NETWORK_ERRORS (TimeoutError at the deadline), the connection then unusable.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("request timed out")
    watchdog = Watchdog(conn, remaining)
    try:
        if conn.sock is None:
            conn.timeout = remaining
            conn.connect()
        _set_remaining(conn, deadline)
        endpoint.send(conn, method, path, headers, body)
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
        if resp.length:
            # The connection ended before the Content-Length was read (read1 then returns b"" without raising).
            raise http.client.IncompleteRead(b"".join(chunks), resp.length)
        # Marks the response done (read1 does not once it has read exactly Content-Length bytes), so the
        # connection can carry the next request; the connection's socket stays open.
        resp.close()
    except BaseException:
        if watchdog.cancel():
            raise TimeoutError("request timed out") from None
        raise
    if watchdog.cancel():
        # Shut down at the deadline: what was read may be cut short.
        raise TimeoutError("request timed out")
    headers_out = {k.lower(): v for k, v in resp.getheaders()}
    body_out = b"".join(chunks)
    if headers_out.get("content-encoding", "").strip().lower() in ("gzip", "x-gzip"):
        body_out = _gunzip(body_out, max_body)
    # After a `Connection: close` response http.client has let go of the socket (sock is None).
    return Response(resp.status, headers_out, body_out), conn.sock is not None and not resp.will_close


def request(endpoint: Endpoint, method: str, path: str, headers: dict[str, str], timeout: float,
            body: bytes | None = None, max_body: int = 64 * 1024 * 1024) -> Response:
    """Sends one request on a connection of its own and reads the whole response; raises one of
    NETWORK_ERRORS on failure.

    `timeout` bounds the whole exchange (connect, send and every read together), however slowly the
    server sends.
    """
    conn = endpoint.connect(timeout)
    try:
        return _exchange(endpoint, conn, method, path, headers, time.monotonic() + timeout, body, max_body)[0]
    finally:
        _close(conn)


def _close(conn: Any) -> None:
    try:
        conn.close()
    except Exception:
        pass
    # A socket handed to a `Connection: close` response is not closed by conn.close().
    sock = getattr(conn, "raw_sock", None)
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass


def _dropped(conn: Any) -> bool:
    """Whether an idle kept-alive connection was closed by the server (it is readable: EOF, or bytes nobody asked for)."""
    sock = getattr(conn, "raw_sock", None)
    if conn.sock is None or sock is None:
        return True
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


class KeptAliveConnection:
    """One HTTP/1.1 connection reused for a series of requests from one thread at a time (event batches),
    reopened when the server closed it or a request failed on it.

    A request on a reused connection that the server closed while it was idle (a keep-alive timeout
    racing the request) is sent once more on a new connection, within the same deadline: events carry
    unique ids, so a batch that did arrive is counted once.
    """

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._conn: Any = None
        self._lock = threading.Lock()
        self._closed = False
        self.connections_opened = 0

    def request(self, method: str, path: str, headers: dict[str, str], timeout: float,
                body: bytes | None = None, max_body: int = 64 * 1024 * 1024) -> Response:
        deadline = time.monotonic() + timeout
        conn = self._take()
        reused = conn is not None
        if conn is None:
            conn = self._open(timeout)
        try:
            try:
                resp, reusable = _exchange(self._endpoint, conn, method, path, headers, deadline, body, max_body)
            except _STALE_CONNECTION_ERRORS:
                if not reused or time.monotonic() >= deadline:
                    raise
                _close(conn)
                conn = self._open(deadline - time.monotonic())
                resp, reusable = _exchange(self._endpoint, conn, method, path, headers, deadline, body, max_body)
        except BaseException:
            _close(conn)
            raise
        self._put_back(conn if reusable else None)
        if not reusable:
            _close(conn)
        return resp

    def _take(self) -> Any:
        with self._lock:
            if self._closed:
                raise ConnectionError("the client is closed")
            conn, self._conn = self._conn, None
        if conn is not None and _dropped(conn):
            _close(conn)
            return None
        return conn

    def _open(self, timeout: float) -> Any:
        with self._lock:
            if self._closed:
                raise ConnectionError("the client is closed")
            self.connections_opened += 1
        return self._endpoint.connect(timeout)

    def _put_back(self, conn: Any) -> None:
        with self._lock:
            if not self._closed and conn is not None:
                self._conn = conn
                return
        if conn is not None:
            _close(conn)

    def close(self) -> None:
        """Closes the idle connection, if any; later requests raise ConnectionError."""
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            _close(conn)


def _gunzip(data: bytes, max_body: int) -> bytes:
    """The inflated body of a gzip response (the ruleset is gzipped when asked), at most `max_body` bytes."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data, max_body + 1)
    if len(out) > max_body or d.unconsumed_tail:
        raise ValueError("response too large")
    if not d.eof:
        raise ValueError("truncated gzip response")
    return out


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
