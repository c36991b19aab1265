import { MAX_EVENTS_PER_BATCH as SERVER_MAX_EVENTS_PER_BATCH, sdkEventSchema } from '@xp/shared';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ExperimentationClient } from '../client.js';
import { EventQueue, MAX_EVENTS_PER_BATCH } from '../event-queue.js';
import type { ClientOptions } from '../types.js';
import { FakeServer } from './fake-server.js';
import { eventually, makeRuleset, recordingLogger } from './fixtures.js';
import type { RecordingLogger } from './fixtures.js';

const KEY = 'xpk_srv_test-key';
const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

async function setup(options: ClientOptions = {}): Promise<{ s: FakeServer; c: ExperimentationClient; log: RecordingLogger }> {
  const s = await new FakeServer(makeRuleset(1)).start();
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

describe('event batching', () => {
  it('sends a full batch at once and the rest after flushIntervalMs', async () => {
    // A long interval keeps "at once" and "after the interval" apart even on a loaded machine.
    const { s, c } = await setup({ maxBatchSize: 3, flushIntervalMs: 2_000 });
    const start = Date.now();

    for (let i = 0; i < 3; i++) {
      c.trackEvent('click', `u${i}`);
    }
    await eventually(() => s.eventPosts.length === 1);
    // Let the full batch's request finish: an event queued while it is in flight would leave with it.
    await c.flush();
    const firstBatch = s.eventPosts[0]!.count;
    c.trackEvent('click', 'u3');
    await eventually(() => s.events.length === 4, 10_000);

    expect(firstBatch).toBe(3);
    expect(s.eventPosts.map((p) => p.count)).toEqual([3, 1]);
    expect(s.eventPosts[0]!.at - start).toBeLessThan(1_500);
    expect(s.eventPosts[1]!.at - start).toBeGreaterThanOrEqual(1_990);
  });

  it('sends events that pass the server schema, with a numeric value taken from properties', async () => {
    const { s, c } = await setup();

    c.trackEvent('purchase_completed', { id: 'u1', attributes: { plan: 'pro' } }, { value: 99.99, currency: 'EUR', at: new Date(0) });
    c.trackEvent('signup', 'u2');
    await c.flush();

    expect(s.events).toHaveLength(2);
    expect(s.events.every((e) => sdkEventSchema.safeParse(e).success)).toBe(true);
    expect(s.events[0]).toMatchObject({ type: 'track', name: 'purchase_completed', unitId: 'u1', value: 99.99, properties: { currency: 'EUR', at: '1970-01-01T00:00:00.000Z' } });
    expect(s.events[1]).not.toHaveProperty('value');
    expect(new Set(s.events.map((e) => e.id)).size).toBe(2);
  });

  it("adds the unit's other identifiers (units) for the experiments bucketed on other attributes, as their exposures' unitIds", async () => {
    const ruleset = makeRuleset(1) as { experiments: Record<string, unknown> };
    ruleset.experiments['exp-device'] = { hashAttribute: 'deviceId', seed: 'exp-device', hashVersion: 2, coverage: 1, weights: [0.5, 0.5], variations: [{ key: 'control' }, { key: 'treatment' }] };
    ruleset.experiments['exp-company'] = { hashAttribute: 'companyId', fallbackAttribute: 'anonymousId', seed: 'exp-company', hashVersion: 2, coverage: 1, weights: [0.5, 0.5], variations: [{ key: 'a' }, { key: 'b' }] };
    const s = await new FakeServer(ruleset).start();
    const c = new ExperimentationClient(KEY, { apiUrl: s.url, streaming: false, pollIntervalMs: 60_000, timeoutMs: 500, flushIntervalMs: 60_000, logger: recordingLogger() });
    open.push(c, s);
    await c.ready();

    const full = { id: 'u1', attributes: { deviceId: 'dev1', companyId: 7, anonymousId: 'anon1' } };
    c.getVariant('exp-device', full);
    c.trackEvent('buy', full);
    c.trackEvent('buy', { id: 'u2', attributes: { deviceId: 'u2', companyId: '', anonymousId: null } });
    c.trackEvent('buy', 'u3');
    c.trackEvent('buy', { id: 'u4', attributes: { deviceId: true, companyId: Number.NaN, anonymousId: 'anon\u0000' } });
    c.trackEvent('buy', { id: 5, attributes: { deviceId: 5, anonymousId: 6 } });
    await c.flush();

    const tracks = s.events.filter((e) => e.type === 'track');
    const exposure = s.events.find((e) => e.type === 'exposure');
    expect(tracks.map((e) => [e.unitId, e.units])).toEqual([
      // Sorted by name; the fallback attribute too; a number as its decimal string.
      ['u1', { anonymousId: 'anon1', companyId: '7', deviceId: 'dev1' }],
      // Equal to the id, empty or absent: left out, and no units at all.
      ['u2', undefined],
      ['u3', undefined],
      // Not a bucketing value (a boolean, NaN) or one the API would refuse (NUL): left out.
      ['u4', undefined],
      ['5', { anonymousId: '6' }],
    ]);
    expect(tracks.every((e) => !('units' in e) || e.units !== undefined)).toBe(true);
    // The device's exposure names the unit the tracked event carries in units.
    expect(exposure).toMatchObject({ experiment: 'exp-device', unitId: 'dev1', hashAttribute: 'deviceId' });
    expect(s.events.every((e) => sdkEventSchema.safeParse(e).success)).toBe(true);
  });

  it('sends at most 10 other identifiers, the first by attribute name, and none for a ruleset bucketing on ids only', async () => {
    const ruleset = makeRuleset(1) as { experiments: Record<string, unknown> };
    const attributes: Record<string, string> = {};
    for (let i = 0; i < 12; i++) {
      const name = `attr${String(i).padStart(2, '0')}`;
      ruleset.experiments[`exp-${i}`] = { hashAttribute: name, seed: `exp-${i}`, hashVersion: 2, coverage: 1, weights: [1], variations: [{ key: 'only' }] };
      attributes[name] = `value-${i}`;
    }
    const s = await new FakeServer(ruleset).start();
    const c = new ExperimentationClient(KEY, { apiUrl: s.url, streaming: false, pollIntervalMs: 60_000, timeoutMs: 500, flushIntervalMs: 60_000, logger: recordingLogger() });
    const idsOnly = await setup();
    open.push(c, s);
    await c.ready();

    c.trackEvent('buy', { id: 'u1', attributes });
    idsOnly.c.trackEvent('buy', { id: 'u1', attributes: { deviceId: 'dev1' } });
    await c.flush();
    await idsOnly.c.flush();

    expect(Object.keys(s.events[0]!.units as object)).toEqual(Array.from({ length: 10 }, (_, i) => `attr${String(i).padStart(2, '0')}`));
    expect(sdkEventSchema.safeParse(s.events[0]).success).toBe(true);
    expect(idsOnly.s.events[0]).not.toHaveProperty('units');
  });

  describe('private attributes in units', () => {
    /** makeRuleset at `version` plus experiments bucketed on email (with a fallback on deviceId), on deviceId, and on companyId with a fallback on email. */
    const bucketedOnAttributes = (version: number): Record<string, unknown> => {
      const ruleset = makeRuleset(version) as { experiments: Record<string, unknown> };
      const exp = (hashAttribute: string, fallbackAttribute?: string): Record<string, unknown> => ({
        hashAttribute,
        ...(fallbackAttribute === undefined ? {} : { fallbackAttribute }),
        seed: `exp-${hashAttribute}`,
        hashVersion: 2,
        coverage: 1,
        weights: [0.5, 0.5],
        variations: [{ key: 'control' }, { key: 'treatment' }],
      });
      ruleset.experiments['exp-email'] = exp('email', 'deviceId');
      ruleset.experiments['exp-device'] = exp('deviceId');
      ruleset.experiments['exp-company'] = exp('companyId', 'email');
      return ruleset;
    };
    const user = { id: 'u2', attributes: { email: 'never.in.exp@example.org', deviceId: 'dev-2', companyId: 'acme', plan: 'pro' } };

    /** A client bootstrapped with version 1 that then loads version 2 from the API: two rulesets, one warning per attribute. */
    const run = async (privateAttributes: NonNullable<ClientOptions['privateAttributes']>): Promise<{ s: FakeServer; log: RecordingLogger }> => {
      const s = await new FakeServer(bucketedOnAttributes(2)).start();
      const log = recordingLogger();
      const c = new ExperimentationClient(KEY, { apiUrl: s.url, streaming: false, pollIntervalMs: 60_000, timeoutMs: 500, flushIntervalMs: 60_000, logger: log, bootstrap: bucketedOnAttributes(1), privateAttributes });
      open.push(c, s);
      await c.ready();
      expect(c.getSnapshot()?.version).toBe(2);
      c.getVariant('exp-email', user);
      c.trackEvent('purchase', user, { value: 5 });
      await c.flush();
      return { s, log };
    };
    const warnings = (log: RecordingLogger, name: string): string[] => log.lines.filter((l) => l.level === 'warn' && l.message.includes(`private attribute "${name}"`)).map((l) => l.message);

    it("leaves a private attribute out of tracked events' units, keeps the others, and warns once per attribute", async () => {
      const { s, log } = await run(['email']);

      const track = s.events.find((e) => e.type === 'track')!;
      expect(track.units).toEqual({ companyId: 'acme', deviceId: 'dev-2' });
      expect(JSON.stringify(s.events.filter((e) => e.type === 'track'))).not.toContain('never.in.exp@example.org');
      expect(sdkEventSchema.safeParse(track).success).toBe(true);
      // The one way the value leaves: as the unit id of an exposure to the experiment bucketed on it, without attributes.email.
      expect(s.events.filter((e) => e.type === 'exposure')).toEqual([expect.objectContaining({ experiment: 'exp-email', unitId: 'never.in.exp@example.org', hashAttribute: 'email', attributes: { deviceId: 'dev-2', companyId: 'acme', plan: 'pro' } })]);
      expect(warnings(log, 'email')).toEqual([
        'xp: private attribute "email" is left out of tracked events (privateAttributes): the metrics of the experiments bucketed on it ("exp-email", "exp-company") count only the events tracked with its value as the unit id: trackEvent(name, { id: <email> }) (warned once)',
      ]);
      expect(log.lines.filter((l) => l.message.includes('private attribute'))).toHaveLength(1);
    });

    it('leaves every attribute out of units with privateAttributes: true, warning once for each one an experiment buckets on', async () => {
      const { s, log } = await run(true);

      const track = s.events.find((e) => e.type === 'track')!;
      expect(track).toMatchObject({ unitId: 'u2', name: 'purchase', value: 5 });
      expect(track).not.toHaveProperty('units');
      expect(s.events.find((e) => e.type === 'exposure')).toMatchObject({ unitId: 'never.in.exp@example.org' });
      expect(s.events.find((e) => e.type === 'exposure')).not.toHaveProperty('attributes');
      expect(['companyId', 'deviceId', 'email'].map((name) => warnings(log, name).length)).toEqual([1, 1, 1]);
      expect(warnings(log, 'deviceId')[0]).toContain('("exp-email", "exp-device")');
    });

    it('warns about nothing when no private attribute is bucketed on', async () => {
      const { s, log } = await run(['plan']);

      expect(s.events.find((e) => e.type === 'track')!.units).toEqual({ companyId: 'acme', deviceId: 'dev-2', email: 'never.in.exp@example.org' });
      expect(log.lines.filter((l) => l.message.includes('private attribute'))).toEqual([]);
    });
  });

  it('sends an event whose properties exceed 16 KiB without them, so it cannot get its batch refused (413)', async () => {
    const { s, c, log } = await setup();

    c.trackEvent('ok', 'u1', { a: 1 });
    c.trackEvent('upload', 'u2', { value: 3, blob: 'x'.repeat(16_400) });
    c.trackEvent('ok', 'u3');
    await c.flush();

    expect(s.events.map((e) => e.name)).toEqual(['ok', 'upload', 'ok']);
    expect(s.events[1]).toMatchObject({ value: 3 });
    expect(s.events[1]).not.toHaveProperty('properties');
    expect(log.lines.some((l) => l.level === 'warn' && l.message.includes('too large'))).toBe(true);
  });

  it('measures the whole event in UTF-8 bytes, as the API does, so no event is refused as EVENT_TOO_LARGE', async () => {
    const { s, c } = await setup();

    c.trackEvent('fits', 'u1', { blob: 'x'.repeat(16_000) });
    c.trackEvent('envelope', 'u2', { value: 3, blob: 'x'.repeat(16_360) });
    c.trackEvent('multibyte', 'u3', { text: '€'.repeat(6_000) });
    await c.flush();

    const sizes = s.events.map((e) => Buffer.byteLength(JSON.stringify(e), 'utf8'));
    expect(s.events.map((e) => [e.name, 'properties' in e])).toEqual([
      ['fits', true],
      ['envelope', false],
      ['multibyte', false],
    ]);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(16 * 1024);
    expect(s.events[1]).toMatchObject({ value: 3 });
  });

  it('drops an event whose value is not a finite number, with one warning per call, as the Python SDK', async () => {
    const { s, c, log } = await setup();

    c.trackEvent('nan', 'u1', { value: NaN, currency: 'EUR' });
    c.trackEvent('inf', 'u1', { value: Infinity });
    c.trackEvent('-inf', 'u1', { value: -Infinity, currency: 'EUR' });
    c.trackEvent('ok', 'u1', { value: 0, currency: 'EUR' });
    await c.flush();

    expect(s.events).toEqual([expect.objectContaining({ name: 'ok', value: 0, properties: { currency: 'EUR' } })]);
    expect(log.lines.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual([
      'xp: trackEvent("nan") ignored: value must be a finite number',
      'xp: trackEvent("inf") ignored: value must be a finite number',
      'xp: trackEvent("-inf") ignored: value must be a finite number',
    ]);
    expect(c.getStats()).toMatchObject({ queuedEvents: 0, sentEvents: 1, droppedEvents: 0 });
  });

  it('ignores events without a name or a user id, with a warning', async () => {
    const { s, c, log } = await setup();

    c.trackEvent('', 'u1');
    c.trackEvent('x', { attributes: {} });
    await c.flush();

    expect(s.eventPosts).toHaveLength(0);
    expect(log.lines.filter((l) => l.level === 'warn')).toHaveLength(2);
  });
});

describe('retries', () => {
  it('retries a failed batch with backoff and delivers it once the API recovers', async () => {
    const { s, c } = await setup();
    s.eventsMode = 'fail';

    c.trackEvent('click', 'u1');
    void c.flush();
    // Three attempts with growing backoff: give them room on a loaded machine.
    await eventually(() => s.eventPosts.length >= 3, 10_000);
    s.eventsMode = 'ok';
    await eventually(() => s.events.length === 1, 10_000); // the next retry may be a full backoff away under load
    // The server has the event before the client has read its reply; wait for the client's books too.
    await eventually(() => c.getStats().sentEvents === 1, 10_000);

    expect(s.eventPosts.slice(0, 3).map((p) => p.status)).toEqual([500, 500, 500]);
    expect(c.getStats()).toMatchObject({ sentEvents: 1, droppedEvents: 0, queuedEvents: 0 });
  });

  it('flush() sends at once while a failed send waits for its backoff; failing again, the backoff goes on', async () => {
    const { s, c, log } = await setup({ retryBaseMs: 60_000, retryMaxMs: 60_000 });
    s.eventsMode = 'fail';
    c.trackEvent('click', 'u1');
    await c.flush();

    // The backoff asks for 30-60 s: flush() does not wait for it.
    await c.flush();
    expect(s.eventPosts.map((p) => p.status)).toEqual([500, 500]);
    // Failed again: the queue's own retry stays a backoff away, and only an explicit flush tries sooner.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(s.eventPosts).toHaveLength(2);
    s.eventsMode = 'ok';
    await c.flush();

    expect(s.eventPosts.map((p) => p.status)).toEqual([500, 500, 202]);
    expect(c.getStats()).toMatchObject({ sentEvents: 1, queuedEvents: 0 });
    expect(log.lines.filter((l) => l.message.includes('events')).map((l) => [l.level, l.message.replace(/\d+ ms/g, 'N ms')])).toEqual([
      ['warn', 'xp: sending events failed (POST /sdk/v1/events answered 500); retrying in N ms'],
      ['debug', 'xp: sending events failed (POST /sdk/v1/events answered 500); retrying in N ms'],
      ['info', 'xp: events delivered again, after 2 failed attempts over N ms'],
    ]);
  });

  it('flush() resolves with what it delivered and what is still queued: nothing inside a Retry-After window, everything once the API takes it', async () => {
    const { s, c } = await setup();
    let offset = 0;
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
    try {
      s.eventsMode = 'busy';
      s.retryAfterSeconds = 30;
      c.trackEvent('click', 'u1');
      c.trackEvent('click', 'u2');
      expect(await c.flush()).toEqual({ delivered: 0, queued: 2 });
      // The API is back, but asked for 30 s: flush() does not try, and says nothing was delivered.
      s.eventsMode = 'ok';
      expect(await c.flush()).toEqual({ delivered: 0, queued: 2 });
      expect(s.eventPosts.map((p) => p.status)).toEqual([503]);
      offset = 31_000;
      expect(await c.flush()).toEqual({ delivered: 2, queued: 0 });
      expect(await c.flush()).toEqual({ delivered: 0, queued: 0 });
    } finally {
      vi.restoreAllMocks();
    }

    expect(s.events).toHaveLength(2);
  });

  it('warns once when sending starts failing, then at most once a minute with the count, and says when events are delivered again', async () => {
    const { s, c, log } = await setup({ retryBaseMs: 20, retryMaxMs: 20 });
    let offset = 0;
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
    try {
      s.eventsMode = 'fail';
      c.trackEvent('click', 'u1');
      c.trackEvent('click', 'u2');
      void c.flush();
      await eventually(() => s.eventPosts.length >= 5, 10_000);
      // A minute later, still failing: one reminder, then quiet again.
      offset = 61_000;
      const attempts = s.eventPosts.length;
      await eventually(() => s.eventPosts.length >= attempts + 3, 10_000);
      s.eventsMode = 'ok';
      await eventually(() => c.getStats().sentEvents === 2, 10_000);
    } finally {
      vi.restoreAllMocks();
    }

    const failed = s.eventPosts.filter((p) => p.status === 500).length;
    const warnings = log.lines.filter((l) => l.level === 'warn').map((l) => l.message);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^xp: sending events failed \(POST \/sdk\/v1\/events answered 500\); retrying in \d+ ms$/);
    expect(warnings[1]).toMatch(/^xp: sending events still failing \(POST \/sdk\/v1\/events answered 500\): \d+ attempts failed over 6\d(\.\d)? s, 2 events waiting; retrying in \d+ ms$/);
    expect(log.lines.filter((l) => l.level === 'debug' && l.message.startsWith('xp: sending events failed'))).toHaveLength(failed - 2);
    expect(log.lines.filter((l) => l.level === 'info').map((l) => l.message)).toEqual([expect.stringMatching(new RegExp(`^xp: events delivered again, after ${failed} failed attempts over `))]);
  });

  it("says in the outage reminder how many events were dropped so far, not only after the API is back", async () => {
    const { s, c, log } = await setup({ retryBaseMs: 20, retryMaxMs: 20, maxQueueSize: 2 });
    let offset = 0;
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
    try {
      s.eventsMode = 'fail';
      c.trackEvent('click', 'u1');
      void c.flush();
      await eventually(() => s.eventPosts.length >= 2, 10_000);
      // The failed batch is held for its retry; the queue (2) takes two more and drops the rest.
      for (const id of ['u2', 'u3', 'u4', 'u5', 'u6']) {
        c.trackEvent('click', id);
      }
      offset = 61_000;
      const attempts = s.eventPosts.length;
      await eventually(() => s.eventPosts.length >= attempts + 2, 10_000);
    } finally {
      vi.restoreAllMocks();
      s.eventsMode = 'ok';
    }

    const reminder = log.lines.filter((l) => l.level === 'warn' && l.message.startsWith('xp: sending events still failing')).map((l) => l.message);
    expect(reminder).toHaveLength(1);
    expect(reminder[0]).toMatch(/, \d+ events waiting, [1-9]\d* dropped so far; retrying in \d+ ms$/);
  });

  it('sends events waiting for a backoff as soon as the browser is back online, and stops listening at close()', async () => {
    const listeners = new Map<string, () => void>();
    const g = globalThis as { addEventListener?: unknown; removeEventListener?: unknown };
    g.addEventListener = (type: string, listener: () => void) => listeners.set(type, listener);
    g.removeEventListener = (type: string, listener: () => void) => listeners.get(type) === listener && listeners.delete(type);
    try {
      const { s, c } = await setup({ retryBaseMs: 60_000, retryMaxMs: 60_000 });
      s.eventsMode = 'fail';
      c.trackEvent('click', 'u1');
      await c.flush();
      s.eventsMode = 'ok';

      listeners.get('online')?.();
      await eventually(() => c.getStats().sentEvents === 1);

      expect(s.eventPosts.map((p) => p.status)).toEqual([500, 202]);
      await c.close();
      expect(listeners.has('online')).toBe(false);
    } finally {
      delete g.addEventListener;
      delete g.removeEventListener;
    }
  });

  it('polls the ruleset at once when the browser is back online, instead of at the end of a backoff grown offline', async () => {
    const listeners = new Map<string, () => void>();
    const g = globalThis as { addEventListener?: unknown; removeEventListener?: unknown };
    g.addEventListener = (type: string, listener: () => void) => listeners.set(type, listener);
    g.removeEventListener = (type: string, listener: () => void) => listeners.get(type) === listener && listeners.delete(type);
    try {
      // Polls every 50 ms while the API answers; a failed poll backs off 30-60 s.
      const { s, c, log } = await setup({ pollIntervalMs: 50, retryBaseMs: 60_000, retryMaxMs: 60_000 });
      s.rulesetMode = 'fail';
      // The client has taken the failure (and scheduled its retry) once it says so.
      await eventually(() => log.lines.some((l) => l.message.startsWith('xp: ruleset refresh failed')));
      s.rulesetMode = 'ok';
      s.publish(makeRuleset(2));

      // The backoff asked for 30-60 s; eventually() gives up after a few.
      listeners.get('online')?.();
      await eventually(() => c.getStats().rulesetVersion === 2);

      expect(c.getStats()).toMatchObject({ rulesetVersion: 2 });
      await c.close();
    } finally {
      delete g.addEventListener;
      delete g.removeEventListener;
    }
  });

  it('sends events waiting for a backoff as soon as the API is back (the ruleset stream reconnects)', async () => {
    const { s, c } = await setup({ streaming: true, streamRetryMaxMs: 100, retryBaseMs: 60_000, retryMaxMs: 60_000 });
    await eventually(() => c.getStats().streaming);
    s.eventsMode = 'fail';
    s.streamMode = 'fail';
    s.dropStreams();
    c.trackEvent('click', 'u1');
    await c.flush();
    await eventually(() => !c.getStats().streaming);
    // The API is back; the events' backoff asks for 30-60 s.
    s.eventsMode = 'ok';
    s.streamMode = 'ok';

    await eventually(() => c.getStats().sentEvents === 1);

    expect(s.eventPosts.map((p) => p.status)).toEqual([500, 202]);
  });

  it('waits at least Retry-After before sending again on 503', async () => {
    const { s, c } = await setup();
    s.eventsMode = 'busy';
    s.retryAfterSeconds = 1;

    c.trackEvent('click', 'u1');
    await c.flush();
    s.eventsMode = 'ok';
    c.trackEvent('click', 'u2');
    await c.flush();
    await eventually(() => s.events.length === 2, 3000);

    expect(s.eventPosts).toHaveLength(2);
    expect(s.eventPosts[1]!.at - s.eventPosts[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('drops a batch the server refuses as invalid (400) instead of retrying it', async () => {
    const { s, c, log } = await setup();
    s.eventsMode = 'reject';

    c.trackEvent('click', 'u1');
    await c.flush();
    await c.flush();

    expect(s.eventPosts).toHaveLength(1);
    expect(c.getStats().rejectedEvents).toBe(1);
    expect(log.has('error', 'refused (status 400)')).toBe(true);
  });
});

describe('queue bounds', () => {
  it("caps batches at the server's limit", () => {
    expect(MAX_EVENTS_PER_BATCH).toBe(SERVER_MAX_EVENTS_PER_BATCH);
  });

  it('starts no further send for each event queued while a send is in flight (they pile up while the API is down)', async () => {
    let release: (response: Response) => void = () => undefined;
    const fetch = (url: string, init: RequestInit): Promise<Response> =>
      url.endsWith('/sdk/v1/events')
        ? new Promise((resolve, reject) => {
            release = resolve;
            init.signal?.addEventListener('abort', () => {
              reject(new Error('aborted'));
            });
          })
        : globalThis.fetch(url, init);
    const { c } = await setup({ maxBatchSize: 5, fetch });
    const flushes = vi.spyOn(EventQueue.prototype, 'flush');

    for (let i = 0; i < 200; i++) {
      c.trackEvent('click', `u${i}`);
    }
    release(new Response('{}', { status: 503 }));
    await c.flush();

    expect(flushes.mock.calls.length).toBeLessThanOrEqual(3);
    expect(c.getStats().queuedEvents).toBe(200);
    flushes.mockRestore();
  });

  it('logs again an exposure the full queue dropped unsent, at the next evaluation', async () => {
    const { s, c } = await setup({ maxQueueSize: 2, maxBatchSize: 100 });
    s.eventsMode = 'fail';

    c.getVariant('exp-ab', 'u1');
    c.trackEvent('click', 'u2');
    c.trackEvent('click', 'u3'); // the queue is full: u1's exposure, the oldest, is dropped
    s.eventsMode = 'ok';
    await c.flush();
    c.getVariant('exp-ab', 'u1');
    await c.flush();

    expect(s.events.filter((e) => e.type === 'exposure').map((e) => e.unitId)).toEqual(['u1']);
  });

  it('drops the oldest events beyond maxQueueSize and reports the count', async () => {
    const { s, c, log } = await setup({ maxQueueSize: 5, maxBatchSize: 100 });
    s.eventsMode = 'fail';

    for (let i = 0; i < 8; i++) {
      c.trackEvent('click', `u${i}`);
    }
    s.eventsMode = 'ok';
    await c.flush();

    expect(s.events.map((e) => e.unitId)).toEqual(['u3', 'u4', 'u5', 'u6', 'u7']);
    expect(c.getStats().droppedEvents).toBe(3);
    expect(log.has('warn', '3 events were dropped')).toBe(true);
  });
});

describe('a long outage', () => {
  it('keeps the newest events once the queue is full, and sends them when the API is back', async () => {
    let down = true;
    const fetch = (url: string, init: RequestInit): Promise<Response> => (down && url.endsWith('/sdk/v1/events') ? Promise.reject(new Error('down')) : globalThis.fetch(url, init));
    const cap = 50_000;
    // close() has twice timeoutMs to send the 50,000 events (100 POSTs): 1 s (the setup's) was too tight on a busy machine.
    const { s, c } = await setup({ maxQueueSize: cap, maxBatchSize: 500, retryBaseMs: 60_000, retryMaxMs: 60_000, timeoutMs: 3000, fetch });
    const push = (from: number, n: number): void => {
      for (let i = from; i < from + n; i++) {
        c.trackEvent('click', `u${i}`);
      }
    };

    push(0, cap);
    // The first full batch failed: the queue is held for a retry a minute away, while events keep coming.
    await eventually(() => c.getStats().queuedEvents === cap);
    // Dropping one old event per new one used to shift the whole queue (quadratic; `npm run bench -- sdk-js` measures it).
    push(cap, 2 * cap);

    expect(c.getStats()).toMatchObject({ queuedEvents: cap, droppedEvents: 2 * cap });
    down = false;
    await c.close();
    const sent = s.events.map((e) => e.unitId);
    expect(sent).toHaveLength(cap);
    expect(sent[0]).toBe(`u${2 * cap}`);
    expect(sent[cap - 1]).toBe(`u${3 * cap - 1}`);
  });
});

describe('page hide', () => {
  it('sends the queue, oldest first, in keepalive requests that browsers accept (bodies under 64 KiB)', async () => {
    const listeners = new Map<string, () => void>();
    const page = {
      visibilityState: 'visible',
      addEventListener: (type: string, listener: () => void) => listeners.set(type, listener),
      removeEventListener: (type: string) => listeners.delete(type),
    };
    const posts: RequestInit[] = [];
    const fetch = (url: string, init: RequestInit): Promise<Response> => {
      if (url.endsWith('/sdk/v1/events')) {
        posts.push(init);
      }
      return globalThis.fetch(url, init);
    };
    vi.stubGlobal('document', page);
    const { s, c } = await setup({ fetch, maxBatchSize: 500, maxQueueSize: 250 }).finally(() => vi.unstubAllGlobals());

    for (let i = 0; i < 300; i++) {
      c.trackEvent('view', `u${i}`, { blob: 'x'.repeat(500) });
    }
    page.visibilityState = 'hidden';
    listeners.get('visibilitychange')?.();
    await eventually(() => s.events.length === 250);

    expect(posts.length).toBeGreaterThanOrEqual(3);
    expect(posts.every((p) => p.keepalive === true && (p.body as string).length < 60 * 1024 + 16)).toBe(true);
    expect(s.events.map((e) => e.unitId)).toEqual(Array.from({ length: 250 }, (_v, i) => `u${i + 50}`));
    expect(c.getStats()).toMatchObject({ queuedEvents: 0, droppedEvents: 50 });
  });
});

describe('page hide, leaving at once', () => {
  /** A page: its hide listeners, and the keepalive and plain POSTs its client makes. */
  async function page(options: ClientOptions, hold: (init: RequestInit) => boolean) {
    const listeners = new Map<string, () => void>();
    const doc = {
      visibilityState: 'visible',
      addEventListener: (type: string, listener: () => void) => listeners.set(type, listener),
      removeEventListener: (type: string) => listeners.delete(type),
    };
    const posts: { keepalive: boolean; ids: string[]; bytes: number }[] = [];
    const held: (() => void)[] = [];
    const fetch = (url: string, init: RequestInit): Promise<Response> => {
      if (!url.endsWith('/sdk/v1/events')) {
        return globalThis.fetch(url, init);
      }
      const body = init.body as string;
      posts.push({ keepalive: init.keepalive === true, ids: (JSON.parse(body) as { events: { id: string }[] }).events.map((e) => e.id), bytes: new TextEncoder().encode(body).length });
      if (!hold(init)) {
        return globalThis.fetch(url, init);
      }
      // Held until released: then sent, or failed as an unload aborts a plain request.
      return new Promise((resolve, reject) => {
        held.push(() => {
          if (init.keepalive === true) {
            resolve(globalThis.fetch(url, init));
          } else {
            reject(new TypeError('Failed to fetch (the page was unloaded)'));
          }
        });
      });
    };
    vi.stubGlobal('document', doc);
    const { s, c } = await setup({ fetch, ...options }).finally(() => vi.unstubAllGlobals());
    const hide = (): void => {
      doc.visibilityState = 'hidden';
      listeners.get('visibilitychange')?.();
    };
    const release = (): void => {
      held.splice(0).forEach((go) => {
        go();
      });
    };
    return { s, c, posts, hide, release };
  }

  it('sends the batch a plain send holds and everything queued at once, in keepalive requests, without waiting for that send', async () => {
    const { s, c, posts, hide, release } = await page({ maxBatchSize: 100 }, (init) => init.keepalive !== true);
    for (let i = 0; i < 150; i++) {
      c.trackEvent('view', 'u1', { i });
    }
    expect(posts).toHaveLength(1);

    hide();
    // Synchronously, in the hide handler: the page may be gone at the next task.
    const burst = posts.slice(1);
    release();
    await eventually(() => s.events.length >= 150);

    expect(burst.length).toBeGreaterThanOrEqual(1);
    expect(burst.every((p) => p.keepalive)).toBe(true);
    expect(new Set(burst.flatMap((p) => p.ids)).size).toBe(150);
    expect(new Set(s.events.map((e) => e.id)).size).toBe(150);
    // The aborted plain send is not queued again: its events left with the burst.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(s.events).toHaveLength(150);
    expect(c.getStats()).toMatchObject({ queuedEvents: 0, sentEvents: 150, droppedEvents: 0 });
  });

  it("splits the queue into as many keepalive requests as it takes, their bodies together within the browser's 64 KiB, and sends the rest if the page lives on", async () => {
    const { s, c, posts, hide, release } = await page({ maxBatchSize: 40, maxQueueSize: 1_000 }, (init) => init.keepalive === true);
    for (let i = 0; i < 300; i++) {
      c.trackEvent('view', `u${i}`, { note: 'é'.repeat(250) });
    }
    const plain = posts.length;

    hide();
    const burst = posts.slice(plain);
    release();
    await eventually(() => {
      release();
      return new Set(s.events.map((e) => e.unitId)).size === 300 && c.getStats().sentEvents === 300;
    });

    expect(burst.length).toBeGreaterThanOrEqual(4);
    expect(burst.every((p) => p.keepalive && p.ids.length <= 40 && p.bytes <= 16 * 1024)).toBe(true);
    expect(burst.reduce((n, p) => n + p.bytes, 0)).toBeLessThanOrEqual(64 * 1024);
    expect(burst.reduce((n, p) => n + p.bytes, 0)).toBeGreaterThan(60 * 1024);
    // Pushing the 40th event started a plain send, which the burst repeated (the pipeline drops repeats by id).
    expect(new Set(burst.flatMap((p) => p.ids)).size).toBe(burst.flatMap((p) => p.ids).length);
    expect(c.getStats()).toMatchObject({ queuedEvents: 0, sentEvents: 300 });
  });
});

describe('flush on close', () => {
  it('sends queued events on close()', async () => {
    const { s, c } = await setup();

    c.trackEvent('click', 'u1');
    c.getVariant('exp-ab', 'u1');
    await c.close();

    expect(s.events.map((e) => e.type).sort()).toEqual(['exposure', 'track']);
  });

  it('retries a send refused at close as Retry-After asks, so a brief 503 loses nothing', async () => {
    const { s, c } = await setup({ timeoutMs: 1500 });
    s.eventsMode = 'busy';
    s.retryAfterSeconds = 1;

    c.trackEvent('click', 'u1');
    const closed = c.close();
    await eventually(() => s.eventPosts.length === 1, 3000);
    s.eventsMode = 'ok';
    await closed;

    expect(s.eventPosts.map((p) => p.status)).toEqual([503, 202]);
    expect(s.eventPosts[1]!.at - s.eventPosts[0]!.at).toBeGreaterThanOrEqual(950);
    expect(s.events.map((e) => e.unitId)).toEqual(['u1']);
    expect(c.getStats()).toMatchObject({ sentEvents: 1, droppedEvents: 0 });
  });

  it('gives up at close once the API has stayed down for twice timeoutMs, counting the drop', async () => {
    const { s, c } = await setup({ timeoutMs: 200 });
    s.eventsMode = 'fail';

    c.trackEvent('click', 'u1');
    const started = Date.now();
    await c.close();

    expect(Date.now() - started).toBeLessThan(2000);
    expect(s.eventPosts.length).toBeGreaterThan(1);
    expect(c.getStats().droppedEvents).toBe(1);
  });

  it('says "retrying" at close only when close() will retry, and when: not for a Retry-After past its deadline', async () => {
    const { s, c, log } = await setup({ timeoutMs: 200 });
    s.eventsMode = 'busy';
    s.retryAfterSeconds = 3;

    c.trackEvent('click', 'u1');
    await c.close();
    const warnings = log.lines.filter((l) => l.level === 'warn').map((l) => l.message);

    expect(s.eventPosts).toHaveLength(1);
    expect(warnings).toEqual([
      "xp: sending events failed (POST /sdk/v1/events answered 503); not retried: the API asked to wait (Retry-After) past close()'s deadline",
      'xp: dropping events (they could not be sent before close)',
      'xp: 1 events were dropped (1 since start)',
    ]);
  });

  it('says when close() makes its last try (near its deadline, before the backoff would), and that it is the last', async () => {
    const { s, c, log } = await setup({ timeoutMs: 200, retryBaseMs: 2000, retryMaxMs: 4000 });
    s.eventsMode = 'fail';

    c.trackEvent('click', 'u1');
    await c.close();
    const warnings = log.lines.filter((l) => l.level === 'warn').map((l) => l.message);
    const retryIn = Number(/retrying in (\d+) ms/.exec(warnings[0] ?? '')?.[1]);

    expect(s.eventPosts).toHaveLength(2);
    // The backoff asks for 1-2 s; close() tries once more ~100 ms before its 400 ms deadline.
    expect(retryIn).toBeLessThanOrEqual(400);
    expect(warnings.slice(1)).toEqual([
      "xp: sending events failed (POST /sdk/v1/events answered 500); not retried: close()'s deadline has come",
      'xp: dropping events (they could not be sent before close)',
      'xp: 1 events were dropped (1 since start)',
    ]);
  });

  it('starts no batch after twice timeoutMs at close, however many are queued, when the API answers slowly', async () => {
    const slow = async (url: string, init: RequestInit): Promise<Response> => {
      if (init.method === 'POST') {
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
      return globalThis.fetch(url, init);
    };
    const { s, c } = await setup({ timeoutMs: 300, maxBatchSize: 100, fetch: slow });

    for (let i = 0; i < 3_000; i++) {
      c.trackEvent('click', `u${i}`);
    }
    const started = Date.now();
    await c.close();
    const took = Date.now() - started;

    // 30 batches at 150 ms each would take 4.5 s; the budget is 600 ms, plus the batch then in flight.
    expect(took).toBeLessThan(1_500);
    expect(s.events.length).toBeGreaterThan(0);
    expect(c.getStats()).toMatchObject({ queuedEvents: 0, sentEvents: s.events.length, droppedEvents: 3_000 - s.events.length });
  });

  it('registers a beforeExit flush in Node and removes it on close', async () => {
    const before = process.listenerCount('beforeExit');
    const { c } = await setup();
    const during = process.listenerCount('beforeExit');

    await c.close();

    expect(during).toBe(before + 1);
    expect(process.listenerCount('beforeExit')).toBe(before);
  });
});

describe('process exit', () => {
  it('adds one beforeExit listener for all clients, so many clients raise no MaxListenersExceededWarning', async () => {
    const before = process.listenerCount('beforeExit');
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    const s = await new FakeServer(makeRuleset(1)).start();
    open.push(s);
    const clients = Array.from({ length: 12 }, () => new ExperimentationClient(KEY, { apiUrl: s.url, streaming: false, logger: recordingLogger() }));
    const during = process.listenerCount('beforeExit');
    await Promise.all(clients.slice(0, 11).map((c) => c.close()));
    const oneLeft = process.listenerCount('beforeExit');
    await clients[11]!.close();
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);

    expect(during).toBe(before + 1);
    expect(oneLeft).toBe(before + 1);
    expect(process.listenerCount('beforeExit')).toBe(before);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it("flushes every client's queue once at beforeExit", async () => {
    const s = await new FakeServer(makeRuleset(1)).start();
    open.push(s);
    const clients = [1, 2, 3].map(() => new ExperimentationClient(KEY, { apiUrl: s.url, streaming: false, flushIntervalMs: 60_000, logger: recordingLogger() }));
    open.push(...clients);
    await Promise.all(clients.map((c) => c.ready()));
    clients.forEach((c, i) => {
      c.trackEvent('bye', `u${i}`);
    });
    const before = process.listenerCount('beforeExit');
    const run = process.listeners('beforeExit').at(-1) as (code: number) => void;

    run(0);
    await eventually(() => s.events.length === 3);

    expect(process.listenerCount('beforeExit')).toBe(before - 1);
  });
});

describe('exposures', () => {
  it('logs one exposure per experiment, unit and variation, from getVariant and from flags', async () => {
    const { s, c } = await setup();

    const variant = c.getVariant('exp-ab', 'u1');
    c.getVariant('exp-ab', 'u1');
    c.getValue('exp-flag', 'u1', 'none');
    c.getVariant('exp-ab', { id: 'u1', attributes: { plan: 'pro' } });
    c.getVariant('exp-ab', 'u2');
    await c.flush();

    expect(variant).toMatch(/^(control|treatment)$/);
    expect(s.events.filter((e) => e.type === 'exposure').map((e) => [e.unitId, e.experiment, e.hashAttribute])).toEqual([
      ['u1', 'exp-ab', 'id'],
      ['u2', 'exp-ab', 'id'],
    ]);
    expect(s.events[0]).toMatchObject({ variation: variant });
  });

  it("carries the unit's flat attributes with its first exposure, less private ones, for result filters", async () => {
    const { s, c } = await setup({ privateAttributes: ['email'] });
    const many = Object.fromEntries(Array.from({ length: 60 }, (_v, i) => [`a${i}`, i]));

    c.getVariant('exp-ab', { id: 'u1', attributes: { country: 'US', age: 30, beta: true, email: 'a@example.com', nested: { x: 1 }, list: [1], nan: Number.NaN } });
    c.getValue('exp-flag', { id: 'u2', attributes: { plan: 'pro' } }, 'none');
    c.getVariant('exp-ab', { id: 'u3', attributes: many });
    // A name and its value take at most 256 characters.
    c.getVariant('exp-ab', { id: 'u4', attributes: { fits: 'x'.repeat(252), long: 'x'.repeat(253) } });
    c.getVariant('exp-ab', 'u5');
    await c.flush();
    const exposures = s.events.filter((e) => e.type === 'exposure');

    expect(exposures.every((e) => sdkEventSchema.safeParse(e).success)).toBe(true);
    expect(exposures.map((e) => (e as { attributes?: unknown }).attributes)).toEqual([
      { country: 'US', age: 30, beta: true },
      { plan: 'pro' },
      Object.fromEntries(Array.from({ length: 16 }, (_v, i) => [`a${i}`, i])),
      { fits: 'x'.repeat(252) },
      undefined,
    ]);
  });

  it('sends no attributes with privateAttributes: true', async () => {
    const { s, c } = await setup({ privateAttributes: true });

    c.getVariant('exp-ab', { id: 'u1', attributes: { country: 'US' } });
    await c.flush();

    expect(s.events[0]).not.toHaveProperty('attributes');
  });

  it('forgets the oldest units beyond maxExposureCacheSize', async () => {
    const { s, c } = await setup({ maxExposureCacheSize: 2 });

    for (const u of ['u1', 'u2', 'u3', 'u1']) {
      c.getVariant('exp-ab', u);
    }
    await c.flush();

    expect(s.events.map((e) => e.unitId)).toEqual(['u1', 'u2', 'u3', 'u1']);
  });

  it('logs no exposure for units outside the experiment or forced into a variation', async () => {
    const { s, c } = await setup();

    c.getVariant('exp-ab', { attributes: {} });
    const forced = c.getVariant('exp-ab', { id: 'u1', forcedVariations: { 'exp-ab': 'treatment' } });
    c.getVariant('missing', 'u1');
    await c.flush();

    expect(forced).toBe('treatment');
    expect(s.eventPosts).toHaveLength(0);
  });
});
