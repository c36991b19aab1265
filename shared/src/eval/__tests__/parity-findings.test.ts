import { describe, expect, it } from 'vitest';
import { evalCondition } from '../condition.js';

// What the JavaScript evaluator answers in the cases of the parity test (server vs JS SDK vs Python SDK):
// sdk/python/tests/test_parity_fixes.py pins the same answers for the Python SDK, and docs/evaluation.md states them.
describe('case-insensitive operators on letters newer than older Unicode databases', () => {
  it('lower-case U+A7CB Ɤ to U+0264 ɤ and the Garay U+10D50 to U+10D70, as the Python SDK does', () => {
    const check = (condition: Record<string, unknown>, a: unknown): boolean => evalCondition({ a }, { a: condition });

    expect([
      check({ $ini: ['us', 'ɤ'] }, 'Ɤ'),
      check({ $ini: ['Ɤ'] }, 'ɤ'),
      check({ $ini: ['\u{10d70}'] }, '\u{10d50}'),
      check({ $nini: ['ɤ'] }, 'Ɤ'),
      check({ $alli: ['Ɤ', '\u{10d50}'] }, ['ɤ', '\u{10d70}']),
      check({ $regexi: '^ɤ$' }, 'Ɤ'),
      check({ $regexi: '^\u{10d50}$' }, '\u{10d70}'),
    ]).toEqual([true, true, true, false, true, true, false]);
  });
});

describe('documented surprises (docs/evaluation.md, "What the comparisons do")', () => {
  it('compares a boolean condition by truthiness: true matches the string "false", false does not match a missing attribute', () => {
    const values: unknown[] = ['false', '0', 'no', [], {}, -1, 'abc', true, 1, 0, false, '', Number.NaN, null];
    expect(values.map((a) => evalCondition({ a }, { a: true }))).toEqual([true, true, true, true, true, true, true, true, true, false, false, false, false, false]);
    expect(values.map((a) => evalCondition({ a }, { a: false }))).toEqual([false, false, false, false, false, false, false, false, false, true, true, true, true, false]);
    expect([evalCondition({}, { a: true }), evalCondition({}, { a: false })]).toEqual([false, false]);
  });

  it('reads a version attribute that is missing, null, empty, a boolean, an array or an object as "0"', () => {
    const older = { appVersion: { $vlt: '1.2.3' } };
    const zero = { appVersion: { $veq: '0' } };
    expect(evalCondition({}, older)).toBe(true);
    for (const appVersion of [null, '', true, [], ['2.0.0'], {}]) {
      expect({ appVersion, older: evalCondition({ appVersion }, older), zero: evalCondition({ appVersion }, zero) }).toEqual({ appVersion, older: true, zero: true });
    }
    expect([evalCondition({ appVersion: '2.0.0' }, older), evalCondition({ appVersion: 1 }, older)]).toEqual([false, true]);
  });

  it('reads any string as a version, unless a valid-version $regex sits next to the version operator', () => {
    const newer = { appVersion: { $vgt: '1.0.0' } };
    const guarded = { appVersion: { $regex: '^\\d+\\.\\d+\\.\\d+$', $vgt: '1.0.0' } };
    const values = ['DE', '2026-06-01', 'v1.2.3', '1.2.3', '0.9.0'];
    expect(values.map((appVersion) => evalCondition({ appVersion }, newer))).toEqual([true, true, true, true, false]);
    expect(values.map((appVersion) => evalCondition({ appVersion }, guarded))).toEqual([false, false, false, true, false]);
  });

  it('reads a $regex attribute that is not a string as its text: missing and null as "null"', () => {
    const ul = { email: { $regex: 'ul' } };
    expect([evalCondition({}, ul), evalCondition({ email: null }, ul), evalCondition({ email: 'a@b.c' }, ul)]).toEqual([true, true, false]);
    expect([42, true, ['a', 'b']].map((email) => evalCondition({ email }, { email: { $regex: '^(42|true|a,b)$' } }))).toEqual([true, true, true]);
    expect([evalCondition({}, { email: { $regex: '' } }), evalCondition({}, { email: { $exists: true, $regex: '' } })]).toEqual([true, false]);
  });
});
