import { describe, expect, it } from 'vitest';
import { ExperimentationClient } from '../client.js';
import { resolveFlag, toUser } from '../openfeature/mapping.js';
import { makeRuleset, recordingLogger } from './fixtures.js';

/**
 * A Date in an OpenFeature context must target exactly as the same Date given to the client: the
 * engine compares a Date to the second (`2026-06-01T00:00:00Z`), and the provider used to send
 * `toISOString()` (`…00.000Z`), which differs in the boundary second and for every `$eq`.
 */

const onOff = [
  { key: 'off', value: false },
  { key: 'on', value: true },
];

function dateRuleset(): Record<string, unknown> {
  const base = makeRuleset(1);
  const flag = (condition: unknown): unknown => ({ variations: onOff, default: 0, off: 0, rules: [{ id: 'r', type: 'force', condition, variation: 1 }] });
  return {
    ...base,
    flags: {
      ...(base.flags as Record<string, unknown>),
      'launch-day': flag({ launchedAt: '2026-06-01T00:00:00Z' }),
      'from-june': flag({ launchedAt: { $gte: '2026-06-01T00:00:00Z' } }),
      'before-june': flag({ launchedAt: { $lt: '2026-06-01T00:00:00Z' } }),
      'in-june': flag({ 'meta.when': { $gte: '2026-06-01T00:00:00Z', $lte: '2026-06-30T23:59:59Z' } }),
      'has-date': flag({ launchedAt: { $exists: true } }),
    },
  };
}

const DATES = [
  '2026-06-01T00:00:00.000Z',
  '2026-06-01T00:00:00.500Z',
  '2026-06-01T00:00:00.999Z',
  '2026-05-31T23:59:59.999Z',
  '2026-05-31T23:59:59.000Z',
  '2026-06-01T00:00:01.000Z',
  '2026-06-30T23:59:59.750Z',
  '2026-07-01T00:00:00.001Z',
  '+010000-01-01T00:00:00.250Z',
];

describe('OpenFeature and the client read a Date alike', () => {
  const client = new ExperimentationClient('', { bootstrap: dateRuleset(), logger: recordingLogger() });

  it.each(DATES)('%s gives the same result on both paths for every rule', (iso) => {
    const d = new Date(iso);
    for (const flag of ['launch-day', 'from-june', 'before-june', 'in-june', 'has-date']) {
      const direct = client.evaluate(flag, { id: 'u1', attributes: { launchedAt: d, meta: { when: d } } }, false);
      const viaOpenFeature = resolveFlag(client, flag, false, { targetingKey: 'u1', launchedAt: d, meta: { when: d } });

      expect({ flag, value: viaOpenFeature.value, variant: viaOpenFeature.variant }).toEqual({ flag, value: direct.value, variant: direct.variationKey });
    }
  });

  it('matches the launch-day rule through OpenFeature for a Date in that second (the report)', () => {
    const d = new Date('2026-06-01T00:00:00Z');

    expect(resolveFlag(client, 'launch-day', false, { targetingKey: 'u1', launchedAt: d })).toMatchObject({ value: true, variant: 'on', reason: 'TARGETING_MATCH' });
    expect(resolveFlag(client, 'from-june', false, { targetingKey: 'u1', launchedAt: new Date('2026-06-01T00:00:00.500Z') })).toMatchObject({ value: true });
  });

  it('sends a Date past year 9999 as the engine reads it (extended year, no milliseconds)', () => {
    expect(toUser({ targetingKey: 'u1', launchedAt: new Date('+010000-01-01T00:00:00.250Z') }).attributes).toEqual({ launchedAt: '+010000-01-01T00:00:00Z' });
  });

  it('reads an invalid Date as absent, as the engine does', () => {
    const invalid = new Date('not a date');

    expect(toUser({ targetingKey: 'u1', launchedAt: invalid }).attributes).toEqual({ launchedAt: null });
    expect(resolveFlag(client, 'has-date', false, { targetingKey: 'u1', launchedAt: invalid }).value).toBe(client.evaluate('has-date', { id: 'u1', attributes: { launchedAt: invalid } }, false).value);
  });
});
