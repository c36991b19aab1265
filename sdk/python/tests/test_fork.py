"""A client started before os.fork() (gunicorn --preload, uWSGI, Celery prefork) keeps working in the child.

Each test forks for real. The child runs a small body, reports to the test through a pipe and ends with
os._exit; the test kills it when it does not answer in time (a deadlocked child fails the test, it never
hangs the suite). The fake API lives in the parent: the child's requests reach it through the inherited
listening socket, so the parent sees what the child sent.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import select
import signal
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from typing import Any
from unittest import mock

from experimentation import Client, InMemoryStickyBucketStore, evaluation

from .fake_server import API_KEY, make_ruleset
from .test_client import FAST, ClientTestCase

CHILD_TIMEOUT = 15.0


class Channel:
    """JSON messages, one a line, over a pair of pipes; every read has a deadline."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd, self.write_fd = read_fd, write_fd

    def send(self, message: Any) -> None:
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(self.write_fd, data):]

    def recv(self, timeout: float) -> Any:
        """The next message, or TimeoutError when none comes within `timeout` (or the other end is gone)."""
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.read_fd], [], [], remaining)[0]:
                raise TimeoutError(f"no message within {timeout}s")
            byte = os.read(self.read_fd, 1)  # one byte at a time: nothing read past the line stays in a buffer
            if not byte:
                raise TimeoutError("the other end closed the pipe")
            line += byte
        return json.loads(line)


class Child:
    def __init__(self, pid: int, channel: Channel) -> None:
        self.pid, self.channel = pid, channel
        self.exit_code: int | None = None

    def kill(self) -> None:
        if self.exit_code is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.wait(5)

    def wait(self, timeout: float) -> int | None:
        """The child's exit code once it has exited; killed after `timeout`."""
        deadline = time.monotonic() + timeout
        while self.exit_code is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.exit_code = os.waitstatus_to_exitcode(status)
            elif time.monotonic() >= deadline:
                os.kill(self.pid, signal.SIGKILL)
                _, status = os.waitpid(self.pid, 0)
                self.exit_code = os.waitstatus_to_exitcode(status)
            else:
                time.sleep(0.01)
        return self.exit_code


class ForkTestCase(ClientTestCase):
    def fork(self, body: Callable[[Channel], None]) -> Child:
        """Runs `body` in a forked child; its exceptions come back as {"error": ...} messages."""
        to_child_r, to_child_w = os.pipe()
        to_parent_r, to_parent_w = os.pipe()
        with warnings.catch_warnings():
            # Python 3.12 warns about forking a process with threads: that is exactly the situation under test.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(to_child_w)
                os.close(to_parent_r)
                channel = Channel(to_child_r, to_parent_w)
                try:
                    body(channel)
                    code = 0
                except BaseException as e:
                    channel.send({"error": f"{type(e).__name__}: {e}"})
            finally:
                # Never return into unittest in the child (it would run the rest of the suite a second time).
                os._exit(code)
        os.close(to_child_r)
        os.close(to_parent_w)
        child = Child(pid, Channel(to_parent_r, to_child_w))
        self.addCleanup(os.close, to_parent_r)
        self.addCleanup(os.close, to_child_w)
        self.addCleanup(child.kill)
        return child

    def recv(self, child: Child, timeout: float = 5.0) -> Any:
        try:
            message = child.channel.recv(timeout)
        except TimeoutError:
            child.kill()
            self.fail(f"the child did not report within {timeout}s (deadlocked or stuck); it was killed")
        if isinstance(message, dict) and "error" in message:
            self.fail(f"the child failed: {message['error']}")
        return message

    def assert_exits_cleanly(self, child: Child) -> None:
        self.assertEqual(child.wait(CHILD_TIMEOUT), 0)

    def event_names(self) -> list[str]:
        return sorted(e.get("name") or f"exposure:{e['unitId']}" for e in self.server.events())


class ForkTest(ForkTestCase):
    def test_the_child_serves_the_last_ruleset_at_once_and_polls_a_change_made_after_the_fork(self) -> None:
        client = self.client(poll_interval=0.05)
        self.assertEqual(client.ruleset_version, 1)

        def child(channel: Channel) -> None:
            channel.send({"version": client.ruleset_version, "feature": client.is_feature_enabled("feature", "u1")})
            deadline = time.monotonic() + 8
            while client.ruleset_version != 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            channel.send({"version": client.ruleset_version, "feature": client.is_feature_enabled("feature", "u1"),
                          "updater_alive": client._updater.is_alive()})  # noqa: SLF001

        proc = self.fork(child)
        self.assertEqual(self.recv(proc), {"version": 1, "feature": True}, "the child serves the ruleset it was forked with")
        self.server.set_ruleset(make_ruleset(2, enabled=False))

        self.assertEqual(self.recv(proc, 10), {"version": 2, "feature": False, "updater_alive": True})
        self.assert_exits_cleanly(proc)

    def test_the_child_opens_its_own_stream_and_leaves_the_parents_stream_alone(self) -> None:
        self.server.stream_enabled = True
        client = self.client(streaming=True, poll_interval=0)
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to("/sdk/v1/stream")) == 1))

        def child(channel: Channel) -> None:
            channel.send({"version": client.ruleset_version})
            deadline = time.monotonic() + 8
            while client.ruleset_version != 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            channel.send({"version": client.ruleset_version, "color": client.get_value("color", "u1", "x")})

        proc = self.fork(child)
        self.assertEqual(self.recv(proc), {"version": 1})
        self.assertTrue(self.server.wait_for(lambda: len(self.server.requests_to("/sdk/v1/stream")) == 2, timeout=5),
                        "the child connects its own stream")
        # Each open stream takes what is queued when it wakes up: push until both processes have had it.
        report: Any = None
        deadline = time.monotonic() + 10
        while (report is None or client.ruleset_version != 2) and time.monotonic() < deadline:
            self.server.push_stream_ruleset(make_ruleset(2, color="green"))
            if report is None:
                with contextlib.suppress(TimeoutError):
                    report = proc.channel.recv(0.1)
            else:
                time.sleep(0.05)

        self.assertEqual(report, {"version": 2, "color": "green"})
        self.assertEqual(client.ruleset_version, 2)
        self.assert_exits_cleanly(proc)
        # No reconnect and no fallback poll in the parent: the child did not break the parent's stream socket.
        self.assertEqual(len(self.server.requests_to("/sdk/v1/stream")), 2)
        self.assertEqual(len(self.server.requests_to("/sdk/v1/ruleset")), 2, "one fetch at the start of each process")

    def test_the_childs_evaluation_counts_name_the_application_as_the_parents_do(self) -> None:
        client = self.client(flush_interval=60, app_name="checkout-api")

        def child(channel: Channel) -> None:
            client.get_value("feature", "c1", False)
            channel.send({"flushed": client.flush(5)})

        proc = self.fork(child)
        self.assertEqual(self.recv(proc, 10), {"flushed": True})
        self.assert_exits_cleanly(proc)
        # By id: a send that timed out on a loaded machine is retried, and the pipeline keeps one of each id.
        records = {e["id"]: (e.get("app"), e["counts"]) for e in self.server.events() if e["type"] == "evaluations"}
        self.assertEqual(list(records.values()), [("checkout-api", [{"flag": "feature", "variation": "on", "count": 1}])])

    def test_the_child_sends_its_own_events_once_and_leaves_the_parents_queue_to_the_parent(self) -> None:
        client = self.client(flush_interval=60, batch_size=3)
        self.assertIsNotNone(client.get_variant("checkout", "p1"))
        client.track_event("queued-in-parent", "p1")
        self.assertEqual(client._queue_len(), 2)  # noqa: SLF001 - below the batch size: still queued at the fork

        def child(channel: Channel) -> None:
            client.get_variant("checkout", "p1")  # exposed by the parent already: not logged again
            client.get_variant("checkout", "c1")
            client.track_event("tracked-in-child", "c1")
            client.track_event("tracked-in-child-2", "c1")  # a full batch: the child's own flusher sends it
            channel.send("queued")
            channel.recv(10)  # alive until the parent has seen the batch

        proc = self.fork(child)
        self.assertEqual(self.recv(proc), "queued")
        self.assertTrue(self.server.wait_for(lambda: len(self.server.events()) >= 3, timeout=5), "the child's flusher sends its batch")
        proc.channel.send("done")
        self.assert_exits_cleanly(proc)
        self.assertTrue(client.flush(2))

        self.assertEqual(self.event_names(), ["exposure:c1", "exposure:p1", "queued-in-parent", "tracked-in-child", "tracked-in-child-2"])
        first, second = (r.json()["events"] for r in self.server.requests_to("/sdk/v1/events", "POST"))
        self.assertEqual([e.get("name", e["type"]) for e in first], ["exposure", "tracked-in-child", "tracked-in-child-2"])
        self.assertEqual([e.get("name", e["type"]) for e in second], ["exposure", "queued-in-parent"])
        self.assertEqual(len({e["id"] for e in self.server.events()}), 5)

    def test_the_child_does_not_deadlock_on_locks_another_thread_held_at_the_fork(self) -> None:
        store = InMemoryStickyBucketStore()
        client = self.client(flush_interval=60, sticky_bucket_store=store)
        ruleset = make_ruleset(2, color="green")  # the child's refresh compiles a new document
        ruleset["experiments"]["checkout"]["sticky"] = {"bucketVersion": 1, "minBucketVersion": 0}  # the child's evaluation uses the store
        self.server.set_ruleset(ruleset)
        held, release = threading.Event(), threading.Event()
        locks = [client._queue_lock, client._send_lock, client._exposures_lock, client._update_lock,  # noqa: SLF001
                 client._stream_lock, client._close_lock, evaluation._cache_lock, store._lock]  # noqa: SLF001

        def hold() -> None:
            with contextlib.ExitStack() as stack:
                for lock in locks:
                    stack.enter_context(lock)
                held.set()
                release.wait(CHILD_TIMEOUT)
        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        self.addCleanup(holder.join, 2)
        self.addCleanup(release.set)
        self.assertTrue(held.wait(2))

        def child(channel: Channel) -> None:
            client.track_event("tracked-in-child", "c1")
            refreshed = client.refresh()
            client.get_variant("checkout", "c1")
            delivered = client.flush(3)
            client.close(1)
            channel.send({"refreshed": refreshed, "version": client.ruleset_version, "delivered": delivered,
                          "sticky": sorted(store.snapshot())})

        proc = self.fork(child)  # while the holder thread has every lock
        release.set()

        self.assertEqual(self.recv(proc, 8), {"refreshed": True, "version": 2, "delivered": True, "sticky": ["id||c1"]})
        self.assert_exits_cleanly(proc)
        self.assertEqual(self.event_names(), ["exposure:c1", "tracked-in-child"])

    def test_a_closed_client_stays_closed_in_the_child_and_a_dropped_one_is_not_kept_alive_by_its_hooks(self) -> None:
        client = self.client(flush_interval=60)
        client.track_event("before-close", "p1")
        client.close(1)

        def child(channel: Channel) -> None:
            client.postfork()
            client.track_event("after-close-in-child", "c1")
            client.flush(0.5)
            channel.send({"stopped": not client._updater.is_alive() and not client._flusher.is_alive(),  # noqa: SLF001
                          "queued": client._queue_len(), "color": client.get_value("color", "u1", "x")})  # noqa: SLF001

        proc = self.fork(child)
        self.assertEqual(self.recv(proc), {"stopped": True, "queued": 0, "color": "blue"})
        self.assert_exits_cleanly(proc)
        self.assertEqual(self.event_names(), ["before-close"])

        # The fork and atexit hooks hold a client weakly: a closed client nobody references is collected.
        dropped = Client(api_key=API_KEY, api_url=self.server.url, **FAST)
        dropped.close(0.5)
        ref = weakref.ref(dropped)
        del dropped
        gc.collect()
        self.assertIsNone(ref())

    def test_postfork_is_idempotent_and_does_nothing_in_the_process_that_started_the_client(self) -> None:
        client = self.client(poll_interval=0.05)
        updater, flusher = client._updater, client._flusher  # noqa: SLF001
        client.postfork()
        self.assertIs(client._updater, updater)  # noqa: SLF001
        self.assertIs(client._flusher, flusher)  # noqa: SLF001

        def child(channel: Channel) -> None:
            started = (client._updater, client._flusher)  # noqa: SLF001 - by the fork hook
            count = sum(1 for t in threading.enumerate() if t.name in ("xp-ruleset", "xp-events"))
            client.postfork()
            client.postfork()
            channel.send({
                "restarted": started != (updater, flusher) and all(t.is_alive() for t in started),
                "same_after_postfork": (client._updater, client._flusher) == started,  # noqa: SLF001
                "no_new_threads": count == sum(1 for t in threading.enumerate() if t.name in ("xp-ruleset", "xp-events")),
            })

        proc = self.fork(child)
        self.assertEqual(self.recv(proc), {"restarted": True, "same_after_postfork": True, "no_new_threads": True})
        self.assert_exits_cleanly(proc)

    def test_postfork_called_by_hand_restarts_a_client_whose_fork_hook_did_not_run(self) -> None:
        # As under uWSGI without py-call-osafterfork, or a Python without os.register_at_fork.
        with mock.patch("os.register_at_fork") as register:
            client = self.client(poll_interval=0.05, flush_interval=60, batch_size=1)
        register.assert_called_once()
        client.track_event("queued-in-parent", "p1")  # stays queued: the parent's flusher is waiting

        def child(channel: Channel) -> None:
            stale = client._updater.is_alive() or client._flusher.is_alive()  # noqa: SLF001
            client.postfork()
            client.track_event("tracked-in-child", "c1")
            channel.send({"stale_threads_alive": stale})
            deadline = time.monotonic() + 8
            while client.ruleset_version != 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            channel.send({"version": client.ruleset_version})
            channel.recv(10)

        proc = self.fork(child)
        self.assertEqual(self.recv(proc), {"stale_threads_alive": False})
        self.server.set_ruleset(make_ruleset(2))
        self.assertEqual(self.recv(proc, 10), {"version": 2})
        self.assertTrue(self.server.wait_for(lambda: "tracked-in-child" in self.event_names(), timeout=5))
        proc.channel.send("done")
        self.assert_exits_cleanly(proc)

    def test_the_atexit_close_in_the_child_sends_the_childs_events_not_the_parents(self) -> None:
        client = self.client(flush_interval=60)
        client.track_event("queued-in-parent", "p1")

        def child(channel: Channel) -> None:
            client.track_event("tracked-in-child", "c1")
            atexit._run_exitfuncs()  # what the child's interpreter runs when it exits normally
            channel.send({"closed": client._closed, "queued": client._queue_len()})  # noqa: SLF001

        proc = self.fork(child)
        self.assertEqual(self.recv(proc), {"closed": True, "queued": 0})
        self.assert_exits_cleanly(proc)
        self.assertEqual(self.event_names(), ["tracked-in-child"])
        self.assertTrue(client.flush(2))
        self.assertEqual(self.event_names(), ["queued-in-parent", "tracked-in-child"])
