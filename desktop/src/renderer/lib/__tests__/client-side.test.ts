import { describe, expect, it } from 'vitest';
import { availableToClientSide, withClientSide } from '../client-side.js';

interface Definition {
  readonly key: string;
  readonly clientSide?: boolean;
}
const definition = (d: Definition): Definition => d;

describe('client-side availability', () => {
  it('treats only an explicit false as server-side only', () => {
    expect(availableToClientSide({})).toBe(true);
    expect(availableToClientSide({ clientSide: true })).toBe(true);
    expect(availableToClientSide({ clientSide: false })).toBe(false);
  });

  it('writes false when turned off, and otherwise leaves the definition as stored or the field out', () => {
    expect(withClientSide(definition({ key: 'a' }), false)).toEqual({ key: 'a', clientSide: false });
    expect(withClientSide(definition({ key: 'a', clientSide: true }), false)).toEqual({ key: 'a', clientSide: false });
    expect(withClientSide(definition({ key: 'a', clientSide: false }), true)).toEqual({ key: 'a' });
    expect(withClientSide(definition({ key: 'a', clientSide: true }), true)).toEqual({ key: 'a', clientSide: true });
    expect(withClientSide(definition({ key: 'a' }), true)).toEqual({ key: 'a' });
  });
});
