import { describe, expect, it } from 'vitest';
import { convertGrowthBookPayload } from '../import-growthbook.js';

/**
 * GrowthBook conditions that xp refuses when authored (a "$" attribute, an operand the evaluator
 * would misread): the import leaves them out with a warning naming the feature (or the experiment
 * rule) and the offending key, never an error for the whole payload; the feature's other rules are kept.
 */
describe('xp import growthbook: conditions xp refuses when saved', () => {
  const payload = {
    features: {
      typo: {
        defaultValue: false,
        rules: [
          { condition: { $xor: [{ plan: 'pro' }, { beta: true }] }, force: true },
          { condition: { country: 'US' }, force: true },
        ],
      },
      version: { defaultValue: 'old', rules: [{ condition: { appVersion: { $vgt: 2 } }, force: 'new' }] },
      exists: {
        defaultValue: 'a',
        rules: [{ condition: { beta: { $exists: 'yes' } }, key: 'exp1', variations: ['a', 'b'], weights: [0.5, 0.5], coverage: 1, hashAttribute: 'id', seed: 'exp1', meta: [{ key: '0' }, { key: '1' }] }],
      },
      fine: { defaultValue: 1, rules: [{ condition: { plan: 'pro' }, force: 2 }] },
    },
  };

  it('skips the rule with such a condition, not its whole flag, and an experiment rule with one, naming the key', () => {
    const result = convertGrowthBookPayload(payload, { environment: 'production' });

    expect(result.flags.map((f) => f.key)).toEqual(['typo', 'version', 'exists', 'fine']);
    expect(result.flags.find((f) => f.key === 'typo')?.environments.production?.rules.map((r) => r.condition)).toEqual([{ country: 'US' }]);
    expect(result.flags.find((f) => f.key === 'version')?.environments.production?.rules).toEqual([]);
    expect(result.flags.find((f) => f.key === 'exists')?.environments.production?.rules).toEqual([]);
    expect(result.experiments).toEqual([]);
    expect(result.warnings).toEqual([
      'feature "typo" rule 0: skipped: the condition is not valid in xp: condition.$xor: "$xor" is not an operator; use $and, $or, $nor or $not, or an attribute name without "$"',
      'feature "version" rule 0: skipped: the condition is not valid in xp: condition.appVersion.$vgt: must be a version string such as "2.0.0", not 2',
      'feature "exists" rule 0: skipped: the condition is not valid in xp: condition.beta.$exists: must be true or false, not "yes": write {"$exists": true} for "has a value" or {"$exists": false} for "missing"',
    ]);
  });
});
