import { InMemStorageProvider, Unleash } from 'unleash-client';
import type { Context as UnleashContext } from 'unleash-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileRuleset, evaluateFlag, seededRandom } from '@xp/shared';
import type { Flag } from '@xp/shared';
import { AppError } from '../../errors.js';
import { attributesForContext, convertUnleashData } from '../import-unleash.js';

const ENV = 'production';
type Json = Record<string, unknown>;

const c = (contextName: string, operator: string, values: string[] | string, extra: Json = {}): Json =>
  Array.isArray(values) ? { contextName, operator, values, ...extra } : { contextName, operator, value: values, ...extra };
const strategy = (name: string, parameters: Json = {}, extra: Json = {}): Json => ({ name, parameters, constraints: [], ...extra });
const toggle = (name: string, strategies: Json[], extra: Json = {}): Json => ({ name, enabled: true, type: 'release', strategies, variants: [], ...extra });
const variant = (name: string, weight: number, extra: Json = {}): Json => ({ name, weight, weightType: 'variable', stickiness: 'default', ...extra });
const ROLL_ALL = { rollout: '100', stickiness: 'default', groupId: 'g' };

const SEGMENTS = [
  { id: 1, name: 'mobile-2', constraints: [c('appVersion', 'SEMVER_GTE', '2.0.0'), c('platform', 'IN', ['ios', 'android'])] },
  { id: 2, name: 'acme staff', constraints: [c('email', 'STR_ENDS_WITH', ['@ACME.com'], { caseInsensitive: true })] },
  { id: 3, name: 'dated', constraints: [c('currentTime', 'DATE_AFTER', '2020-01-01T00:00:00.000Z')] },
];

/** Toggles xp serves exactly as Unleash: compared on every context. */
const EXACT = [
  toggle('kill-payments', [], { type: 'kill-switch' }),
  toggle('switched-off', [strategy('default')], { enabled: false }),
  toggle('beta-users', [strategy('userWithId', { userIds: 'u1, u2 ,u3,u4' })]),
  toggle('office-network', [strategy('remoteAddress', { IPs: '10.0.0.1, 192.168.1.0/24, 172.16.0.0/12, not-an-ip' })]),
  toggle('dach-not-free', [strategy('default', {}, { constraints: [c('country', 'IN', ['DE', ' AT ', 'CH']), c('plan', 'NOT_IN', ['free']), c('email', 'STR_ENDS_WITH', ['@example.COM'], { caseInsensitive: true })] })]),
  toggle('adults', [strategy('flexibleRollout', ROLL_ALL, { constraints: [c('age', 'NUM_GTE', '18'), c('age', 'NUM_LT', '65')] })]),
  toggle('age-listed', [strategy('default', {}, { constraints: [c('age', 'IN', ['42', '18', '4.2e1']), c('age', 'NOT_IN', ['99'])] })]),
  toggle('exactly-42', [strategy('default', {}, { constraints: [c('age', 'NUM_EQ', '42')] })]),
  toggle('no-ul', [strategy('default', {}, { constraints: [c('name', 'STR_CONTAINS', ['ul'], { inverted: true }), c('name', 'STR_STARTS_WITH', ['', ' '], { inverted: true })] })]),
  toggle('since-2020', [strategy('default', {}, { constraints: [c('currentTime', 'DATE_AFTER', '2020-01-01T00:00:00.000Z'), c('currentTime', 'DATE_BEFORE', '2999-01-01T00:00:00.000Z')] })]),
  toggle('not-yet', [strategy('default', {}, { constraints: [c('currentTime', 'DATE_AFTER', '2999-01-01T00:00:00.000Z')] }), strategy('userWithId', { userIds: 'u5' })]),
  toggle('new-app', [strategy('default', {}, { constraints: [c('appVersion', 'SEMVER_GT', '1.2.3-rc.2'), c('appVersion', 'SEMVER_LTE', 'v2.0.0')] })]),
  toggle('app-eq', [strategy('default', {}, { constraints: [c('appVersion', 'SEMVER_EQ', '1.2.3'), c('appVersion', 'SEMVER_LT', 'nonsense', { inverted: true })] })]),
  toggle('pro-regex', [strategy('default', {}, { constraints: [c('plan', 'REGEX', '^pro(fessional)?$', { caseInsensitive: true })] })]),
  toggle('lookahead', [strategy('default', {}, { constraints: [c('plan', 'REGEX', '^(?=pro)')] }), strategy('userWithId', { userIds: 'u6' })]),
  toggle('cidr', [strategy('default', {}, { constraints: [c('remoteAddress', 'IN_CIDR', ['10.1.0.0/16', '192.168.1.7'])] })]),
  toggle('mobile-beta', [strategy('default', {}, { segments: [1, 2] })]),
  toggle('missing-segment', [strategy('default', {}, { segments: [99] }), strategy('userWithId', { userIds: 'u7' })]),
  toggle('rollout-edges', [strategy('flexibleRollout', { rollout: '0', stickiness: 'default', groupId: 'x' }), strategy('flexibleRollout', { rollout: '100', stickiness: 'tenantId', groupId: 'x' })]),
  toggle('custom-dropped', [strategy('myCustomStrategy', { foo: 'bar' }), strategy('userWithId', { userIds: 'u8' })]),
  toggle('one-colour', [strategy('default', {}, { constraints: [c('country', 'IN', ['DE'])] })], {
    variants: [variant('blue', 1000, { payload: { type: 'json', value: '{"hex":"#00f"}' } }), variant('red', 0, { overrides: [{ contextName: 'userId', values: ['u1', 'u9'] }] })],
  }),
  toggle('strategy-variant', [strategy('default', {}, { constraints: [c('plan', 'IN', ['pro']) ], variants: [variant('pro-copy', 1000, { payload: { type: 'string', value: 'Go pro' } })] }), strategy('userWithId', { userIds: 'u2,u3' })], {
    variants: [variant('plain', 1000, { payload: { type: 'number', value: '7' } })],
  }),
  toggle('strategy-variant-only', [strategy('userWithId', { userIds: 'u1' }, { variants: [variant('special', 1000)] }), strategy('userWithId', { userIds: 'u2' })]),
  toggle('parent', [strategy('default', {}, { constraints: [c('country', 'IN', ['DE', 'AT'])] })]),
  toggle('child', [strategy('default', {}, { constraints: [c('plan', 'IN', ['pro'])] })], { dependencies: [{ feature: 'parent' }] }),
  toggle('colour-parent', [strategy('default', {}, { constraints: [c('plan', 'IN', ['pro', 'team'])] })], {
    variants: [variant('blue', 1000, { overrides: [{ contextName: 'plan', values: ['team'] }] }), variant('green', 0, { overrides: [{ contextName: 'plan', values: ['team'] }] })],
  }),
  toggle('blue-child', [], { dependencies: [{ feature: 'colour-parent', variants: ['blue'] }] }),
  toggle('disabled-strategy', [strategy('default', {}, { disabled: true }), strategy('userWithId', { userIds: 'u1' })]),
  toggle('unknown-operator', [strategy('default', {}, { constraints: [c('plan', 'FUTURE_OPERATOR', ['pro'], { inverted: true })] }), strategy('userWithId', { userIds: 'u2' })]),
];

/** Toggles that hash: imported with a warning, compared on their shares only. */
const HASHED = [
  toggle('quarter', [strategy('flexibleRollout', { rollout: '25', stickiness: 'userId', groupId: 'quarter' })]),
  toggle('colours', [strategy('default')], { variants: [variant('blue', 500), variant('green', 300), variant('red', 200, { overrides: [{ contextName: 'userId', values: ['u7'] }] })] }),
  toggle('steps', [strategy('flexibleRollout', { rollout: '50', stickiness: 'default', groupId: 'steps' }, { variants: [variant('one', 500), variant('two', 500)] })]),
];

/** Toggles xp cannot reproduce: left out with a warning naming them. */
const SKIPPED: Record<string, string> = {
  'on-host': 'depends on the host name',
  'random-draw': 'draws at random',
  'needs-parent-off': 'needs "parent" disabled',
  'ipv6-range': 'IPv6 range',
  're2-only': 'RE2 (Unleash) and JavaScript (xp) read differently',
  'dated-segment': 'segment 3 has a date constraint',
  orphan: 'its parent "nowhere" is not in the data',
  grandchild: 'its parent "child" has dependencies of its own',
};
const UNCONVERTIBLE = [
  toggle('on-host', [strategy('applicationHostname', { hostNames: 'web-1' })]),
  toggle('random-draw', [strategy('gradualRolloutRandom', { percentage: '50' })]),
  toggle('needs-parent-off', [strategy('default')], { dependencies: [{ feature: 'parent', enabled: false }] }),
  toggle('ipv6-range', [strategy('default', {}, { constraints: [c('remoteAddress', 'IN_CIDR', ['2001:db8::/32'])] })]),
  toggle('re2-only', [strategy('default', {}, { constraints: [c('plan', 'REGEX', 'pro\\z')] })]),
  toggle('dated-segment', [strategy('default', {}, { segments: [3] })]),
  toggle('orphan', [strategy('default')], { dependencies: [{ feature: 'nowhere' }] }),
  toggle('grandchild', [strategy('default')], { dependencies: [{ feature: 'child' }] }),
];

const PAYLOAD = { version: 2, features: [...EXACT, ...HASHED, ...UNCONVERTIBLE], segments: SEGMENTS, query: { environment: 'production' } };

/** An unleash-client given what an Unleash server serves for `payload` (which leaves disabled strategies out). */
async function unleashClient(payload: { features: Json[]; segments?: Json[] }): Promise<Unleash> {
  const served = payload.features.map((f) => ({ ...f, strategies: (f.strategies as Json[]).filter((s) => s.disabled !== true) }));
  const client = new Unleash({
    appName: 'xp-import-test',
    url: 'http://127.0.0.1:9/unused',
    refreshInterval: 0,
    disableMetrics: true,
    skipInstanceCountWarning: true,
    storageProvider: new InMemStorageProvider(),
    bootstrap: { data: served as never, segments: (payload.segments ?? []) as never },
  });
  client.on('error', () => undefined);
  client.on('warn', () => undefined);
  await new Promise<void>((resolve) => {
    client.once('ready', () => {
      resolve();
    });
  });
  return client;
}

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)]!;
}

/** Contexts with awkward values: missing fields, padded and cased text, numbers as text and as numbers, versions, addresses. */
function makeContexts(count: number, seed: number): UnleashContext[] {
  const random = seededRandom(seed);
  const maybe = <T>(list: readonly T[]): T | undefined => (random() < 0.15 ? undefined : pick(random, list));
  const contexts: UnleashContext[] = [];
  for (let i = 0; i < count; i++) {
    const properties: Record<string, string | number> = {};
    const set = (name: string, value: string | number | undefined): void => {
      if (value !== undefined) {
        properties[name] = value;
      }
    };
    set('country', maybe(['DE', 'de', ' DE', 'AT', 'CH', 'US', '']));
    set('plan', maybe(['free', 'pro', 'PRO', 'professional', 'team', 'proz', '']));
    set('email', maybe(['a@example.com', 'b@EXAMPLE.COM', 'c@acme.com', 'd@ACME.COM', 'e@example.com.evil', '']));
    set('age', maybe(['17', '18', '42', '42.0', ' 42 ', '0x2A', '4.2e1', 'abc', '', '64', '65', 99, 42, 18]));
    set('name', maybe(['Paul', 'null', 'Ann', ' ', '']));
    set('appVersion', maybe(['1.2.3', '1.2.3-rc.10', '1.2.3-rc.2', '1.2.3-rc.9', '2.0.0', '2.0.0+build.5', '2.1', 'v2.1.0', '01.2.3', '1.2.3.4', '3.0.0', '2.0.0-beta', '']));
    set('platform', maybe(['ios', 'android', 'web']));
    set('tenantId', maybe(['t1', 't2', '']));
    const context: UnleashContext = { properties };
    const userId = maybe(['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'u8', 'u9', ' u1', 'u1,u2', `user-${i}`, `user-${i}`]);
    if (userId !== undefined) {
      context.userId = userId;
    }
    if (random() < 0.5) {
      context.sessionId = `s-${i}`;
    }
    const address = maybe(['10.0.0.1', '10.0.0.2', '192.168.1.7', '192.168.1.255', '192.168.2.1', '172.16.5.4', '172.32.0.1', '10.1.200.3', '10.2.0.1', '010.0.0.1', '192.168.1.256', '10.1.300.4', 'not-an-ip', '']);
    if (address !== undefined) {
      context.remoteAddress = address;
    }
    contexts.push(context);
  }
  return contexts;
}

/** What xp served, as Unleash reports it: whether the toggle is on, and the variant's name. */
function xpAnswer(flag: Flag, variationKey: string | null | undefined): { enabled: boolean; variant: string } {
  const v = flag.variations.find((x) => x.key === variationKey);
  if (flag.type === 'boolean') {
    return { enabled: v?.value === true, variant: 'disabled' };
  }
  if (v === undefined || v.key === 'disabled') {
    return { enabled: false, variant: 'disabled' };
  }
  return { enabled: true, variant: v.key === 'on' ? 'disabled' : (v.name ?? v.key) };
}

describe('xp import unleash: conversion checked against unleash-client', () => {
  let unleash: Unleash;
  const converted = convertUnleashData(PAYLOAD, { environment: ENV });
  const ruleset = compileRuleset({ environment: ENV, version: 1, flags: converted.flags, segments: converted.segments });
  const CONTEXTS = makeContexts(3000, 20_261_207);
  const flagOf = (name: string): Flag => converted.flags.find((f) => f.name === name)!;

  beforeAll(async () => {
    unleash = await unleashClient(PAYLOAD);
  });
  afterAll(() => {
    unleash.destroy();
  });

  it('calls exact every toggle that neither hashes nor draws, and no other', () => {
    expect([...converted.exactFlags].sort()).toEqual(EXACT.map((t) => t.name as string).sort());
  });

  it('gives every context what unleash-client gives it (on or off, and the variant) for every exact toggle', () => {
    const mismatches: string[] = [];
    let checks = 0;
    for (const context of CONTEXTS) {
      const attributes = attributesForContext(context);
      for (const name of converted.exactFlags) {
        const expected = { enabled: unleash.isEnabled(name, context), variant: unleash.getVariant(name, context).name };
        const flag = flagOf(name);
        const actual = xpAnswer(flag, evaluateFlag(ruleset, flag.key, { attributes }).variationKey);
        checks++;
        if ((actual.enabled !== expected.enabled || actual.variant !== expected.variant) && mismatches.length < 20) {
          mismatches.push(`${name} ${JSON.stringify(context)}: Unleash ${JSON.stringify(expected)}, xp ${JSON.stringify(actual)}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(checks).toBe(3000 * EXACT.length);
  });

  it('keeps the shares of a toggle that hashes (not its users), with a warning naming it', () => {
    const identified = CONTEXTS.filter((ctx) => ctx.userId?.startsWith('user-') === true);
    const share = (answers: boolean[]): number => answers.filter(Boolean).length / answers.length;
    const quarter = flagOf('quarter');
    const inUnleash = share(identified.map((ctx) => unleash.isEnabled('quarter', ctx)));
    const inXp = share(identified.map((ctx) => evaluateFlag(ruleset, quarter.key, { attributes: attributesForContext(ctx) }).value === true));
    expect(Math.abs(inUnleash - 0.25)).toBeLessThan(0.04);
    expect(Math.abs(inXp - 0.25)).toBeLessThan(0.04);
    const colours = flagOf('colours');
    const blue = share(identified.map((ctx) => evaluateFlag(ruleset, colours.key, { attributes: attributesForContext(ctx) }).variationKey === 'blue'));
    expect(Math.abs(blue - 0.5)).toBeLessThan(0.04);
    expect(evaluateFlag(ruleset, colours.key, { attributes: { id: 'u7' } }).variationKey).toBe('red');
    // Unleash's variants hash userId, then sessionId, then remoteAddress: contexts with only an address are split too.
    const addressOnly = Array.from({ length: 1000 }, (_, i): UnleashContext => ({ remoteAddress: `10.0.${i >> 8}.${i & 255}`, properties: {} }));
    const blueInUnleash = share(addressOnly.map((ctx) => unleash.getVariant('colours', ctx).name === 'blue'));
    const blueByAddress = share(addressOnly.map((ctx) => evaluateFlag(ruleset, colours.key, { attributes: attributesForContext(ctx) }).variationKey === 'blue'));
    expect(Math.abs(blueInUnleash - 0.5)).toBeLessThan(0.05);
    expect(Math.abs(blueByAddress - 0.5)).toBeLessThan(0.05);
    const steps = flagOf('steps');
    const one = share(identified.map((ctx) => evaluateFlag(ruleset, steps.key, { attributes: attributesForContext(ctx) }).variationKey === 'one'));
    expect(Math.abs(one - 0.25)).toBeLessThan(0.04);
    expect(converted.warnings.find((w) => w.startsWith('percentage rollouts and variants'))).toContain('"quarter", "colours", "steps"');
  });

  it('leaves out, with a warning naming it, every toggle it cannot reproduce, and drops unknown strategies with a warning', () => {
    expect([...converted.skippedFlags].sort()).toEqual(Object.keys(SKIPPED).sort());
    for (const [name, reason] of Object.entries(SKIPPED)) {
      expect(converted.warnings.find((w) => w.startsWith(`toggle "${name}": skipped:`))).toContain(reason);
    }
    expect(converted.warnings).toContainEqual(expect.stringContaining('toggle "custom-dropped" strategy 1 (myCustomStrategy): left out: "myCustomStrategy" is a custom strategy'));
    expect(converted.warnings).toContainEqual('toggle "disabled-strategy" strategy 1 (default): left out: it is disabled (the Unleash server leaves it out of what SDKs get)');
    expect(converted.warnings).toContainEqual(expect.stringContaining('toggle "unknown-operator" strategy 1 (default): left out: its constraint on "plan" has the operator "FUTURE_OPERATOR"'));
    expect(converted.segments.map((s) => s.key).sort()).toEqual(['acme-staff', 'mobile-2']);
  });

  it('maps Unleash concepts as documented: types to temporary, enabled to the environment, dependencies to prerequisites', () => {
    expect(flagOf('kill-payments')).toMatchObject({ type: 'boolean', temporary: false, environments: { [ENV]: { enabled: true, defaultVariation: 'on', rules: [] } } });
    expect(flagOf('switched-off')).toMatchObject({ temporary: true, environments: { [ENV]: { enabled: false, offVariation: 'off' } } });
    expect(flagOf('child').environments[ENV]?.prerequisites).toEqual([{ flag: 'parent', variation: 'on' }]);
    expect(flagOf('blue-child').environments[ENV]?.prerequisites).toEqual([{ flag: 'colour-parent', variation: 'blue' }]);
    expect(flagOf('one-colour').variations).toEqual([
      { key: 'disabled', name: 'disabled', value: null },
      { key: 'blue', name: 'blue', value: { hex: '#00f' } },
      { key: 'red', name: 'red', value: 'red' },
    ]);
    expect(attributesForContext({ userId: 'u1', sessionId: 's', properties: { sessionId: 'p', plan: 'pro' } })).toEqual({ id: 'u1', sessionId: 's', plan: 'pro' });
  });
});

describe('xp import unleash: bad input', () => {
  const refused = (data: unknown): string => {
    try {
      convertUnleashData(data, { environment: ENV });
    } catch (e) {
      expect(e).toBeInstanceOf(AppError);
      return (e as Error).message;
    }
    throw new Error('not refused');
  };

  it('refuses what is not an Unleash client API payload, naming the path', () => {
    expect(refused([])).toContain('invalid Unleash data: (root): must be a JSON object with "features"');
    expect(refused({ flags: {} })).toContain('invalid Unleash data: (root)');
    expect(refused({ features: [{ name: 'exp', type: 'release' }], featureStrategies: [], featureEnvironments: [], segments: [] })).toContain(
      'this is an Unleash admin export, not the client API payload: fetch GET /api/client/features with a client token',
    );
    expect(refused({ features: {} })).toMatch(/invalid Unleash data: features: /);
    expect(refused({ version: 3, features: [] })).toContain('version: 3 is not a client API version this importer reads (1, 2)');
    expect(refused({ features: [], segments: [{ id: 'one', constraints: [] }] })).toMatch(/segments\[0\]\.id/);
    expect(refused({ features: [], segments: [{ id: 1, constraints: [] }, { id: 1, constraints: [] }] })).toContain('segments[1].id: segment 1 appears twice');
    expect(() => convertUnleashData({ features: [] }, { environment: 'not a key' })).toThrow(/invalid environment/);
  });

  it('skips a malformed toggle with a warning naming its path, and keeps the rest', () => {
    const result = convertUnleashData({ version: 1, features: [{ name: 'ok', enabled: true, strategies: [] }, { name: 'bad', enabled: 'yes', strategies: [] }, { enabled: true }] }, { environment: ENV });
    expect(result.flags.map((f) => f.key)).toEqual(['ok']);
    expect(result.warnings).toContainEqual(expect.stringMatching(/^toggle "bad": skipped: malformed: features\[1\]\.enabled/));
    expect(result.warnings).toContainEqual(expect.stringMatching(/^features\[2\]: skipped: malformed: features\[2\]\.name/));
    expect(result.skippedFlags).toEqual(['bad', 'features[2]']);
  });
});

describe('xp import unleash: keys', () => {
  it('keeps a renamed key with its toggle on a later import, and a segment\'s key with its id when the segment is renamed', () => {
    const data = (segmentName: string): Json => ({
      features: [toggle('My Toggle', [strategy('default', {}, { segments: [5] })])],
      segments: [{ id: 5, name: segmentName, constraints: [c('plan', 'IN', ['pro'])] }],
    });
    const first = convertUnleashData(data('pro users'), { environment: ENV });
    expect(first.flags.map((f) => f.key)).toEqual(['My-Toggle']);
    expect(first.segments.map((s) => s.key)).toEqual(['pro-users']);
    const existingFlags = first.flags.map((f) => ({ key: f.key, description: f.description }));
    const existingSegments = first.segments.map((s) => ({ key: s.key, description: s.description }));
    const again = convertUnleashData({ ...data('paying users'), features: [...(data('x').features as Json[]), toggle('My-Toggle', [])] }, { environment: ENV, existingFlags, existingSegments });
    expect(again.flags.map((f) => f.key)).toEqual(['My-Toggle']);
    expect(again.warnings).toContainEqual(expect.stringContaining('toggle "My-Toggle": skipped: xp flag "My-Toggle" holds Unleash toggle "My Toggle"'));
    expect(again.segments.map((s) => s.key)).toEqual(['pro-users']);
    expect(again.warnings).toContainEqual('segment 5 ("paying users"): kept its key "pro-users" from an earlier import');
    expect(again.warnings.filter((w) => w.includes('imported as segment'))).toEqual([]);
  });

  it('warns, on a later import, of the flags and segments imported from Unleash that the data no longer has, and leaves them alone', () => {
    const first = convertUnleashData(
      { features: [toggle('My Toggle', [strategy('default', {}, { segments: [5] })]), toggle('kept', [])], segments: [{ id: 5, name: 'pro users', constraints: [c('plan', 'IN', ['pro'])] }] },
      { environment: ENV },
    );
    const existingFlags = [...first.flags.map((f) => ({ key: f.key, description: f.description })), { key: 'hand-made', description: 'Not imported.' }];
    const existingSegments = first.segments.map((s) => ({ key: s.key, description: s.description }));
    const later = convertUnleashData({ features: [toggle('kept', [])], segments: [] }, { environment: ENV, existingFlags, existingSegments });
    expect(later.flags.map((f) => f.key)).toEqual(['kept']);
    expect(later.warnings).toContainEqual('flags imported from Unleash toggles that are not in the data (deleted or archived in Unleash?), left as they are: "My-Toggle" (toggle "My Toggle")');
    expect(later.warnings).toContainEqual('segments imported from Unleash segments that are not in the data, left as they are: "pro-users" (segment 5)');
    expect(convertUnleashData({ features: [toggle('kept', []), toggle('My Toggle', [])], segments: [{ id: 5, constraints: [] }] }, { environment: ENV, existingFlags, existingSegments }).warnings.filter((w) => w.includes('not in the data'))).toEqual([]);
  });
});

describe('xp import unleash: environments with different variants', () => {
  const DEV = 'development';
  const DEV_DATA = {
    version: 2,
    features: [
      toggle('theme', [strategy('default')], { variants: [variant('blue', 1000, { payload: { type: 'string', value: '#00f' } }), variant('red', 0, { overrides: [{ contextName: 'userId', values: ['u1'] }] })] }),
      toggle('banner', [strategy('userWithId', { userIds: 'u1,u2' })], { variants: [variant('big', 1000, { payload: { type: 'json', value: '{"size":2}' } })] }),
      toggle('plain', [strategy('default', {}, { constraints: [c('country', 'IN', ['DE'])] })]),
    ],
  };
  const PROD_DATA = {
    version: 2,
    features: [
      toggle('theme', [strategy('default')], { variants: [variant('blue', 1000, { payload: { type: 'string', value: '#00a' } }), variant('green', 0, { overrides: [{ contextName: 'userId', values: ['u2'] }] })] }),
      toggle('banner', [strategy('userWithId', { userIds: 'u3' })]),
      toggle('plain', [strategy('default', {}, { constraints: [c('country', 'IN', ['AT'])] })]),
    ],
  };
  const existingOf = (flags: readonly Flag[]): { key: string; description?: string | undefined; type: string; variations: Flag['variations'] }[] =>
    flags.map((f) => ({ key: f.key, description: f.description, type: f.type, variations: f.variations }));
  /** What `xp import` applies: a flag with the existing variations first keeps the other environments' states. */
  const merge = (before: readonly Flag[], after: readonly Flag[]): Flag[] => {
    const out = new Map(before.map((f) => [f.key, f]));
    for (const flag of after) {
      const existing = out.get(flag.key);
      if (existing !== undefined) {
        expect(flag.type).toBe(existing.type);
        expect(flag.variations.slice(0, existing.variations.length)).toEqual(existing.variations);
      }
      out.set(flag.key, existing === undefined ? flag : { ...flag, environments: { ...existing.environments, ...flag.environments } });
    }
    return [...out.values()];
  };
  const clients = new Map<string, Unleash>();
  beforeAll(async () => {
    clients.set(DEV, await unleashClient(DEV_DATA));
    clients.set(ENV, await unleashClient(PROD_DATA));
  });
  afterAll(() => {
    for (const client of clients.values()) {
      client.destroy();
    }
  });

  /** Every environment's state of the merged flags serves what unleash-client serves with that environment's payload. */
  function expectServedAsUnleash(flags: readonly Flag[], exact: Record<string, readonly string[]>): void {
    const mismatches: string[] = [];
    for (const [environment, names] of Object.entries(exact)) {
      const ruleset = compileRuleset({ environment, version: 1, flags: flags.filter((f) => f.environments[environment] !== undefined), segments: [] });
      for (const context of makeContexts(500, 7)) {
        for (const name of names) {
          const flag = flags.find((f) => f.name === name)!;
          const expected = { enabled: clients.get(environment)!.isEnabled(name, context), variant: clients.get(environment)!.getVariant(name, context).name };
          const actual = xpAnswer(flag, evaluateFlag(ruleset, flag.key, { attributes: attributesForContext(context) }).variationKey);
          if (actual.enabled !== expected.enabled || actual.variant !== expected.variant) {
            mismatches.push(`${environment} ${name} ${JSON.stringify(context)}: Unleash ${JSON.stringify(expected)}, xp ${JSON.stringify(actual)}`);
          }
        }
      }
    }
    expect(mismatches.slice(0, 10)).toEqual([]);
  }

  it('adds a second environment\'s variants to the flag and keeps the first environment\'s state, then changes nothing when either is imported again', () => {
    const dev = convertUnleashData(DEV_DATA, { environment: DEV });
    const prod = convertUnleashData(PROD_DATA, { environment: ENV, existingFlags: existingOf(dev.flags) });
    expect(prod.skippedFlags).toEqual([]);
    const merged = merge(dev.flags, prod.flags);
    const theme = merged.find((f) => f.key === 'theme')!;
    expect(theme.variations.map((v) => [v.key, v.name, v.value])).toEqual([
      ['disabled', 'disabled', null],
      ['blue', 'blue', '#00f'],
      ['red', 'red', 'red'],
      ['blue-2', 'blue', '#00a'],
      ['green', 'green', 'green'],
    ]);
    // banner has no variants in production: served as the json flag's "enabled without a variant".
    expect(merged.find((f) => f.key === 'banner')!.environments[ENV]?.rules[0]).toMatchObject({ type: 'force', variation: 'on' });
    expect(Object.keys(theme.environments).sort()).toEqual([DEV, ENV]);
    expectServedAsUnleash(merged, { [DEV]: dev.exactFlags, [ENV]: prod.exactFlags });
    expect(dev.exactFlags.length + prod.exactFlags.length).toBe(6);

    const devAgain = convertUnleashData(DEV_DATA, { environment: DEV, existingFlags: existingOf(merged) });
    expect(merge(merged, devAgain.flags)).toEqual(merged);
    const prodAgain = convertUnleashData(PROD_DATA, { environment: ENV, existingFlags: existingOf(merged) });
    expect(merge(merged, prodAgain.flags)).toEqual(merged);
  });

  it('in the other order, skips only a toggle whose boolean flag would need variants, saying what to do', () => {
    const prod = convertUnleashData(PROD_DATA, { environment: ENV });
    const dev = convertUnleashData(DEV_DATA, { environment: DEV, existingFlags: existingOf(prod.flags) });
    expect(dev.skippedFlags).toEqual(['banner']);
    expect(dev.warnings).toContainEqual(
      'toggle "banner": skipped: xp flag "banner" is boolean (imported from an environment where this toggle has no variants) and here it has variants, so it is left as it is: import an environment where it has variants first, or delete the xp flag and import its environments again, the one with variants first',
    );
    const merged = merge(prod.flags, dev.flags);
    expect(Object.keys(merged.find((f) => f.key === 'banner')!.environments)).toEqual([ENV]);
    expectServedAsUnleash(merged, { [DEV]: dev.exactFlags, [ENV]: prod.exactFlags });
    expect(dev.exactFlags.length + prod.exactFlags.length).toBe(5);
    expect(merge(merged, convertUnleashData(PROD_DATA, { environment: ENV, existingFlags: existingOf(merged) }).flags)).toEqual(merged);
    expect(merge(merged, convertUnleashData(DEV_DATA, { environment: DEV, existingFlags: existingOf(merged) }).flags)).toEqual(merged);
  });
});
