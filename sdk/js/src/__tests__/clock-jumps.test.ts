import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExperimentationClient } from '../client.js';
import type { ClientOptions } from '../types.js';
import { FakeApi } from './fake-fetch.js';
import { makeRuleset, recordingLogger } from './fixtures.js';

// The wall clock can be set back (by the user, by NTP) while the client waits to retry: that must
// not lengthen the wait. Fake timers move the monotonic clock (performance.now) and the timers;
// vi.setSystemTime moves only the wall clock, as a clock set back does.

const KEY = 'xpk_cli_test-key';
const HOUR = 3_600_000;
const open: ExperimentationClient[] = [];

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(async () => {
  // close() retries unsent events within its budget, on the fake timers.
  const closing = Promise.all(open.splice(0).map((c) => c.close()));
  await vi.advanceTimersByTimeAsync(10_000);
  await closing;
  vi.useRealTimers();
});

function client(api: FakeApi, options: ClientOptions): ExperimentationClient {
  const c = new ExperimentationClient(KEY, { apiUrl: 'https://xp.example.com', fetch: api.fetch, logger: recordingLogger(), random: () => 1, streamIdleTimeoutMs: HOUR, ...options });
  open.push(c);
  return c;
}

const setBack = (ms: number): void => {
  vi.setSystemTime(Date.now() - ms);
};

/**
 * A client whose first event batch failed 400 ms ago: the API down, or answering 503 with this
 * Retry-After; it stays so until the test brings it back.
 */
async function afterFailedSend(failure: { down: true } | { retryAfter: string }, event = 'jump'): Promise<{ api: FakeApi; c: ExperimentationClient }> {
  const api = new FakeApi(makeRuleset(1));
  const c = client(api, { streaming: false, flushIntervalMs: 300, retryBaseMs: 200, retryMaxMs: 2000 });
  await vi.advanceTimersByTimeAsync(100);
  if ('down' in failure) {
    api.down = true;
  } else {
    api.eventsStatus = 503;
    api.retryAfter = failure.retryAfter;
  }
  c.trackEvent(event, 'u1');
  await vi.advanceTimersByTimeAsync(400);
  return { api, c };
}

describe('events after the clock is set back', () => {
  it('are sent within the backoff (retryMaxMs), not an hour later', async () => {
    const { api, c } = await afterFailedSend({ down: true });
    expect(api.count('/sdk/v1/events')).toBe(1);

    api.down = false;
    setBack(HOUR);
    await vi.advanceTimersByTimeAsync(2000);

    expect(c.getStats()).toMatchObject({ sentEvents: 1, queuedEvents: 0 });
  });

  it('flush() tries at once after a failure without Retry-After, clock set back or not', async () => {
    const { api, c } = await afterFailedSend({ down: true });

    api.down = false;
    setBack(HOUR);
    const flushed = c.flush();
    await vi.advanceTimersByTimeAsync(0);

    expect(await flushed).toEqual({ delivered: 1, queued: 0 });
  });

  it('honour a Retry-After, but not an hour longer than it asked', async () => {
    const { api, c } = await afterFailedSend({ retryAfter: '1' });
    api.eventsStatus = 202;

    setBack(HOUR);
    // Inside the window flush() does not try.
    const inside = c.flush();
    await vi.advanceTimersByTimeAsync(0);
    expect(await inside).toEqual({ delivered: 0, queued: 1 });
    await vi.advanceTimersByTimeAsync(2000);

    expect(c.getStats()).toMatchObject({ sentEvents: 1, queuedEvents: 0 });
    expect(api.posts).toHaveLength(2);
  });

  it('cap a Retry-After at 5 minutes (a broken header, or an HTTP date read on a slow device clock)', async () => {
    const { api, c } = await afterFailedSend({ retryAfter: '86400' }, 'late');
    api.eventsStatus = 202;

    await vi.advanceTimersByTimeAsync(5 * 60_000);

    expect(c.getStats()).toMatchObject({ sentEvents: 1, queuedEvents: 0 });
  });
});

describe('the stream after the clock is set back during an outage', () => {
  it('reconnects as soon as a poll succeeds again, not an hour later', async () => {
    const api = new FakeApi(makeRuleset(1));
    // A long stream backoff: only the poll's recovery (every 300 ms while down) brings it back quickly.
    const c = client(api, { pollIntervalMs: 300, retryBaseMs: 100, retryMaxMs: 60_000, streamRetryMaxMs: 10_000 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(c.getStats().streaming).toBe(true);

    api.down = true;
    api.dropStreams();
    // Attempts at +0.1, 0.3, 0.7, 1.5, 3.1 and 6.3 s (100 ms doubling), the next due at +12.7 s:
    // the clock is set back, and the API is back, during that wait.
    await vi.advanceTimersByTimeAsync(7000);
    setBack(HOUR);
    await vi.advanceTimersByTimeAsync(1000);
    api.down = false;
    await vi.advanceTimersByTimeAsync(1000);

    expect(c.getStats().streaming).toBe(true);
  });
});
