import { describe, expect, it } from 'vitest';
import { formatIssues, isoDateSchema } from '../common.js';
import { environmentSchema } from '../environment.js';
import { experimentSchema, expandVariations, holdoutSchema, storedExperimentSchema } from '../experiment.js';
import { flagSchema } from '../flag.js';
import type { FlagInput } from '../flag.js';
import { metricSchema } from '../metric.js';
import { segmentSchema } from '../segment.js';

const validFlag: FlagInput = {
  key: 'new-checkout',
  name: 'New checkout',
  type: 'boolean',
  variations: [
    { key: 'off', value: false },
    { key: 'on', value: true },
  ],
  environments: {
    production: {
      enabled: true,
      defaultVariation: 'off',
      offVariation: 'off',
      rules: [
        { id: 'staff', type: 'force', variation: 'on', condition: { email: { $regex: '@acme\\.com$' } } },
        { id: 'ramp', type: 'rollout', variation: 'on', coverage: 0.1, schedule: [{ at: '2026-12-01T00:00:00Z', coverage: 0.5 }] },
      ],
    },
  },
};

function errorsOf(result: { success: boolean; error?: Parameters<typeof formatIssues>[0] }): string[] {
  return result.error === undefined ? [] : formatIssues(result.error);
}

describe('flagSchema', () => {
  it('accepts a complete flag and fills defaults', () => {
    const flag = flagSchema.parse(validFlag);

    expect(flag.tags).toEqual([]);
    expect(flag.archived).toBe(false);
    const ramp = flag.environments.production?.rules[1];
    expect(ramp).toMatchObject({ type: 'rollout', hashAttribute: 'id', hashVersion: 2 });
  });

  it('names the field of a variation value of the wrong type', () => {
    const result = flagSchema.safeParse({ ...validFlag, variations: [{ key: 'off', value: false }, { key: 'on', value: 'yes' }] });

    expect(errorsOf(result)).toEqual(['variations[1].value: must be a boolean for a boolean flag']);
  });

  it('reports every problem of a document at once: a wrong type elsewhere does not hide the cross-field checks', () => {
    const result = flagSchema.safeParse({
      ...validFlag,
      name: 5,
      colour: 'red',
      variations: [{ key: 'off', value: false }, { key: 'on', value: 'yes' }],
      environments: { production: { enabled: true, defaultVariation: 'nope', offVariation: 'off' } },
    });

    expect(errorsOf(result)).toEqual([
      'name: Invalid input: expected string, received number',
      '(root): Unrecognized key: "colour"',
      'variations[1].value: must be a boolean for a boolean flag',
      'environments.production.defaultVariation: unknown variation "nope"',
    ]);
    // A field the checks read that is itself wrong stops them (they would read nonsense).
    expect(errorsOf(flagSchema.safeParse({ ...validFlag, name: 5, type: 'colour' }))).toHaveLength(2);
    expect(errorsOf(experimentSchema.safeParse({ key: 'e', name: 5, variations: [{ key: 'a' }] }))).toEqual([
      'name: Invalid input: expected string, received number',
      'variations: an experiment needs at least two variations',
    ]);
    expect(errorsOf(metricSchema.safeParse({ key: 'm', name: 5, type: 'conversion', event: 'purchase', capping: { type: 'absolute', value: 1 } }))).toEqual([
      'name: Invalid input: expected string, received number',
      'capping: conversion metrics are 0/1 and cannot be capped',
    ]);
  });

  it('names unknown variation references in every place they occur', () => {
    const result = flagSchema.safeParse({
      ...validFlag,
      environments: { production: { enabled: true, defaultVariation: 'maybe', offVariation: 'off', rules: [{ id: 'r', type: 'force', variation: 'nope' }] } },
    });

    expect(errorsOf(result)).toEqual([
      'environments.production.defaultVariation: unknown variation "maybe"',
      'environments.production.rules[0].variation: unknown variation "nope"',
    ]);
  });

  it('rejects unknown keys, duplicate keys and bad key syntax', () => {
    const result = flagSchema.safeParse({
      ...validFlag,
      key: 'has space',
      colour: 'red',
      variations: [
        { key: 'on', value: true },
        { key: 'on', value: false },
      ],
    });

    const errors = errorsOf(result).join('\n');
    expect(errors).toContain('key: must start with an ASCII letter or digit');
    expect(errors).toContain('Unrecognized key: "colour"');
    expect(errors).toContain('variations[1]: duplicate variation key "on"');
  });

  it('requires split weights to add up to 1 and rule ids to be unique', () => {
    const result = flagSchema.safeParse({
      ...validFlag,
      environments: {
        production: {
          enabled: true,
          defaultVariation: 'off',
          offVariation: 'off',
          rules: [
            { id: 'a', type: 'split', distribution: [{ variation: 'on', weight: 0.5 }, { variation: 'off', weight: 0.4 }] },
            { id: 'a', type: 'force', variation: 'on' },
          ],
        },
      },
    });

    expect(errorsOf(result)).toEqual([
      'environments.production.rules[1]: duplicate rule id "a"',
      'environments.production.rules[0].distribution: weights must add up to 1 (they add up to 0.9)',
    ]);
  });

  it('rejects coverage outside [0, 1], a backwards window and a self-prerequisite', () => {
    const result = flagSchema.safeParse({
      ...validFlag,
      environments: {
        production: {
          enabled: true,
          defaultVariation: 'off',
          offVariation: 'off',
          prerequisites: [{ flag: 'new-checkout', variation: 'on' }],
          rules: [
            { id: 'r', type: 'rollout', variation: 'on', coverage: 1.5 },
            { id: 'w', type: 'force', variation: 'on', activeFrom: '2026-02-01T00:00:00Z', activeUntil: '2026-01-01T00:00:00Z' },
          ],
        },
      },
    });

    const errors = errorsOf(result).join('\n');
    expect(errors).toContain('environments.production.rules[0].coverage: must be between 0 and 1');
    expect(errors).toContain('environments.production.rules[1].activeUntil: must be after activeFrom');
    expect(errors).toContain('environments.production.prerequisites[0].flag: a flag cannot be its own prerequisite');
  });

  it('rejects unknown operators and invalid regular expressions in conditions when saved', () => {
    const result = flagSchema.safeParse({
      ...validFlag,
      environments: {
        production: {
          enabled: true,
          defaultVariation: 'off',
          offVariation: 'off',
          rules: [
            { id: 'a', type: 'force', variation: 'on', condition: { email: { $regex: '([a-z' } } },
            { id: 'b', type: 'force', variation: 'on', condition: { age: { $between: [1, 2] } } },
          ],
        },
      },
    });

    const errors = errorsOf(result);
    expect(errors[0]).toMatch(/^environments\.production\.rules\[0\]\.condition: condition\.email\.\$regex: invalid regular expression/);
    expect(errors[1]).toBe('environments.production.rules[1].condition: condition.age.$between: unknown operator "$between"');
  });

  it('rejects an unknown rule type by naming the discriminator', () => {
    const result = flagSchema.safeParse({
      ...validFlag,
      environments: { production: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'r', type: 'magic' }] } },
    });

    expect(errorsOf(result).join('\n')).toMatch(/environments\.production\.rules\[0\]\.type/);
  });
});

describe('experimentSchema', () => {
  it('expands multivariate factors into every combination', () => {
    const exp = experimentSchema.parse({
      key: 'hero',
      name: 'Hero',
      type: 'multivariate',
      factors: [
        { key: 'color', levels: [{ key: 'red', value: '#f00' }, { key: 'blue', value: '#00f' }] },
        { key: 'size', levels: [{ key: 's', value: 12 }, { key: 'l', value: 18 }, { key: 'xl', value: 24 }] },
      ],
    });

    const variations = expandVariations(exp);

    expect(variations).toHaveLength(6);
    expect(variations[0]).toEqual({ key: 'color-red.size-s', value: { color: '#f00', size: 12 } });
    expect(variations[5]).toEqual({ key: 'color-blue.size-xl', value: { color: '#00f', size: 24 } });
  });

  it('takes `archived` as an optional boolean, absent when not given (existing experiments read unchanged)', () => {
    const base = { key: 'old', name: 'Old', variations: [{ key: 'a' }, { key: 'b' }] };

    expect(experimentSchema.parse(base)).not.toHaveProperty('archived');
    expect(experimentSchema.parse({ ...base, archived: true }).archived).toBe(true);
    expect(errorsOf(experimentSchema.safeParse({ ...base, archived: 'yes' }))).toEqual(['archived: Invalid input: expected boolean, received string']);
  });

  it('requires URLs for split-URL variations and at least two variations', () => {
    const result = experimentSchema.safeParse({
      key: 'landing',
      name: 'Landing',
      type: 'split-url',
      variations: [{ key: 'a', url: 'https://example.com/a' }, { key: 'b' }],
    });
    const tooFew = experimentSchema.safeParse({ key: 'x', name: 'X', variations: [{ key: 'a' }] });

    expect(errorsOf(result)).toEqual(['variations[1].url: every split-URL variation needs a url']);
    expect(errorsOf(tooFew)).toEqual(['variations: an experiment needs at least two variations']);
  });

  it('rejects a javascript: URL, an empty namespace range and partial weights', () => {
    const result = experimentSchema.safeParse({
      key: 'x',
      name: 'X',
      type: 'split-url',
      namespace: { id: 'layer', range: [0.5, 0.5] },
      variations: [
        { key: 'a', url: 'javascript:alert(1)', weight: 0.5 },
        { key: 'b', url: 'https://example.com/b' },
      ],
    });

    const errors = errorsOf(result).join('\n');
    expect(errors).toContain('variations[0].url');
    expect(errors).toContain('namespace.range: range start must be below its end');
  });
});

describe('experimentSchema analysis plan', () => {
  const base = { key: 'x', name: 'X', variations: [{ key: 'a' }, { key: 'b' }] };

  it('takes the four options of the results, each optional, and stays absent when not given', () => {
    expect(experimentSchema.parse(base)).not.toHaveProperty('analysis');
    expect(experimentSchema.parse({ ...base, analysis: {} }).analysis).toEqual({});
    expect(experimentSchema.parse({ ...base, analysis: { sequential: true, alpha: 0.01, cuped: false, correction: 'bh' } }).analysis).toEqual({ sequential: true, alpha: 0.01, cuped: false, correction: 'bh' });
    expect(experimentSchema.parse({ ...base, analysis: { correction: 'none' } }).analysis).toEqual({ correction: 'none' });
  });

  it('refuses an alpha outside (0, 1), an unknown correction, a non-boolean and an unknown option, saying what is allowed', () => {
    const errors = (analysis: unknown): string[] => errorsOf(experimentSchema.safeParse({ ...base, analysis }));

    expect(errors({ alpha: 0 })).toEqual(['analysis.alpha: must be a significance level between 0 and 1 (both excluded), such as 0.05']);
    expect(errors({ alpha: 1 })).toEqual(['analysis.alpha: must be a significance level between 0 and 1 (both excluded), such as 0.05']);
    expect(errors({ alpha: '0.05' })).toEqual(['analysis.alpha: must be a significance level between 0 and 1 (both excluded), such as 0.05']);
    expect(errors({ correction: 'bonferroni' })).toEqual(['analysis.correction: Invalid option: expected one of "holm"|"bh"|"none"']);
    expect(errors({ sequential: 'yes' })).toEqual(['analysis.sequential: Invalid input: expected boolean, received string']);
    expect(errors({ cuped: true, power: 0.8 })).toEqual(['analysis: Unrecognized key: "power"']);
  });

  it('keeps the plan of a stored experiment as read', () => {
    expect(storedExperimentSchema.parse({ ...base, analysis: { sequential: true } }).analysis).toEqual({ sequential: true });
  });
});

describe('experimentSchema metric lists', () => {
  it('refuses a metric listed twice in one list, at the duplicate, and a metric in two lists is not one', () => {
    const exp = (metrics: Record<string, string[]>) => ({ key: 'x', name: 'X', variations: [{ key: 'a' }, { key: 'b' }], metrics });

    const twice = experimentSchema.safeParse(exp({ primary: ['buy', 'buy'], secondary: ['view', 'click', 'view'], guardrails: ['err', 'err'] }));

    expect(errorsOf(twice)).toEqual(['metrics.primary[1]: duplicate primary metric "buy"', 'metrics.secondary[2]: duplicate secondary metric "view"', 'metrics.guardrails[1]: duplicate guardrail "err"']);
    expect(experimentSchema.safeParse(exp({ primary: ['err'], guardrails: ['err'] })).success).toBe(true);
    // An experiment stored with one still reads (results, guardrails).
    expect(storedExperimentSchema.safeParse(exp({ guardrails: ['err', 'err'] })).success).toBe(true);
  });
});

describe('storedExperimentSchema', () => {
  it('reads a condition saved before a pattern in it was refused, and keeps every other check', () => {
    const saved = { key: 'x', name: 'X', variations: [{ key: 'a' }, { key: 'b' }], condition: { email: { $regex: '(a)\\1' } } };

    expect(experimentSchema.safeParse(saved).success).toBe(false);
    expect(storedExperimentSchema.parse(saved).condition).toEqual({ email: { $regex: '(a)\\1' } });
    expect(errorsOf(storedExperimentSchema.safeParse({ ...saved, winner: 'c' })).join()).toContain('winner: unknown variation "c"');
  });
});

describe('segmentSchema and metricSchema', () => {
  it('accepts id lists and condition segments', () => {
    expect(segmentSchema.parse({ key: 'beta', name: 'Beta', type: 'ids', values: ['u1', 2] })).toMatchObject({ attribute: 'id' });
    expect(segmentSchema.parse({ key: 'us', name: 'US', type: 'condition', condition: { country: 'US' } }).type).toBe('condition');
  });

  it('refuses a metric window that closes before the exposure (a negative delay is for clocks behind, not for the past)', () => {
    const metric = (delayHours: number, windowHours?: number) => ({ key: 'm', name: 'M', type: 'conversion', event: 'buy', delayHours, ...(windowHours === undefined ? {} : { windowHours }) });
    expect(errorsOf(metricSchema.safeParse(metric(-24, 1)))).toEqual(['windowHours: the window must end after the exposure: the delay (delayHours, -24 h) plus the window (windowHours, 1 h) must be more than 0']);
    expect(errorsOf(metricSchema.safeParse(metric(-2, 2)))).toHaveLength(1);
    expect(metricSchema.safeParse(metric(-2, 2.5)).success).toBe(true);
    expect(metricSchema.safeParse(metric(-24)).success).toBe(true);
    expect(metricSchema.safeParse({ ...metric(-2, 0.5), type: 'ratio', event: undefined, numerator: { event: 'a', aggregation: 'count' }, denominator: { event: 'b', aggregation: 'count' } }).success).toBe(false);
  });

  it('requires numerator and denominator for ratio metrics; a sum without a property adds up the events\' value', () => {
    const ratio = metricSchema.safeParse({ key: 'rps', name: 'Revenue per session', type: 'ratio', numerator: { event: 'purchase', aggregation: 'sum' } });
    const sum = metricSchema.safeParse({ key: 'revenue', name: 'Revenue', type: 'sum', event: 'purchase' });

    expect(errorsOf(ratio)).toEqual(['denominator: a ratio metric needs a denominator']);
    expect(sum.success).toBe(true);
  });

  it('takes a where of every operator on conversion, count and sum metrics and on both sides of a ratio, kept as given', () => {
    const where = {
      plan: 'pro',
      amount: { $gte: 10, $lt: 1e6 },
      country: { $in: ['NL', 'BE'], $ne: 'DE' },
      tier: { $nin: [1, 2, true] },
      day: { $gt: '2026-01-01', $lte: '2026-12-31' },
      coupon: { $exists: false },
      beta: { $eq: true },
    };
    for (const type of ['conversion', 'count', 'sum'] as const) {
      expect(metricSchema.parse({ key: 'm', name: 'M', type, event: 'purchase', where }).where).toEqual(where);
    }
    const ratio = metricSchema.parse({
      key: 'r',
      name: 'R',
      type: 'ratio',
      numerator: { event: 'purchase', aggregation: 'sum', property: 'amount', where: { plan: 'pro' } },
      denominator: { event: 'session', aggregation: 'count', where: { bot: { $ne: true } } },
    });
    expect([ratio.numerator?.where, ratio.denominator?.where]).toEqual([{ plan: 'pro' }, { bot: { $ne: true } }]);
  });

  it('holds a where to 20 properties and a list to 1000 values, with one plain message each', () => {
    const metric = (where: unknown) => ({ key: 'm', name: 'M', type: 'count', event: 'purchase', where });
    const properties = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, i]));
    const list = (n: number) => ({ plan: { $in: Array.from({ length: n }, (_, i) => i) } });

    expect([metricSchema.safeParse(metric(properties(20))).success, metricSchema.safeParse(metric(list(1000))).success]).toEqual([true, true]);
    expect(errorsOf(metricSchema.safeParse(metric(properties(21))))).toEqual(['where: names at most 20 properties']);
    expect(errorsOf(metricSchema.safeParse(metric(list(1001))))).toEqual(['where.plan: $in takes at most 1000 values']);
    expect(errorsOf(metricSchema.safeParse(metric({ plan: { $nin: [] } })))).toEqual(['where.plan.$nin: takes at least one value']);
    expect(errorsOf(metricSchema.safeParse(metric({ plan: { $in: [null] } })))).toEqual(['where.plan: $in[0] takes a string, a number or a boolean']);
    expect(errorsOf(metricSchema.safeParse(metric({ '': 'x' })))).toEqual(['where: a property name is 1 to 256 characters']);
    expect(errorsOf(metricSchema.safeParse(metric('plan = pro')))).toEqual(['where: takes an object of property names and their tests, e.g. { "plan": "pro" }']);
  });

  it('accepts percentile capping and rejects capping a conversion', () => {
    expect(metricSchema.parse({ key: 'rev', name: 'Revenue', type: 'sum', event: 'purchase', property: 'value', capping: { type: 'percentile', value: 0.99 } }).capping).toEqual({
      type: 'percentile',
      value: 0.99,
    });
    expect(errorsOf(metricSchema.safeParse({ key: 'c', name: 'C', type: 'conversion', event: 'signup', capping: { type: 'absolute', value: 5 } }))).toEqual([
      'capping: conversion metrics are 0/1 and cannot be capped',
    ]);
  });
});

describe('environmentSchema', () => {
  it('takes editorsMayTurnOff as an optional boolean, absent when not given (existing environments read unchanged)', () => {
    const base = { key: 'production', name: 'Production', production: true };
    expect(environmentSchema.parse(base)).toEqual({ ...base, requireApproval: false });
    expect(environmentSchema.parse({ ...base, editorsMayTurnOff: true }).editorsMayTurnOff).toBe(true);
    expect(environmentSchema.parse({ ...base, editorsMayTurnOff: false }).editorsMayTurnOff).toBe(false);
    const wrong = environmentSchema.safeParse({ ...base, editorsMayTurnOff: 'yes' });
    expect(wrong.success ? [] : formatIssues(wrong.error)).toEqual([expect.stringMatching(/^editorsMayTurnOff: /)]);
  });
});

describe('isoDateSchema', () => {
  const problems = (text: string): string[] => {
    const parsed = isoDateSchema.safeParse(text);
    return parsed.success ? [] : formatIssues(parsed.error);
  };

  it('names one problem per instant: the format of a malformed one, the range of a well-formed one', () => {
    // A "+" left unescaped in a query string arrives as a space.
    expect(problems('2026-12-05T01:00:00 01:00')).toEqual(['(root): Invalid ISO datetime']);
    expect(problems('0000-12-31T23:00:00Z')).toEqual(['(root): must be an instant between 0001-01-01 and 9999-12-31 (UTC)']);
    expect(problems('2026-12-05T01:00:00+01:00')).toEqual([]);
  });
});

describe('names and tags', () => {
  const RLO = '\u202E';

  it('refuses bidirectional controls in the names and tags of every definition kind, naming the code point', () => {
    const message = 'must not contain the bidirectional control character U+202E';
    expect(errorsOf(flagSchema.safeParse({ ...validFlag, name: `${RLO}evil name` }))).toEqual([`name: ${message}`]);
    expect(errorsOf(flagSchema.safeParse({ ...validFlag, tags: [`team${RLO}`] }))).toEqual([`tags[0]: ${message}`]);
    expect(errorsOf(experimentSchema.safeParse({ key: 'e', name: `a${RLO}`, variations: [{ key: 'a' }, { key: 'b' }] }))).toEqual([`name: ${message}`]);
    expect(errorsOf(metricSchema.safeParse({ key: 'm', name: `m${RLO}`, type: 'conversion', event: 'signup' }))).toEqual([`name: ${message}`]);
    expect(errorsOf(segmentSchema.safeParse({ key: 's', name: `s${RLO}`, type: 'ids', values: ['u1'] }))).toEqual([`name: ${message}`]);
    expect(errorsOf(holdoutSchema.safeParse({ key: 'h', name: `h${RLO}`, coverage: 0.1 }))).toEqual([`name: ${message}`]);
    expect(errorsOf(environmentSchema.safeParse({ key: 'prod', name: `p${RLO}` }))).toEqual([`name: ${message}`]);
    expect(errorsOf(flagSchema.safeParse({ ...validFlag, name: 'isolate \u2066x\u2069' }))).toEqual(['name: must not contain the bidirectional control character U+2066']);
    expect(errorsOf(flagSchema.safeParse({ ...validFlag, name: 'embedding \u202Ax' }))).toEqual(['name: must not contain the bidirectional control character U+202A']);
  });

  it('keeps bidirectional controls in descriptions and right-to-left letters in names', () => {
    expect(flagSchema.safeParse({ ...validFlag, name: 'שלום office', description: `quote \u2067עברית\u2069 ${RLO}` }).success).toBe(true);
  });

  it('refuses a comma in a tag, which the ?tag= filter could never match', () => {
    expect(errorsOf(flagSchema.safeParse({ ...validFlag, tags: ['a,b'] }))).toEqual(['tags[0]: must not contain "," (the ?tag= filter separates tags with commas)']);
  });

  it('counts a tag in code points: 64 emoji fit, 65 do not', () => {
    expect(flagSchema.safeParse({ ...validFlag, tags: ['\u{1F600}'.repeat(64)] }).success).toBe(true);
    expect(flagSchema.safeParse({ ...validFlag, tags: ['\u{1F600}'.repeat(65)] }).success).toBe(false);
  });

  it('says which letters a key may hold', () => {
    expect(errorsOf(flagSchema.safeParse({ ...validFlag, key: 'café' }))).toEqual(['key: must start with an ASCII letter or digit and contain only ASCII letters, digits, "_", "." and "-"']);
  });
});
