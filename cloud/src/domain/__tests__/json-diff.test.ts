import { describe, expect, it } from 'vitest';
import { jsonDiff } from '../json-diff.js';

describe('jsonDiff', () => {
  it('reports additions, removals and replacements by JSON pointer', () => {
    const before = { name: 'A', environments: { prod: { enabled: false, rules: [{ id: 'r1' }] } }, tags: ['x'] };
    const after = { name: 'B', environments: { prod: { enabled: true, rules: [{ id: 'r1' }] }, 'a/b': {} }, description: 'd' };

    expect(jsonDiff(before, after)).toEqual([
      { op: 'remove', path: '/tags', from: ['x'] },
      { op: 'replace', path: '/name', from: 'A', to: 'B' },
      { op: 'replace', path: '/environments/prod/enabled', from: false, to: true },
      { op: 'add', path: '/environments/a~1b', to: {} },
      { op: 'add', path: '/description', to: 'd' },
    ]);
  });

  it('replaces arrays whose length changed, and describes creation and deletion', () => {
    expect(jsonDiff({ rules: [1] }, { rules: [1, 2] })).toEqual([{ op: 'replace', path: '/rules', from: [1], to: [1, 2] }]);
    expect(jsonDiff(undefined, { a: 1 })).toEqual([{ op: 'add', path: '', to: { a: 1 } }]);
    expect(jsonDiff({ a: 1 }, undefined)).toEqual([{ op: 'remove', path: '', from: { a: 1 } }]);
    expect(jsonDiff({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toEqual([]);
  });
});

describe('jsonDiff of id-keyed arrays (flag rules)', () => {
  const beta = { id: 'beta', type: 'force', variation: 'on', segments: ['beta'] };
  const ramp = { id: 'germany-ramp', type: 'rollout', variation: 'on', coverage: 0.1, condition: { country: 'DE' } };
  const staff = { id: 'staff', type: 'force', variation: 'on' };
  const env = (rules: unknown[]): unknown => ({ environments: { production: { enabled: true, rules } } });

  it('reads a swap of two rules as one move, by id, a rule moved to the top as that one move, and keeps unmoved rules out', () => {
    expect(jsonDiff(env([beta, ramp]), env([ramp, beta]))).toEqual([{ op: 'move', path: '/environments/production/rules/beta', from: 0, to: 1 }]);
    expect(jsonDiff(env([beta, ramp, staff]), env([staff, beta, ramp]))).toEqual([{ op: 'move', path: '/environments/production/rules/staff', from: 2, to: 0 }]);
    expect(jsonDiff(env([beta, ramp, staff]), env([staff, ramp, beta]))).toEqual([
      { op: 'move', path: '/environments/production/rules/staff', from: 2, to: 0 },
      { op: 'move', path: '/environments/production/rules/beta', from: 0, to: 2 },
    ]);
    // A rule inserted or removed shifts the others' positions without moving them.
    expect(jsonDiff(env([beta, ramp]), env([staff, beta, ramp]))).toEqual([{ op: 'add', path: '/environments/production/rules/staff', to: staff }]);
  });

  it('addresses a change inside a rule by its id, and an added or removed rule as one operation', () => {
    expect(jsonDiff(env([beta, ramp, staff]), env([beta, { ...ramp, coverage: 0.25 }, staff]))).toEqual([
      { op: 'replace', path: '/environments/production/rules/germany-ramp/coverage', from: 0.1, to: 0.25 },
    ]);
    expect(jsonDiff(env([beta, ramp, staff]), env([beta, staff]))).toEqual([{ op: 'remove', path: '/environments/production/rules/germany-ramp', from: ramp }]);
    expect(jsonDiff(env([beta, staff]), env([beta, ramp, staff]))).toEqual([{ op: 'add', path: '/environments/production/rules/germany-ramp', to: ramp }]);
    // All rules cleared, or the first added: the whole list, in one operation.
    expect(jsonDiff(env([beta, ramp]), env([]))).toEqual([{ op: 'replace', path: '/environments/production/rules', from: [beta, ramp], to: [] }]);
    expect(jsonDiff(env([]), env([beta]))).toEqual([{ op: 'replace', path: '/environments/production/rules', from: [], to: [beta] }]);
    // Moved and edited: the move, then the edit at the rule's id; removed and moved at once: each once.
    expect(jsonDiff(env([beta, ramp, staff]), env([{ ...staff, enabled: false }, ramp]))).toEqual([
      { op: 'remove', path: '/environments/production/rules/beta', from: beta },
      { op: 'move', path: '/environments/production/rules/staff', from: 2, to: 0 },
      { op: 'add', path: '/environments/production/rules/staff/enabled', to: false },
    ]);
  });

  it('keeps comparing by position arrays without distinct ids, and arrays keyed by key (variations)', () => {
    expect(jsonDiff({ rules: [{ id: 'a' }, { id: 'a' }] }, { rules: [{ id: 'a', x: 1 }, { id: 'a' }] })).toEqual([{ op: 'add', path: '/rules/0/x', to: 1 }]);
    expect(jsonDiff({ variations: [{ key: 'off' }, { key: 'on' }] }, { variations: [{ key: 'on' }, { key: 'off' }] })).toEqual([
      { op: 'replace', path: '/variations/0/key', from: 'off', to: 'on' },
      { op: 'replace', path: '/variations/1/key', from: 'on', to: 'off' },
    ]);
  });
});

describe('jsonDiff of long scalar lists (segment ids)', () => {
  const ids = Array.from({ length: 5_000 }, (_, i) => `cust-${i}`);

  it('reads one id added, or one removed, as one entry, not the list twice', () => {
    expect(jsonDiff({ values: ids }, { values: [...ids, 'cust-new'] })).toEqual([{ op: 'add', path: '/values/5000', to: 'cust-new' }]);
    expect(jsonDiff({ values: ids }, { values: ids.filter((id) => id !== 'cust-7') })).toEqual([{ op: 'remove', path: '/values/7', from: 'cust-7' }]);
  });

  it('reads one removed and one added (the same length) as those two, not every shifted position', () => {
    const after = [...ids.filter((id) => id !== 'cust-0'), 42];
    expect(jsonDiff({ values: ids }, { values: after })).toEqual([
      { op: 'remove', path: '/values/0', from: 'cust-0' },
      { op: 'add', path: '/values/4999', to: 42 },
    ]);
  });

  it('tells a number from the same digits as a string, and reports nothing for a reorder', () => {
    const numbers = Array.from({ length: 200 }, (_, i) => i);
    expect(jsonDiff({ values: numbers }, { values: [...numbers.slice(1), '0'] })).toEqual([
      { op: 'remove', path: '/values/0', from: 0 },
      { op: 'add', path: '/values/199', to: '0' },
    ]);
    expect(jsonDiff({ values: numbers }, { values: [...numbers].reverse() })).toEqual([]);
  });

  it('keeps comparing short lists (tags, metrics, environments) by position, where order can matter', () => {
    expect(jsonDiff({ primary: ['a', 'b'] }, { primary: ['b', 'a'] })).toEqual([
      { op: 'replace', path: '/primary/0', from: 'a', to: 'b' },
      { op: 'replace', path: '/primary/1', from: 'b', to: 'a' },
    ]);
  });
});
