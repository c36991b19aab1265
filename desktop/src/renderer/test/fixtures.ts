import type { ComparisonView, Experiment, ExperimentResultsView, Flag, MetricResultView, Stored } from '@xp/shared';

const AT = '2026-11-25T10:00:00Z';

/** A definition as the API returns it: `definition` with its version and bookkeeping. */
export function storedOf<T extends { readonly key: string }>(definition: T, options: { readonly version?: number; readonly archived?: boolean; readonly at?: string } = {}): Stored<T> {
  const at = options.at ?? AT;
  return { key: definition.key, version: options.version ?? 1, archived: options.archived ?? false, createdAt: at, updatedAt: at, createdBy: null, updatedBy: null, definition };
}

/** A draft A/B experiment (control / treatment, evenly split); `overrides` replace its fields. */
export function abExperiment(key: string, overrides: Partial<Experiment> = {}): Experiment {
  return {
    key,
    name: key,
    type: 'ab',
    status: 'draft',
    tags: [],
    variations: [
      { key: 'control', weight: 0.5, value: 'control' },
      { key: 'treatment', weight: 0.5, value: 'treatment' },
    ],
    coverage: 1,
    hashAttribute: 'id',
    hashVersion: 2,
    allowUrlOverride: false,
    releaseWinner: false,
    environments: [],
    metrics: { primary: [], secondary: [], guardrails: [] },
    ...overrides,
  };
}

/** A boolean flag (off / on), off in development; `overrides` replace its fields. */
export function booleanFlag(key: string, overrides: Partial<Flag> = {}): Flag {
  return {
    key,
    name: key,
    type: 'boolean',
    archived: false,
    temporary: false,
    tags: [],
    variations: [
      { key: 'off', value: false },
      { key: 'on', value: true },
    ],
    environments: { development: { enabled: false, defaultVariation: 'off', offVariation: 'off', prerequisites: [], rules: [] } },
    ...overrides,
  };
}

/** A significant relative comparison (+10%, p = 0.01); `overrides` replace its fields. */
export function comparisonView(overrides: Partial<ComparisonView> = {}): ComparisonView {
  return {
    effect: 0.1,
    difference: 'relative',
    ci: [0.05, 0.15],
    se: 0.02,
    pValue: 0.01,
    adjustedPValue: 0.01,
    method: 'welch',
    significant: true,
    cuped: null,
    chanceToWin: 0.99,
    risk: { control: 0.02, treatment: 0.001 },
    credibleInterval: [0.05, 0.15],
    error: null,
    ...overrides,
  };
}

/** A primary conversion metric over control and treatment (100 units each, no comparison). */
export function metricView(key: string, overrides: Partial<MetricResultView> = {}): MetricResultView {
  return {
    key,
    name: `Metric ${key}`,
    type: 'conversion',
    role: 'primary',
    guardrail: false,
    higherIsBetter: true,
    cupedApplied: false,
    cupedStatus: 'no-pre-exposure-data',
    source: 'rollup',
    error: null,
    variations: [
      { variation: 'control', units: 100, total: 10, mean: 0.1, comparison: null },
      { variation: 'treatment', units: 100, total: 10, mean: 0.1, comparison: null },
    ],
    ...overrides,
  };
}

/** Results of the running A/B experiment "checkout" in production: 100 units a variation, no metrics. */
export function resultsView(overrides: Partial<ExperimentResultsView> = {}): ExperimentResultsView {
  return {
    experiment: { key: 'checkout', name: 'Checkout', status: 'running', startedAt: '2026-11-20T00:00:00Z' },
    environment: 'production',
    computedAt: '2026-11-25T12:00:00Z',
    analysis: { alpha: 0.05, sequential: false, correction: 'holm', interval: 'day' },
    units: { analysed: 200, excluded: 0 },
    variations: [
      { key: 'control', name: 'Control', expectedShare: 0.5, units: 100 },
      { key: 'treatment', name: 'Treatment', expectedShare: 0.5, units: 100 },
    ],
    srm: { chiSquare: 0, pValue: 1, flagged: false, error: null },
    metrics: [],
    timeSeries: { interval: 'day', points: [] },
    error: null,
    ...overrides,
  };
}
