import { MAX_PROPERTY_DEPTH as SERVER_MAX_PROPERTY_DEPTH, checkSdkEvent } from '@xp/shared/edge';
import { afterEach, describe, expect, it } from 'vitest';
import { ExperimentationClient } from '../client.js';
import { MAX_PROPERTY_DEPTH, wellFormed } from '../sanitize.js';
import type { ClientOptions } from '../types.js';
import { FakeServer } from './fake-server.js';
import { makeRuleset, recordingLogger } from './fixtures.js';
import type { RecordingLogger } from './fixtures.js';

/**
 * One malformed field must cost that field, not the whole exposure or event: the API refuses an
 * event holding an unpaired surrogate or a NUL anywhere, properties nested more than 32 levels,
 * and unit ids over 256 characters. Every event the fake API receives here is checked with the
 * server's own event check plus its text rule (cloud/src/http/text.ts).
 */

const KEY = 'xpk_srv_test-key';
const open: { close(): Promise<void> }[] = [];
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

async function setup(options: ClientOptions = {}): Promise<{ s: FakeServer; c: ExperimentationClient; log: RecordingLogger }> {
  const s = await new FakeServer(makeRuleset(1)).start();
  const log = recordingLogger();
  const c = new ExperimentationClient(KEY, { apiUrl: s.url, streaming: false, pollIntervalMs: 60_000, timeoutMs: 500, retryBaseMs: 20, retryMaxMs: 100, flushIntervalMs: 60_000, logger: log, ...options });
  open.push(c, s);
  await c.ready();
  return { s, c, log };
}

/** Why the API would refuse the event (its schema check, then NUL and unpaired surrogates in any key or string), or undefined. */
function serverVerdict(event: unknown): string | undefined {
  const checked = checkSdkEvent(event);
  if (!checked.ok) {
    return `${checked.problem.path}: ${checked.problem.message}`;
  }
  const json = JSON.stringify(event);
  return json.includes('\\u0000') ? 'NUL' : LONE_SURROGATE.test(JSON.parse(json) === null ? '' : deepStrings(event).join('\n')) ? 'unpaired surrogate' : undefined;
}

function deepStrings(value: unknown): string[] {
  if (typeof value === 'string') {
    return [value];
  }
  if (typeof value !== 'object' || value === null) {
    return [];
  }
  return Object.entries(value).flatMap(([k, v]) => [k, ...deepStrings(v)]);
}

function nested(depth: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) {
    v = { a: v };
  }
  return v;
}

describe('malformed strings cost the field, not the event', () => {
  it('restates the API limits it checks against', () => {
    expect(MAX_PROPERTY_DEPTH).toBe(SERVER_MAX_PROPERTY_DEPTH);
    expect(wellFormed('Zoë 😀😀'.slice(0, 5))).toBe('Zoë \uFFFD');
    expect(wellFormed('a\uDC00b\uD83D')).toBe('a\uFFFDb\uFFFD');
    expect(wellFormed('ok 😀')).toBe('ok 😀');
  });

  it('sends an exposure whose attribute was cut inside an emoji, with U+FFFD in its place', async () => {
    const { s, c } = await setup();
    const displayName = 'Zoë 😀😀'.slice(0, 5);

    c.getVariant('exp-ab', { id: 'sur-user-1', attributes: { displayName, plan: 'pro', ['k\uD800']: 'x' } });
    await c.flush();

    expect(s.events).toHaveLength(1);
    expect(serverVerdict(s.events[0])).toBeUndefined();
    expect(s.events[0]).toMatchObject({ type: 'exposure', unitId: 'sur-user-1', attributes: { displayName: 'Zoë \uFFFD', plan: 'pro', 'k\uFFFD': 'x' } });
    expect(c.getStats()).toMatchObject({ sentEvents: 1, rejectedEvents: 0 });
  });

  it('leaves out an exposure attribute holding a NUL, keeping the exposure', async () => {
    const { s, c } = await setup();

    c.getVariant('exp-ab', { id: 'u1', attributes: { bad: 'a\u0000b', plan: 'pro' } });
    await c.flush();

    expect(s.events).toHaveLength(1);
    expect(serverVerdict(s.events[0])).toBeUndefined();
    expect(s.events[0]!.attributes).toEqual({ plan: 'pro' });
  });

  it('keeps a tracked event and its value when a property string was cut inside an emoji', async () => {
    const { s, c } = await setup();

    c.trackEvent('search', 'u1', { value: 1, query: 'best pizza 🍕🍕🍕'.slice(0, 12) });
    await c.flush();

    expect(s.events).toHaveLength(1);
    expect(serverVerdict(s.events[0])).toBeUndefined();
    expect(s.events[0]).toMatchObject({ name: 'search', value: 1, properties: { query: 'best pizza \uFFFD' } });
  });

  it('leaves out only the property nested deeper than the API allows (or holding a NUL), with a warning', async () => {
    const { s, c, log } = await setup();

    c.trackEvent('deep', 'u1', { value: 2, a: nested(40), ok: nested(31), nul: ['x\u0000'], plan: 'pro' });
    await c.flush();

    expect(s.events).toHaveLength(1);
    expect(serverVerdict(s.events[0])).toBeUndefined();
    expect(s.events[0]).toMatchObject({ value: 2, properties: { ok: nested(31), plan: 'pro' } });
    expect(Object.keys(s.events[0]!.properties as object).sort()).toEqual(['ok', 'plan']);
    expect(log.has('warn', '"a" (nested more than 32 levels deep)')).toBe(true);
    expect(log.has('warn', '"nul"')).toBe(true);
  });

  it('refuses a track() whose name holds a NUL at call time, and fixes unpaired surrogates in a name', async () => {
    const { s, c, log } = await setup();

    c.trackEvent('a\u0000b', 'u1');
    expect(log.has('warn', 'NUL')).toBe(true);
    expect(c.getStats().queuedEvents).toBe(0);
    c.trackEvent('café \uD83D', 'u1');
    await c.flush();

    expect(s.events.map((e) => e.name)).toEqual(['café \uFFFD']);
    expect(serverVerdict(s.events[0])).toBeUndefined();
  });

  it('warns once about ids over 256 characters, still evaluates them, and sends none of their events', async () => {
    const { s, c, log } = await setup();
    const long = 'x'.repeat(300);

    expect(c.getVariant('exp-ab', long)).not.toBeNull();
    c.getVariant('exp-ab', `${long}y`);
    c.trackEvent('click', long);
    await c.flush();

    expect(s.events).toHaveLength(0);
    expect(c.getStats().rejectedEvents).toBe(0);
    expect(log.lines.filter((l) => l.level === 'warn' && l.message.includes('256'))).toHaveLength(1);
  });

  it('warns about properties that are not an object and sends the event without them', async () => {
    const { s, c, log } = await setup();

    c.trackEvent('arr', 'u1', [1, 2, 3] as unknown as Record<string, unknown>);
    c.trackEvent('str', 'u1', 'hello' as unknown as Record<string, unknown>);
    await c.flush();

    expect(s.events.map((e) => [e.name, e.properties])).toEqual([
      ['arr', undefined],
      ['str', undefined],
    ]);
    expect(log.lines.filter((l) => l.level === 'warn' && l.message.includes('properties must be an object'))).toHaveLength(2);
  });
});

describe('events the API refuses one by one (202 with rejected)', () => {
  it('warns once per reason (saying exposures are lost from results), counts every one, and sends BATCH_LIMIT ones again', async () => {
    const { s, c, log } = await setup();
    let limited = 0;
    s.rejectEvent = (e) =>
      e.type === 'exposure'
        ? { code: 'CLOCK_SKEW', reason: 'timestamp is more than 30 days old' }
        : e.name === 'over' && limited++ === 0
          ? { code: 'BATCH_LIMIT', reason: 'a batch holds at most 500 events; send this one in another batch' }
          : undefined;

    c.getVariant('exp-ab', 'u1');
    await c.flush();
    c.getVariant('exp-ab', 'u2');
    c.trackEvent('over', 'u3');
    await c.flush();
    await c.flush();

    expect(c.getStats()).toMatchObject({ rejectedEvents: 2, sentEvents: 1 });
    expect(s.events.map((e) => e.name)).toEqual(['over']);
    const warnings = log.lines.filter((l) => l.level === 'warn' && l.message.includes('refused'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain('exposures');
  });
});
