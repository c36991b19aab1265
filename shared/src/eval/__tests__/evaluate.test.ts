import { describe, expect, it, vi } from 'vitest';
import { evalCondition } from '../condition.js';
import { evaluateExperiment, evaluateFlag } from '../evaluate.js';
import { ErrorCode, Reason } from '../types.js';
import type { SpecFile } from './load-spec.js';
import { readSpec } from './load-spec.js';

const { rulesets } = readSpec('evaluate-flag.json') as SpecFile<unknown> & { rulesets: { main: Record<string, unknown> } };
const main = rulesets.main;

/** Deterministic PRNG so the fuzz cases are the same on every run. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomValue(rand: () => number, depth = 0): unknown {
  const pick = Math.floor(rand() * (depth > 2 ? 7 : 9));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return rand() < 0.5;
    case 2:
      return Math.floor(rand() * 200) - 100;
    case 3:
      return ['', 'US', '$in', '([', 'user-1', '1.2.3', '\u00e9\u{1f600}'][Math.floor(rand() * 7)];
    case 4:
      return undefined;
    case 5:
      return Number.NaN;
    case 6:
      return -1;
    case 7:
      return Array.from({ length: Math.floor(rand() * 3) }, () => randomValue(rand, depth + 1));
    default: {
      const keys = ['variations', 'default', 'off', 'rules', 'type', 'condition', 'variation', 'weights', '$or', 'id', 'experiment', 'on', 'seed'];
      return Object.fromEntries(Array.from({ length: Math.floor(rand() * 4) }, () => [keys[Math.floor(rand() * keys.length)]!, randomValue(rand, depth + 1)]));
    }
  }
}

describe('evaluateFlag', () => {
  it('explains every rule it considered when asked', () => {
    const result = evaluateFlag(main, 'button-color', { attributes: { country: 'FR', email: 'x@acme.com' } }, { explain: true });

    expect(result.reason).toBe(Reason.TargetingMatch);
    expect(result.trace).toEqual([
      { ruleId: 'us', outcome: 'condition-false', detail: 'country is "FR", needs "US"' },
      { ruleId: 'acme', outcome: 'matched' },
    ]);
  });

  it('explains why a unit fell outside a rollout and an experiment', () => {
    const rollout = evaluateFlag(main, 'rollout-zero', { attributes: { id: 'u' } }, { explain: true });
    const experiment = evaluateFlag(main, 'checkout-exp', { attributes: {} }, { explain: true });

    expect(rollout.trace?.[0]).toMatchObject({ ruleId: 'ramp', outcome: 'outside-rollout' });
    expect(experiment.trace).toEqual([{ ruleId: 'exp', outcome: 'not-in-experiment', detail: 'NO_HASH_ATTRIBUTE' }]);
  });

  it('returns no trace unless asked', () => {
    expect(evaluateFlag(main, 'button-color', { attributes: {} }).trace).toBeUndefined();
  });

  it('compiles a ruleset once and constructs no regular expression while evaluating', () => {
    const ruleset = structuredClone(main);
    evaluateFlag(ruleset, 'ten-conditions', { attributes: {} });
    const spy = vi.spyOn(globalThis, 'RegExp');

    for (let i = 0; i < 200; i++) {
      evaluateFlag(ruleset, 'ten-conditions', { attributes: { email: `user${i}@x.io`, appVersion: `2.${i}.0` } });
      evaluateFlag(ruleset, 'button-color', { attributes: { email: `user${i}@acme.com` } });
    }

    expect(spy).not.toHaveBeenCalled();
    spy.mockRestore();
  });

  it('returns shared frozen results for static outcomes, so callers cannot corrupt them', () => {
    const a = evaluateFlag(main, 'static-on', {});
    const b = evaluateFlag(main, 'static-on', { attributes: { id: 'other' } });

    expect(a).toBe(b);
    expect(Object.isFrozen(a)).toBe(true);
  });

  it('never throws and never returns NaN on random garbage rulesets and contexts', () => {
    const rand = mulberry32(42);
    const reasons = new Set<string>(Object.values(Reason));
    const errors: { value: unknown; code: unknown }[] = [];

    for (let i = 0; i < 3000; i++) {
      const ruleset = i % 3 === 0 ? randomValue(rand) : { ...main, flags: { f: randomValue(rand), ...(main.flags as object) } };
      const context = i % 5 === 0 ? randomValue(rand) : { attributes: randomValue(rand) };
      const key = i % 2 === 0 ? 'f' : 'button-color';

      const result = evaluateFlag(ruleset, key, context as never, { defaultValue: 'safe' });

      expect(reasons.has(result.reason)).toBe(true);
      expect(Number.isNaN(result.value)).toBe(false);
      if (result.reason === Reason.Error) {
        errors.push({ value: result.value, code: result.errorCode });
      }
    }
    expect(errors.length).toBeGreaterThan(100);
    expect(errors.filter((e) => e.value !== 'safe' || !Object.values(ErrorCode).includes(e.code as ErrorCode))).toEqual([]);
  });

  it('survives attributes whose getters throw', () => {
    const hostile = {
      get country(): string {
        throw new Error('boom');
      },
    };

    const result = evaluateFlag(main, 'button-color', { attributes: hostile }, { defaultValue: 'blue' });

    expect(result).toMatchObject({ value: 'blue', reason: 'ERROR', errorCode: 'GENERAL' });
    expect(result.errorMessage).not.toContain('boom');
  });

  it('is deterministic: the same unit always gets the same variation', () => {
    const first = Array.from({ length: 100 }, (_, i) => evaluateFlag(main, 'split-3', { attributes: { id: `u${i}` } }).variationKey);
    const second = Array.from({ length: 100 }, (_, i) => evaluateFlag(structuredClone(main), 'split-3', { attributes: { id: `u${i}` } }).variationKey);

    expect(second).toEqual(first);
  });

  it('uses the injected clock, not the wall clock, for schedules', () => {
    const before = evaluateFlag(main, 'launch-window', { now: Date.parse('2026-11-26T00:00:00Z') });
    const during = evaluateFlag(main, 'launch-window', { now: Date.parse('2026-11-28T00:00:00Z') });

    expect([before.value, during.value]).toEqual([false, true]);
  });

  it('compares a Date attribute as its ISO 8601 string, as conditions write dates (an invalid Date is absent)', () => {
    const ruleset = {
      ...main,
      flags: {
        late: { variations: [{ key: 'off', value: false }, { key: 'on', value: true }], default: 0, off: 0, rules: [{ id: 'since-2026', type: 'force', condition: { 'user.signupDate': { $gte: '2026-01-01T00:00:00Z' } }, variation: 1 }] },
        signed: { variations: [{ key: 'off', value: false }, { key: 'on', value: true }], default: 0, off: 0, rules: [{ id: 'known', type: 'force', condition: { signupDate: { $exists: true } }, variation: 1 }] },
      },
    };
    const late = (d: Date): unknown => evaluateFlag(ruleset, 'late', { attributes: { id: 'u', user: { signupDate: d } } }).value;

    expect([late(new Date('2025-12-31T23:59:59.999Z')), late(new Date('2026-01-01T00:00:00Z')), late(new Date('2026-06-01T00:00:00.500Z'))]).toEqual([false, true, true]);
    expect([new Date('2026-02-01'), new Date('invalid')].map((d) => evaluateFlag(ruleset, 'signed', { attributes: { id: 'u', signupDate: d } }).value)).toEqual([true, false]);
  });

  it('buckets a Date hash attribute on the same ISO string as conditions and the Python SDK (an invalid Date is a TYPE_MISMATCH)', () => {
    // The same dates and expectations as the Python SDK's test_a_datetime_hash_attribute_buckets_as_the_javascript_sdk_buckets_a_date.
    const dates = [
      new Date('2026-06-01T00:00:00Z'),
      new Date('2026-06-01T00:00:00.500Z'),
      new Date('2025-01-15T12:30:00Z'),
      new Date('2024-02-29T00:00:00Z'),
      new Date(Date.UTC(10000, 0, 1, 4)),
    ];
    const experiments = dates.map((companyId) => evaluateExperiment(main, 'exp-company', { attributes: { companyId, id: 'u' } }));
    const splits = dates.map((id) => evaluateFlag(main, 'split-3', { attributes: { id } }));

    expect(experiments.map((e) => [e.variationKey, e.bucket, e.hashValue])).toEqual([
      ['control', 0.2782, '2026-06-01T00:00:00Z'],
      ['control', 0.2782, '2026-06-01T00:00:00Z'],
      ['control', 0.2897, '2025-01-15T12:30:00Z'],
      ['control', 0.4386, '2024-02-29T00:00:00Z'],
      ['treatment', 0.7977, '+010000-01-01T04:00:00Z'],
    ]);
    expect(splits.map((r) => [r.reason, r.variationKey, r.bucket])).toEqual([
      [Reason.Split, 'blue', 0.4374],
      [Reason.Split, 'blue', 0.4374],
      [Reason.Split, 'blue', 0.3504],
      [Reason.Split, 'red', 0.8457],
      [Reason.Split, 'green', 0.737],
    ]);
    expect(evaluateFlag(main, 'split-3', { attributes: { id: new Date('2026-06-01T00:00:00Z') } })).toEqual(evaluateFlag(main, 'split-3', { attributes: { id: '2026-06-01T00:00:00Z' } }));
    const invalid = evaluateFlag(main, 'split-3', { attributes: { id: new Date('invalid') } }, { explain: true });
    expect([invalid.reason, invalid.errorCode]).toEqual([Reason.Error, ErrorCode.TypeMismatch]);
    // Conditions read an extended year the same way (toISOString's +010000-…, to the second), as Python's iso_second.
    expect(evalCondition({ d: new Date(Date.UTC(10000, 0, 1, 4)) }, { d: '+010000-01-01T04:00:00Z' })).toBe(true);
  });
});

describe('evaluateExperiment', () => {
  it('splits traffic by weight within one percentage point over 20,000 units', () => {
    const counts = [0, 0, 0];

    for (let i = 0; i < 20000; i++) {
      const r = evaluateExperiment(main, 'exp-abc', { attributes: { id: `unit-${i}` } });
      counts[r.variationIndex]! += 1;
    }

    expect(counts.map((c) => Math.round((c / 20000) * 100))).toEqual([20, 30, 50]);
  });

  it('keeps namespaces with disjoint ranges mutually exclusive', () => {
    const ruleset = structuredClone(main);
    const experiments = ruleset.experiments as Record<string, Record<string, unknown>>;
    experiments['exp-ns-2'] = { ...experiments['exp-ns'], seed: 'exp-ns-2', namespace: ['checkout-layer', 0.5, 1] };
    let both = 0;
    let either = 0;

    for (let i = 0; i < 5000; i++) {
      const a = evaluateExperiment(ruleset, 'exp-ns', { attributes: { id: `n${i}` } }).inExperiment;
      const b = evaluateExperiment(ruleset, 'exp-ns-2', { attributes: { id: `n${i}` } }).inExperiment;
      both += a && b ? 1 : 0;
      either += a || b ? 1 : 0;
    }

    expect(both).toBe(0);
    expect(either).toBe(5000);
  });

  it('assigns the unit as without a store when the sticky store throws (storage blocked), for experiments and flags', () => {
    const blocked = (): never => {
      throw new DOMException('The operation is insecure.', 'SecurityError');
    };
    const context = { attributes: { id: 'user-0' } };
    const failingRead = { get: blocked, set: vi.fn() };
    const failingWrite = { get: () => undefined, set: blocked };

    for (const stickyBuckets of [failingRead, failingWrite, { get: blocked, set: blocked }]) {
      expect(evaluateExperiment(main, 'exp-sticky', { ...context, stickyBuckets })).toEqual(evaluateExperiment(main, 'exp-sticky', context));
      expect(evaluateFlag(main, 'sticky-exp', { ...context, stickyBuckets })).toEqual(evaluateFlag(main, 'sticky-exp', context));
    }
    // A store that cannot be read is still written: the assignment sticks once storage works again.
    expect(failingRead.set).toHaveBeenCalledWith('id', 'user-0', { 'exp-sticky__2': evaluateExperiment(main, 'exp-sticky', context).variationKey });
  });

  it('explains a variation kept from the stored sticky assignment as kept, and a bucketed one as before', () => {
    // user-0's bucket gives control; the store says treatment (assigned under other weights).
    const store = (stored: Record<string, string> | undefined) => ({ get: () => stored, set: () => undefined });
    const kept = evaluateFlag(main, 'sticky-exp', { attributes: { id: 'user-0' }, stickyBuckets: store({ 'exp-sticky__2': 'treatment' }) }, { explain: true });
    expect(kept.experiment).toMatchObject({ key: 'exp-sticky', variationKey: 'treatment', sticky: true });
    expect(kept.trace?.at(-1)).toEqual({ ruleId: 'exp', outcome: 'matched', detail: 'exp-sticky: treatment (kept from the stored sticky assignment)' });
    const bucketed = evaluateFlag(main, 'sticky-exp', { attributes: { id: 'user-0' }, stickyBuckets: store(undefined) }, { explain: true });
    expect(bucketed.experiment?.sticky).toBeUndefined();
    expect(bucketed.trace?.at(-1)).toEqual({ ruleId: 'exp', outcome: 'matched', detail: 'exp-sticky: control' });
  });
});
