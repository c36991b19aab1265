import { isDeepStrictEqual } from 'node:util';
import { GrowthBook, StickyBucketService } from '@growthbook/growthbook';
import type { FeatureDefinition, SavedGroupsPayload, StickyAssignmentsDocument } from '@growthbook/growthbook';
import { describe, expect, it } from 'vitest';
import type { StickyBucketStore } from '@xp/shared';
import { compileRuleset, evaluateFlag, experimentSchema, flagSchema, segmentSchema } from '@xp/shared';
import { AppError, AppErrorCode } from '../../errors.js';
import type { GrowthBookImportOptions, GrowthBookImportResult } from '../import-growthbook.js';
import { convertGrowthBookPayload } from '../import-growthbook.js';
import { seededRandom } from '@xp/shared';

type Attributes = Record<string, unknown>;
/** Payload features, typed loosely: GrowthBook's own types mark `namespace` deprecated, yet payloads still carry it. */
type Features = Record<string, { defaultValue?: unknown; rules?: Record<string, unknown>[] }>;

const ENV = 'production';

const prng = seededRandom;

function makeUsers(count: number, seed: number): Attributes[] {
  const rnd = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
  return Array.from({ length: count }, (_, i) => {
    const user: Attributes = {};
    const r = rnd();
    if (r < 0.9) {
      user.id = `user-${i}-${Math.floor(rnd() * 1e9).toString(36)}`;
    } else if (r < 0.96) {
      user.id = 100_000 + i;
    } else if (r < 0.98) {
      user.id = '';
    }
    if (rnd() < 0.8) {
      user.deviceId = `dev-${Math.floor(rnd() * 1e12).toString(36)}`;
    }
    if (rnd() < 0.7) {
      user.company = pick(['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'wonka']);
    }
    if (rnd() < 0.95) {
      user.country = pick(['US', 'CA', 'FR', 'DE', 'GB', 'BR', 'JP', 'IN']);
    }
    if (rnd() < 0.9) {
      user.age = 10 + Math.floor(rnd() * 70);
    }
    user.email = `person${i}@${pick(['acme.com', 'example.org', 'gmail.com', 'globex.io'])}`;
    user.plan = pick(['free', 'pro', 'enterprise']);
    user.beta = rnd() < 0.2;
    user.appVersion = pick(['1.9.9', '2.0.0', '2.1.0-beta.1', '2.3.1', '10.0.0', 'v2.0.1']);
    user.browser = pick(['chrome', 'firefox', 'safari', 'edge']);
    if (rnd() < 0.5) {
      user.tags = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => pick(['early', 'vip', 'churn-risk', 'mobile']));
    }
    return user;
  });
}

const USERS = makeUsers(2000, 20_240_601);
const stringIds = USERS.map((u) => u.id).filter((id): id is string => typeof id === 'string' && id !== '');
const numericIds = USERS.map((u) => u.id).filter((id): id is number => typeof id === 'number');

const SAVED_GROUPS: SavedGroupsPayload = {
  grp_beta: stringIds.filter((_, i) => i % 7 === 0),
  grp_blocked: [...stringIds.filter((_, i) => i % 11 === 3), ...numericIds.filter((_, i) => i % 2 === 0)],
  grp_vip_emails: { type: 'list', attributeKey: 'email', values: USERS.filter((_, i) => i % 13 === 0).map((u) => u.email as string) },
  grp_companies: ['acme', 'hooli'],
};

/** A realistic SDK payload covering every convertible construct. */
const FEATURES: Features = {
  'dark-mode': {
    defaultValue: false,
    rules: [
      { id: 'fr_staff', condition: { email: { $regex: '@acme\\.com$' } }, force: true },
      { id: 'fr_rollout_v2', condition: { browser: { $in: ['chrome', 'edge'] } }, force: true, coverage: 0.3, hashVersion: 2 },
      { id: 'fr_rollout_v1', force: true, coverage: 0.5, hashAttribute: 'deviceId', seed: 'dark-mode-devices' },
    ],
  },
  'checkout-button': {
    defaultValue: 'blue',
    rules: [
      {
        id: 'exp_checkout',
        key: 'checkout-exp',
        condition: { country: { $in: ['US', 'CA', 'GB'] } },
        variations: ['blue', 'green', 'red'],
        weights: [0.5, 0.3, 0.2],
        coverage: 0.8,
        hashVersion: 2,
        seed: 'checkout-seed-2024',
        meta: [{ key: 'control', name: 'Control' }, { key: 'green' }, { key: 'red' }],
        name: 'Checkout button colour',
        phase: '2',
      },
    ],
  },
  'max-items': {
    defaultValue: 10,
    rules: [
      { id: 'fr_pro', condition: { plan: 'pro' }, force: 20 },
      { id: 'exp_items', key: 'max-items-exp', variations: [10, 50], namespace: ['pricing', 0, 0.5] },
    ],
  },
  'pricing-page': {
    defaultValue: { layout: 'grid', columns: 3 },
    rules: [
      {
        id: 'exp_pricing',
        key: 'pricing-layout',
        condition: { $or: [{ age: { $gte: 18 } }, { beta: true }] },
        variations: [{ layout: 'grid', columns: 3 }, { layout: 'list', columns: 1 }],
        weights: [0.7, 0.3],
        hashAttribute: 'company',
        hashVersion: 2,
        namespace: ['pricing', 0.5, 1],
        fallbackAttribute: 'deviceId',
      },
    ],
  },
  'beta-banner': {
    defaultValue: false,
    rules: [
      { id: 'fr_beta', condition: { id: { $inGroup: 'grp_beta' } }, force: true },
      { id: 'fr_vip', condition: { $or: [{ email: { $inGroup: 'grp_vip_emails' } }, { country: 'FR' }] }, force: true },
      { id: 'fr_chrome', condition: { id: { $notInGroup: 'grp_blocked' }, browser: 'chrome' }, force: true, coverage: 0.25, hashVersion: 2 },
    ],
  },
  'new-onboarding': {
    defaultValue: 'classic',
    rules: [
      {
        key: 'onboarding-2025',
        condition: { id: { $inGroup: 'grp_beta' }, appVersion: { $vgte: '2.0.0' } },
        variations: ['classic', 'guided', 'video'],
        weights: [0.34, 0.33, 0.33],
        coverage: 0.9,
        hashVersion: 2,
        seed: 'onb',
      },
      { condition: { company: { $inGroup: 'grp_companies' } }, force: 'guided' },
    ],
  },
  'welcome-copy': {
    defaultValue: 'Welcome!',
    rules: [
      { condition: { appVersion: { $vgte: '2.0.0' }, tags: { $elemMatch: { $eq: 'vip' } } }, force: 'Hi there, VIP!' },
      { condition: { tags: { $all: ['early'] } }, force: 'Hello, early bird' },
    ],
  },
  'search-algo': {
    defaultValue: 'bm25',
    rules: [{ key: 'search-exp', variations: ['bm25', 'vector'], hashVersion: 2, coverage: 0.5 }],
  },
  'search-ranking': {
    defaultValue: 'classic',
    rules: [{ key: 'search-exp', variations: ['classic', 'learned'], hashVersion: 2, coverage: 0.5, seed: 'search-exp' }],
  },
  'legacy-exp': {
    defaultValue: 0,
    rules: [{ variations: [0, 1, 2], weights: [0.2, 0.2, 0.6], condition: { id: { $exists: true } } }],
  },
  'config-blob': {
    rules: [{ condition: { plan: 'enterprise' }, force: { limits: { seats: 500 }, sso: true } }],
  },
};

interface Comparison {
  readonly result: GrowthBookImportResult;
  readonly compared: number;
  readonly mismatches: string[];
  readonly served: Map<string, Set<string>>;
}

/**
 * A user's attributes as the xp SDKs hand `{ id, ... }` to evaluation: a finite numeric id as its
 * decimal string (sdk/js client.ts idString, the Python SDK's `_id_string`).
 */
function asXpSdksPassThem(attributes: Attributes): Attributes {
  return typeof attributes.id === 'number' && Number.isFinite(attributes.id) ? { ...attributes, id: String(attributes.id) } : attributes;
}

/**
 * Converts, compiles and evaluates every feature for every user in xp and in GrowthBook's SDK.
 * `sdk.idsAsStrings`: xp evaluates each user as the xp SDKs pass `{ id: 42 }` (asXpSdksPassThem).
 */
function compare(
  payload: unknown,
  features: Features,
  savedGroups: SavedGroupsPayload | undefined,
  users: readonly Attributes[],
  options: Partial<GrowthBookImportOptions> = {},
  sdk: { sticky?: boolean; idsAsStrings?: boolean } = {},
): Comparison {
  const result = convertGrowthBookPayload(payload, { environment: ENV, ...options });
  const ruleset = compileRuleset({ environment: ENV, version: 1, flags: result.flags, experiments: result.experiments, segments: result.segments });
  const keyOf = new Map(result.flags.map((f) => [f.name, f.key]));
  const xpKeyOf = (gbKey: string): string | undefined => keyOf.get(gbKey.slice(0, 200));
  const mismatches: string[] = [];
  const served = new Map<string, Set<string>>();
  let compared = 0;
  for (const attributes of users) {
    const gb = new GrowthBook({
      features: features as Record<string, FeatureDefinition>,
      attributes,
      ...(savedGroups === undefined ? {} : { savedGroups }),
      ...(sdk.sticky === true ? { stickyBucketService: new NoStickyBuckets(), stickyBucketAssignmentDocs: {} } : {}),
    });
    const stickyBuckets = sdk.sticky === true ? memoryStore() : undefined;
    for (const gbKey of Object.keys(features)) {
      const expected: unknown = gb.evalFeature(gbKey).value;
      const xpKey = xpKeyOf(gbKey);
      const xpAttributes = sdk.idsAsStrings === true ? asXpSdksPassThem(attributes) : attributes;
      const actual = xpKey === undefined ? '<not imported>' : evaluateFlag(ruleset, xpKey, { attributes: xpAttributes, ...(stickyBuckets === undefined ? {} : { stickyBuckets }) }).value;
      compared++;
      if (!isDeepStrictEqual(expected, actual)) {
        mismatches.push(`${gbKey} ${JSON.stringify(attributes)}: GrowthBook ${JSON.stringify(expected)}, xp ${JSON.stringify(actual)}`);
      }
      const seen = served.get(gbKey) ?? new Set<string>();
      seen.add(JSON.stringify(expected));
      served.set(gbKey, seen);
    }
    gb.destroy();
  }
  return { result, compared, mismatches, served };
}

/** A sticky bucket service that starts empty for every user (GrowthBook keeps new docs in memory). */
class NoStickyBuckets extends StickyBucketService {
  getAssignments(): Promise<StickyAssignmentsDocument | null> {
    return Promise.resolve(null);
  }
  saveAssignments(): Promise<unknown> {
    return Promise.resolve();
  }
}

function memoryStore(): StickyBucketStore {
  const docs = new Map<string, Readonly<Record<string, string>>>();
  return {
    get: (attribute, value) => docs.get(`${attribute}||${value}`),
    set: (attribute, value, assignments) => {
      docs.set(`${attribute}||${value}`, assignments);
    },
  };
}

function expectValid(result: GrowthBookImportResult): void {
  const invalid = [
    ...result.flags.filter((f) => !flagSchema.safeParse(f).success).map((f) => `flag ${f.key}`),
    ...result.experiments.filter((e) => !experimentSchema.safeParse(e).success).map((e) => `experiment ${e.key}`),
    ...result.segments.filter((s) => !segmentSchema.safeParse(s).success).map((s) => `segment ${s.key}`),
  ];
  expect(invalid).toEqual([]);
}

function convertError(payload: unknown, environment = ENV): AppError {
  try {
    convertGrowthBookPayload(payload, { environment });
  } catch (e) {
    if (e instanceof AppError) {
      return e;
    }
    throw e;
  }
  throw new Error('expected the conversion to fail');
}

describe('convertGrowthBookPayload: identical assignments', () => {
  it('serves exactly what the GrowthBook SDK serves for 2,000 users × every feature of an SDK payload', () => {
    // prepare
    const payload = { status: 200, features: FEATURES, savedGroups: SAVED_GROUPS, dateUpdated: '2025-01-01T00:00:00Z' };

    // act
    const { result, compared, mismatches, served } = compare(payload, FEATURES, SAVED_GROUPS, USERS);

    // assert
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(compared).toBe(USERS.length * Object.keys(FEATURES).length);
    // A feature serving one value to everyone would prove little.
    expect([...served].filter(([, values]) => values.size < 2).map(([key]) => key)).toEqual([]);
    expect(result.flags.map((f) => f.key)).toEqual(Object.keys(FEATURES));
    expect(result.experiments.map((e) => e.key)).toEqual(['checkout-exp', 'max-items-exp', 'pricing-layout', 'onboarding-2025', 'search-exp', 'search-exp-2', 'legacy-exp']);
    expect(result.segments.map((s) => [s.key, s.type === 'ids' ? s.attribute : '', s.type === 'ids' ? s.values.length : 0])).toEqual([
      ['grp_beta', 'id', (SAVED_GROUPS.grp_beta as unknown[]).length],
      ['grp_blocked', 'id', (SAVED_GROUPS.grp_blocked as unknown[]).length],
      ['grp_companies', 'company', 2],
    ]);
    expect(result.warnings).toEqual([
      'feature "pricing-page" rule 0: fallbackAttribute "deviceId" left out: GrowthBook ignores it without a sticky bucket service (import with --sticky-bucketing if your SDKs use one)',
      'feature "beta-banner" rule 1: saved group "grp_vip_emails" inlined as $in with its 154 value(s): an xp segment cannot stand in this position',
      'feature "search-ranking" rule 0: experiment "search-exp" imported as "search-exp-2" (another rule already uses this key); assignments are unchanged because the seed is kept',
    ]);
    expectValid(result);
  });

  it('maps values, types, seeds, hash versions, coverage, weights and namespaces as GrowthBook defaults them', () => {
    // act
    const { flags, experiments } = convertGrowthBookPayload({ features: FEATURES, savedGroups: SAVED_GROUPS }, { environment: ENV });

    // assert
    const flag = (key: string) => flags.find((f) => f.key === key)!;
    expect(flags.map((f) => [f.key, f.type])).toEqual([
      ['dark-mode', 'boolean'],
      ['checkout-button', 'string'],
      ['max-items', 'number'],
      ['pricing-page', 'json'],
      ['beta-banner', 'boolean'],
      ['new-onboarding', 'string'],
      ['welcome-copy', 'string'],
      ['search-algo', 'string'],
      ['search-ranking', 'string'],
      ['legacy-exp', 'number'],
      ['config-blob', 'json'],
    ]);
    expect(flag('dark-mode').variations.map((v) => [v.key, v.value])).toEqual([
      ['false', false],
      ['true', true],
    ]);
    expect(flag('config-blob').variations.map((v) => v.value)).toEqual([null, { limits: { seats: 500 }, sso: true }]);
    expect(flag('welcome-copy').variations.map((v) => v.key)).toEqual(['Welcome-', 'Hi-there-VIP-', 'Hello-early-bird']);
    // Names: a string value as written (no JSON quotes), other values as JSON.
    expect(flag('welcome-copy').variations.map((v) => v.name)).toEqual(['Welcome!', 'Hi there, VIP!', 'Hello, early bird']);
    expect(flag('dark-mode').variations.map((v) => v.name)).toEqual(['false', 'true']);
    expect(flag('config-blob').variations.map((v) => v.name)).toEqual(['null', '{"limits":{"seats":500},"sso":true}']);
    const state = flag('dark-mode').environments[ENV]!;
    expect(state).toMatchObject({ enabled: true, defaultVariation: 'false', offVariation: 'false' });
    expect(state.rules).toEqual([
      { id: 'fr_staff', type: 'force', condition: { email: { $regex: '@acme\\.com$' } }, variation: 'true' },
      { id: 'fr_rollout_v2', type: 'rollout', condition: { browser: { $in: ['chrome', 'edge'] } }, variation: 'true', coverage: 0.3, hashAttribute: 'id', seed: 'dark-mode', hashVersion: 2 },
      { id: 'fr_rollout_v1', type: 'rollout', variation: 'true', coverage: 0.5, hashAttribute: 'deviceId', seed: 'dark-mode-devices', hashVersion: 1 },
    ]);
    expect(flag('beta-banner').environments[ENV]!.rules[2]).toMatchObject({ condition: { browser: 'chrome' }, excludeSegments: ['grp_blocked'] });
    const exp = (key: string) => experiments.find((e) => e.key === key)!;
    expect(exp('checkout-exp')).toMatchObject({
      status: 'running',
      name: 'Checkout button colour',
      seed: 'checkout-seed-2024',
      hashVersion: 2,
      coverage: 0.8,
      variations: [
        { key: 'control', name: 'Control', weight: 0.5 },
        { key: 'green', weight: 0.3 },
        { key: 'red', weight: 0.2 },
      ],
    });
    expect(exp('max-items-exp')).toMatchObject({ seed: 'max-items-exp', hashVersion: 1, coverage: 1, namespace: { id: 'pricing', range: [0, 0.5] } });
    expect(exp('legacy-exp')).toMatchObject({ seed: 'legacy-exp', hashVersion: 1, variations: [{ key: '0' }, { key: '1' }, { key: '2' }] });
    expect(exp('onboarding-2025')).toMatchObject({ segments: ['grp_beta'], condition: { appVersion: { $vgte: '2.0.0' } } });
    expect(flag('checkout-button').environments[ENV]!.rules).toEqual([
      { id: 'exp_checkout', type: 'experiment', experiment: 'checkout-exp', variations: { control: 'blue', green: 'green', red: 'red' } },
    ]);
  });

  it('serves what GrowthBook serves from a bare features map with numeric ids, hash version 1 and uneven weights', () => {
    // prepare
    const features: Features = {
      'price-test': {
        defaultValue: 9.99,
        rules: [
          { condition: { country: { $nin: ['IN', 'BR'] } }, variations: [9.99, 12.99], weights: [0.25, 0.75], coverage: 0.6 },
          { force: 7.99, coverage: 0.1, hashVersion: 1, seed: 'cheap' },
        ],
      },
      'ns-a': { defaultValue: 'off', rules: [{ key: 'layer-a', variations: ['off', 'a'], namespace: ['layer', 0, 0.333], hashVersion: 2 }] },
      'ns-b': { defaultValue: 'off', rules: [{ key: 'layer-b', variations: ['off', 'b'], namespace: ['layer', 0.333, 1], hashVersion: 2 }] },
      'company-split': {
        defaultValue: 'one',
        rules: [{ key: 'company-split', hashAttribute: 'company', variations: ['one', 'two', 'three'], weights: [0.1, 0.2, 0.7], seed: 'cs', hashVersion: 2 }],
      },
    };

    // act
    const { compared, mismatches, served, result } = compare(features, features, undefined, USERS);

    // assert
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(compared).toBe(USERS.length * 4);
    expect([...served.values()].every((v) => v.size >= 2)).toBe(true);
    expect(result.warnings).toEqual([]);
    expectValid(result);
  });

  it('keeps fallbackAttribute and sticky bucket versions for SDKs with a sticky bucket service', () => {
    // prepare
    const features: Features = {
      'sticky-exp': {
        defaultValue: 'a',
        rules: [{ key: 'sticky-exp', variations: ['a', 'b'], hashVersion: 2, fallbackAttribute: 'deviceId', bucketVersion: 2, minBucketVersion: 1 }],
      },
      'sticky-rollout': { defaultValue: false, rules: [{ force: true, coverage: 0.5, hashVersion: 2, fallbackAttribute: 'deviceId' }] },
      'not-sticky': {
        defaultValue: 0,
        rules: [{ key: 'not-sticky', variations: [0, 1], hashVersion: 2, fallbackAttribute: 'deviceId', disableStickyBucketing: true }],
      },
    };

    // act
    const { compared, mismatches, result } = compare({ features }, features, undefined, USERS, { stickyBucketing: true }, { sticky: true });

    // assert
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(compared).toBe(USERS.length * 3);
    expect(result.experiments.map((e) => [e.key, e.fallbackAttribute, e.stickyBucketing])).toEqual([
      ['sticky-exp', 'deviceId', { enabled: true, bucketVersion: 2, minBucketVersion: 1 }],
      ['not-sticky', undefined, undefined],
    ]);
    expect(result.warnings).toEqual([
      'feature "not-sticky" rule 0: fallbackAttribute "deviceId" left out: GrowthBook ignores it when disableStickyBucketing is set',
    ]);
  });
});

describe('convertGrowthBookPayload: numeric user ids', () => {
  const some = (ids: readonly number[], every: number): number[] => ids.filter((_, i) => i % every === 0);
  const groups: SavedGroupsPayload = {
    grp_numeric: some(numericIds, 3),
    grp_numeric_list: { type: 'list', attributeKey: 'id', values: [...some(numericIds, 4), '7'] },
  };
  const features: Features = {
    'id-in': { defaultValue: false, rules: [{ condition: { id: { $in: some(numericIds, 2) } }, force: true }] },
    'id-nin': { defaultValue: 'in', rules: [{ condition: { id: { $nin: some(numericIds, 5) } }, force: 'out' }] },
    'id-eq': { defaultValue: 0, rules: [{ condition: { id: { $eq: numericIds[0]! } }, force: 1 }, { condition: { id: { $ne: numericIds[1]! } }, force: 2 }] },
    'id-nested': {
      defaultValue: 'a',
      rules: [{ condition: { $and: [{ $or: [{ id: { $not: { $in: some(numericIds, 2) } } }, { plan: 'pro' }] }, { $nor: [{ id: { $eq: numericIds[2]! } }] }] }, force: 'b' }],
    },
    // Saved groups where a segment cannot stand: inlined as $in / $nin.
    'id-group-inlined': { defaultValue: 'x', rules: [{ condition: { $or: [{ id: { $inGroup: 'grp_numeric' } }, { country: 'XX' }] }, force: 'y' }] },
    'id-group-experiment': {
      defaultValue: 'control',
      rules: [{ key: 'numeric-exp', condition: { id: { $notInGroup: 'grp_numeric_list' } }, variations: ['control', 'treatment'], hashVersion: 2 }],
    },
    // Top-level $inGroup is an id-list segment, which matches both forms itself.
    'id-group-segment': { defaultValue: false, rules: [{ condition: { id: { $inGroup: 'grp_numeric' } }, force: true }] },
  };

  it('serves a numeric id what GrowthBook serves it, whether the SDKs pass it as its string or attributes carry the number', () => {
    // prepare
    const payload = { features, savedGroups: groups };

    // act
    const asSdks = compare(payload, features, groups, USERS, {}, { idsAsStrings: true });
    const asGiven = compare(payload, features, groups, USERS);

    // assert
    expect(numericIds.length).toBeGreaterThan(50);
    expect(asSdks.mismatches.slice(0, 5)).toEqual([]);
    expect(asGiven.mismatches.slice(0, 5)).toEqual([]);
    expect(asSdks.compared).toBe(USERS.length * Object.keys(features).length);
    expect([...asSdks.served].filter(([, values]) => values.size < 2).map(([key]) => key)).toEqual([]);
    expectValid(asSdks.result);
  });

  it('keeps each number and adds its decimal string next to it, on "id" only, and says so', () => {
    // prepare
    const [a, b] = [numericIds[0]!, numericIds[1]!];
    const payload = {
      features: {
        f: {
          defaultValue: 0,
          rules: [
            { condition: { id: { $in: [a, 'x', b, String(b)] } }, force: 1 },
            { condition: { id: { $eq: a, $in: [b] } }, force: 2 },
            { condition: { accountId: { $in: [a] }, orders: { $elemMatch: { id: { $in: [a] } } } }, force: 3 },
          ],
        },
      },
    };

    // act
    const result = convertGrowthBookPayload(payload, { environment: ENV });

    // assert
    expect(result.flags[0]!.environments[ENV]!.rules.map((r) => r.condition)).toEqual([
      { id: { $in: [a, String(a), 'x', b, String(b)] } },
      { id: { $eq: a, $in: [b, String(b)] } },
      { accountId: { $in: [a] }, orders: { $elemMatch: { id: { $in: [a] } } } },
    ]);
    const added = (...ids: number[]): string =>
      `numeric ids in the condition on "id" are kept and their decimal strings added next to them (${ids.map((id) => `"${id}"`).join(', ')}): the xp SDKs pass a numeric user id as its string ({ id: 42 } → "42"), so both forms match, as the number did in GrowthBook; a user whose id is the string "42" matches too`;
    expect(result.warnings).toEqual([
      `feature "f" rule 0: ${added(a)}`,
      `feature "f" rule 1: $eq ${a} on "id" kept as it is (the test already has $in): the xp SDKs pass the user id ${a} as "${a}", which $eq compares as another value than the number, where GrowthBook compared the number`,
      `feature "f" rule 1: ${added(b)}`,
    ]);
  });
});

describe('convertGrowthBookPayload: rule fields left out', () => {
  it('keeps a force rule with tracks, serving its value as GrowthBook does, and names the feature and rule', () => {
    // prepare
    const features: Features = {
      f: {
        defaultValue: 'x',
        rules: [
          { id: 'fr_tracked', condition: { plan: 'pro' }, force: 'y', tracks: [{ experiment: { key: 'e', variations: ['x', 'y'] }, result: { inExperiment: true, variationId: 1, value: 'y' } }] },
          { force: 'z', coverage: 0.5, hashVersion: 2, tracks: [{ experiment: { key: 'e2', variations: ['x', 'z'] }, result: {} }] },
        ],
      },
    };

    // act
    const { result, mismatches, served } = compare({ features }, features, undefined, USERS);

    // assert
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(served.get('f')).toEqual(new Set(['"x"', '"y"', '"z"']));
    expect(result.flags[0]!.environments[ENV]!.rules).toMatchObject([
      { id: 'fr_tracked', type: 'force', condition: { plan: 'pro' }, variation: 'y' },
      { id: 'rule-1', type: 'rollout', coverage: 0.5, variation: 'z' },
    ]);
    expect(result.warnings).toEqual([
      'feature "f" rule 0: rule "fr_tracked": its 1 track(s) left out (experiment results of a remotely evaluated payload, which GrowthBook reports to its tracking callback; xp logs no exposure for a force rule); the forced value is kept',
      'feature "f" rule 1: this rule: its 1 track(s) left out (experiment results of a remotely evaluated payload, which GrowthBook reports to its tracking callback; xp logs no exposure for a force rule); the forced value is kept',
    ]);
    expectValid(result);
  });
});

describe('convertGrowthBookPayload: what cannot be converted exactly', () => {
  const base = { defaultValue: 'x' };

  it.each([
    ['filters', { force: 'y', filters: [{ seed: 's', hashVersion: 2, ranges: [[0, 0.5]] }] }, 'filters'],
    ['parentConditions', { force: 'y', parentConditions: [{ id: 'other', condition: { value: true } }] }, 'prerequisites (parentConditions)'],
    ['range', { force: 'y', range: [0, 0.5] }, 'rollout range'],
    ['$savedGroup', { force: 'y', condition: { $savedGroup: { id: 'grp' } } }, '$savedGroup'],
    ['passthrough', { variations: ['x', 'y'], meta: [{ key: 'a' }, { key: 'b', passthrough: true }] }, 'passthrough'],
    ['explicit ranges', { variations: ['x', 'y'], ranges: [[0, 0.2], [0.5, 0.7]] }, 'explicit bucket ranges'],
    ['contextual bandit', { variations: ['x', 'y'], contextualBanditRef: 'cb1' }, 'contextual bandits'],
    ['hash version 3', { force: 'y', coverage: 0.5, hashVersion: 3 }, 'hashVersion 3'],
    ['weights adding up to 0.99', { variations: ['x', 'y'], weights: [0.5, 0.49], hashVersion: 2 }, 'xp normalises them, which would move 1.02% of units (102 of 10000 hash buckets)'],
    ['an unknown operator', { force: 'y', condition: { age: { $near: 3 } } }, 'not valid in xp'],
    ['an invalid regex', { force: 'y', condition: { email: { $regex: '(' } } }, 'not valid in xp'],
    ['a misspelt top-level operator', { force: 'y', condition: { $savedGroups: ['grp_staff'] } }, 'condition.$savedGroups: "$savedGroups" is not an operator'],
    ['a misspelt top-level operator in an experiment', { variations: ['x', 'y'], condition: { $xor: [{ plan: 'pro' }] } }, 'condition.$xor: "$xor" is not an operator'],
    ['a condition saved group', { force: 'y', condition: { id: { $inGroup: 'grp_cond' } } }, 'not an ID list'],
    ['no variations', { key: 'e' }, 'neither force nor variations'],
    ['minBucketVersion above bucketVersion', { variations: ['x', 'y'], bucketVersion: 1, minBucketVersion: 2 }, 'exceeds bucketVersion'],
  ] as const)('skips a rule with %s and names the feature and rule', (_, rule, reason) => {
    // prepare
    const payload = {
      features: { f: { ...base, rules: [{ force: 'first' }, rule, { force: 'last', condition: { plan: 'pro' } }] } },
      savedGroups: { grp_cond: { type: 'condition', condition: { country: 'US' } } },
    };

    // act
    const result = convertGrowthBookPayload(payload, { environment: ENV });

    // assert
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(/^feature "f" rule 1: skipped: /);
    expect(result.warnings[0]).toContain(reason);
    expect(result.flags[0]!.environments[ENV]!.rules.map((r) => r.id)).toEqual(['rule-0', 'rule-2']);
    expect(result.experiments).toEqual([]);
    expectValid(result);
  });

  it('imports weights GrowthBook uses as given (0.333 × 3) with the coverage that moves the fewest units, and says how many', () => {
    // prepare: GrowthBook's ranges [0, .333), [.333, .666), [.666, .999); xp normalises the weights.
    const features: Features = { split: { defaultValue: 'a', rules: [{ key: 'three-way', variations: ['a', 'b', 'c'], weights: [0.333, 0.333, 0.333], coverage: 1, hashVersion: 2 }] } };

    // act
    const { result, compared, mismatches } = compare({ features }, features, undefined, USERS);

    // assert: the experiment runs for everyone it ran for, and a sliver at the boundaries moves.
    expect(result.experiments.map((e) => [e.key, e.coverage])).toEqual([['three-way', 0.999]]);
    expect(result.warnings).toEqual([
      'feature "split" rule 0: weights [0.333,0.333,0.333] add up to 0.999, not 1: xp normalises them (coverage 0.999), so 0.17% of units (17 of 10000 hash buckets), next to the variation boundaries, get another variation than in GrowthBook',
    ]);
    expect(compared).toBe(USERS.length);
    expect(mismatches.length).toBeLessThanOrEqual(USERS.length * 0.005);
  });

  it('drops rules that include nobody in GrowthBook and still serves identical values', () => {
    // prepare
    const features: Features = {
      f: {
        defaultValue: 1,
        rules: [
          { force: 2, coverage: 0.5, hashVersion: 7 },
          { variations: [3] },
          { variations: [4, 5], namespace: ['ns', 0.6, 0.6] },
          { variations: [6, 7], hashVersion: 2, coverage: 0.5 },
        ],
      },
    };

    // act
    const { mismatches, result } = compare({ features }, features, undefined, USERS.slice(0, 500));

    // assert
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(result.warnings.map((w) => w.slice(0, 'feature "f" rule 0: skipped'.length))).toEqual([
      'feature "f" rule 0: skipped',
      'feature "f" rule 1: skipped',
      'feature "f" rule 2: skipped',
    ]);
    expect(result.flags[0]!.environments[ENV]!.rules).toHaveLength(1);
  });

  it('treats a saved group missing from the payload as empty, as GrowthBook does', () => {
    // prepare
    const features: Features = {
      f: { defaultValue: 'a', rules: [{ condition: { id: { $inGroup: 'gone' } }, force: 'b' }, { condition: { id: { $notInGroup: 'gone' } }, force: 'c' }] },
    };

    // act
    const { mismatches, result } = compare({ features, savedGroups: {} }, features, {}, USERS.slice(0, 200));

    // assert
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(result.warnings).toEqual([
      'feature "f" rule 0: saved group "gone" is not in the payload; like GrowthBook, xp treats it as empty',
      'feature "f" rule 1: saved group "gone" is not in the payload; like GrowthBook, xp treats it as empty',
    ]);
    expect(result.segments).toEqual([expect.objectContaining({ key: 'gone', values: [] })]);
  });

  it('reports unknown fields and auto experiments without changing what is served', () => {
    // act
    const result = convertGrowthBookPayload(
      { features: { f: { defaultValue: true, project: 'p1', rules: [{ force: false, futureField: 1 }] } }, experiments: [{ key: 'visual' }] },
      { environment: ENV },
    );

    // assert
    expect(result.warnings).toEqual([
      'payload: 1 auto experiment(s) (visual editor, URL redirects) not imported',
      'feature "f": ignored unknown field(s) project',
      'feature "f" rule 0: ignored unknown field(s) futureField',
    ]);
    expect(result.flags[0]!.environments[ENV]!.rules).toEqual([{ id: 'rule-0', type: 'force', variation: 'false' }]);
  });

  it('ignores an unknown top-level field of a payload with a warning, rather than reading the payload as a features map', () => {
    const result = convertGrowthBookPayload({ features: { a: { defaultValue: 1 } }, somethingNew: { x: 1 }, features2: 1 }, { environment: ENV });

    expect(result.flags.map((f) => f.key)).toEqual(['a']);
    expect(result.warnings).toEqual(['payload: ignored unknown field(s) somethingNew, features2']);
  });

  it('reads a features map that has a feature named "features" as a features map', () => {
    const result = convertGrowthBookPayload({ features: { defaultValue: true }, other: { defaultValue: false } }, { environment: ENV });

    expect(result.flags.map((f) => f.key)).toEqual(['features', 'other']);
  });
});

describe('convertGrowthBookPayload: feature prerequisites (gates)', () => {
  /** GrowthBook's value and xp's for every user; GrowthBook's null for a failed gate is xp's off variation (cli.md says so). */
  function gated(features: Features, users: readonly Attributes[]): { result: GrowthBookImportResult; mismatches: string[]; blocked: Map<string, number> } {
    const result = convertGrowthBookPayload({ features }, { environment: ENV });
    const ruleset = compileRuleset({ environment: ENV, version: 1, flags: result.flags, experiments: result.experiments, segments: result.segments });
    const mismatches: string[] = [];
    const blocked = new Map<string, number>();
    for (const attributes of users) {
      const gb = new GrowthBook({ features: features as Record<string, FeatureDefinition>, attributes });
      for (const flag of result.flags) {
        const expected = gb.evalFeature(flag.key);
        const actual = evaluateFlag(ruleset, flag.key, { attributes });
        const off = flag.environments[ENV]!.offVariation;
        const same =
          expected.source === 'prerequisite'
            ? actual.reason === 'PREREQUISITE_FAILED' && actual.variationKey === off
            : actual.reason !== 'PREREQUISITE_FAILED' && isDeepStrictEqual(expected.value, actual.value);
        if (expected.source === 'prerequisite') {
          blocked.set(flag.key, (blocked.get(flag.key) ?? 0) + 1);
        }
        if (!same) {
          mismatches.push(`${flag.key} ${JSON.stringify(attributes)}: GrowthBook ${JSON.stringify(expected.value)} (${expected.source}), xp ${JSON.stringify(actual.value)} (${actual.reason})`);
        }
      }
      gb.destroy();
    }
    return { result, mismatches, blocked };
  }

  it('imports a gate on another feature\'s value as a prerequisite: users passing it get the same values, users failing it the off variation where GrowthBook serves null', () => {
    // prepare: how GrowthBook serialises feature prerequisites (the tester's gate.json, and an $eq and a two-gate variant).
    const features: Features = {
      'child-flag': {
        defaultValue: 'new',
        rules: [{ id: 'fr_gate', parentConditions: [{ id: 'parent-flag', condition: { value: true }, gate: true }] }, { id: 'fr_x', condition: { country: 'US' }, force: 'us' }],
      },
      'parent-flag': { defaultValue: false, rules: [{ id: 'fr_p', force: true, coverage: 0.5, hashAttribute: 'id' }] },
      mode: { defaultValue: 'a', rules: [{ force: 'b', condition: { plan: 'pro' } }, { force: 'c', condition: { plan: 'enterprise' } }] },
      'two-gates': {
        defaultValue: 1,
        rules: [
          { parentConditions: [{ id: 'mode', condition: { value: { $eq: 'b' } }, gate: true }] },
          { parentConditions: [{ id: 'parent-flag', condition: { value: true }, gate: true }], force: 2, coverage: 0.5 },
          { force: 3, condition: { beta: true } },
        ],
      },
    };

    // act
    const { result, mismatches, blocked } = gated(features, USERS);

    // assert
    expect(result.warnings).toEqual([]);
    const prerequisites = Object.fromEntries(result.flags.map((f) => [f.key, f.environments[ENV]!.prerequisites]));
    expect(prerequisites).toEqual({
      'child-flag': [{ flag: 'parent-flag', variation: 'true' }],
      'parent-flag': [],
      mode: [],
      'two-gates': [
        { flag: 'mode', variation: 'b' },
        { flag: 'parent-flag', variation: 'true' },
      ],
    });
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(blocked.get('child-flag')).toBeGreaterThan(500);
    expect(USERS.length - (blocked.get('child-flag') ?? 0)).toBeGreaterThan(500);
    expect(blocked.get('two-gates')).toBeGreaterThan(500);
    expectValid(result);
  });

  it('imports a gate on a gated feature\'s off value: the parent blocked by its own gate is null in GrowthBook and fails the prerequisite in xp', () => {
    // prepare: "mid" is gated on "root"; "leaf" needs mid's default value, which is also mid's off variation in xp.
    const features: Features = {
      root: { defaultValue: false, rules: [{ force: true, coverage: 0.5, hashAttribute: 'id' }] },
      mid: { defaultValue: false, rules: [{ parentConditions: [{ id: 'root', condition: { value: true }, gate: true }] }, { force: true, condition: { plan: 'pro' } }] },
      leaf: { defaultValue: 'on', rules: [{ parentConditions: [{ id: 'mid', condition: { value: false }, gate: true }] }] },
      // A gate that accepts null passes where mid is blocked in GrowthBook, while xp fails it: still skipped.
      'leaf-null': { defaultValue: 'on', rules: [{ parentConditions: [{ id: 'mid', condition: { value: { $in: [true, null] } }, gate: true }] }] },
    };

    // act
    const { result, mismatches, blocked } = gated(features, USERS);

    // assert
    expect(result.warnings).toEqual([
      'feature "leaf-null" rule 0: skipped: the prerequisite gate on feature "mid" ({"value":{"$in":[true,null]}}): feature "mid" has prerequisite gates of its own: a user failing them gets null from it, which this gate accepts in GrowthBook, while xp fails a prerequisite on a flag whose own prerequisites fail; users failing the gate will get this flag\'s rules instead of null (GrowthBook blocks the feature for them)',
    ]);
    expect(Object.fromEntries(result.flags.map((f) => [f.key, f.environments[ENV]!.prerequisites]))).toMatchObject({ leaf: [{ flag: 'mid', variation: 'false' }], mid: [{ flag: 'root', variation: 'true' }] });
    expect(mismatches.filter((m) => !m.startsWith('leaf-null ')).slice(0, 5)).toEqual([]);
    // Blocked through mid's gate (root false) and by mid itself (pro users): both kinds occur.
    expect(blocked.get('leaf')).toBeGreaterThan(blocked.get('mid') ?? 0);
    expect(blocked.get('mid')).toBeGreaterThan(500);
    expectValid(result);
  });

  it.each([
    ['after a rule that serves a value', [{ force: 'x', condition: { plan: 'pro' } }, { parentConditions: [{ id: 'parent', condition: { value: true }, gate: true }] }], 'after rules that serve a value'],
    ['on a feature not in the payload', [{ parentConditions: [{ id: 'missing', condition: { value: true }, gate: true }] }], 'feature "missing" is not in the payload'],
    ['satisfied by more than one value', [{ parentConditions: [{ id: 'parent', condition: { value: { $exists: true } }, gate: true }] }], '2 of the values feature "parent" serves satisfy it'],
    ['satisfied by no value', [{ parentConditions: [{ id: 'parent', condition: { value: 'maybe' }, gate: true }] }], 'none of the values feature "parent" serves satisfy it'],
    ['on itself', [{ parentConditions: [{ id: 'f', condition: { value: 'x' }, gate: true }] }], 'cycle'],
  ] as const)('keeps skipping a gate %s, saying what changes for users', (_, rules, reason) => {
    const features: Features = { parent: { defaultValue: false, rules: [{ force: true, coverage: 0.5 }] }, f: { defaultValue: 'x', rules: [...rules] } };

    const result = convertGrowthBookPayload({ features }, { environment: ENV });

    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(/^feature "f" rule \d: skipped: /);
    expect(result.warnings[0]).toContain(reason);
    expect(result.warnings[0]).toContain("users failing the gate will get this flag's rules instead of null");
    expect(result.flags.find((f) => f.key === 'f')!.environments[ENV]!.prerequisites).toEqual([]);
    expectValid(result);
  });
});

describe('convertGrowthBookPayload: dotted hash attributes', () => {
  it('says that xp reads a dotted hash attribute as a path, where GrowthBook reads one flat attribute', () => {
    // prepare
    const features: Features = {
      ramp: { defaultValue: false, rules: [{ force: true, coverage: 0.5, hashAttribute: 'company.id' }] },
      plain: { defaultValue: false, rules: [{ force: true, condition: { 'company.id': 'acme' } }] },
    };

    // act
    const result = convertGrowthBookPayload({ features }, { environment: ENV });

    // assert
    expect(result.warnings).toEqual([
      'feature "ramp" rule 0: hash attribute "company.id" is a dotted path in xp, as in conditions ({ "company": { "id": … } }), while GrowthBook reads the one attribute named "company.id": send the value nested, or units are not bucketed',
    ]);
    expect(result.flags.find((f) => f.key === 'ramp')!.environments[ENV]!.rules[0]).toMatchObject({ hashAttribute: 'company.id' });
    expectValid(result);
  });
});

describe('convertGrowthBookPayload: keys', () => {
  it('sanitizes feature, experiment, variation and rule keys, resolves collisions and reports each', () => {
    // prepare
    const long = `f${'x'.repeat(200)}`;
    const features: Features = {
      'checkout/button v2': { defaultValue: 'a', rules: [{ id: 'rule with spaces!', key: 'exp:checkout', variations: ['a', 'b'], meta: [{ key: 'ctrl' }, { key: 'ctrl' }] }] },
      'checkout-button-v2': { defaultValue: 1 },
      _private: { defaultValue: true },
      [long]: { defaultValue: 'b' },
      '***': { defaultValue: 'c' },
    };

    // act
    const { result, mismatches } = compare(features, features, undefined, USERS.slice(0, 300));

    // assert
    expect(mismatches.slice(0, 5)).toEqual([]);
    // A key that is valid stays with its feature (code calls it by that key); the renamed one goes around it.
    expect(result.flags.map((f) => f.key)).toEqual(['checkout-button-v2-2', 'checkout-button-v2', 'private', long.slice(0, 128), 'feature']);
    expect(result.flags[0]!.environments[ENV]!.rules[0]!.id).toBe('rule-with-spaces-');
    expect(result.experiments[0]).toMatchObject({ key: 'exp-checkout', seed: 'exp:checkout', variations: [{ key: 'ctrl' }, { key: 'ctrl-2' }] });
    expect(result.warnings).toEqual([
      'feature "checkout/button v2": imported as flag "checkout-button-v2-2" (xp keys allow only letters, digits, "_", "." and "-", at most 128)',
      'feature "checkout/button v2" rule 0: experiment variation "ctrl" imported as "ctrl-2"',
      'feature "checkout/button v2" rule 0: experiment "exp:checkout" imported as "exp-checkout" (not a valid xp key); assignments are unchanged because the seed is kept',
      'feature "_private": imported as flag "private" (xp keys allow only letters, digits, "_", "." and "-", at most 128)',
      `feature "${long}": imported as flag "${long.slice(0, 128)}" (xp keys allow only letters, digits, "_", "." and "-", at most 128)`,
      'feature "***": imported as flag "feature" (xp keys allow only letters, digits, "_", "." and "-", at most 128)',
    ]);
    expectValid(result);
  });
});

describe('convertGrowthBookPayload: malformed input', () => {
  it.each([
    ['a string', 'features.json', '(root): must be a JSON object'],
    ['null', null, '(root): must be a JSON object'],
    ['an array', [{ defaultValue: 1 }], '(root): must be a JSON object'],
    ['a rule with a string coverage', { features: { f: { rules: [{ force: 1, coverage: '50%' }] } } }, 'features.f.rules[0].coverage'],
    ['rules that are not a list', { features: { f: { rules: { force: 1 } } } }, 'features.f.rules'],
    ['a feature that is not an object', { f: 3 }, 'f: '],
    ['features that are not an object', { features: [1, 2] }, 'features'],
    ['a bad namespace', { features: { f: { rules: [{ variations: [1, 2], namespace: ['ns', 0] }] } } }, 'features.f.rules[0].namespace'],
    ['a non-object condition', { f: { rules: [{ force: 1, condition: 'country = US' }] } }, 'f.rules[0].condition'],
    ['an encrypted payload', { encryptedFeatures: 'abc==' }, 'encrypted'],
  ] as const)('rejects %s with a validation error naming the path', (_, payload, path) => {
    // act
    const error = convertError(payload);

    // assert
    expect(error.code).toBe(AppErrorCode.Validation);
    expect(error.message).toContain(path);
  });

  it('rejects an environment that is not an xp key', () => {
    // act
    const error = convertError({ features: {} }, 'prod env');

    // assert
    expect(error.code).toBe(AppErrorCode.Validation);
    expect(error.message).toContain('environment');
  });

  it('accepts an empty payload', () => {
    // act
    const result = convertGrowthBookPayload({ features: {} }, { environment: ENV });

    // assert
    expect(result).toEqual({ flags: [], experiments: [], segments: [], warnings: [] });
  });
});
