import { describe, expect, it } from 'vitest';
import { evalCondition } from '../condition.js';

// An attribute set to `undefined` (what a JavaScript caller passes for "not known yet", as
// `{ plan: user.plan }`) has no value: `$exists` treats it as missing, as it does null and an absent key.
describe('$exists on an attribute set to undefined', () => {
  it('is false for {$exists: true} and true for {$exists: false}, as for a missing or null attribute', () => {
    const answers = (attributes: Record<string, unknown>): [boolean, boolean] => [
      evalCondition(attributes, { plan: { $exists: true } }),
      evalCondition(attributes, { plan: { $exists: false } }),
    ];

    expect(answers({ plan: undefined })).toEqual([false, true]);
    expect(answers({})).toEqual([false, true]);
    expect(answers({ plan: null })).toEqual([false, true]);
    expect(answers({ plan: 'pro' })).toEqual([true, false]);
  });

  it('is the same at a dotted path', () => {
    expect(evalCondition({ account: { plan: undefined } }, { 'account.plan': { $exists: true } })).toBe(false);
    expect(evalCondition({ account: { plan: undefined } }, { 'account.plan': { $exists: false } })).toBe(true);
  });
});
