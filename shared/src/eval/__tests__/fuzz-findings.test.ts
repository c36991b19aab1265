import { describe, expect, it } from 'vitest';
import { evalCondition } from '../condition.js';
import { evaluateFlag } from '../evaluate.js';

// Findings of the differential fuzzer (JavaScript engine vs Python SDK) that shared/spec cannot hold:
// GrowthBook itself answers `$notInGroup` on a group named like an Object member wrongly, and zod
// measures string lengths in code points where both engines' validators count UTF-16 units.
// sdk/python/tests/test_fuzz_findings.py pins the same answers for the Python SDK.

const bool = [{ key: 'off', value: false }, { key: 'on', value: true }];
const ruleset = (flags: Record<string, unknown>, more: Record<string, unknown> = {}): Record<string, unknown> => ({ schemaVersion: 1, environment: 'production', version: 1, ...more, flags });
const emoji = (n: number): string => '\u{1F600}'.repeat(n);

describe('a saved group named like an Object member', () => {
  it('is an unknown group: $inGroup fails and $notInGroup passes, with or without saved groups', () => {
    const answers = (groups?: Record<string, unknown[]>): boolean[] => ['constructor', 'toString', '__proto__', 'hasOwnProperty'].flatMap((name) => [
      evalCondition({ id: 'u' }, { id: { $inGroup: name } }, groups),
      evalCondition({ id: 'u' }, { id: { $notInGroup: name } }, groups),
    ]);
    expect(answers()).toEqual([false, true, false, true, false, true, false, true]);
    expect(answers({ beta: ['u'] })).toEqual([false, true, false, true, false, true, false, true]);
  });

  it('is an unknown group in a ruleset too', () => {
    const doc = ruleset({ f: { variations: bool, default: 0, off: 0, rules: [{ id: 'r', type: 'force', variation: 1, condition: { id: { $notInGroup: 'constructor' } } }] } }, { savedGroups: { beta: ['u'] } });
    expect(evaluateFlag(doc, 'f', { attributes: { id: 'u' } })).toMatchObject({ value: true, reason: 'TARGETING_MATCH', ruleId: 'r' });
  });
});

describe('string limits of the ruleset count UTF-16 code units', () => {
  const force = (id: string): Record<string, unknown> => ({ variations: bool, default: 0, off: 0, rules: [{ id, type: 'force', variation: 1 }] });
  const expFlag = { variations: bool, default: 0, off: 0, rules: [{ id: 'exp', type: 'experiment', experiment: 'e', variations: [0, 1] }] };
  const exp = (more: Record<string, unknown>): Record<string, unknown> => ({ e: { hashAttribute: 'id', seed: 'e', hashVersion: 2, coverage: 1, weights: [0.5, 0.5], variations: [{ key: 'control' }, { key: 'treatment' }], ...more } });
  const answer = (doc: unknown): unknown => {
    const r = evaluateFlag(doc, 'f', { attributes: { id: 'u' } }, { defaultValue: 'safe' });
    return [r.reason, r.errorCode ?? null];
  };

  it('refuses a value one astral character over the limit and accepts one at it', () => {
    expect([
      answer(ruleset({ f: force(emoji(33)) })),
      answer(ruleset({ f: force(emoji(32)) })),
      answer(ruleset({ f: { variations: bool, default: 0, off: 0, rules: [{ id: 'r', type: 'rollout', variation: 1, coverage: 1, hashAttribute: emoji(129), seed: 's', hashVersion: 2 }] } })),
      answer(ruleset({ f: { variations: bool, default: 0, off: 0, rules: [{ id: 'r', type: 'rollout', variation: 1, coverage: 1, hashAttribute: 'id', seed: emoji(129), hashVersion: 2 }] } })),
      answer(ruleset({ f: { variations: bool, default: 0, off: 0, rules: [{ id: 'r', type: 'rollout', variation: 1, coverage: 1, hashAttribute: 'id', seed: emoji(128), hashVersion: 2 }] } })),
      answer(ruleset({ f: expFlag }, { experiments: exp({ seed: emoji(129) }) })),
      answer(ruleset({ f: expFlag }, { experiments: exp({ namespace: [emoji(65), 0, 1] }) })),
      answer(ruleset({ f: expFlag }, { experiments: exp({ namespace: [emoji(64), 0, 1] }) })),
      answer(ruleset({ f: expFlag }, { experiments: exp({ variations: [{ key: 'control', url: `https://a/${emoji(1020)}` }, { key: 'treatment' }] }) })),
      answer(ruleset({ f: expFlag }, { experiments: exp({ holdout: 'h' }), holdouts: { h: { hashAttribute: 'id', seed: emoji(129), coverage: 0 } } })),
    ]).toEqual([
      ['ERROR', 'PARSE_ERROR'],
      ['TARGETING_MATCH', null],
      ['ERROR', 'PARSE_ERROR'],
      ['ERROR', 'PARSE_ERROR'],
      ['SPLIT', null],
      ['ERROR', 'PARSE_ERROR'],
      ['ERROR', 'PARSE_ERROR'],
      ['SPLIT', null],
      ['ERROR', 'PARSE_ERROR'],
      ['ERROR', 'PARSE_ERROR'],
    ]);
  });
});

describe('a context now that is not a finite number', () => {
  it('is ignored for the wall clock, as a string, boolean or array is', () => {
    const doc = ruleset({ f: { variations: bool, default: 0, off: 0, rules: [{ id: 'early', type: 'force', variation: 1, from: 0, until: 2000 }] } });
    const served = (now: unknown): unknown => evaluateFlag(doc, 'f', { attributes: {}, now: now as number }).value;
    expect([1000, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, '1000', new Date(1000)].map(served)).toEqual([true, false, false, false, false, false]);
  });
});
