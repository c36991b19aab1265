import { afterEach, describe, expect, it, vi } from 'vitest';
import { ExperimentationClient } from '../client.js';
import type { ClientOptions } from '../types.js';
import { FakeServer } from './fake-server.js';
import { eventually, makeRuleset, recordingLogger } from './fixtures.js';

/**
 * Event delivery under load and at the end of a page or process: default throughput (several
 * batches in flight, larger batches), page hide with a batch in flight (queued events first in the
 * keepalive budget), and close() retrying within its documented budget.
 */

const KEY = 'xpk_srv_test-key';
const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  vi.unstubAllGlobals();
  await Promise.all(open.splice(0).map((x) => x.close()));
});

async function setup(options: ClientOptions = {}): Promise<{ s: FakeServer; c: ExperimentationClient }> {
  const s = await new FakeServer(makeRuleset(1)).start();
  const c = new ExperimentationClient(KEY, { apiUrl: s.url, streaming: false, pollIntervalMs: 60_000, timeoutMs: 2_000, retryBaseMs: 20, retryMaxMs: 100, logger: recordingLogger(), ...options });
  open.push(c, s);
  await c.ready();
  return { s, c };
}

/** A fetch adding `ms` to each events POST and recording how many are in flight at once. */
function slowPosts(ms: number): { fetch: (url: string, init: RequestInit) => Promise<Response>; maxInFlight: () => number } {
  let inFlight = 0;
  let max = 0;
  return {
    fetch: async (url, init) => {
      if (init.method !== 'POST') {
        return globalThis.fetch(url, init);
      }
      max = Math.max(max, ++inFlight);
      try {
        await new Promise((resolve) => setTimeout(resolve, ms));
        return await globalThis.fetch(url, init);
      } finally {
        inFlight--;
      }
    },
    maxInFlight: () => max,
  };
}

describe('default throughput', () => {
  it('keeps up with 8,000 events/s for a second on 40 ms round trips (several larger batches in flight), dropping none', async () => {
    const slow = slowPosts(40);
    const { s, c } = await setup({ fetch: slow.fetch, maxQueueSize: 2_000 });

    const started = Date.now();
    for (let tick = 0; tick < 50; tick++) {
      for (let i = 0; i < 160; i++) {
        c.trackEvent('load', `u${tick}-${i}`);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + (tick + 1) * 20 - Date.now())));
    }
    await c.flush();

    expect(c.getStats()).toMatchObject({ droppedEvents: 0, sentEvents: 8_000 });
    expect(s.events).toHaveLength(8_000);
    expect(slow.maxInFlight()).toBeGreaterThan(1);
    expect(Math.max(...s.eventPosts.map((p) => p.count))).toBe(250);
  });

  it('sends one batch at a time in a page (6 connections per host over HTTP/1.1)', async () => {
    const slow = slowPosts(30);
    vi.stubGlobal('document', { visibilityState: 'visible' });
    const { c } = await setup({ fetch: slow.fetch });
    vi.unstubAllGlobals();

    for (let i = 0; i < 1_000; i++) {
      c.trackEvent('load', `u${i}`);
    }
    await c.flush();

    expect(slow.maxInFlight()).toBe(1);
    expect(c.getStats().sentEvents).toBe(1_000);
  });
});

describe('page hide with a batch in flight', () => {
  it('spends the keepalive budget on the queued events first, not on re-sending the batch in flight', async () => {
    const listeners = new Map<string, () => void>();
    const doc = { visibilityState: 'visible', addEventListener: (type: string, l: () => void) => listeners.set(type, l), removeEventListener: () => undefined };
    const keepalive: number[][] = [];
    const fetch = (url: string, init: RequestInit): Promise<Response> => {
      if (!url.endsWith('/sdk/v1/events')) {
        return globalThis.fetch(url, init);
      }
      if (init.keepalive !== true) {
        // The plain send in flight: no answer until aborted (the page is being unloaded).
        return new Promise((_resolve, reject) => {
          init.signal?.addEventListener('abort', () => {
            reject(new TypeError('aborted'));
          });
        });
      }
      keepalive.push((JSON.parse(init.body as string) as { events: { properties: { i: number } }[] }).events.map((e) => e.properties.i));
      return globalThis.fetch(url, init);
    };
    vi.stubGlobal('document', doc);
    const { c } = await setup({ fetch, timeoutMs: 500, maxBatchSize: 100, flushIntervalMs: 60_000 });
    vi.unstubAllGlobals();
    // As browser3.mjs: 400 events of about 700 bytes; the 100th starts a plain send.
    for (let i = 0; i < 400; i++) {
      c.trackEvent('burst', 'u1', { i, pad: 'x'.repeat(600) });
    }

    doc.visibilityState = 'hidden';
    listeners.get('visibilitychange')?.();
    const sent = keepalive.flat();

    // The budget (64 KiB) holds about 90 of them: queued events 100, 101, … rather than 0-99 again.
    expect(sent.length).toBeGreaterThan(50);
    expect(sent[0]).toBe(100);
    expect(sent.every((i) => i >= 100)).toBe(true);
    expect(sent).toEqual([...sent].sort((a, b) => a - b));
  });
});

describe('close() under a 503 with Retry-After', () => {
  it('retries within twice timeoutMs even when the backoff would wait longer (one last try before the end), honouring Retry-After', async () => {
    // random 0.99: the second backoff is ~2 s, past the 2.8 s budget's end once added to the second attempt's 1 s.
    const { s, c } = await setup({ timeoutMs: 1_400, retryBaseMs: 1_000, retryMaxMs: 60_000, random: () => 0.99 });
    s.eventsMode = 'busy';
    s.retryAfterSeconds = 1;
    c.trackEvent('click', 'u1');

    const started = Date.now();
    const closed = c.close();
    await eventually(() => s.eventPosts.length === 2, 3_000);
    s.eventsMode = 'ok';
    await closed;

    expect(s.eventPosts.map((p) => p.status)).toEqual([503, 503, 202]);
    // Not before Retry-After allowed it, and within the 2.8 s budget.
    expect(s.eventPosts[2]!.at - s.eventPosts[1]!.at).toBeGreaterThanOrEqual(990);
    expect(s.eventPosts[2]!.at - started).toBeLessThan(2_800);
    expect(c.getStats()).toMatchObject({ sentEvents: 1, droppedEvents: 0 });
  });
});
