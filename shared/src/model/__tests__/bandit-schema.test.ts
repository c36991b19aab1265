import { describe, expect, it } from 'vitest';
import { experimentSchema } from '../experiment.js';
import type { ExperimentInput } from '../experiment.js';

const base: ExperimentInput = {
  key: 'pricing',
  name: 'Pricing',
  variations: [
    { key: 'control', value: 1 },
    { key: 'cheaper', value: 2 },
    { key: 'bundle', value: 3 },
  ],
  metrics: { primary: ['purchase'], secondary: ['revenue'], guardrails: [] },
  stickyBucketing: { enabled: true },
  bandit: {},
};

function issues(input: ExperimentInput): { path: string; message: string }[] {
  const parsed = experimentSchema.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

describe('an experiment run as a bandit', () => {
  it('takes the defaults: daily updates after a day, 1% floor, the first primary metric', () => {
    const exp = experimentSchema.parse(base);
    expect(exp.bandit).toEqual({ updateEveryHours: 24, burnInHours: 24, minShare: 0.01 });
  });

  it('needs sticky bucketing, so that a moved split keeps every unit in its variation', () => {
    expect(issues({ ...base, stickyBucketing: undefined })).toEqual([{ path: 'stickyBucketing.enabled', message: expect.stringContaining('turn sticky bucketing on') }]);
    expect(issues({ ...base, stickyBucketing: { enabled: false } }).map((i) => i.path)).toEqual(['stickyBucketing.enabled']);
  });

  it('optimises one of the primary metrics', () => {
    expect(issues({ ...base, bandit: { metric: 'revenue' } })).toEqual([{ path: 'bandit.metric', message: "must be one of the experiment's primary metrics (metrics.primary: purchase)" }]);
    expect(issues({ ...base, metrics: { primary: [], secondary: ['revenue'], guardrails: [] } })).toEqual([{ path: 'bandit.metric', message: expect.stringContaining('add a primary metric') }]);
    expect(issues({ ...base, bandit: { metric: 'purchase' } })).toEqual([]);
  });

  it('leaves room for every variation\'s least share', () => {
    expect(issues({ ...base, bandit: { minShare: 0.4 } })).toEqual([{ path: 'bandit.minShare', message: '0.4 for each of 3 variations exceeds the whole traffic (shares are whole basis points, 0.0001): at most 0.3333' }]);
    expect(issues({ ...base, bandit: { minShare: 0.3333 } })).toEqual([]);
    // 0.33333 × 3 ≤ 1, but a floor of 0.33333 is a share of 0.3334 in whole basis points, which three cannot all have.
    expect(issues({ ...base, bandit: { minShare: 0.33333 } }).map((i) => i.path)).toEqual(['bandit.minShare']);
    expect(issues({ ...base, bandit: { minShare: 0.1 } })).toEqual([]);
  });

  it('refuses a multivariate experiment, whose variations come from factors', () => {
    const multivariate: ExperimentInput = {
      key: 'layout',
      name: 'Layout',
      type: 'multivariate',
      factors: [{ key: 'color', levels: [{ key: 'red', value: 'red' }, { key: 'blue', value: 'blue' }] }],
      metrics: base.metrics,
      stickyBucketing: { enabled: true },
      bandit: {},
    };
    expect(issues(multivariate)).toEqual([{ path: 'bandit', message: expect.stringContaining('use an A/B or split-URL experiment') }]);
  });

  it('refuses unknown keys and out-of-range schedules', () => {
    expect(issues({ ...base, bandit: { updateEveryHours: 0 } }).map((i) => i.path)).toEqual(['bandit.updateEveryHours']);
    expect(issues({ ...base, bandit: { burnInHours: 1.5 } }).map((i) => i.path)).toEqual(['bandit.burnInHours']);
    expect(issues({ ...base, bandit: { epsilon: 0.1 } as never }).map((i) => i.path)).toEqual(['bandit']);
  });
});
