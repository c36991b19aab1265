import { describe, expect, it } from 'vitest';
import { experimentSchema } from '../experiment.js';
import type { Experiment, ExperimentInput } from '../experiment.js';
import { reassigningChanges } from '../variations.js';

const STARTED = '2026-01-01T00:00:00.000Z';
const experiment = (extra: Partial<ExperimentInput> = {}): Experiment =>
  experimentSchema.parse({
    key: 'exp',
    name: 'Exp',
    status: 'running',
    startedAt: STARTED,
    variations: [
      { key: 'control', weight: 1 },
      { key: 'treatment', weight: 1 },
    ],
    ...extra,
  });
const sticky = { stickyBucketing: { enabled: true } };

describe('reassigningChanges', () => {
  it('lets the analysis plan of a started experiment change: it moves no unit', () => {
    expect(reassigningChanges(experiment(), experiment({ analysis: { sequential: true, alpha: 0.01, cuped: false, correction: 'none' } }))).toEqual([]);
  });

  it('refuses renamed, reordered, added and removed variations of a started experiment, also under sticky bucketing kept on', () => {
    const current = experiment(sticky);
    const keys = [
      [{ key: 'control', weight: 1 }, { key: 'treatment-v2', weight: 1 }],
      [{ key: 'treatment', weight: 1 }, { key: 'control', weight: 1 }],
      [{ key: 'control', weight: 1 }, { key: 'treatment', weight: 1 }, { key: 'third', weight: 1 }],
    ];
    for (const variations of keys) {
      expect(reassigningChanges(current, experiment({ ...sticky, variations }))).toEqual([{ path: 'variations', reason: 'keys' }]);
    }
    const three = experiment({ ...sticky, variations: [{ key: 'a' }, { key: 'b' }, { key: 'c' }] });
    expect(reassigningChanges(three, experiment({ ...sticky, variations: [{ key: 'a' }, { key: 'b' }] }))).toEqual([{ path: 'variations', reason: 'keys' }]);
    // Turning it on in the same change does not help either.
    expect(reassigningChanges(experiment(), experiment({ ...sticky, variations: keys[0] }))).toEqual([{ path: 'variations', reason: 'keys' }]);
    // A draft may change anything.
    expect(reassigningChanges(experiment({ ...sticky, status: 'draft', startedAt: undefined }), experiment({ ...sticky, variations: keys[0] }))).toEqual([]);
  });

  it('lets the weights move only under sticky bucketing on since the start', () => {
    const moved = { variations: [{ key: 'control', weight: 1 }, { key: 'treatment', weight: 3 }] };
    const late = '2026-01-02T00:00:00.000Z';

    expect(reassigningChanges(experiment(sticky), experiment({ ...sticky, ...moved }))).toEqual([]);
    expect(reassigningChanges(experiment({ ...sticky, stickyBucketingSince: late }), experiment({ ...sticky, ...moved }))).toEqual([{ path: 'variations', reason: 'split-sticky-late' }]);
    expect(reassigningChanges(experiment(), experiment(moved))).toEqual([{ path: 'variations', reason: 'split' }]);
    // Names and values may change under a late sticky bucketing: they move no unit.
    expect(reassigningChanges(experiment({ ...sticky, stickyBucketingSince: late }), experiment({ ...sticky, variations: [{ key: 'control', weight: 2, name: 'Control' }, { key: 'treatment', weight: 2, value: 'x' }] }))).toEqual([]);
  });

  it('refuses a change of the hashing also under sticky bucketing', () => {
    expect(reassigningChanges(experiment(sticky), experiment({ ...sticky, seed: 'other', hashAttribute: 'deviceId' }))).toEqual([
      { path: 'hashAttribute', reason: 'hashing' },
      { path: 'seed', reason: 'hashing' },
    ]);
  });

  it('refuses moving a started experiment to another namespace, into one or out of one, but not a new range in its own', () => {
    const inCheckout = (range: [number, number]) => ({ namespace: { id: 'checkout', range } });
    const current = experiment(inCheckout([0, 0.5]));

    expect(reassigningChanges(current, experiment({ namespace: { id: 'checkout2', range: [0, 1] } }))).toEqual([{ path: 'namespace', reason: 'namespace' }]);
    expect(reassigningChanges(current, experiment())).toEqual([{ path: 'namespace', reason: 'namespace' }]);
    expect(reassigningChanges(experiment(), experiment(inCheckout([0, 0.5])))).toEqual([{ path: 'namespace', reason: 'namespace' }]);
    expect(reassigningChanges(experiment({ ...inCheckout([0, 0.5]), status: 'stopped', stoppedAt: STARTED }), experiment())).toEqual([{ path: 'namespace', reason: 'namespace' }]);
    expect(reassigningChanges(current, experiment(inCheckout([0.2, 0.9])))).toEqual([]);
    expect(reassigningChanges(experiment({ ...inCheckout([0, 0.5]), status: 'draft', startedAt: undefined }), experiment())).toEqual([]);
  });

  it('refuses turning sticky bucketing off once the split moved under it', () => {
    const history = { splitHistory: [{ until: '2026-01-02T00:00:00.000Z', shares: { control: 0.5, treatment: 0.5 } }] };
    expect(reassigningChanges(experiment({ ...sticky, ...history }), experiment({ stickyBucketing: { enabled: false } }))).toEqual([{ path: 'stickyBucketing', reason: 'sticky-off' }]);
    expect(reassigningChanges(experiment(sticky), experiment({ stickyBucketing: { enabled: false } }))).toEqual([]);
  });
});
