/**
 * An exposure's `attributes` are flat: a string (at most 1,024 characters), a number or a boolean.
 * A null, an object or an array is rejected with a reason that says so, not the bare type mismatch
 * "expected number, received null" of the event check (which tries a number last).
 */
import { describe, expect, it } from 'vitest';
import { ATTRIBUTE_VALUE_MESSAGE, RejectCode, validateBatch } from '../event-batch.js';

const NOW = Date.parse('2026-11-25T12:00:00Z');
const where = { projectId: 'p', environment: 'development', receivedAt: NOW };
const exposure = (attributes: unknown): Record<string, unknown> => ({ type: 'exposure', id: 'exp-00000001', unitId: 'u-1', timestamp: NOW, experiment: 'checkout', variation: 'control', attributes });

describe('exposure attribute values', () => {
  it('says what an attribute may be when it is null, an object or an array', () => {
    const { valid, rejected } = validateBatch([exposure({ a: null }), exposure({ plan: 'pro', nested: { x: 1 } }), exposure({ list: [1, 2] })], where);

    expect(valid).toEqual([]);
    expect(rejected.map((r) => [r.code, r.reason])).toEqual([
      [RejectCode.Invalid, `attributes.a: ${ATTRIBUTE_VALUE_MESSAGE}`],
      [RejectCode.Invalid, `attributes.nested: ${ATTRIBUTE_VALUE_MESSAGE}`],
      [RejectCode.Invalid, `attributes.list: ${ATTRIBUTE_VALUE_MESSAGE}`],
    ]);
    expect(rejected[0]!.reason).not.toContain('expected number');
    expect(ATTRIBUTE_VALUE_MESSAGE).toContain('a string of at most 1024 characters, a number or a boolean');
  });

  it('keeps the limits: 1,024 characters a string, finite numbers; strings, numbers and booleans pass', () => {
    const { valid, rejected } = validateBatch([exposure({ plan: 'x'.repeat(1025) }), exposure({ plan: 'x'.repeat(1024), visits: 3, beta: true })], where);

    expect(valid).toHaveLength(1);
    expect(rejected.map((r) => r.reason)).toEqual(['attributes.plan: must be at most 1024 characters']);
  });
});
