import { describe, expect, it } from 'vitest';
import { evaluateExperiment, evaluateFlag } from '../../eval/evaluate.js';
import { experimentSchema, holdoutSchema } from '../experiment.js';
import type { ExperimentInput } from '../experiment.js';
import { flagSchema } from '../flag.js';
import type { Flag, FlagInput, RuleInput } from '../flag.js';
import { RulesetCompileError, compileRuleset } from '../compile-ruleset.js';
import { rulesetSchema } from '../ruleset.js';
import { segmentSchema } from '../segment.js';

const NOW = new Date('2026-11-25T12:00:00Z');

function flag(rules: RuleInput[], extra: Partial<FlagInput> = {}): FlagInput {
  return {
    key: 'checkout',
    name: 'Checkout',
    type: 'string',
    variations: [
      { key: 'old', value: 'old' },
      { key: 'new', value: 'new' },
    ],
    environments: {
      production: { enabled: true, defaultVariation: 'old', offVariation: 'old', rules },
      staging: { enabled: false, defaultVariation: 'new', offVariation: 'old' },
    },
    ...extra,
  };
}

const experiment = (extra: Partial<ExperimentInput> = {}): ExperimentInput => ({
  key: 'checkout-test',
  name: 'Checkout test',
  status: 'running',
  variations: [
    { key: 'old', weight: 1 },
    { key: 'new', weight: 3 },
  ],
  ...extra,
});

const segments = [
  segmentSchema.parse({ key: 'beta', name: 'Beta', type: 'ids', values: ['u1', 'u2'] }),
  segmentSchema.parse({ key: 'eu', name: 'EU', type: 'condition', condition: { region: 'eu' } }),
];

describe('compileRuleset', () => {
  it('produces a schema-valid, compact document with every default written out', () => {
    const ruleset = compileRuleset({
      environment: 'production',
      version: 4,
      generatedAt: NOW,
      flags: [flagSchema.parse(flag([{ id: 'ramp', type: 'rollout', variation: 'new', coverage: 0.25 }]))],
    });

    expect(rulesetSchema.safeParse(ruleset).success).toBe(true);
    expect(ruleset).toEqual({
      schemaVersion: 1,
      environment: 'production',
      version: 4,
      generatedAt: '2026-11-25T12:00:00.000Z',
      flags: {
        checkout: {
          variations: [
            { key: 'old', value: 'old' },
            { key: 'new', value: 'new' },
          ],
          default: 0,
          off: 0,
          rules: [{ id: 'ramp', type: 'rollout', variation: 1, coverage: 0.25, hashAttribute: 'id', seed: 'checkout', hashVersion: 2 }],
        },
      },
    });
  });

  it('compiles per environment: a disabled environment serves the off variation', () => {
    const flags = [flagSchema.parse(flag([]))];
    const staging = compileRuleset({ environment: 'staging', version: 1, flags });
    const dev = compileRuleset({ environment: 'development', version: 1, flags });

    expect(evaluateFlag(staging, 'checkout', {})).toMatchObject({ value: 'old', reason: 'DISABLED' });
    expect(evaluateFlag(dev, 'checkout', {})).toMatchObject({ value: 'old', reason: 'DISABLED' });
  });

  it('turns segments into saved groups and conditions, including exclusions', () => {
    const ruleset = compileRuleset({
      environment: 'production',
      version: 1,
      segments,
      flags: [flagSchema.parse(flag([{ id: 'beta', type: 'force', variation: 'new', segments: ['beta'], excludeSegments: ['eu'] }]))],
    });

    expect(ruleset.savedGroups).toEqual({ beta: ['u1', 'u2'] });
    expect(evaluateFlag(ruleset, 'checkout', { attributes: { id: 'u1', region: 'us' } })).toMatchObject({ value: 'new', reason: 'TARGETING_MATCH' });
    expect(evaluateFlag(ruleset, 'checkout', { attributes: { id: 'u1', region: 'eu' } })).toMatchObject({ value: 'old', reason: 'DEFAULT' });
    expect(evaluateFlag(ruleset, 'checkout', { attributes: { id: 'u3', region: 'us' } })).toMatchObject({ value: 'old', reason: 'DEFAULT' });
  });

  it('puts the id lists that conditions name with $inGroup / $notInGroup in the ruleset, through segments too', () => {
    const members = segmentSchema.parse({ key: 'members', name: 'Members', type: 'condition', condition: { id: { $inGroup: 'beta' } } });
    const ruleset = compileRuleset({
      environment: 'production',
      version: 1,
      segments: [...segments, members],
      flags: [
        flagSchema.parse(
          flag([
            { id: 'in', type: 'force', variation: 'new', condition: { id: { $inGroup: 'beta' } }, segments: ['members'] },
            { id: 'out', type: 'force', variation: 'new', condition: { $and: [{ id: { $notInGroup: 'beta' } }, { region: 'us' }] } },
          ]),
        ),
      ],
    });

    expect(ruleset.savedGroups).toEqual({ beta: ['u1', 'u2'] });
    expect(evaluateFlag(ruleset, 'checkout', { attributes: { id: 'u1' } })).toMatchObject({ value: 'new', reason: 'TARGETING_MATCH', ruleId: 'in' });
    expect(evaluateFlag(ruleset, 'checkout', { attributes: { id: 'u3', region: 'us' } })).toMatchObject({ value: 'new', ruleId: 'out' });
    expect(evaluateFlag(ruleset, 'checkout', { attributes: { id: 'u3', region: 'eu' } })).toMatchObject({ value: 'old', reason: 'DEFAULT' });
  });

  it('refuses $inGroup / $notInGroup naming no id list: a typo would match nobody, or everybody', () => {
    const compile = (condition: NonNullable<RuleInput['condition']>): (() => unknown) => () =>
      compileRuleset({ environment: 'production', version: 1, segments, flags: [flagSchema.parse(flag([{ id: 'r', type: 'force', variation: 'new', condition }]))] });

    expect(compile({ id: { $notInGroup: 'bteа' } })).toThrow(/flags\.checkout\.environments\.production\.rules\[0\]\.condition: unknown segment "bteа" in \$inGroup/);
    expect(compile({ id: { $inGroup: 'eu' } })).toThrow(/segment "eu" is not an id list/);
  });

  it('drops disabled rules and rules of experiments that are not running', () => {
    const ruleset = compileRuleset({
      environment: 'production',
      version: 1,
      experiments: [experimentSchema.parse(experiment({ status: 'draft' }))],
      flags: [
        flagSchema.parse(
          flag([
            { id: 'off', type: 'force', variation: 'new', enabled: false },
            { id: 'exp', type: 'experiment', experiment: 'checkout-test' },
          ]),
        ),
      ],
    });

    expect(ruleset.flags.checkout?.rules).toBeUndefined();
    expect(ruleset.experiments).toBeUndefined();
  });

  it('normalises experiment weights and splits traffic by them', () => {
    const ruleset = compileRuleset({
      environment: 'production',
      version: 1,
      experiments: [experimentSchema.parse(experiment())],
      flags: [flagSchema.parse(flag([{ id: 'exp', type: 'experiment', experiment: 'checkout-test' }]))],
    });
    const counts = { old: 0, new: 0 };

    for (let i = 0; i < 4000; i++) {
      const r = evaluateFlag(ruleset, 'checkout', { attributes: { id: `user-${i}` } });
      counts[r.value as 'old' | 'new']++;
    }

    expect(ruleset.experiments?.['checkout-test']?.weights).toEqual([0.25, 0.75]);
    expect(counts.new / 4000).toBeGreaterThan(0.72);
    expect(counts.new / 4000).toBeLessThan(0.78);
  });

  it('serves a released winner to everyone once the experiment stops', () => {
    const ruleset = compileRuleset({
      environment: 'production',
      version: 2,
      experiments: [experimentSchema.parse(experiment({ status: 'stopped', winner: 'new', releaseWinner: true }))],
      flags: [flagSchema.parse(flag([{ id: 'exp', type: 'experiment', experiment: 'checkout-test' }]))],
    });

    const values = new Set(Array.from({ length: 200 }, (_, i) => evaluateFlag(ruleset, 'checkout', { attributes: { id: `u${i}` } }).value));

    expect(values).toEqual(new Set(['new']));
  });

  it('maps experiment variations to flag variations by key, explicitly, or by position', () => {
    const exp = experimentSchema.parse(experiment({ variations: [{ key: 'control' }, { key: 'treatment' }] }));
    const byPosition = compileRuleset({ environment: 'production', version: 1, experiments: [exp], flags: [flagSchema.parse(flag([{ id: 'e', type: 'experiment', experiment: 'checkout-test' }]))] });
    const explicit = compileRuleset({
      environment: 'production',
      version: 1,
      experiments: [exp],
      flags: [flagSchema.parse(flag([{ id: 'e', type: 'experiment', experiment: 'checkout-test', variations: { control: 'new', treatment: 'old' } }]))],
    });

    expect(byPosition.flags.checkout?.rules?.[0]).toMatchObject({ variations: [0, 1] });
    expect(explicit.flags.checkout?.rules?.[0]).toMatchObject({ variations: [1, 0] });
  });

  it('compiles holdouts, namespaces, sticky bucketing and split-URL experiments for standalone use', () => {
    const ruleset = compileRuleset({
      environment: 'production',
      version: 1,
      flags: [],
      holdouts: [holdoutSchema.parse({ key: 'q4', name: 'Q4 holdout', coverage: 0.1 })],
      experiments: [
        experimentSchema.parse({
          key: 'landing',
          name: 'Landing',
          type: 'split-url',
          status: 'running',
          holdout: 'q4',
          namespace: { id: 'pages', range: [0, 0.5] },
          stickyBucketing: { enabled: true, bucketVersion: 1 },
          variations: [
            { key: 'a', url: 'https://example.com/a' },
            { key: 'b', url: 'https://example.com/b' },
          ],
        }),
      ],
    });

    expect(ruleset.holdouts).toEqual({ q4: { hashAttribute: 'id', seed: '__holdout__q4', coverage: 0.1 } });
    expect(ruleset.experiments?.landing).toMatchObject({ namespace: ['pages', 0, 0.5], holdout: 'q4', sticky: { bucketVersion: 1, minBucketVersion: 0 } });
    const assigned = Array.from({ length: 300 }, (_, i) => evaluateExperiment(ruleset, 'landing', { attributes: { id: `v${i}` } }));
    const inside = assigned.filter((r) => r.inExperiment);
    expect(inside.length).toBeGreaterThan(90);
    expect(inside.length).toBeLessThan(180);
    expect(new Set(inside.map((r) => r.url))).toEqual(new Set(['https://example.com/a', 'https://example.com/b']));
  });

  it('reports every dangling reference at once', () => {
    const source = {
      environment: 'production',
      version: 1,
      flags: [
        flagSchema.parse(
          flag([
            { id: 'a', type: 'force', variation: 'new', segments: ['ghost'] },
            { id: 'b', type: 'experiment', experiment: 'missing' },
          ]),
        ),
      ],
    };

    expect(() => compileRuleset(source)).toThrow(RulesetCompileError);
    expect(() => compileRuleset(source)).toThrow(/unknown segment "ghost".*unknown experiment "missing"/);
  });

  it('writes schedules as ascending epoch steps that evaluation follows', () => {
    const ruleset = compileRuleset({
      environment: 'production',
      version: 1,
      flags: [
        flagSchema.parse(
          flag([
            {
              id: 'ramp',
              type: 'rollout',
              variation: 'new',
              coverage: 0,
              schedule: [
                { at: '2026-12-10T00:00:00Z', coverage: 1 },
                { at: '2026-12-01T00:00:00Z', coverage: 0.5 },
              ],
            },
          ]),
        ),
      ],
    });
    const share = (now: number): number =>
      Array.from({ length: 1000 }, (_, i) => evaluateFlag(ruleset, 'checkout', { attributes: { id: `u${i}` }, now }).value).filter((v) => v === 'new').length / 1000;

    expect(ruleset.flags.checkout?.rules?.[0]).toMatchObject({ schedule: [[Date.parse('2026-12-01T00:00:00Z'), 0.5], [Date.parse('2026-12-10T00:00:00Z'), 1]] });
    expect(share(Date.parse('2026-11-30T00:00:00Z'))).toBe(0);
    expect(share(Date.parse('2026-12-05T00:00:00Z'))).toBeGreaterThan(0.44);
    expect(share(Date.parse('2026-12-05T00:00:00Z'))).toBeLessThan(0.56);
    expect(share(Date.parse('2026-12-10T00:00:00Z'))).toBe(1);
  });
});

describe('id lists', () => {
  it('match a numeric id and its decimal string alike, as unit ids do', () => {
    const numeric = segmentSchema.parse({ key: 'numeric', name: 'Numeric', type: 'ids', values: [7, '42', 'u1', '007'] });
    const ruleset = compileRuleset({
      environment: 'production',
      version: 1,
      generatedAt: NOW,
      segments: [numeric],
      flags: [flagSchema.parse(flag([{ id: 'listed', type: 'force', variation: 'new', segments: ['numeric'] }]))],
    });
    const served = (context: Record<string, unknown>): string | null => evaluateFlag(ruleset, 'checkout', { attributes: context }).variationKey;

    expect(ruleset.savedGroups?.numeric).toEqual([7, '7', '42', 42, 'u1', '007']);
    expect([served({ id: '7' }), served({ id: 7 }), served({ id: '42' }), served({ id: 42 }), served({ id: 'u1' })]).toEqual(['new', 'new', 'new', 'new', 'new']);
    // Only canonical decimal strings have a numeric twin: "007" is not 7.
    expect([served({ id: 'u2' }), served({ id: '07' }), served({ id: '007' })]).toEqual(['old', 'old', 'new']);
  });

  it('match alike when a condition names the list with $inGroup, whatever other rules name it', () => {
    const nums = segmentSchema.parse({ key: 'nums', name: 'Nums', type: 'ids', attribute: 'acct', values: [7, '42'] });
    const inCondition = flagSchema.parse(flag([{ id: 'cond', type: 'force', variation: 'new', condition: { acct: { $inGroup: 'nums' } } }]));
    const bySegment = flagSchema.parse({ ...flag([{ id: 'seg', type: 'force', variation: 'new', segments: ['nums'] }]), key: 'other' });
    const matches = (flags: Flag[]): (string | null)[] => {
      const ruleset = compileRuleset({ environment: 'production', version: 1, generatedAt: NOW, segments: [nums], flags });
      return ['7', 7, '42', 42].map((acct) => evaluateFlag(ruleset, 'checkout', { attributes: { id: 'u', acct } }).variationKey);
    };

    expect(matches([inCondition])).toEqual(['new', 'new', 'new', 'new']);
    expect(matches([inCondition, bySegment])).toEqual(['new', 'new', 'new', 'new']);
  });
});
