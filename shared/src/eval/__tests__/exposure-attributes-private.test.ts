/**
 * privateAttributes as plain JavaScript may pass it (the types say `string[] | true`): a lone name
 * hides that attribute only, not every attribute whose name is a substring of it, and `false` hides
 * none instead of throwing while an exposure is built.
 */
import { describe, expect, it } from 'vitest';
import { exposureAttributes } from '../exposure-attributes.js';

const attributes = { email: 'a@example.org', mail: 'box', e: 'x', plan: 'pro' };

describe('exposureAttributes with privateAttributes given loosely', () => {
  it('takes a lone name as that one attribute', () => {
    expect(exposureAttributes(attributes, 'email' as unknown as string[])).toEqual({ mail: 'box', e: 'x', plan: 'pro' });
  });

  it('takes false (or null) as none private', () => {
    expect(exposureAttributes(attributes, false as unknown as true)).toEqual(attributes);
    expect(exposureAttributes(attributes, null as unknown as true)).toEqual(attributes);
  });

  it('keeps lists and true as they were', () => {
    expect(exposureAttributes(attributes, ['email', 'plan'])).toEqual({ mail: 'box', e: 'x' });
    expect(exposureAttributes(attributes, true)).toBeUndefined();
  });
});
