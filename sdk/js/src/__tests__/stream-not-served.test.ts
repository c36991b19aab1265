import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExperimentationClient } from '../client.js';
import { STREAM_RECHECK_MS } from '../ruleset-sync.js';
import type { ClientOptions, FetchLike } from '../types.js';
import { FakeApi } from './fake-fetch.js';
import { makeRuleset, recordingLogger } from './fixtures.js';

// A deployment whose responses are buffered (the evaluation Lambda behind API Gateway) does not
// serve /sdk/v1/stream: it answers 404 STREAM_NOT_AVAILABLE. That is no outage: the client must
// poll every pollIntervalMs, say so once, and not retry the stream (and poll) every few seconds.

const KEY = 'xpk_srv_test-key';
const API = 'https://xp.example.com';
const open: { close(): unknown }[] = [];

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(async () => {
  const closing = Promise.all(open.splice(0).map((x) => x.close()));
  await vi.advanceTimersByTimeAsync(10_000);
  await closing;
  vi.useRealTimers();
});

const NOT_AVAILABLE = JSON.stringify({ error: { code: 'STREAM_NOT_AVAILABLE', message: 'this deployment does not serve /sdk/v1/stream' } });

/** The API, with the stream answered `status` and `body` (by default the server's STREAM_NOT_AVAILABLE JSON error, no Retry-After) while `refuse` says so. */
function api(status: number, body: string = NOT_AVAILABLE): { api: FakeApi; fetch: FetchLike; refuse: { on: boolean } } {
  const fake = new FakeApi(makeRuleset(1));
  const refuse = { on: true };
  const fetch: FetchLike = (input, init) => {
    if (refuse.on && new URL(input).pathname === '/sdk/v1/stream') {
      fake.requests.push({ path: '/sdk/v1/stream', at: Date.now() });
      return Promise.resolve(new Response(body, { status, headers: { 'Content-Type': 'application/json' } }));
    }
    return fake.fetch(input, init);
  };
  return { api: fake, fetch, refuse };
}

function client(fetch: FetchLike, options: ClientOptions = {}): { c: ExperimentationClient; log: ReturnType<typeof recordingLogger> } {
  const log = recordingLogger();
  const c = new ExperimentationClient(KEY, { apiUrl: API, fetch, logger: log, streamIdleTimeoutMs: 3_600_000, ...options });
  open.push(c);
  return { c, log };
}

const warnings = (log: ReturnType<typeof recordingLogger>): string[] => log.lines.filter((l) => l.level === 'warn').map((l) => l.message);

describe('an API that does not serve the stream (404 STREAM_NOT_AVAILABLE on API Gateway)', () => {
  it('polls every pollIntervalMs, warns once, and asks for the stream once per STREAM_RECHECK_MS, not every 5 s', async () => {
    const { api: fake, fetch } = api(404);
    const { c, log } = client(fetch);

    await vi.advanceTimersByTimeAsync(5 * 60_000);

    // Before: a stream attempt and a poll every ~5 s (~60 each in 5 minutes), "ruleset stream broke".
    expect(fake.count('/sdk/v1/stream')).toBe(1);
    // The first fetch, then one every 30 s.
    expect(fake.count('/sdk/v1/ruleset')).toBe(1 + 10);
    const polls = fake.requests.filter((r) => r.path === '/sdk/v1/ruleset').map((r) => r.at);
    expect(polls.slice(1).map((at, i) => at - polls[i]!)).toEqual(Array<number>(10).fill(30_000));
    expect(warnings(log)).toEqual([expect.stringMatching(/^xp: the API does not serve the ruleset stream here \(GET \/sdk\/v1\/stream answered 404 STREAM_NOT_AVAILABLE\): polling \/sdk\/v1\/ruleset every 30 s instead, trying the stream again every 10 minutes/) as unknown]);
    expect(c.getStats().streaming).toBe(false);

    await vi.advanceTimersByTimeAsync(STREAM_RECHECK_MS);
    expect(fake.count('/sdk/v1/stream')).toBe(2);
    expect(warnings(log)).toHaveLength(1);
  });

  it('polls at a pollIntervalMs of its own, and streams again once the API serves the stream', async () => {
    const { api: fake, fetch, refuse } = api(404);
    const { c, log } = client(fetch, { pollIntervalMs: 60_000 });
    await vi.advanceTimersByTimeAsync(60_000 * 5);
    expect(fake.count('/sdk/v1/ruleset')).toBe(1 + 5);

    refuse.on = false;
    await vi.advanceTimersByTimeAsync(STREAM_RECHECK_MS);
    expect(c.getStats().streaming).toBe(true);
    expect(warnings(log)).toHaveLength(1);
  });

  it.each([405, 410, 501])('takes %i the same way', async (status) => {
    const { api: fake, fetch } = api(status);
    const { log } = client(fetch);

    await vi.advanceTimersByTimeAsync(2 * 60_000);

    expect(fake.count('/sdk/v1/stream')).toBe(1);
    expect(fake.count('/sdk/v1/ruleset')).toBe(1 + 4);
    expect(warnings(log)).toEqual([expect.stringContaining(`answered ${status}): polling /sdk/v1/ruleset every 30 s instead`) as unknown]);
  });

  it.each([
    ['no body', ''],
    ['an HTML page', '<html><body>404 Not Found</body></html>'],
    ['another JSON error code', '{"error":{"code":"NOT_FOUND","message":"no such route"}}'],
  ])('takes a 404 with %s (a wrong apiUrl, a proxy during a deploy) as an outage to retry, not as a stream the API does not serve', async (_, body) => {
    const { api: fake, fetch, refuse } = api(404, body);
    const { c, log } = client(fetch);

    await vi.advanceTimersByTimeAsync(60_000);

    // Retried with backoff (capped at streamRetryMaxMs, 5 s), polling meanwhile: not once per 10 minutes.
    expect(fake.count('/sdk/v1/stream')).toBeGreaterThan(5);
    expect(warnings(log)).toEqual([expect.stringMatching(/^xp: ruleset stream broke \(HTTP: GET \/sdk\/v1\/stream answered 404\); polling every/) as unknown]);
    expect(warnings(log).join('\n')).not.toContain('does not serve');

    refuse.on = false;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(c.getStats().streaming).toBe(true);
  });

  it('still takes a 503 (a full instance, with Retry-After) as an outage to retry', async () => {
    const fake = new FakeApi(makeRuleset(1));
    let streams = 0;
    const fetch: FetchLike = (input, init) => {
      if (new URL(input).pathname === '/sdk/v1/stream' && streams++ < 3) {
        return Promise.resolve(new Response('{"error":{"code":"UNAVAILABLE","message":"too many open streams"}}', { status: 503, headers: { 'Retry-After': '5' } }));
      }
      return fake.fetch(input, init);
    };
    const { c, log } = client(fetch);

    await vi.advanceTimersByTimeAsync(60_000);

    expect(streams).toBe(4);
    expect(c.getStats().streaming).toBe(true);
    expect(warnings(log)).toEqual([expect.stringMatching(/^xp: ruleset stream broke/) as unknown]);
  });
});
