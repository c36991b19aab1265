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
