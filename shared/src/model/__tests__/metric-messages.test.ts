/**
 * The metric schema's numeric fields answer in plain words, as delayHours does (a tester moving from
 * PostHog got zod's "Too small: expected number to be >0" for `windowHours: 0`).
 */
import { describe, expect, it } from 'vitest';
import { metricSchema } from '../metric.js';

const BASE = { key: 'revenue', name: 'Revenue', type: 'sum', event: 'purchase', property: 'amount' };

/** The messages of the issues at `path` (dotted) when `fields` are added to a valid metric. */
function messages(fields: Record<string, unknown>, path: string): string[] {
  const r = metricSchema.safeParse({ ...BASE, ...fields });
  return r.success ? [] : r.error.issues.filter((i) => i.path.join('.') === path).map((i) => i.message);
}

describe('metric schema messages', () => {
  it.each([
    [{ windowHours: 0 }, 'windowHours', 'windowHours must be more than 0 (hours after the exposure that count); leave it out to count until the experiment stops'],
    [{ windowHours: -3 }, 'windowHours', 'windowHours must be more than 0 (hours after the exposure that count); leave it out to count until the experiment stops'],
    [{ windowHours: 8761 }, 'windowHours', 'windowHours must be at most 8760 (a year)'],
    [{ capping: { type: 'absolute', value: 0 } }, 'capping.value', 'an absolute cap must be more than 0 (per-unit values above it count as it)'],
    [{ capping: { type: 'percentile', value: 0 } }, 'capping.value', 'a percentile cap must be between 0 and 1, both excluded (0.99 caps at the 99th percentile)'],
    [{ capping: { type: 'percentile', value: 1 } }, 'capping.value', 'a percentile cap must be between 0 and 1, both excluded (0.99 caps at the 99th percentile)'],
  ])('%j: %s', (fields, path, message) => {
    expect(messages(fields, path)).toEqual([message]);
  });

  it('still takes the values at the edges', () => {
    for (const fields of [{ windowHours: 0.5 }, { windowHours: 8760 }, { capping: { type: 'absolute', value: 0.01 } }, { capping: { type: 'percentile', value: 0.99 } }]) {
      expect(metricSchema.safeParse({ ...BASE, ...fields }).success).toBe(true);
    }
  });
});
