import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../random.js';
import { checkSdkEvent } from '../event-check.js';
import { sdkBatchItemSchema, sdkEventSchema } from '../event.js';

/** Values that break one rule or another, for every field. */
const ODD_VALUES: unknown[] = [
  undefined, null, true, false, 0, -1, 1.5, 2 ** 53, -0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, 1e300,
  '', 'a', 'abcdefgh', 'abc-def_123', 'has space', 'a'.repeat(64), 'a'.repeat(65), 'k'.repeat(128), 'k'.repeat(129), 'x'.repeat(257),
  'x'.repeat(1025), '.starts-with-dot', 'ok.key-1', 'ünïcode', '2024-01-01T00:00:00Z', '2024-02-29T12:00:00.123+01:00',
  '2023-02-29T12:00:00Z', '2000-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '2024-13-01T00:00:00Z', '2024-01-01T24:00:00Z',
  '2024-01-01T00:00Z', '2024-01-01 00:00:00Z', '2024-01-01T00:00:00', '2024-01-01T00:00:00+1:00', '2024-04-31T00:00:00Z',
  'abcdefg', 'k'.repeat(200), 'k'.repeat(201), 'x'.repeat(256), 'x'.repeat(1024), '2024-01-01T00:00:00z', '2024-01-01T00:00:00.Z',
  '2024-01-01T00:00:00-23:59', '2024-01-01T00:00:00+24:00', '2024-01-01T23:59:60Z', '0000-01-01T00:00:00Z', '1_2', 'a/b',
  [], [1, 'a', null], {}, { a: 1 }, { nested: { deep: [1, { x: true }] } }, { ['k'.repeat(201)]: 1 }, { '': 1 },
  { a: 'x'.repeat(1025) }, { a: [1] }, { a: null }, 'exposure', 'track', 'other',
];

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function validEvent(random: () => number, n: number): Record<string, unknown> {
  const base = { id: `evt_${n.toString(36).padStart(6, '0')}`, unitId: `u${n}`, timestamp: random() < 0.5 ? 1_700_000_000_000 + n : '2024-03-01T10:00:00.5Z' };
  if (random() < 0.5) {
    return {
      ...base,
      type: 'exposure',
      experiment: 'checkout',
      variation: 'treatment',
      ...(random() < 0.5 ? { flag: 'checkout-flag', hashAttribute: 'id' } : {}),
      ...(random() < 0.5 ? { attributes: { country: 'US', age: 31, beta: true } } : {}),
    };
  }
  return {
    ...base,
    type: 'track',
    name: 'purchase',
    ...(random() < 0.5 ? { value: 9.99 } : {}),
    ...(random() < 0.5 ? { properties: { amount: 12, tags: ['a', 'b'], meta: { ok: null } } } : {}),
    ...(random() < 0.3 ? { units: { deviceId: 'dev-1', anonymousId: 'anon-1' } } : {}),
  };
}

const FIELDS = ['id', 'unitId', 'timestamp', 'type', 'experiment', 'variation', 'flag', 'hashAttribute', 'attributes', 'name', 'value', 'properties', 'units', 'extra'];

/** `units` values for the generator: too many entries, and odd keys and values. */
function oddUnits(random: () => number): unknown {
  const r = random();
  if (r < 0.2) {
    return Object.fromEntries(Array.from({ length: 9 + Math.floor(random() * 4) }, (_, i) => [`a${i}`, `v${i}`]));
  }
  return r < 0.4 ? pick(random, ODD_VALUES) : { [pick(random, ['deviceId', '', 'x'.repeat(257), 'x'.repeat(256)])]: pick(random, ODD_VALUES) };
}

describe('checkSdkEvent', () => {
  it('gives the same verdict and output as sdkEventSchema on 20,000 generated events', () => {
    const random = seededRandom(42);
    let accepted = 0;
    const mismatches: unknown[] = [];
    for (let n = 0; n < 20_000; n++) {
      const event = validEvent(random, n);
      const mutations = Math.floor(random() * 3);
      for (let m = 0; m < mutations; m++) {
        const field = pick(random, FIELDS);
        if (random() < 0.2) {
          // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a generated mutation
          delete event[field];
        } else if (field === 'units') {
          event[field] = oddUnits(random);
        } else if (field === 'attributes' || field === 'properties') {
          event[field] = random() < 0.5 ? pick(random, ODD_VALUES) : { [pick(random, ['k', '', 'x'.repeat(257)])]: pick(random, ODD_VALUES) };
        } else {
          event[field] = pick(random, ODD_VALUES);
        }
      }
      const zod = sdkEventSchema.safeParse(event);
      const mine = checkSdkEvent(event);
      if (mine.ok !== zod.success || (mine.ok && zod.success && !isDeepStrictEqual(mine.event, zod.data))) {
        mismatches.push({ event, zod: zod.success ? 'accepted' : zod.error.issues[0], mine });
      }
      accepted += mine.ok ? 1 : 0;
    }
    expect(mismatches.slice(0, 3)).toEqual([]);
    // Both kinds of verdict were exercised in bulk.
    expect(accepted).toBeGreaterThan(3_000);
    expect(accepted).toBeLessThan(17_000);
  });

  it('names the field at fault', () => {
    expect(checkSdkEvent({ id: 'evt_0001', type: 'track', unitId: '', timestamp: 1, name: 'x' })).toEqual({ ok: false, problem: { path: 'unitId', message: 'must not be empty' } });
    // Go's time.RFC3339Nano and Ruby's Time#iso8601 pass; what fails says what the shape is, not only "ISO 8601".
    for (const ts of ['2026-12-07T00:14:05.123456789Z', '2026-12-07T00:14:05+00:00']) {
      expect(checkSdkEvent({ id: 'evt_0001', type: 'track', unitId: 'u', timestamp: ts, name: 'x' })).toMatchObject({ ok: true });
    }
    for (const ts of ['2026-12-07T00:14:05+0000', '2026-12-07t00:14:05z', '2026-12-07T00:14Z', '2026-12-07 00:14:05Z']) {
      expect(checkSdkEvent({ id: 'evt_0001', type: 'track', unitId: 'u', timestamp: ts, name: 'x' })).toMatchObject({ ok: false, problem: { path: 'timestamp', message: expect.stringMatching(/RFC 3339 instant such as 2026-01-31T12:00:00Z .*seconds required/) } });
    }
    expect(checkSdkEvent({ id: 'evt_0001', type: 'track', unitId: 'u', timestamp: 1, name: 'x', bogus: 1 })).toEqual({ ok: false, problem: { path: '', message: 'unrecognized key "bogus"' } });
    expect(checkSdkEvent({ id: 'evt_0001', type: 'exposure', unitId: 'u', timestamp: 1, experiment: 'e', variation: '-v' })).toMatchObject({ ok: false, problem: { path: 'variation' } });
    expect(checkSdkEvent('nope')).toEqual({ ok: false, problem: { path: '', message: 'expected object, received string' } });
    // 1e999 in JSON: a number that is not finite, which 'expected number, received number' contradicted.
    expect(checkSdkEvent({ id: 'evt_0001', type: 'track', unitId: 'u', timestamp: 1, name: 'x', value: Infinity })).toEqual({
      ok: false,
      problem: { path: 'value', message: 'expected a finite number (JSON such as 1e999 reads as infinity)' },
    });
  });

  it('measures a unit id in UTF-16 code units and says so', () => {
    const emoji = '\u{1F600}'.repeat(129);
    expect(checkSdkEvent({ id: 'evt_0001', type: 'track', unitId: emoji, timestamp: 1, name: 'x' })).toEqual({
      ok: false,
      problem: { path: 'unitId', message: 'must be at most 256 UTF-16 code units (an emoji counts as 2)' },
    });
    expect(checkSdkEvent({ id: 'evt_0001', type: 'track', unitId: '\u{1F600}'.repeat(128), timestamp: 1, name: 'x' })).toMatchObject({ ok: true });
  });

  it("checks a tracked event's units: at most 10 string values of 1-256 characters under names of 1-256, never on an exposure", () => {
    const track = (units: unknown): unknown => ({ id: 'evt_0001', type: 'track', unitId: 'u', timestamp: 1, name: 'x', units });
    const eleven = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`a${i}`, `v${i}`]));
    const ten = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`a${i}`, `v${i}`]));
    const cases: [unknown, unknown][] = [
      [track({ deviceId: 'dev1' }), { ok: true, event: track({ deviceId: 'dev1' }) }],
      [track(ten), { ok: true, event: track(ten) }],
      [track(eleven), { ok: false, problem: { path: 'units', message: 'must have at most 10 entries' } }],
      [track({ deviceId: 5 }), { ok: false, problem: { path: 'units.deviceId', message: 'expected string, received number' } }],
      [track({ deviceId: '' }), { ok: false, problem: { path: 'units.deviceId', message: 'must not be empty' } }],
      [track({ deviceId: 'x'.repeat(257) }), { ok: false, problem: { path: 'units.deviceId', message: 'must be at most 256 UTF-16 code units (an emoji counts as 2)' } }],
      [track({ '': 'v' }), { ok: false, problem: { path: 'units.', message: 'key must be 1-256 characters' } }],
      [track('dev1'), { ok: false, problem: { path: 'units', message: 'expected object, received string' } }],
      [{ id: 'evt_0001', type: 'exposure', unitId: 'u', timestamp: 1, experiment: 'e', variation: 'v', units: { deviceId: 'd' } }, { ok: false, problem: { path: '', message: 'unrecognized key "units"' } }],
    ];
    for (const [event, verdict] of cases) {
      expect(checkSdkEvent(event)).toEqual(verdict);
      expect(sdkEventSchema.safeParse(event).success).toBe((verdict as { ok: boolean }).ok);
    }
    expect(sdkEventSchema.safeParse(track(eleven)).error?.issues[0]).toMatchObject({ path: ['units'], message: 'must have at most 10 entries' });
  });

  it('limits how deeply property values nest, with the same verdict as sdkEventSchema, which does not overflow either', () => {
    const nested = (depth: number, leaf: unknown = 1): unknown => {
      let v = leaf;
      for (let i = 0; i < depth; i++) {
        v = i % 2 === 0 ? [v] : { a: v };
      }
      return v;
    };
    const event = (value: unknown) => ({ id: 'evt_0001', type: 'track', unitId: 'u', timestamp: 1, name: 'x', properties: { p: value } });
    for (const [depth, ok] of [[0, true], [32, true], [33, false], [2_500, false], [100_000, false]] as const) {
      expect([depth, checkSdkEvent(event(nested(depth))).ok]).toEqual([depth, ok]);
      expect([depth, sdkEventSchema.safeParse(event(nested(depth))).success]).toEqual([depth, ok]);
    }
    expect(checkSdkEvent(event(nested(33)))).toEqual({ ok: false, problem: { path: 'properties.p', message: 'nested more than 32 levels deep' } });
    expect(sdkEventSchema.safeParse(event(nested(33))).error?.issues[0]).toMatchObject({ path: ['properties', 'p'], message: 'nested more than 32 levels deep' });
    // The depth check comes first; what lies inside is still checked.
    expect(checkSdkEvent(event(nested(5, Number.NaN))).ok).toBe(false);
    expect(sdkEventSchema.safeParse(event(nested(5, Number.NaN))).success).toBe(false);
  });

  it('rejects absurdly deep properties instead of throwing', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) {
      deep = [deep];
    }
    const result = checkSdkEvent({ id: 'evt_0001', type: 'track', unitId: 'u', timestamp: 1, name: 'x', properties: { deep } });
    expect(result.ok).toBe(false);
  });
});

describe('checkSdkEvent on evaluations records', () => {
  const counts = (n: number): unknown[] => Array.from({ length: n }, (_, i) => ({ flag: `flag-${i}`, variation: i % 3 === 0 ? null : 'on', count: i + 1 }));
  const record = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ id: 'ev_3f9c1a2b7d', type: 'evaluations', start: 1_765_100_000_000, timestamp: 1_765_100_010_000, counts: counts(3), ...over });
  const ODD_COUNTS: unknown[] = [0, 1, 1.5, 2e9, 1_000_000_000, 1_000_000_001, -1, '3', null, Number.NaN, Infinity];
  const ODD_START: unknown[] = [1_765_100_010_000, 1_765_100_010_001, 1_765_100_010_000 - 3_600_000, 1_765_100_010_000 - 3_600_001, '2025-12-07T09:33:20Z', '2025-12-07T09:33:30.000Z', '2025-12-07T10:33:30.001+01:00', 'nope', -1];
  const COUNT_FIELDS = ['flag', 'variation', 'count', 'extra'];
  const RECORD_FIELDS = ['id', 'type', 'start', 'timestamp', 'counts', 'unitId', 'app'];
  /** `app` values: valid names at the edges and malformed ones (APP_NAME_PATTERN). */
  const ODD_APPS: unknown[] = ['web-shop', 'checkout_api.v2', 'a', 'A'.repeat(64), 'A'.repeat(65), '', '-web', '.web', '_web', 'web shop', 'wéb', 'web/shop', 'web\u0000', 7, null, true, ['web'], {}];

  it('gives the same verdict and output as sdkBatchItemSchema on 10,000 generated records', () => {
    const random = seededRandom(7);
    let accepted = 0;
    let appsAccepted = 0;
    let appsRejected = 0;
    const mismatches: unknown[] = [];
    for (let n = 0; n < 10_000; n++) {
      const items = counts(random() < 0.05 ? 99 + Math.floor(random() * 3) : random() < 0.1 ? 0 : 1 + Math.floor(random() * 4)) as Record<string, unknown>[];
      const event = record({ id: `evt_${n.toString(36).padStart(6, '0')}`, counts: items });
      const mutations = Math.floor(random() * 3);
      for (let m = 0; m < mutations; m++) {
        const r = random();
        if (r < 0.3 && items.length > 0) {
          const item = pick(random, items);
          const field = pick(random, COUNT_FIELDS);
          if (random() < 0.15) {
            // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a generated mutation
            delete item[field];
          } else {
            item[field] = field === 'count' ? pick(random, ODD_COUNTS) : pick(random, ODD_VALUES);
          }
        } else if (r < 0.45 && items.length > 0) {
          items.push({ ...pick(random, items) });
        } else if (r < 0.65) {
          event.start = pick(random, ODD_START);
        } else if (r < 0.8) {
          event.app = pick(random, ODD_APPS);
        } else {
          const field = pick(random, RECORD_FIELDS);
          if (random() < 0.2) {
            // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a generated mutation
            delete event[field];
          } else {
            event[field] = pick(random, ODD_VALUES);
          }
        }
      }
      const zod = sdkBatchItemSchema.safeParse(event);
      const mine = checkSdkEvent(event);
      if (mine.ok !== zod.success || (mine.ok && zod.success && !isDeepStrictEqual(mine.event, zod.data))) {
        mismatches.push({ event, zod: zod.success ? 'accepted' : zod.error.issues[0], mine });
      }
      accepted += mine.ok ? 1 : 0;
      if (event.app !== undefined) {
        const alone = checkSdkEvent(record({ app: event.app }));
        appsAccepted += alone.ok ? 1 : 0;
        appsRejected += alone.ok ? 0 : 1;
      }
    }
    expect(mismatches.slice(0, 3)).toEqual([]);
    expect(accepted).toBeGreaterThan(2_000);
    expect(accepted).toBeLessThan(8_000);
    // Both kinds of `app` were generated, and both checks agreed on them.
    expect([appsAccepted > 100, appsRejected > 100]).toEqual([true, true]);
  });

  it('names the field at fault, with the same path as the schema', () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [record({ start: 1_765_100_010_001 }), 'start', /at or before timestamp/],
      [record({ start: 1_765_100_010_000 - 3_600_001 }), 'start', /at most 1 hour before timestamp/],
      [record({ counts: [{ flag: 'a', variation: 'on', count: 1 }, { flag: 'a', variation: 'off', count: 1 }, { flag: 'a', variation: 'on', count: 2 }] }), 'counts.2', /repeats the \(flag, variation\) pair of counts\.0/],
      [record({ counts: [{ flag: 'a', variation: null, count: 1 }, { flag: 'a', variation: null, count: 1 }] }), 'counts.1', /repeats/],
      [record({ counts: [{ flag: 'a', variation: 'on', count: 0 }] }), 'counts.0.count', /at least 1/],
      [record({ counts: [{ flag: 'a', variation: 'on', count: 1.5 }] }), 'counts.0.count', /integer/],
      [record({ counts: [{ flag: 'a', variation: 'on', count: 2e9 }] }), 'counts.0.count', /at most 1000000000/],
      [record({ counts: counts(101) }), 'counts', /at most 100 entries/],
      [record({ counts: [] }), 'counts', /at least 1/],
      [record({ counts: [{ flag: 'a', variation: '-on', count: 1 }] }), 'counts.0.variation', /must start with an ASCII letter or digit/],
      [record({ counts: [{ flag: 'a', variation: 'on', count: 1, extra: 1 }] }), 'counts.0', /unrecognized key "extra"/],
      [record({ unitId: 'u1' }), '', /unrecognized key "unitId"/],
      [record({ app: '' }), 'app', /./],
      [record({ app: '-web' }), 'app', /must be 1 to 64 ASCII letters/],
      [record({ app: 'web shop' }), 'app', /must be 1 to 64 ASCII letters/],
      [record({ app: 'a'.repeat(65) }), 'app', /./],
      [record({ app: 7 }), 'app', /string/],
    ];
    for (const [event, path, message] of cases) {
      const mine = checkSdkEvent(event);
      expect(mine).toMatchObject({ ok: false, problem: { path, message: expect.stringMatching(message) } });
      expect(sdkBatchItemSchema.safeParse(event).error?.issues[0]?.path.join('.')).toBe(path);
    }
    // The edges: a window of exactly an hour, start = timestamp, ISO and epoch mixed, 100 pairs, the largest count.
    for (const event of [
      record({ start: 1_765_100_010_000 - 3_600_000 }),
      record({ start: 1_765_100_010_000 }),
      record({ start: '2025-12-07T09:33:20Z', timestamp: 1_765_100_010_000 }),
      record({ counts: counts(100) }),
      record({ counts: [{ flag: 'x'.repeat(200), variation: null, count: 1_000_000_000 }] }),
      record({ app: 'checkout-api' }),
      record({ app: 'A'.repeat(64) }),
      record({ app: '9.web_shop-2' }),
    ]) {
      expect(checkSdkEvent(event)).toEqual({ ok: true, event });
      expect(sdkBatchItemSchema.safeParse(event).success).toBe(true);
    }
  });
});
