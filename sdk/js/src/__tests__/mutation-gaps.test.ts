import { afterEach, describe, expect, it } from 'vitest';
import { ExperimentationClient } from '../client.js';
import { LruMap, LruSet } from '../lru.js';
import type { ClientOptions } from '../types.js';
import { FakeServer } from './fake-server.js';
import { eventually, makeRuleset, recordingLogger } from './fixtures.js';
import type { RecordingLogger } from './fixtures.js';

/**
 * Behaviours a mutation audit found untested: the exposure cache's recency (LRU, not FIFO), a 429
 * answered to an events POST (retried, never refused), and exposures remembered per variation.
 */

const KEY = 'xpk_srv_test-key';
const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

async function setup(options: ClientOptions = {}, ruleset = makeRuleset(1)): Promise<{ s: FakeServer; c: ExperimentationClient; log: RecordingLogger }> {
  const s = await new FakeServer(ruleset).start();
  const log = recordingLogger();
  const c = new ExperimentationClient(KEY, {
    apiUrl: s.url,
    streaming: false,
    pollIntervalMs: 60_000,
    timeoutMs: 500,
    retryBaseMs: 20,
    retryMaxMs: 100,
    flushIntervalMs: 60_000,
    logger: log,
    ...options,
  });
  open.push(c, s);
  await c.ready();
  return { s, c, log };
}

/** makeRuleset with experiment `exp-ab` weighted so that every unit gets `variation`. */
function allIn(version: number, variation: 'control' | 'treatment'): Record<string, unknown> {
  const base = makeRuleset(version);
  const experiments = base.experiments as Record<string, Record<string, unknown>>;
  return { ...base, experiments: { ...experiments, 'exp-ab': { ...experiments['exp-ab'], weights: variation === 'control' ? [1, 0] : [0, 1] } } };
}

describe('LRU eviction', () => {
  it('LruMap: get() refreshes an entry, so the least recently used one is evicted, not the oldest set', () => {
    const m = new LruMap<number>(2);
    m.set('a', 1);
    m.set('b', 2);
    expect(m.get('a')).toBe(1);
    m.set('c', 3);

    expect([m.get('a'), m.get('b'), m.get('c')]).toEqual([1, undefined, 3]);
  });

  it('LruSet: touching a key (add() of one present) keeps it, and the untouched one is evicted', () => {
    const set = new LruSet(2);
    expect(set.add('a')).toBe(true);
    expect(set.add('b')).toBe(true);
    expect(set.add('a')).toBe(false);
    expect(set.add('c')).toBe(true);

    // a is still present (refused as already there); b was evicted (taken as new).
    expect(set.add('a')).toBe(false);
    expect(set.add('b')).toBe(true);
  });

  it('the client remembers the most recently exposed units: u1 seen again is not logged again', async () => {
    const { s, c } = await setup({ maxExposureCacheSize: 2 });

    for (const u of ['u1', 'u2', 'u1', 'u3', 'u1']) {
      c.getVariant('exp-ab', u);
    }
    await c.flush();

    expect(s.events.filter((e) => e.type === 'exposure').map((e) => e.unitId)).toEqual(['u1', 'u2', 'u3']);
  });
});

describe('events POST answered 429', () => {
  it('retries after Retry-After and delivers every event; nothing is rejected nor logged as refused', async () => {
    const statuses: number[] = [];
    const at: number[] = [];
    let limited = 1;
    const fetch = async (url: string, init: RequestInit): Promise<Response> => {
      if (init.method !== 'POST' || !url.endsWith('/sdk/v1/events')) {
        return globalThis.fetch(url, init);
      }
      at.push(Date.now());
      if (limited > 0) {
        limited--;
        statuses.push(429);
        return new Response('{"error":{"code":"RATE_LIMITED","message":"slow down"}}', { status: 429, headers: { 'Content-Type': 'application/json', 'Retry-After': '1' } });
      }
      const answer = await globalThis.fetch(url, init);
      statuses.push(answer.status);
      return answer;
    };
    const { s, c, log } = await setup({ fetch });

    c.trackEvent('click', 'u1');
    c.trackEvent('click', 'u2');
    await c.flush();
    // The client's count, not the server's: it moves once the answer has come back through `fetch` above.
    await eventually(() => c.getStats().sentEvents === 2, 4_000);

    expect(statuses).toEqual([429, 202]);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(950);
    expect(s.events.map((e) => e.unitId)).toEqual(['u1', 'u2']);
    expect(c.getStats()).toMatchObject({ sentEvents: 2, rejectedEvents: 0, droppedEvents: 0, queuedEvents: 0 });
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([]);
    expect(log.lines.some((l) => l.message.includes('refused'))).toBe(false);
  });
});

describe('exposure de-duplication per variation', () => {
  it('logs the unit again when a new ruleset moves it to another variation', async () => {
    const { s, c } = await setup({ pollIntervalMs: 50 }, allIn(1, 'control'));

    expect(c.getVariant('exp-ab', 'u1')).toBe('control');
    s.publish(allIn(2, 'treatment'));
    await eventually(() => c.getStats().rulesetVersion === 2);
    expect(c.getVariant('exp-ab', 'u1')).toBe('treatment');
    c.getVariant('exp-ab', 'u1');
    await c.flush();

    const exposures = s.events.filter((e) => e.type === 'exposure');
    expect(exposures.map((e) => [e.unitId, e.variation])).toEqual([
      ['u1', 'control'],
      ['u1', 'treatment'],
    ]);
  });
});
