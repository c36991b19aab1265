import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { APP_NAME_MESSAGE, MAX_EVALUATION_COUNTS as SERVER_MAX_EVALUATION_COUNTS, MAX_EVENT_BYTES, evaluationsEventSchema } from '@xp/shared';
import { checkSdkEvent } from '@xp/shared/edge';
import type { EvaluationsEvent } from '@xp/shared';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ExperimentationClient } from '../client.js';
import { EvaluationCounter, MAX_EVALUATION_COUNTS, MAX_EVALUATION_PAIRS } from '../evaluation-counts.js';
import { utf8Length } from '../event-queue.js';
import { XpServerProvider } from '../openfeature.js';
import { XpWebProvider } from '../openfeature-web.js';
import { TestClient } from '../testing.js';
import type { ClientOptions, User } from '../types.js';
import { FakeServer } from './fake-server.js';
import { eventually, makeRuleset, recordingLogger } from './fixtures.js';
import type { RecordingLogger } from './fixtures.js';

const KEY = 'xpk_srv_test-key';
const T0 = 1_765_100_000_000;
const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  vi.unstubAllGlobals();
  await Promise.all(open.splice(0).map((x) => x.close()));
});

/** The scenario both SDKs run (the Python suite reads the same file). */
interface Scenario {
  readonly ruleset: Record<string, unknown>;
  readonly calls: readonly { call: string; flag: string; user: string; default?: unknown; times?: number }[];
  readonly expected: EvaluationsEvent['counts'];
  /** The same ruleset evaluated by a client that names its application. */
  readonly app: {
    readonly appName: string;
    readonly calls: Scenario['calls'];
    readonly expected: Omit<EvaluationsEvent, 'id' | 'start' | 'timestamp'>;
    readonly validAppNames: readonly string[];
    readonly invalidAppNames: readonly string[];
  };
}
const scenario = JSON.parse(readFileSync(fileURLToPath(new URL('../../../python/tests/fixtures/evaluation-counts-scenario.json', import.meta.url)), 'utf8')) as Scenario;

async function setup(options: ClientOptions = {}, ruleset: Record<string, unknown> = makeRuleset(1)): Promise<{ s: FakeServer; c: ExperimentationClient; log: RecordingLogger }> {
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

/** The evaluations records the server received, each checked against the API's schema and the Lambda's checker. */
function records(s: FakeServer): EvaluationsEvent[] {
  return s.events
    .filter((e) => e.type === 'evaluations')
    .map((e) => {
      expect(checkSdkEvent(e)).toMatchObject({ ok: true });
      return evaluationsEventSchema.parse(e);
    });
}

/** Every (flag, variation, count) of the records, in order. */
function allCounts(s: FakeServer): EvaluationsEvent['counts'] {
  return records(s).flatMap((r) => r.counts);
}

function run(c: ExperimentationClient, calls: Scenario['calls']): void {
  for (const step of calls) {
    for (let i = 0; i < (step.times ?? 1); i++) {
      const user: User = step.user;
      switch (step.call) {
        case 'getValue':
          c.getValue(step.flag, user, step.default as boolean);
          break;
        case 'isFeatureEnabled':
          c.isFeatureEnabled(step.flag, user);
          break;
        case 'evaluate':
          c.evaluate(step.flag, user, step.default as boolean);
          break;
        case 'explain':
          c.evaluate(step.flag, user, step.default as boolean, { explain: true });
          break;
        case 'getVariant':
          c.getVariant(step.flag, user);
          break;
        default:
          throw new Error(`unknown call ${step.call}`);
      }
    }
  }
}

describe('evaluation counts', () => {
  it('sends the shared scenario\'s counts (the Python SDK sends the same): public evaluations by flag and served variation, not explain, experiments or prerequisites', async () => {
    let now = T0;
    const { s, c } = await setup({ now: () => now }, scenario.ruleset);

    run(c, scenario.calls);
    now = T0 + 10_000;
    await c.flush();

    const sent = records(s);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toEqual({ type: 'evaluations', id: expect.any(String) as string, start: T0, timestamp: T0 + 10_000, counts: scenario.expected });
    // What the fixture says, spelled out.
    expect(sent[0]!.counts).toEqual([
      { flag: 'checkout', variation: 'off', count: 4 },
      { flag: 'color', variation: 'c', count: 1 },
      { flag: 'color', variation: null, count: 1 },
      { flag: 'missing', variation: null, count: 2 },
      { flag: 'gated', variation: 'closed', count: 2 },
    ]);
    // No unit, no attributes: only the record's own fields.
    expect(Object.keys(s.events.find((e) => e.type === 'evaluations')!).sort()).toEqual(['counts', 'id', 'start', 'timestamp', 'type']);
    // The getVariant exposure still goes as before.
    expect(s.events.filter((e) => e.type === 'exposure')).toMatchObject([{ experiment: 'exp-ab', unitId: 'u1' }]);
  });

  it('names the application in every record with appName (the shared scenario: the Python SDK sends the same); exposures and tracked events do not carry it', async () => {
    let now = T0;
    const { s, c, log } = await setup({ now: () => now, appName: scenario.app.appName }, scenario.ruleset);

    run(c, scenario.app.calls);
    c.getVariant('exp-ab', 'u1');
    c.trackEvent('buy', 'u1');
    now = T0 + 10_000;
    await c.flush();

    expect(records(s)).toEqual([{ ...scenario.app.expected, id: expect.any(String) as string, start: T0, timestamp: T0 + 10_000 }]);
    // What the fixture says, spelled out.
    expect(records(s)[0]).toMatchObject({ app: 'checkout-api' });
    expect(s.events.filter((e) => e.type !== 'evaluations').map((e) => [e.type, 'app' in e])).toEqual([
      ['exposure', false],
      ['track', false],
    ]);
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('names the application in every record of a window split in several, and closed early at its pair cap', async () => {
    const { s, c } = await setup({ appName: 'web-shop' });

    for (let i = 0; i <= MAX_EVALUATION_PAIRS; i++) {
      c.getValue(`made-up-${i}`, 'u1', false);
    }
    await c.flush();

    const sent = records(s);
    expect(sent).toHaveLength(11);
    expect(sent.every((r) => r.app === 'web-shop')).toBe(true);
  });

  it('accepts the shared scenario\'s valid application names', async () => {
    const s = await new FakeServer(makeRuleset(1)).start();
    open.push(s);

    const seen: unknown[] = [];
    for (const appName of scenario.app.validAppNames) {
      const log = recordingLogger();
      const c = new ExperimentationClient(KEY, { apiUrl: s.url, streaming: false, logger: log, appName });
      open.push(c);
      seen.push([appName, await c.ready(), log.lines.filter((l) => l.level === 'error')]);
    }

    expect(seen).toEqual(scenario.app.validAppNames.map((appName) => [appName, { status: 'READY' }, []]));
  });

  it('drops an invalid appName with one warning naming the option, the escaped value and the rule: the client is ready, serves the flag\'s real value and counts under no application', async () => {
    const s = await new FakeServer(makeRuleset(1)).start();
    open.push(s);

    const invalid: unknown[] = [...scenario.app.invalidAppNames, 'x'.repeat(150), 42, false, { name: 'web' }];
    const seen: unknown[] = [];
    for (const appName of invalid) {
      const log = recordingLogger();
      const c = new ExperimentationClient(KEY, { apiUrl: s.url, streaming: false, logger: log, appName: appName as string });
      open.push(c);
      const result = await c.ready();
      const value = c.getValue('checkout', 'u1', true);
      await c.flush();
      seen.push([appName, result, c.status, value, log.lines.filter((l) => l.level !== 'debug' && l.level !== 'info').map((l) => `${l.level}: ${l.message}`)]);
    }

    const got = (appName: unknown): string =>
      typeof appName === 'string'
        ? JSON.stringify(appName.length > 100 ? `${appName.slice(0, 100)}…` : appName)
        : typeof appName === 'number' || typeof appName === 'boolean'
          ? String(appName)
          : 'an object';
    expect(seen).toEqual(
      invalid.map((appName) => [appName, { status: 'READY' }, 'READY', false, [`warn: xp: appName ${APP_NAME_MESSAGE}, got ${got(appName)}: ignored, the client's evaluation counts name no application`]]),
    );
    // Escaped: a name with a newline stays on one log line.
    expect(seen.flatMap((x) => (x as [unknown, unknown, unknown, unknown, string[]])[4]).filter((line) => line.includes('\n'))).toEqual([]);
    // Each client counted its evaluation, in a record that names no application.
    expect(records(s).map((r) => [r.counts, 'app' in r])).toEqual(invalid.map(() => [[{ flag: 'checkout', variation: 'off', count: 1 }], false]));
  });

  it('takes appName null as none, as undefined: no warning, records without app', async () => {
    const { s, c, log } = await setup({ appName: null });

    expect(c.status).toBe('READY');
    c.getValue('checkout', 'u1', true);
    await c.flush();

    expect(records(s).map((r) => 'app' in r)).toEqual([false]);
    expect(log.lines.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);
  });

  it('drops an invalid appName without apiUrl too, with the same one warning (an offline run shows the mistake before production)', async () => {
    const log = recordingLogger();
    const c = new ExperimentationClient('', { bootstrap: makeRuleset(1), logger: log, appName: 'web shop' });
    open.push(c);

    expect(await c.ready()).toEqual({ status: 'BOOTSTRAPPED' });
    expect(log.lines.filter((l) => l.level === 'warn' || l.level === 'error').map((l) => `${l.level}: ${l.message}`)).toEqual([
      `warn: xp: appName ${APP_NAME_MESSAGE}, got "web shop": ignored, the client's evaluation counts name no application`,
    ]);
    expect(c.getValue('checkout', 'u1', true)).toBe(false);
  });

  it('restates the API\'s limit of pairs per record', () => {
    expect(MAX_EVALUATION_COUNTS).toBe(SERVER_MAX_EVALUATION_COUNTS);
  });

  it('splits a window into records of at most 100 pairs, each with its own id', async () => {
    const { s, c } = await setup();

    for (let i = 0; i < 250; i++) {
      c.getValue(`made-up-${i}`, 'u1', false);
    }
    c.getValue('made-up-7', 'u2', false);
    await c.flush();

    const sent = records(s);
    expect(sent.map((r) => r.counts.length)).toEqual([100, 100, 50]);
    expect(new Set(sent.map((r) => r.id)).size).toBe(3);
    expect(allCounts(s)).toEqual(Array.from({ length: 250 }, (_v, i) => ({ flag: `made-up-${i}`, variation: null, count: i === 7 ? 2 : 1 })));
  });

  it('splits by size too: long keys never make a record over the API\'s 16 KiB per event, with the longest application name', async () => {
    const { s, c } = await setup({ appName: 'a'.repeat(64) });
    const long = (i: number): string => `${String(i).padStart(3, '0')}${'k'.repeat(197)}`;

    for (let i = 0; i < 100; i++) {
      c.isFeatureEnabled(long(i), 'u1');
    }
    await c.flush();

    const sent = records(s);
    expect(sent.length).toBe(2);
    expect(sent.every((r) => utf8Length(JSON.stringify(r)) <= MAX_EVENT_BYTES && r.app === 'a'.repeat(64))).toBe(true);
    expect(allCounts(s).map((e) => e.flag)).toEqual(Array.from({ length: 100 }, (_v, i) => long(i)));
  });

  it('starts a new window at each flush: a record holds what was evaluated since the last one; nothing evaluated, nothing sent', async () => {
    let now = T0;
    const { s, c } = await setup({ now: () => now });

    await c.flush();
    expect(s.eventPosts).toHaveLength(0);

    c.getValue('checkout', 'u1', false);
    c.getValue('checkout', 'u1', false);
    now = T0 + 5_000;
    await c.flush();
    now = T0 + 7_000;
    await c.flush();
    expect(s.eventPosts).toHaveLength(1);

    now = T0 + 8_000;
    c.getValue('color', 'u1', 'x');
    c.getValue('checkout', 'u1', false);
    now = T0 + 9_000;
    await c.flush();

    expect(records(s)).toEqual([
      { type: 'evaluations', id: expect.any(String) as string, start: T0, timestamp: T0 + 5_000, counts: [{ flag: 'checkout', variation: 'off', count: 2 }] },
      {
        type: 'evaluations',
        id: expect.any(String) as string,
        start: T0 + 8_000,
        timestamp: T0 + 9_000,
        counts: [
          { flag: 'color', variation: 'c', count: 1 },
          { flag: 'checkout', variation: 'off', count: 1 },
        ],
      },
    ]);
  });

  it('closes the window at the flush interval, without an exposure or event to arm it', async () => {
    const { s, c } = await setup({ flushIntervalMs: 200 });

    c.isFeatureEnabled('checkout', 'u1');
    await eventually(() => records(s).length === 1);

    expect(allCounts(s)).toEqual([{ flag: 'checkout', variation: 'off', count: 1 }]);
  });

  it('keeps the window open when a full batch goes at once: a busy client sends a record per interval, not per batch', async () => {
    const { s, c } = await setup({ maxBatchSize: 3 });

    c.getValue('checkout', 'u1', false);
    for (let i = 0; i < 6; i++) {
      c.trackEvent('click', `u${i}`);
    }
    await eventually(() => s.events.length === 6);
    c.getValue('checkout', 'u1', false);
    await c.flush();

    expect(s.events.slice(0, 6).map((e) => e.type)).toEqual(Array.from({ length: 6 }, () => 'track'));
    expect(records(s)).toHaveLength(1);
    expect(allCounts(s)).toEqual([{ flag: 'checkout', variation: 'off', count: 2 }]);
  });

  it('sends the last window at close(), and counts nothing after it', async () => {
    const { s, c } = await setup();

    c.getValue('checkout', 'u1', false);
    await c.close();
    c.getValue('checkout', 'u1', false);
    await c.close();

    expect(allCounts(s)).toEqual([{ flag: 'checkout', variation: 'off', count: 1 }]);
  });

  it('sends the window on page hide, in a keepalive request', async () => {
    const listeners = new Map<string, () => void>();
    const page = {
      visibilityState: 'visible',
      addEventListener: (type: string, listener: () => void) => listeners.set(type, listener),
      removeEventListener: (type: string) => listeners.delete(type),
    };
    const keepalive: boolean[] = [];
    const fetch = (url: string, init: RequestInit): Promise<Response> => {
      if (url.endsWith('/sdk/v1/events')) {
        keepalive.push(init.keepalive === true);
      }
      return globalThis.fetch(url, init);
    };
    vi.stubGlobal('document', page);
    const { s, c } = await setup({ fetch, maxConcurrentBatches: 1 }).finally(() => vi.unstubAllGlobals());

    c.getValue('color', 'u1', 'x');
    page.visibilityState = 'hidden';
    listeners.get('visibilitychange')?.();
    await eventually(() => records(s).length === 1);

    expect(keepalive).toEqual([true]);
    expect(allCounts(s)).toEqual([{ flag: 'color', variation: 'c', count: 1 }]);
  });

  it('sends none with sendEvaluationCounts: false (exposures and events still go)', async () => {
    const { s, c } = await setup({ sendEvaluationCounts: false });

    c.getValue('checkout', 'u1', false);
    c.evaluate('exp-flag', 'u1');
    c.trackEvent('buy', 'u1');
    await c.flush();

    expect(s.events.map((e) => e.type).sort()).toEqual(['exposure', 'track']);
  });

  it('keeps no counts without an events endpoint (no apiUrl)', () => {
    const c = new ExperimentationClient('', { bootstrap: makeRuleset(1), logger: recordingLogger() });
    open.push(c);

    c.getValue('checkout', 'u1', false);

    expect((c as unknown as { counts: unknown }).counts).toBeUndefined();
  });

  it('the test client (@xp/sdk/testing) counts and sends nothing', async () => {
    const c = new TestClient({ flags: { checkout: true } });
    open.push(c);

    c.getValue('checkout', 'u1', false);
    c.isFeatureEnabled('checkout', 'u1');
    await c.flush();

    expect((c as unknown as { counts: unknown }).counts).toBeUndefined();
    expect(c.getStats()).toMatchObject({ queuedEvents: 0, sentEvents: 0, droppedEvents: 0 });
  });

  it('a full queue drops evaluation counts before exposures and tracked events, and says so once', async () => {
    // No background retry: every send below is an explicit flush().
    const { s, c, log } = await setup({ maxQueueSize: 3, retryBaseMs: 60_000, retryMaxMs: 60_000 });
    s.eventsMode = 'fail';

    c.trackEvent('a', 'u1');
    c.trackEvent('b', 'u1');
    c.getValue('checkout', 'u1', false);
    await c.flush();
    // The record waits behind the two events for the API to come back.
    expect(c.getStats().queuedEvents).toBe(3);
    c.trackEvent('c', 'u1');
    c.getValue('color', 'u1', 'x');
    await c.flush();
    c.getValue('color', 'u1', 'x');
    await c.flush();
    s.eventsMode = 'ok';
    await c.flush();

    expect(s.events.map((e) => e.name)).toEqual(['a', 'b', 'c']);
    expect(c.getStats()).toMatchObject({ droppedEvents: 3, queuedEvents: 0 });
    expect(log.lines.filter((l) => l.level === 'warn' && l.message.includes('evaluation counts'))).toHaveLength(1);
  });

  it(`closes a window early at ${MAX_EVALUATION_PAIRS} pairs instead of dropping any: 1,100 pairs evaluated 3 times in one interval are each counted 3 times, warned once`, async () => {
    const { s, c, log } = await setup();

    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 1099; i++) {
        c.getValue(`input-${i}`, 'u1', false);
      }
      // A defined flag evaluated after the made-up keys: dropping by call order lost it every window.
      c.getValue('checkout', 'u1', false);
    }
    await c.flush();

    const totals = new Map<string, number>();
    for (const e of allCounts(s)) {
      const pair = `${e.flag}/${e.variation}`;
      totals.set(pair, (totals.get(pair) ?? 0) + e.count);
    }
    expect(totals.size).toBe(1100);
    expect([...totals.values()].every((n) => n === 3)).toBe(true);
    expect(totals.get('checkout/off')).toBe(3);
    // Windows of 1000, 1000, 1000 and 300 pairs: every record within the API's limits (records() parses each).
    expect(records(s).reduce((n, r) => n + r.counts.length, 0)).toBe(3300);
    const warned = log.lines.filter((l) => l.level === 'warn' && l.message.includes('distinct (flag, variation) pairs'));
    expect(warned).toHaveLength(1);
    expect(warned[0]!.message).toContain(`${MAX_EVALUATION_PAIRS} distinct (flag, variation) pairs of 1000 distinct flag keys`);
    expect(warned[0]!.message).toContain('flag keys made from input?');
    expect(log.lines.filter((l) => l.level === 'debug' && l.message.includes('distinct (flag, variation) pairs'))).toHaveLength(2);
  });

  it(`never holds more than ${MAX_EVALUATION_PAIRS} pairs: 10,000 made-up keys leave in records as they come, each counted`, async () => {
    const { s, c } = await setup();
    const counter = (c as unknown as { counts: { pairs: number } }).counts;

    let most = 0;
    for (let i = 0; i < 10_000; i++) {
      c.isFeatureEnabled(`made-up-${i}`, 'u1');
      most = Math.max(most, counter.pairs);
    }
    // Closed windows were queued (and sent) before the flush: only the last one is left.
    expect(counter.pairs).toBe(MAX_EVALUATION_PAIRS);
    await c.flush();

    expect(most).toBe(MAX_EVALUATION_PAIRS);
    expect(counter.pairs).toBe(0);
    const counts = allCounts(s);
    expect(counts).toHaveLength(10_000);
    expect(new Set(counts.map((e) => e.flag)).size).toBe(10_000);
    expect(counts.every((e) => e.count === 1 && e.variation === null)).toBe(true);
  });

  it('keeps the cap when its owner does not close the window (the evaluation is then not counted)', () => {
    const log = recordingLogger();
    let asked = 0;
    const counter = new EvaluationCounter({
      now: () => T0,
      newId: () => 'id-0000000',
      logger: log,
      opened: () => undefined,
      full: () => {
        asked++;
      },
    });

    for (let i = 0; i <= MAX_EVALUATION_PAIRS; i++) {
      counter.count(`k-${i}`, null);
    }
    counter.count('k-0', null);

    expect(asked).toBe(1);
    expect((counter as unknown as { pairs: number }).pairs).toBe(MAX_EVALUATION_PAIRS);
    const counts = counter.close().flatMap((r) => r.counts);
    expect(counts).toHaveLength(MAX_EVALUATION_PAIRS);
    expect(counts[0]).toEqual({ flag: 'k-0', variation: null, count: 2 });
  });

  it('a full queue drops the records of windows closed early before exposures and tracked events, and says so once', async () => {
    // No background retry: the early close's send fails once, then waits.
    const { s, c, log } = await setup({ maxQueueSize: 5, retryBaseMs: 60_000, retryMaxMs: 60_000 });
    s.eventsMode = 'fail';

    c.trackEvent('a', 'u1');
    c.trackEvent('b', 'u1');
    for (let i = 0; i <= MAX_EVALUATION_PAIRS; i++) {
      c.getValue(`input-${i}`, 'u1', false);
    }
    // The window closed at the 1,001st pair, before any flush: 10 records, 7 of them beyond the queue's 5.
    expect(c.getStats()).toMatchObject({ droppedEvents: 7 });
    await eventually(() => s.eventPosts.length === 1 && c.getStats().queuedEvents === 5);
    for (let i = 0; i < MAX_EVALUATION_PAIRS; i++) {
      c.getValue(`more-${i}`, 'u1', false);
    }
    expect(c.getStats()).toMatchObject({ droppedEvents: 17, queuedEvents: 5 });
    s.eventsMode = 'ok';
    await c.flush();

    expect(s.events.filter((e) => e.type === 'track').map((e) => e.name)).toEqual(['a', 'b']);
    expect(log.lines.filter((l) => l.level === 'warn' && l.message.includes('evaluation counts go first'))).toHaveLength(1);
  });

  it('leaves out keys the API refuses (empty, over 200 characters, a NUL) and sends unpaired surrogates as U+FFFD', async () => {
    const { s, c } = await setup();

    c.getValue('', 'u1', false);
    c.getValue('x'.repeat(201), 'u1', false);
    c.getValue('a\0b', 'u1', false);
    c.getValue('half\uD800', 'u1', false);
    c.getValue('half\uDBFF', 'u1', false);
    c.getValue('x'.repeat(200), 'u1', false);
    await c.flush();

    expect(allCounts(s)).toEqual([
      { flag: 'half\uFFFD', variation: null, count: 2 },
      { flag: 'x'.repeat(200), variation: null, count: 1 },
    ]);
  });

  it('dates a window left open past an hour (a sleeping laptop) to its last hour, and one across a clock set back to its end', async () => {
    let now = T0;
    const { s, c } = await setup({ now: () => now });

    c.getValue('checkout', 'u1', false);
    now = T0 + 3 * 3_600_000;
    await c.flush();
    c.getValue('checkout', 'u1', false);
    now = T0;
    await c.flush();

    expect(records(s).map((r) => [r.start, r.timestamp])).toEqual([
      [T0 + 2 * 3_600_000, T0 + 3 * 3_600_000],
      [T0, T0],
    ]);
  });
});

describe('evaluation counts of OpenFeature resolutions', () => {
  it('counts each resolution once by the variant served, also one that evaluates twice (an object default for an array flag) or cannot read its context', async () => {
    const ruleset = makeRuleset(1);
    (ruleset.flags as Record<string, unknown>).list = { variations: [{ key: 'items', value: [1, 2] }], default: 0, off: 0 };
    const { s, c } = await setup({}, ruleset);
    const provider = new XpServerProvider(c);
    const cyclic: Record<string, unknown> = { targetingKey: 'u1' };
    cyclic.self = cyclic;

    await provider.resolveBooleanEvaluation('checkout', true, { targetingKey: 'u1' });
    await provider.resolveObjectEvaluation('list', {}, { targetingKey: 'u1' });
    await provider.resolveStringEvaluation('color', 'red', { targetingKey: 'u1' });
    await provider.resolveNumberEvaluation('color', 0, { targetingKey: 'u1' });
    await provider.resolveBooleanEvaluation('checkout', true, cyclic as never);
    await c.flush();

    // Grouped by flag, in the order first evaluated.
    expect(allCounts(s)).toEqual([
      { flag: 'checkout', variation: 'off', count: 1 },
      { flag: 'checkout', variation: null, count: 1 },
      { flag: 'list', variation: 'items', count: 1 },
      { flag: 'color', variation: 'c', count: 1 },
      { flag: 'color', variation: null, count: 1 },
    ]);
  });

  it('a provider created from options passes appName to its client: its records name the application', async () => {
    const s = await new FakeServer(makeRuleset(1)).start();
    open.push(s);
    const provider = new XpServerProvider({ sdkKey: KEY, apiUrl: s.url, streaming: false, logger: recordingLogger(), appName: 'checkout-api' });
    await provider.initialize();

    await provider.resolveBooleanEvaluation('checkout', true, { targetingKey: 'u1' });
    await provider.onClose();

    expect(records(s)).toMatchObject([{ app: 'checkout-api', counts: [{ flag: 'checkout', variation: 'off', count: 1 }] }]);
  });

  it('counts the web provider\'s resolutions, synchronous, as the server provider\'s', async () => {
    const { s, c } = await setup();
    const provider = new XpWebProvider(c);

    provider.resolveBooleanEvaluation('checkout', true, { targetingKey: 'u1' });
    provider.resolveStringEvaluation('color', 'red', { targetingKey: 'u1' });
    provider.resolveStringEvaluation('color', 'red', { targetingKey: 'u2' });
    await c.flush();

    expect(allCounts(s)).toEqual([
      { flag: 'checkout', variation: 'off', count: 1 },
      { flag: 'color', variation: 'c', count: 2 },
    ]);
  });
});
