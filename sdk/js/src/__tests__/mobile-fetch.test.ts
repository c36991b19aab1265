import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExperimentationClient } from '../client.js';
import { RulesetSync, STREAM_RECHECK_MS } from '../ruleset-sync.js';
import { Transport } from '../transport.js';
import type { ClientOptions } from '../types.js';
import { FakeApi } from './fake-fetch.js';
import { makeRuleset, recordingLogger } from './fixtures.js';

// React Native's fetch (whatwg-fetch over XMLHttpRequest) resolves only once the whole body has
// arrived and gives no Response.body: the stream request never answers. The client must notice,
// say so once, and poll every pollIntervalMs, instead of retrying the stream every few seconds.

const KEY = 'xpk_cli_test-key';
const API = 'https://xp.example.com';
const open: { close(): unknown }[] = [];

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(async () => {
  // close() retries unsent events within its budget, on the fake timers.
  const closing = Promise.all(open.splice(0).map((x) => x.close()));
  await vi.advanceTimersByTimeAsync(10_000);
  await closing;
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

function client(api: FakeApi, options: ClientOptions = {}): { c: ExperimentationClient; log: ReturnType<typeof recordingLogger> } {
  const log = recordingLogger();
  // The fake stream sends no heartbeats: no idle reconnects within the test.
  const c = new ExperimentationClient(KEY, { apiUrl: API, fetch: api.fetch, logger: log, streamIdleTimeoutMs: 3_600_000, ...options });
  open.push(c);
  return { c, log };
}

const warnings = (log: ReturnType<typeof recordingLogger>, fragment: string): string[] => log.lines.filter((l) => l.level === 'warn' && l.message.includes(fragment)).map((l) => l.message);

describe('a fetch that cannot stream (React Native)', () => {
  it('stops retrying a stream that never answers while polls do, warns once naming React Native, and polls every pollIntervalMs', async () => {
    const api = new FakeApi(makeRuleset(1));
    api.rn = true;
    const { c, log } = client(api);

    await vi.advanceTimersByTimeAsync(60_000);
    const streamsInFirstMinute = api.count('/sdk/v1/stream');
    const rulesetsInFirstMinute = api.count('/sdk/v1/ruleset');
    await vi.advanceTimersByTimeAsync(5 * 60_000);

    // Before: a stream attempt every ~4 s and a poll every ~4 s, for good (~27 requests a minute).
    expect(streamsInFirstMinute).toBeLessThanOrEqual(3);
    expect(rulesetsInFirstMinute).toBeLessThanOrEqual(8);
    expect(api.count('/sdk/v1/stream')).toBe(streamsInFirstMinute);
    // Five more minutes: one poll every 30 s.
    expect(api.count('/sdk/v1/ruleset') - rulesetsInFirstMinute).toBe(10);
    expect(c.getStats().streaming).toBe(false);
    const cannot = warnings(log, 'cannot stream');
    expect(cannot).toHaveLength(1);
    expect(cannot[0]).toMatch(/^xp: this fetch cannot stream the ruleset \(\d stream requests had no answer within 3 s while ruleset requests were answered\): polling every 30 s instead, trying the stream again every 10 minutes\. On React Native, .*`streaming: false`/);
  });

  it('tries the stream again every STREAM_RECHECK_MS, quietly, and streams again once the fetch can', async () => {
    const api = new FakeApi(makeRuleset(1));
    api.rn = true;
    const { c, log } = client(api);
    await vi.advanceTimersByTimeAsync(60_000);
    const before = api.count('/sdk/v1/stream');

    await vi.advanceTimersByTimeAsync(STREAM_RECHECK_MS);
    expect(api.count('/sdk/v1/stream')).toBe(before + 1);
    expect(warnings(log, 'cannot stream')).toHaveLength(1);

    // A network path that streams again (a buffering proxy left behind).
    api.rn = false;
    await vi.advanceTimersByTimeAsync(STREAM_RECHECK_MS);
    expect(c.getStats().streaming).toBe(true);
    const polls = api.count('/sdk/v1/ruleset');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(api.count('/sdk/v1/ruleset') - polls).toBeLessThanOrEqual(2);
  });

  it('falls back at once, for good, when a stream answer has no readable body (a Response without body)', async () => {
    const api = new FakeApi(makeRuleset(1));
    const rn: typeof api.fetch = async (input, init) => {
      const r = await api.fetch(input, init);
      return { status: r.status, ok: r.ok, headers: r.headers, text: () => (r.body === null ? Promise.resolve('') : r.text()), body: undefined } as unknown as Response;
    };
    const { c, log } = client(api, { fetch: rn });

    await vi.advanceTimersByTimeAsync(15 * 60_000);

    expect(api.count('/sdk/v1/stream')).toBe(1);
    expect(c.getStats().streaming).toBe(false);
    expect(warnings(log, 'cannot stream')).toEqual([expect.stringContaining('(the stream response has no readable body): polling every 30 s instead. On React Native')]);
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('keeps retrying a stream that times out while the network is down everywhere (no fallback without an answered poll)', async () => {
    const api = new FakeApi(makeRuleset(1));
    const { c, log } = client(api, { pollIntervalMs: 30_000 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(c.getStats().streaming).toBe(true);

    // Packets dropped: the stream and polls alike hang until timeoutMs.
    api.blackhole = true;
    api.dropStreams();
    await vi.advanceTimersByTimeAsync(60_000);

    expect(warnings(log, 'cannot stream')).toEqual([]);
    expect(api.count('/sdk/v1/stream')).toBeGreaterThan(5);
  });
});

describe('a global Response without body at creation', () => {
  function sync(streaming: boolean, customFetch: boolean | undefined, api: FakeApi, log: ReturnType<typeof recordingLogger>): RulesetSync {
    const s = new RulesetSync({
      transport: new Transport(API, KEY, api.fetch, 3000),
      includeServerOnly: false,
      streaming,
      pollIntervalMs: 30_000,
      retryBaseMs: 1000,
      retryMaxMs: 60_000,
      streamIdleTimeoutMs: 45_000,
      random: () => 0.5,
      logger: log,
      offer: () => undefined,
      heldVersion: () => 1,
      customFetch,
    });
    open.push(s);
    return s;
  }

  // React Native's global Response (whatwg-fetch) has no `body`.
  class RnResponse {
    text(): Promise<string> {
      return Promise.resolve('');
    }
  }

  it('polls from the start, with one warning, when the global fetch is used', async () => {
    vi.stubGlobal('Response', RnResponse);
    const api = new FakeApi(makeRuleset(1));
    api.rn = true;
    const log = recordingLogger();

    await sync(true, false, api, log).start();
    await vi.advanceTimersByTimeAsync(120_000);

    expect(api.count('/sdk/v1/stream')).toBe(0);
    expect(api.count('/sdk/v1/ruleset')).toBe(5);
    expect(log.lines.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual([
      expect.stringMatching(/^xp: this fetch cannot stream the ruleset \(this runtime's Response has no streaming body \(React Native's fetch reads whole responses\)\): polling every 30 s instead\. On React Native/),
    ]);
  });

  it('still streams with a fetch of its own (it may stream: expo/fetch), or where Response has a body', async () => {
    const api = new FakeApi(makeRuleset(1));
    const log = recordingLogger();
    await sync(true, false, api, log).start();
    vi.stubGlobal('Response', RnResponse);
    await sync(true, undefined, api, log).start();
    await sync(true, true, api, log).start();
    await vi.advanceTimersByTimeAsync(1000);

    expect(api.count('/sdk/v1/stream')).toBe(3);
    expect(log.lines.filter((l) => l.level === 'warn')).toEqual([]);
  });
});
