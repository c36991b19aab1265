import type { Experiment, Flag, Stored } from '@xp/shared';

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
