import { describe, expect, it } from 'vitest';
import { clientRuleset, serverOnlyKeys } from '../client-ruleset.js';
import type { Ruleset, RulesetFlag } from '../ruleset.js';

const flag = (extra: Partial<RulesetFlag> = {}): RulesetFlag => ({
  variations: [
    { key: 'off', value: false },
    { key: 'on', value: true },
  ],
  default: 1,
  off: 0,
  ...extra,
});
const hashing = { hashAttribute: 'id', seed: 's', hashVersion: 2 as const };
const experiment = (extra: Record<string, unknown> = {}) => ({ ...hashing, coverage: 1, weights: [0.5, 0.5], variations: [{ key: 'a' }, { key: 'b' }], ...extra });

const RULESET: Ruleset = {
  schemaVersion: 1,
  environment: 'production',
  version: 7,
  flags: {
    // Server-side only, naming a VIP id list.
    internal: flag({ rules: [{ id: 'r', type: 'force', variation: 0, condition: { email: { $inGroup: 'vips' } } }] }),
    // Server-side only, but the prerequisite of a prerequisite of a client-side flag.
    root: flag({ rules: [{ id: 'r', type: 'force', variation: 1, condition: { plan: { $inGroup: 'paying' } } }] }),
    middle: flag({ prerequisites: [{ flag: 'root', variation: 'on' }] }),
    ui: flag({ prerequisites: [{ flag: 'middle', variation: 'on' }], rules: [{ id: 'x', type: 'experiment', experiment: 'hidden-but-run', variations: [0, 1] }] }),
  },
  experiments: {
    'hidden-but-run': experiment(),
    'server-exp': experiment({ holdout: 'global', condition: { email: { $notInGroup: 'vips' } } }),
    'public-exp': experiment(),
  },
  holdouts: { global: { hashAttribute: 'id', seed: 'h', coverage: 0.05 } },
  savedGroups: { vips: ['ceo@example.com'], paying: ['pro'] },
};

describe('clientRuleset', () => {
  it('is the ruleset itself when nothing is server-side only', () => {
    expect(clientRuleset(RULESET, undefined)).toBe(RULESET);
    expect(clientRuleset(RULESET, { flags: [], experiments: [] })).toBe(RULESET);
  });

  it('drops server-only flags and experiments with the id lists and holdouts only they use, keeping what client-side flags need', () => {
    const out = clientRuleset(RULESET, { flags: ['internal', 'middle', 'root'], experiments: ['hidden-but-run', 'server-exp'] });

    expect(Object.keys(out.flags).sort()).toEqual(['middle', 'root', 'ui']);
    expect(Object.keys(out.experiments ?? {}).sort()).toEqual(['hidden-but-run', 'public-exp']);
    expect(out.holdouts).toEqual({});
    expect(out.savedGroups).toEqual({ paying: ['pro'] });
    expect(JSON.stringify(out)).not.toContain('ceo@example.com');
    expect({ ...out, flags: undefined, experiments: undefined, holdouts: undefined, savedGroups: undefined }).toEqual({
      ...RULESET,
      flags: undefined,
      experiments: undefined,
      holdouts: undefined,
      savedGroups: undefined,
    });
    // The input is not changed.
    expect(Object.keys(RULESET.flags)).toHaveLength(4);
  });

  it('keeps an id list a client-side flag also names', () => {
    const out = clientRuleset(RULESET, { flags: ['internal'], experiments: [] });

    expect(out.savedGroups).toEqual(RULESET.savedGroups);
    expect(out.holdouts).toEqual(RULESET.holdouts);
  });
});

describe('serverOnlyKeys', () => {
  it('lists the keys marked clientSide: false, sorted', () => {
    expect(serverOnlyKeys([{ key: 'b', clientSide: false }, { key: 'a', clientSide: false }, { key: 'c', clientSide: true }, { key: 'd' }], [{ key: 'e', clientSide: false }])).toEqual({
      flags: ['a', 'b'],
      experiments: ['e'],
    });
  });
});
