import { init, integrations } from '@launchdarkly/node-server-sdk';
import type { LDClient, LDContext } from '@launchdarkly/node-server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileRuleset, evaluateFlag, seededRandom } from '@xp/shared';
import { AppError } from '../../errors.js';
import { attributesForContext, convertLaunchDarklyData } from '../import-launchdarkly.js';

const ENV = 'production';

type Json = Record<string, unknown>;
const clause = (attribute: string, op: string, values: unknown[], extra: Json = {}): Json => ({ attribute, op, values, negate: false, ...extra });
const neg = (attribute: string, op: string, values: unknown[], extra: Json = {}): Json => clause(attribute, op, values, { ...extra, negate: true });
const BOOL = [false, true];
const flag = (key: string, variations: unknown[], extra: Json = {}): Json => ({
  key,
  version: 1,
  salt: `${key}-salt`,
  on: true,
  variations,
  offVariation: 0,
  fallthrough: { variation: 0 },
  targets: [],
  contextTargets: [],
  rules: [],
  prerequisites: [],
  ...extra,
});
const rule = (id: string, clauses: Json[], variation = 1): Json => ({ id, clauses, variation });

const SEGMENTS: Record<string, Json> = {
  'beta-testers': { key: 'beta-testers', version: 1, salt: 's1', included: ['u-1', 'u-2'], excluded: ['u-3'], rules: [{ id: 'r1', clauses: [clause('email', 'endsWith', ['@acme.com'])] }] },
  'enterprise-orgs': {
    key: 'enterprise-orgs',
    version: 1,
    salt: 's2',
    included: [],
    excluded: [],
    includedContexts: [{ contextKind: 'organization', values: ['org-big'] }],
    excludedContexts: [{ contextKind: 'organization', values: ['org-banned'] }],
    rules: [{ id: 'r1', clauses: [clause('plan', 'in', ['enterprise'], { contextKind: 'organization' })] }],
  },
  vips: { key: 'vips', version: 1, salt: 's3', included: ['u-5', 'u-6'] },
  // A segment rule naming another segment, and a rule that includes everyone it matches (weight 100%).
  'beta-or-vip-devices': {
    key: 'beta-or-vip-devices',
    version: 1,
    salt: 's4',
    rules: [
      { id: 'r1', clauses: [clause('', 'segmentMatch', ['beta-testers', 'vips'])] },
      { id: 'r2', weight: 100000, clauses: [clause('os', 'in', ['android'], { contextKind: 'device' })] },
    ],
  },
  big: { key: 'big', version: 1, salt: 's5', unbounded: true, generation: 1 },
  'partial-rollout': { key: 'partial-rollout', version: 1, salt: 's6', rules: [{ id: 'r1', weight: 50000, clauses: [clause('country', 'in', ['US'])] }] },
};

const FLAGS: Record<string, Json> = {
  'new-checkout': flag('new-checkout', BOOL, {
    targets: [{ values: ['u-10'], variation: 1 }, { values: ['u-11'], variation: 0 }],
    rules: [rule('beta', [clause('', 'segmentMatch', ['beta-testers'])]), rule('na', [clause('country', 'in', ['US', 'CA']), neg('email', 'endsWith', ['@competitor.com'])])],
  }),
  'context-targets': flag('context-targets', ['none', 'user', 'org'], {
    targets: [{ values: ['u-1', 'u-20'], variation: 1 }],
    contextTargets: [{ contextKind: 'organization', values: ['org-big'], variation: 2 }, { contextKind: 'user', values: [], variation: 1 }],
  }),
  'banner-text': flag('banner-text', ['default', 'test-banner', 'doctor', 'contains-dot'], {
    rules: [rule('a', [clause('email', 'contains', ['+test'])]), rule('b', [clause('name', 'startsWith', ['Dr.'])], 2), rule('c', [clause('name', 'contains', ['.', '(x)'])], 3)],
  }),
  'max-items': flag('max-items', [5, 10, 20], {
    fallthrough: { variation: 1 },
    offVariation: 1,
    rules: [rule('a', [clause('age', 'lessThan', [18])], 0), rule('b', [clause('age', 'greaterThanOrEqual', [65, 'x'])], 2), rule('c', [clause('seats', 'in', [10, true])], 2)],
  }),
  'not-young': flag('not-young', BOOL, { rules: [rule('a', [neg('age', 'lessThanOrEqual', [30])])] }),
  'pricing-config': flag('pricing-config', [{ tier: 'standard', seats: 10 }, { tier: 'enterprise', seats: 1000 }], { rules: [rule('a', [clause('', 'segmentMatch', ['enterprise-orgs'])])] }),
  'ios-feature': flag('ios-feature', ['none', 'new', 'legacy', 'exact'], {
    rules: [
      rule('a', [clause('os', 'in', ['ios'], { contextKind: 'device' }), clause('appVersion', 'semVerGreaterThan', ['2.9.0'], { contextKind: 'device' })]),
      rule('b', [clause('appVersion', 'semVerLessThan', ['1.0'], { contextKind: 'device' })], 2),
      rule('c', [clause('appVersion', 'semVerEqual', ['2.0.0'], { contextKind: 'device' })], 3),
    ],
  }),
  'version-gate': flag('version-gate', ['below', 'above', 'pre'], {
    rules: [rule('a', [clause('appVersion', 'semVerGreaterThan', ['2.0.0-rc.1'])], 2), rule('b', [neg('appVersion', 'semVerLessThan', ['2.0'])])],
  }),
  promo: flag('promo', BOOL, { rules: [rule('a', [clause('signupDate', 'after', ['2026-01-01T00:00:00Z'])])] }),
  'org-rollout': flag('org-rollout', BOOL, { fallthrough: { rollout: { contextKind: 'organization', bucketBy: 'key', variations: [{ variation: 1, weight: 30000 }, { variation: 0, weight: 70000 }] } } }),
  'all-in': flag('all-in', ['a', 'b', 'c'], {
    rules: [{ id: 'r', clauses: [clause('country', 'in', ['US'])], rollout: { bucketBy: 'companyId', variations: [{ variation: 0, weight: 0 }, { variation: 2, weight: 100000 }] } }],
    fallthrough: { rollout: { variations: [{ variation: 1, weight: 100000 }, { variation: 0, weight: 0 }] } },
  }),
  'checkout-v2-ui': flag('checkout-v2-ui', ['classic', 'v2'], { fallthrough: { variation: 1 }, prerequisites: [{ key: 'new-checkout', variation: 1 }] }),
  'parent-off': flag('parent-off', BOOL, { on: false, offVariation: 1, fallthrough: { variation: 1 } }),
  'child-of-off': flag('child-of-off', BOOL, { fallthrough: { variation: 1 }, prerequisites: [{ key: 'parent-off', variation: 1 }] }),
  'not-in-eu': flag('not-in-eu', BOOL, { rules: [rule('a', [neg('country', 'in', ['DE', 'FR'])])] }),
  'not-beta': flag('not-beta', BOOL, { rules: [rule('a', [neg('', 'segmentMatch', ['beta-testers', 'vips'])])] }),
  'beta-or-vip': flag('beta-or-vip', BOOL, { rules: [rule('a', [clause('', 'segmentMatch', ['beta-testers', 'vips', 'no-such-segment'])])] }),
  'nested-segment': flag('nested-segment', BOOL, { rules: [rule('a', [clause('', 'segmentMatch', ['beta-or-vip-devices'])])] }),
  'admin-tools': flag('admin-tools', BOOL, { rules: [rule('a', [clause('groups', 'in', ['admin'])]), rule('b', [clause('groups', 'startsWith', ['sup'])]), rule('c', [neg('groups', 'contains', ['x'])], 0)] }),
  'email-matches': flag('email-matches', BOOL, { rules: [rule('a', [clause('email', 'matches', ['^[a-z]+@(acme|example)\\.com$', '(']), clause('/address/city', 'in', ['Paris'], { contextKind: 'user' })])] }),
  'kinds': flag('kinds', ['none', 'org', 'not-device'], { rules: [rule('a', [clause('kind', 'in', ['organization'], { contextKind: 'user' })]), rule('b', [neg('kind', 'in', ['device'], { contextKind: 'user' })], 2)] }),
  'off-no-variation': flag('off-no-variation', BOOL, { on: false, offVariation: null }),
  'uses-big': flag('uses-big', BOOL, { rules: [rule('a', [clause('', 'segmentMatch', ['big'])])] }),
  'uses-partial': flag('uses-partial', BOOL, { rules: [rule('a', [clause('', 'segmentMatch', ['partial-rollout'])])] }),
  'child-of-skipped': flag('child-of-skipped', BOOL, { fallthrough: { variation: 1 }, prerequisites: [{ key: 'promo', variation: 1 }] }),
  // A rule's rollout applies only to contexts matching the rule, bucketable or not.
  'ro-rule-cond': flag('ro-rule-cond', BOOL, {
    rules: [{ id: 'r', clauses: [clause('country', 'in', ['US'])], rollout: { bucketBy: 'companyId', variations: [{ variation: 1, weight: 50000 }, { variation: 0, weight: 50000 }] } }],
  }),
  'ro-rule-cond-org': flag('ro-rule-cond-org', BOOL, {
    rules: [{ id: 'r', clauses: [clause('country', 'in', ['US'])], rollout: { contextKind: 'organization', variations: [{ variation: 1, weight: 50000 }, { variation: 0, weight: 50000 }] } }],
  }),
  'pq-rollout-parent': flag('pq-rollout-parent', BOOL, { fallthrough: { variation: 1 }, prerequisites: [{ key: 'ro-rule-cond', variation: 1 }] }),
  'cyc-a': flag('cyc-a', BOOL, { fallthrough: { variation: 1 }, prerequisites: [{ key: 'cyc-b', variation: 1 }] }),
  'cyc-b': flag('cyc-b', BOOL, { fallthrough: { variation: 1 }, prerequisites: [{ key: 'cyc-a', variation: 1 }] }),
  'cyc-child': flag('cyc-child', BOOL, { fallthrough: { variation: 1 }, prerequisites: [{ key: 'cyc-a', variation: 1 }] }),
  // Off variations of parents with prerequisites of their own: LaunchDarkly passes them when the parent's prerequisites fail.
  'grandchild-of-off': flag('grandchild-of-off', BOOL, { fallthrough: { variation: 1 }, prerequisites: [{ key: 'child-of-off', variation: 0 }] }),
  'mid-with-pq': flag('mid-with-pq', BOOL, { fallthrough: { variation: 1 }, prerequisites: [{ key: 'parent-off', variation: 0 }] }),
  'on-offvar-with-pq': flag('on-offvar-with-pq', BOOL, { fallthrough: { variation: 1 }, prerequisites: [{ key: 'mid-with-pq', variation: 0 }] }),
};

const DATA = { flags: FLAGS, segments: SEGMENTS, flagValues: { 'simple-limit': 42 } };
/** Flags the importer must leave out, and the words its warning must hold. */
const SKIPPED: Record<string, string> = {
  promo: 'date clause',
  'uses-big': 'big segment',
  'uses-partial': 'includes 50% of the contexts',
  'child-of-skipped': 'prerequisite flag "promo" is not imported',
  'cyc-a': 'prerequisites form a cycle',
  'cyc-b': 'prerequisites form a cycle',
  'cyc-child': 'prerequisite flag "cyc-a" is not imported',
  'grandchild-of-off': 'requires that flag\'s off variation',
  'on-offvar-with-pq': 'requires that flag\'s off variation',
};
/** Flags whose outcome depends on bucketing for some contexts (compared only where it does not). */
const BUCKETED = new Set(['org-rollout']);
/** Flags whose rule serves a rollout, with the flag whose rollout decides them: compared where xp does not bucket. */
const ROLLOUT_RULES: Record<string, string> = { 'ro-rule-cond': 'ro-rule-cond', 'ro-rule-cond-org': 'ro-rule-cond-org', 'pq-rollout-parent': 'ro-rule-cond' };
/** Off with no off variation: LaunchDarkly serves the code's default, xp (documented) the false variation. */
const NO_OFF_VARIATION = 'off-no-variation';

function makeContexts(count: number, seed: number): LDContext[] {
  const rnd = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
  const maybe = <T>(p: number, v: () => T): T | undefined => (rnd() < p ? v() : undefined);
  const odd = (): unknown => pick([null, true, false, 0, '', [], {}, ['a'], 'text', 17, '17', 70.5]);
  const contexts: LDContext[] = [];
  for (let i = 0; i < count; i++) {
    const user: Json = { key: pick(['u-1', 'u-2', 'u-3', 'u-5', 'u-10', 'u-11', 'u-20', 'org-big', `u-x${i}`]) };
    const set = (k: string, v: unknown): void => {
      if (v !== undefined) {
        user[k] = v;
      }
    };
    set('email', maybe(0.8, () => (rnd() < 0.1 ? odd() : `${pick(['bob', 'Alice', 'a+test', 'eve', 'x.y'])}@${pick(['acme.com', 'ACME.com', 'competitor.com', 'example.com', 'other.org'])}`)));
    set('country', maybe(0.8, () => (rnd() < 0.1 ? odd() : pick(['US', 'CA', 'DE', 'FR', 'JP', ['US', 'DE'], ['JP']]))));
    set('age', maybe(0.8, () => (rnd() < 0.25 ? odd() : pick([10, 17, 18, 30, 31, 64, 65, 80, [17, 40], [70]]))));
    set('seats', maybe(0.5, () => pick([10, '10', 10.0, true, 1, [10, 3]])));
    set('name', maybe(0.5, () => (rnd() < 0.1 ? odd() : pick(['Dr. Who', 'dr. who', 'DrX Who', 'J. Doe', 'Ann (x)', ['Dr. No', 'x']]))));
    set('groups', maybe(0.6, () => (rnd() < 0.1 ? odd() : pick([['dev', 'admin'], ['dev', 'superuser'], 'superuser', [], ['x-ray'], ['sup', null]]))));
    set('address', maybe(0.4, () => pick([{ city: 'Paris' }, { city: 'Lyon' }, { city: null }, 'Paris', {}])));
    set('appVersion', maybe(0.6, () => pick(['2.0', '2', '2.0.0', '2.0.0-rc.2', '2.0.0-rc.1', '1.9.9', '2.0.0+b7', '3.0.0-beta.1', 'v3.0.0', 3, 'banana', '2.9.0.1', ''])));
    set('companyId', maybe(0.5, () => pick([`co-${i}`, 7, null, true])));
    const kinds: Json = {};
    if (rnd() < 0.9) {
      kinds.user = user;
    }
    const orgKey = maybe(0.5, () => pick(['org-big', 'org-banned', 'org-x', 'org-y']));
    if (orgKey !== undefined) {
      kinds.organization = { key: orgKey, ...(rnd() < 0.7 ? { plan: rnd() < 0.2 ? odd() : pick(['enterprise', 'Enterprise', 'free']) } : {}) };
    }
    if (rnd() < 0.5) {
      kinds.device = {
        key: `d-${i}`,
        ...(rnd() < 0.8 ? { os: pick(['ios', 'android', 'web', ['ios'], null]) } : {}),
        ...(rnd() < 0.8 ? { appVersion: pick(['2.10.0', '2.9', '2.9.0', '2.9.1', '3', '3.0.0-beta.1', '2.9.0.1', '0.9', '1', '1.0', '1.0.0', '1.0.0-alpha', '0.9.9', 'v3.0.0', 3, 'banana', ['0.5.0', 'x'], '2.0', '2.0.0+build.5', '2.9.0+build.5']) } : {}),
      };
    }
    const entries = Object.entries(kinds);
    if (rnd() < 0.1) {
      // An old-style user: no kind, custom attributes under `custom`, other top-level names ignored.
      const { key, email, country, name, ...custom } = user;
      contexts.push({
        key,
        ...(email === undefined ? {} : { email }),
        ...(country === undefined ? {} : { country }),
        ...(name === undefined ? {} : { name }),
        custom: { ...custom, ...(rnd() < 0.3 ? { country: 'US', email: 'x@acme.com' } : {}) },
        ...(rnd() < 0.5 ? { groups: ['admin'], seats: 10, age: 70, a: 'x' } : {}),
        privateAttributeNames: ['email'],
      } as LDContext);
    } else if (entries.length === 0) {
      contexts.push({ kind: 'organization', key: 'org-only' });
    } else if (entries.length === 1 && rnd() < 0.5) {
      const [kind, c] = entries[0]!;
      contexts.push({ kind, ...(c as Json) } as LDContext);
    } else {
      contexts.push({ kind: 'multi', ...kinds });
    }
  }
  return contexts;
}

describe('xp import launchdarkly: conversion checked against LaunchDarkly\'s own SDK', () => {
  let client: LDClient;
  const converted = convertLaunchDarklyData(DATA, { environment: ENV });
  const ruleset = compileRuleset({ environment: ENV, version: 1, flags: converted.flags, segments: converted.segments });
  const CONTEXTS = makeContexts(1500, 20_261_206);

  beforeAll(async () => {
    const td = new integrations.TestData();
    for (const s of Object.values(SEGMENTS)) {
      await td.usePreconfiguredSegment(s);
    }
    for (const f of Object.values(FLAGS)) {
      await td.usePreconfiguredFlag(f);
    }
    await td.update(td.flag('simple-limit').valueForAll(42));
    client = init('sdk-key', { updateProcessor: td.getFactory(), sendEvents: false, diagnosticOptOut: true, logger: { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined } });
    await client.waitForInitialization({ timeout: 10 });
  });
  afterAll(() => {
    client.close();
  });

  it('serves every context the value LaunchDarkly serves, for every flag that does not depend on bucketing', async () => {
    const compared = Object.keys(FLAGS).filter((k) => !Object.hasOwn(SKIPPED, k) && !BUCKETED.has(k) && !Object.hasOwn(ROLLOUT_RULES, k) && k !== NO_OFF_VARIATION).concat('simple-limit');
    const mismatches: string[] = [];
    let checks = 0;
    for (const context of CONTEXTS) {
      const attributes = attributesForContext(context);
      for (const key of compared) {
        const expected = (await client.variationDetail(key, context, 'LD-DEFAULT')).value;
        const actual = evaluateFlag(ruleset, key, { attributes }, { defaultValue: 'XP-DEFAULT' }).value;
        checks++;
        if (JSON.stringify(actual) !== JSON.stringify(expected) && mismatches.length < 20) {
          mismatches.push(`${key} ${JSON.stringify(context)}: LaunchDarkly ${JSON.stringify(expected)}, xp ${JSON.stringify(actual)}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(checks).toBeGreaterThan(1000 * compared.length);
  });

  it('gives a rule\'s rollout only to contexts matching the rule: where xp does not bucket, it serves what LaunchDarkly serves', async () => {
    const splitRules = (key: string): Set<string> => new Set(converted.flags.find((f) => f.key === key)!.environments[ENV]!.rules.filter((r) => r.type === 'split').map((r) => r.id));
    const mismatches: string[] = [];
    let checks = 0;
    for (const context of CONTEXTS) {
      const attributes = attributesForContext(context);
      for (const [key, decidedBy] of Object.entries(ROLLOUT_RULES)) {
        const by = evaluateFlag(ruleset, decidedBy, { attributes });
        if (by.ruleId !== undefined && splitRules(decidedBy).has(by.ruleId)) {
          continue;
        }
        const expected = (await client.variationDetail(key, context, 'LD-DEFAULT')).value;
        const actual = evaluateFlag(ruleset, key, { attributes }, { defaultValue: 'XP-DEFAULT' }).value;
        checks++;
        if (JSON.stringify(actual) !== JSON.stringify(expected) && mismatches.length < 20) {
          mismatches.push(`${key} ${JSON.stringify(context)}: LaunchDarkly ${JSON.stringify(expected)}, xp ${JSON.stringify(actual)}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(checks).toBeGreaterThan(2000);
  });

  it('keeps a rollout\'s shares (not its units, with a warning) and puts contexts without the bucketing kind in the first bucket, as LaunchDarkly does', async () => {
    let ldOn = 0;
    let xpOn = 0;
    for (let i = 0; i < 4000; i++) {
      const context: LDContext = { kind: 'organization', key: `org-${i}` };
      ldOn += (await client.variation('org-rollout', context, null)) === true ? 1 : 0;
      xpOn += evaluateFlag(ruleset, 'org-rollout', { attributes: attributesForContext(context) }).value === true ? 1 : 0;
    }
    expect(ldOn / 4000).toBeGreaterThan(0.27);
    expect(ldOn / 4000).toBeLessThan(0.33);
    expect(xpOn / 4000).toBeGreaterThan(0.27);
    expect(xpOn / 4000).toBeLessThan(0.33);
    const noOrg: LDContext = { kind: 'user', key: 'u-1' };
    expect(evaluateFlag(ruleset, 'org-rollout', { attributes: attributesForContext(noOrg) }).value).toBe(await client.variation('org-rollout', noOrg, null));
    expect(converted.warnings.filter((w) => w.includes('percentage rollouts'))).toEqual([expect.stringContaining('"org-rollout"')]);
    expect(converted.warnings.join('\n')).not.toMatch(/percentage rollouts.*"all-in"/);
    const split = converted.flags.find((f) => f.key === 'org-rollout')!.environments[ENV]!.rules.find((r) => r.type === 'split');
    expect(split).toMatchObject({ hashAttribute: 'organization.key' });
  });

  it('leaves out, with a warning naming it, every flag it cannot reproduce, and what depends on it', () => {
    const keys = converted.flags.map((f) => f.key);
    for (const [key, words] of Object.entries(SKIPPED)) {
      expect(keys).not.toContain(key);
      expect(converted.warnings.some((w) => w.startsWith(`flag "${key}": skipped:`) && w.includes(words))).toBe(true);
    }
    expect(converted.warnings.some((w) => w.startsWith(`flag "${NO_OFF_VARIATION}": has no off variation`))).toBe(true);
    expect(evaluateFlag(ruleset, NO_OFF_VARIATION, { attributes: { id: 'u-1' } })).toMatchObject({ value: false, reason: 'DISABLED' });
    expect(converted.segments.map((s) => s.key).sort()).toEqual(['beta-or-vip-devices', 'beta-testers', 'enterprise-orgs', 'vips']);
    expect(converted.segments.find((s) => s.key === 'vips')).toMatchObject({ type: 'ids', attribute: 'id', values: ['u-5', 'u-6'] });
    expect(converted.flags.find((f) => f.key === 'new-checkout')?.variations.map((v) => v.key)).toEqual(['false', 'true']);
    expect(converted.flags.find((f) => f.key === 'checkout-v2-ui')?.environments[ENV]?.prerequisites).toEqual([{ flag: 'new-checkout', variation: 'true' }]);
  });

  it('maps contexts as documented: the user key to id, user attributes at the top, other kinds as objects', () => {
    expect(attributesForContext({ kind: 'user', key: 'u', plan: 'pro' })).toEqual({ id: 'u', plan: 'pro' });
    expect(attributesForContext({ kind: 'multi', user: { key: 'u', _meta: { privateAttributes: ['plan'] } }, organization: { key: 'o', plan: 'x' } })).toEqual({ id: 'u', organization: { key: 'o', plan: 'x' } });
    expect(attributesForContext({ kind: 'device', key: 'd', os: 'ios' })).toEqual({ device: { key: 'd', os: 'ios' } });
  });

  it('refuses what is not LaunchDarkly SDK data', () => {
    expect(() => convertLaunchDarklyData([], { environment: ENV })).toThrow(AppError);
    expect(() => convertLaunchDarklyData({ features: {} }, { environment: ENV })).toThrow(/flags/);
    expect(() => convertLaunchDarklyData({ flags: 3 }, { environment: ENV })).toThrow(/invalid LaunchDarkly data/);
  });
});

describe('xp import launchdarkly: keys and warnings', () => {
  const boolFlag = (key: string, served: number): Json => flag(key, BOOL, { fallthrough: { variation: served } });
  const existing = (defs: readonly { key: string; description?: string | undefined }[]): { key: string; description: string | undefined }[] => defs.map((d) => ({ key: d.key, description: d.description }));

  it('keeps a renamed key with its LaunchDarkly flag when LaunchDarkly later gains a flag of that key, and skips that one', () => {
    const first = convertLaunchDarklyData({ flags: { 'My Flag': boolFlag('My Flag', 1) } }, { environment: ENV });
    expect(first.flags.map((f) => f.key)).toEqual(['My-Flag']);
    expect(first.warnings).toContain('flag "My Flag": imported as flag "My-Flag" (xp keys allow only letters, digits, "_", "." and "-", at most 128)');

    const again = convertLaunchDarklyData({ flags: { 'My Flag': boolFlag('My Flag', 1), 'My-Flag': boolFlag('My-Flag', 0) } }, { environment: ENV, existingFlags: existing(first.flags) });
    expect(again.flags.map((f) => [f.key, f.name])).toEqual([['My-Flag', 'My Flag']]);
    expect(again.skippedFlags).toEqual(['My-Flag']);
    expect(again.warnings.some((w) => w.startsWith('flag "My-Flag": skipped: xp flag "My-Flag" holds LaunchDarkly flag "My Flag"'))).toBe(true);

    // In one import, a valid key is kept and a rename takes neither it nor a key the project has.
    const fresh = convertLaunchDarklyData({ flags: { 'My Flag': boolFlag('My Flag', 1), 'My-Flag': boolFlag('My-Flag', 0) } }, { environment: ENV, existingFlags: [{ key: 'My-Flag-2', description: 'mine' }] });
    expect(fresh.flags.map((f) => [f.key, f.name])).toEqual([['My-Flag-3', 'My Flag'], ['My-Flag', 'My-Flag']]);
  });

  it('warns about a renamed segment and a project segment of the same key the import replaces, and keeps a segment\'s rename', () => {
    const uses = (seg: string, key = `uses-${seg}`): Json => flag(key, BOOL, { rules: [rule('a', [clause('', 'segmentMatch', [seg])])] });
    const data = { flags: { a: uses('Seg Upper'), b: uses('beta') }, segments: { 'Seg Upper': { key: 'Seg Upper', included: ['u-1'] }, beta: { key: 'beta', included: ['u-2'] } } };
    const first = convertLaunchDarklyData(data, { environment: ENV, existingSegments: [{ key: 'beta', description: 'internal staff' }] });
    expect(first.segments.map((s) => s.key)).toEqual(['Seg-Upper', 'beta']);
    expect(first.warnings).toContain('segment "Seg Upper": imported as segment "Seg-Upper" (xp keys allow only letters, digits, "_", "." and "-", at most 128)');
    expect(first.warnings).toContain('segment "beta" exists and was not imported from this LaunchDarkly segment; the import replaces it, so every flag using it gets the new audience');

    const later = { flags: { ...data.flags, 'uses-later': uses('Seg-Upper', 'uses-later') }, segments: { ...data.segments, 'Seg-Upper': { key: 'Seg-Upper', included: ['u-9'] } } };
    const again = convertLaunchDarklyData(later, { environment: ENV, existingSegments: existing(first.segments) });
    expect(again.segments.map((s) => [s.key, s.name])).toEqual([['Seg-Upper', 'Seg Upper'], ['beta', 'beta']]);
    expect(again.warnings.some((w) => w.startsWith('flag "uses-later": skipped: xp segment "Seg-Upper" holds LaunchDarkly segment "Seg Upper"'))).toBe(true);
    expect(again.warnings.join('\n')).not.toContain('the import replaces it');
  });

  it('says what xp serves for a flag without off variation, and only that an empty key is skipped', () => {
    const { warnings, skippedFlags } = convertLaunchDarklyData({ flags: { only: flag('only', [true], { offVariation: null }), '': boolFlag('', 0) } }, { environment: ENV });
    expect(warnings.find((w) => w.startsWith('flag "only"'))).toMatch(/xp serves "true" then \(its first variation\)$/);
    expect(warnings.filter((w) => w.startsWith('flag ""'))).toEqual(['flag "": skipped: its key is empty; code evaluating it in xp gets its default value']);
    expect(skippedFlags).toEqual(['']);
  });

  it('maps an old-style user (no kind) as LaunchDarkly reads it: custom attributes at the top, other top-level names ignored', () => {
    expect(attributesForContext({ key: 'u-1', email: 'a@acme.com', a: 'x', custom: { plan: 'pro', email: 'b@x.com' }, privateAttributeNames: ['email'] })).toEqual({ id: 'u-1', plan: 'pro', email: 'a@acme.com' });
  });
});
