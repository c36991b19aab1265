import { afterEach, describe, expect, it } from 'vitest';
import { ExperimentationClient } from '../client.js';
import type { ClientOptions } from '../types.js';
import { FakeServer } from './fake-server.js';
import { eventually, makeRuleset, recordingLogger } from './fixtures.js';
import type { RecordingLogger } from './fixtures.js';

// After an API outage or restart, a change made as soon as the API is back (a kill switch) must reach
// a streaming client within about streamRetryMaxMs (or a Retry-After, when longer), however long the
// outage lasted: not after a reconnect backoff grown during the outage, nor at the next
// pollIntervalMs. Short timings here stand for the defaults (5 s and 30 s).

const KEY = 'xpk_srv_test-key';
const open: { close(): Promise<void> }[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

afterEach(async () => {
  process.off('unhandledRejection', onUnhandled);
  await Promise.all(open.splice(0).map((x) => x.close()));
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function streamingClient(options: ClientOptions): Promise<{ s: FakeServer; c: ExperimentationClient; log: RecordingLogger }> {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
  const s = await new FakeServer(makeRuleset(1)).start();
  open.push(s);
  const log = recordingLogger();
  // pollIntervalMs far beyond the test: only polling at the outage interval can help. random() = 1: the longest jittered delays.
  const c = new ExperimentationClient(KEY, { apiUrl: s.url, timeoutMs: 300, pollIntervalMs: 60_000, retryBaseMs: 100, retryMaxMs: 60_000, random: () => 1, logger: log, ...options });
  open.push(c);
  await c.ready();
  await eventually(() => c.getStats().streaming);
  return { s, c, log };
}

const messages = (log: RecordingLogger, level: string, pattern: RegExp): string[] => log.lines.filter((l) => l.level === level && pattern.test(l.message)).map((l) => l.message);

describe('stream after an outage', () => {
  it('holds a ruleset published as the API comes back (refused, then 503 "starting" with Retry-After) within the bound, logging the break and the recovery once each', async () => {
    const { s, c, log } = await streamingClient({ streamRetryMaxMs: 400 });

    // Down for 2.3 s (connections refused), then starting for 1.5 s (503, Retry-After: 1): a reconnect
    // backoff doubling from 100 ms would have grown to 3.2 s by then.
    await s.stop();
    await sleep(2300);
    s.starting = true;
    await s.resume();
    const resumed = Date.now();
    await sleep(1500);
    s.starting = false;
    const back = Date.now();
    s.publish(makeRuleset(2, { checkoutOn: true }));

    await eventually(() => c.getStats().rulesetVersion === 2, 8000);
    const took = Date.now() - back;
    await eventually(() => c.getStats().streaming && log.has('info', 'stream reconnected'), 2000);

    // At most the Retry-After of the last 503 (1 s) or streamRetryMaxMs (0.4 s), plus a round trip.
    expect(took).toBeLessThan(1600);
    // Not hammering: while the API answered 503 with Retry-After: 1 (1.5 s), no stream attempt came sooner than it asked.
    expect(s.requests.filter((r) => r.url === '/sdk/v1/stream' && r.at >= resumed && r.at < back).length).toBeLessThanOrEqual(2);
    expect(c.isFeatureEnabled('checkout', 'u1')).toBe(true);
    const broke = messages(log, 'warn', /stream broke/);
    expect(broke).toHaveLength(1);
    expect(broke[0]).toMatch(/^xp: ruleset stream broke \(NETWORK: .+\); polling every 400 ms until it is back$/);
    expect(messages(log, 'info', /stream reconnected/)).toEqual(['xp: ruleset stream reconnected; serving ruleset version 2']);
    // The polls that failed meanwhile warned once too, not once per retry.
    expect(messages(log, 'warn', /ruleset refresh failed/).length).toBeLessThanOrEqual(1);
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([]);
    expect(unhandled).toEqual([]);
  }, 20_000);

  it('polls at the outage interval while the stream is down, and reconnects the stream as soon as a poll succeeds again', async () => {
    // A long stream backoff (doubling from 100 ms, up to 10 s): only the poll (every 300 ms) can notice the API is back in time.
    const { s, c, log } = await streamingClient({ pollIntervalMs: 300, streamRetryMaxMs: 10_000 });

    await s.stop();
    await sleep(2000);
    await s.resume();
    const back = Date.now();
    s.publish(makeRuleset(2, { color: 'after-outage' }));

    await eventually(() => c.getStats().streaming && c.getValue('color', 'u1', 'red') === 'after-outage', 5000);
    const took = Date.now() - back;

    await eventually(() => log.has('info', 'stream reconnected'), 2000);

    // A poll within 300 ms of the API being back, then the stream at once (it would otherwise wait out a backoff grown to 1.6 s).
    expect(took).toBeLessThan(700);
    expect(messages(log, 'warn', /stream broke/)).toHaveLength(1);
    expect(messages(log, 'info', /stream reconnected/)).toEqual(['xp: ruleset stream reconnected; serving ruleset version 2']);
    expect(unhandled).toEqual([]);
  }, 20_000);
});
