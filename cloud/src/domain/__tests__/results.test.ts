import { describe, expect, it } from 'vitest';
import { csvField, toCsv } from '../results-csv.js';
import { attributeCandidates, simpleCondition } from '../results.js';

describe('simpleCondition', () => {
  it('turns equalities, $eq, $in and $and into allowed values per attribute', () => {
    const out = simpleCondition({ country: 'US', plan: { $in: ['pro', 'team'] }, $and: [{ beta: { $eq: true } }, { plan: 'pro' }] });

    expect(out).toEqual(
      new Map<string, unknown[]>([
        ['country', ['US']],
        ['plan', ['pro']],
        ['beta', [true]],
      ]),
    );
  });

  it('refuses anything else, so the caller evaluates it another way', () => {
    expect(simpleCondition({ $or: [{ country: 'US' }] })).toBeUndefined();
    expect(simpleCondition({ age: { $gt: 30 } })).toBeUndefined();
    expect(simpleCondition({ country: { $eq: 'US', $ne: 'CA' } })).toBeUndefined();
    expect(simpleCondition({ tags: ['a'] })).toBeUndefined();
    expect(simpleCondition({ plan: { $in: [{ nested: 1 }] } })).toBeUndefined();
  });
});

describe('attributeCandidates', () => {
  it('matches the text, and the number or boolean it spells', () => {
    expect(attributeCandidates('US')).toEqual(['US']);
    expect(attributeCandidates('42')).toEqual(['42', 42]);
    expect(attributeCandidates('-1.5e3')).toEqual(['-1.5e3', -1500]);
    expect(attributeCandidates('true')).toEqual(['true', true]);
    expect(attributeCandidates('1e999')).toEqual(['1e999']);
    expect(attributeCandidates('')).toEqual(['']);
  });
});

describe('CSV', () => {
  it('quotes commas, quotes and line breaks, defuses formulas and leaves numbers alone', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField(-0.25)).toBe('-0.25');
    expect(csvField(null)).toBe('');
    expect(csvField(false)).toBe('false');
    expect(toCsv(['a', 'b'], [[1, 'x,y']])).toBe('a,b\r\n1,"x,y"\r\n');
  });

  it('defuses formulas started with the full-width ＝ ＋ － ＠', () => {
    expect(['\uFF1DSUM(A1)', '\uFF0B1', '\uFF0D1', '\uFF20A1'].map(csvField)).toEqual(["'\uFF1DSUM(A1)", "'\uFF0B1", "'\uFF0D1", "'\uFF20A1"]);
    expect(csvField('a\uFF1D')).toBe('a\uFF1D');
  });
});
