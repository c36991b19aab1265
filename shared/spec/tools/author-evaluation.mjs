// Maintainer tool: writes shared/spec/evaluate-flag.json and experiments.json.
// Every expectation is stated by hand from the semantics; the only computed inputs are bucket
// hashes, taken from the hash primitive that hash.json pins to GrowthBook's. Run after `npm run build`:
//   node shared/spec/tools/author-evaluation.mjs
import { writeFileSync } from 'node:fs';
import { hash } from '../../dist/eval/hash.js';

const out = (file, doc) => writeFileSync(new URL(`../${file}`, import.meta.url), `${JSON.stringify(doc, null, 1)}\n`);

/** Finds ids whose hash falls inside / outside [lo, hi). */
function idsWhere(seed, version, pred, count, prefix = 'user-') {
  const ids = [];
  for (let i = 0; ids.length < count && i < 100000; i++) {
    const id = `${prefix}${i}`;
    const n = hash(seed, id, version);
    if (pred(n)) {ids.push([id, n]);}
  }
  return ids;
}

const T = (iso) => Date.parse(iso);
const bool = [{ key: 'off', value: false }, { key: 'on', value: true }];
const colors = [{ key: 'blue', value: 'blue' }, { key: 'green', value: 'green' }, { key: 'red', value: 'red' }];

const main = {
  schemaVersion: 1,
  environment: 'production',
  version: 7,
  savedGroups: { beta: ['user-1', 'user-2', 42], staff: [] },
  holdouts: { global: { hashAttribute: 'id', seed: '__holdout__global', coverage: 0.5 } },
  experiments: {
    'exp-ab': { hashAttribute: 'id', seed: 'exp-ab', hashVersion: 2, coverage: 1, weights: [0.5, 0.5], variations: [{ key: 'control', value: 'c' }, { key: 'treatment', value: 't' }] },
    'exp-half': { hashAttribute: 'id', seed: 'exp-half', hashVersion: 2, coverage: 0.5, weights: [0.5, 0.5], variations: [{ key: 'control' }, { key: 'treatment' }] },
    'exp-abc': { hashAttribute: 'id', seed: 'exp-abc', hashVersion: 1, coverage: 1, weights: [0.2, 0.3, 0.5], variations: [{ key: 'a' }, { key: 'b' }, { key: 'c' }] },
    'exp-ns': { hashAttribute: 'id', seed: 'exp-ns', hashVersion: 2, coverage: 1, weights: [0.5, 0.5], variations: [{ key: 'control' }, { key: 'treatment' }], namespace: ['checkout-layer', 0, 0.5] },
    'exp-holdout': { hashAttribute: 'id', seed: 'exp-holdout', hashVersion: 2, coverage: 1, weights: [0.5, 0.5], variations: [{ key: 'control' }, { key: 'treatment' }], holdout: 'global' },
    'exp-cond': { hashAttribute: 'id', seed: 'exp-cond', hashVersion: 2, coverage: 1, weights: [0.5, 0.5], variations: [{ key: 'control' }, { key: 'treatment' }], condition: { plan: 'pro' } },
    'exp-sticky': { hashAttribute: 'id', seed: 'exp-sticky', hashVersion: 2, coverage: 1, weights: [0.5, 0.5], variations: [{ key: 'control' }, { key: 'treatment' }], sticky: { bucketVersion: 2, minBucketVersion: 1 } },
    'exp-winner': { hashAttribute: 'id', seed: 'exp-winner', hashVersion: 2, coverage: 1, weights: [0.5, 0.5], variations: [{ key: 'control' }, { key: 'treatment' }], force: 1 },
    'exp-locked': { hashAttribute: 'id', seed: 'exp-locked', hashVersion: 2, coverage: 1, weights: [0.5, 0.5], variations: [{ key: 'control' }, { key: 'treatment' }], urlOverride: false },
    'exp-company': { hashAttribute: 'companyId', fallbackAttribute: 'id', seed: 'exp-company', hashVersion: 2, coverage: 1, weights: [0.5, 0.5], variations: [{ key: 'control' }, { key: 'treatment' }] },
    'landing': { hashAttribute: 'id', seed: 'landing', hashVersion: 2, coverage: 0.8, weights: [0.5, 0.5], variations: [{ key: 'original', url: 'https://example.com/landing' }, { key: 'new', url: 'https://example.com/landing-v2' }] },
  },
  flags: {
    'static-on': { variations: bool, default: 1, off: 0 },
    'static-off': { on: false, variations: bool, default: 1, off: 0 },
    'number-limit': { variations: [{ key: 'low', value: 10 }, { key: 'high', value: 100 }], default: 0, off: 0, rules: [{ id: 'pro', type: 'force', condition: { plan: 'pro' }, variation: 1 }] },
    'json-config': { variations: [{ key: 'v1', value: { retries: 3, endpoints: ['a', 'b'] } }, { key: 'v2', value: { retries: 5, endpoints: [] } }], default: 0, off: 0, rules: [{ id: 'eu', type: 'force', condition: { 'geo.region': 'eu' }, variation: 1 }] },
    'button-color': {
      variations: colors, default: 0, off: 0,
      rules: [
        { id: 'us', type: 'force', condition: { country: 'US' }, variation: 1 },
        { id: 'acme', type: 'force', condition: { email: { $regex: '@acme\\.com$' } }, variation: 2 },
        { id: 'beta', type: 'force', condition: { id: { $inGroup: 'beta' } }, variation: 2 },
      ],
    },
    'ten-conditions': {
      variations: bool, default: 0, off: 0,
      rules: [{
        id: 'all', type: 'force', variation: 1,
        condition: {
          country: { $in: ['US', 'CA', 'GB'] }, plan: { $ne: 'free' }, age: { $gte: 18, $lt: 65 }, appVersion: { $vgte: '2.3.0' },
          email: { $regex: '^[a-z.]+@' }, tags: { $elemMatch: { $eq: 'early' } }, 'device.os': { $in: ['ios', 'android'] },
          $or: [{ seats: { $gt: 5 } }, { vip: true }], beta: { $exists: true }, locale: { $nin: ['fr-FR'] },
        },
      }],
    },
    'rollout-20': { variations: bool, default: 0, off: 0, rules: [{ id: 'ramp', type: 'rollout', variation: 1, coverage: 0.2, hashAttribute: 'id', seed: 'rollout-20', hashVersion: 2 }] },
    'rollout-v1': { variations: bool, default: 0, off: 0, rules: [{ id: 'ramp', type: 'rollout', variation: 1, coverage: 0.5, hashAttribute: 'id', seed: 'rollout-v1', hashVersion: 1 }] },
    'rollout-zero': { variations: bool, default: 0, off: 0, rules: [{ id: 'ramp', type: 'rollout', variation: 1, coverage: 0, hashAttribute: 'id', seed: 'rollout-zero', hashVersion: 2 }] },
    'rollout-full': { variations: bool, default: 0, off: 0, rules: [{ id: 'ramp', type: 'rollout', variation: 1, coverage: 1, hashAttribute: 'id', seed: 'rollout-full', hashVersion: 2 }] },
    'rollout-fallback': { variations: bool, default: 0, off: 0, rules: [{ id: 'ramp', type: 'rollout', variation: 1, coverage: 0.5, hashAttribute: 'userId', fallbackAttribute: 'anonymousId', seed: 'rollout-fallback', hashVersion: 2 }] },
    'rollout-targeted': { variations: bool, default: 0, off: 0, rules: [{ id: 'ramp', type: 'rollout', condition: { country: 'DE' }, variation: 1, coverage: 0.5, hashAttribute: 'id', seed: 'rollout-targeted', hashVersion: 2 }] },
    'split-3': { variations: colors, default: 0, off: 0, rules: [{ id: 'split', type: 'split', weights: [0.5, 0.3, 0.2], hashAttribute: 'id', seed: 'split-3', hashVersion: 2 }] },
    'split-bad-sum': { variations: colors, default: 0, off: 0, rules: [{ id: 'split', type: 'split', weights: [0.5, 0.5, 0.5], hashAttribute: 'id', seed: 'split-bad-sum', hashVersion: 2 }] },
    'scheduled-ramp': {
      variations: bool, default: 0, off: 0,
      rules: [{ id: 'ramp', type: 'rollout', variation: 1, coverage: 0, hashAttribute: 'id', seed: 'scheduled-ramp', hashVersion: 2,
        schedule: [[T('2026-01-10T00:00:00Z'), 0.1], [T('2026-01-20T00:00:00Z'), 0.5], [T('2026-02-01T00:00:00Z'), 1]] }],
    },
    'launch-window': { variations: bool, default: 0, off: 0, rules: [{ id: 'sale', type: 'force', variation: 1, from: T('2026-11-27T00:00:00Z'), until: T('2026-11-30T00:00:00Z') }] },
    parent: { variations: bool, default: 1, off: 0, rules: [{ id: 'blocked', type: 'force', condition: { country: 'KP' }, variation: 0 }] },
    'parent-off': { on: false, variations: bool, default: 1, off: 0 },
    child: { variations: colors, default: 1, off: 0, prerequisites: [{ flag: 'parent', variation: 'on' }] },
    grandchild: { variations: bool, default: 1, off: 0, prerequisites: [{ flag: 'child', variation: 'green' }] },
    'child-of-off': { variations: bool, default: 1, off: 0, prerequisites: [{ flag: 'parent-off', variation: 'on' }] },
    'child-of-missing': { variations: bool, default: 1, off: 0, prerequisites: [{ flag: 'deleted-flag', variation: 'on' }] },
    'child-of-broken': { variations: bool, default: 1, off: 0, prerequisites: [{ flag: 'bad-regex', variation: 'on' }] },
    'child-of-mismatch': { variations: bool, default: 1, off: 0, prerequisites: [{ flag: 'rollout-full', variation: 'on' }] },
    'cycle-a': { variations: bool, default: 1, off: 0, prerequisites: [{ flag: 'cycle-b', variation: 'on' }] },
    'cycle-b': { variations: bool, default: 1, off: 0, prerequisites: [{ flag: 'cycle-a', variation: 'on' }] },
    'checkout-exp': { variations: [{ key: 'old', value: 'old' }, { key: 'new', value: 'new' }], default: 0, off: 0, rules: [{ id: 'exp', type: 'experiment', experiment: 'exp-ab', variations: [0, 1] }] },
    'half-exp': { variations: bool, default: 0, off: 0, rules: [{ id: 'exp', type: 'experiment', experiment: 'exp-half', variations: [0, 1] }, { id: 'rest', type: 'force', variation: 0 }] },
    'abc-exp': { variations: colors, default: 0, off: 0, rules: [{ id: 'exp', type: 'experiment', experiment: 'exp-abc', variations: [0, 1, 2] }] },
    'ns-exp': { variations: bool, default: 0, off: 0, rules: [{ id: 'exp', type: 'experiment', experiment: 'exp-ns', variations: [0, 1] }] },
    'holdout-exp': { variations: bool, default: 0, off: 0, rules: [{ id: 'exp', type: 'experiment', experiment: 'exp-holdout', variations: [0, 1] }] },
    'cond-exp': { variations: bool, default: 0, off: 0, rules: [{ id: 'exp', type: 'experiment', experiment: 'exp-cond', variations: [0, 1] }] },
    'sticky-exp': { variations: bool, default: 0, off: 0, rules: [{ id: 'exp', type: 'experiment', experiment: 'exp-sticky', variations: [0, 1] }] },
    'winner-exp': { variations: bool, default: 0, off: 0, rules: [{ id: 'exp', type: 'experiment', experiment: 'exp-winner', variations: [0, 1] }] },
    'locked-exp': { variations: bool, default: 0, off: 0, rules: [{ id: 'exp', type: 'experiment', experiment: 'exp-locked', variations: [0, 1] }] },
    'company-exp': { variations: bool, default: 0, off: 0, rules: [{ id: 'exp', type: 'experiment', experiment: 'exp-company', variations: [0, 1] }] },
    'targeted-exp': { variations: bool, default: 0, off: 0, rules: [{ id: 'exp', type: 'experiment', condition: { country: 'US' }, experiment: 'exp-ab', variations: [0, 1] }] },
    'bad-operator': { variations: bool, default: 0, off: 0, rules: [{ id: 'r', type: 'force', condition: { age: { $between: [1, 2] } }, variation: 1 }] },
    'bad-regex': { variations: bool, default: 0, off: 0, rules: [{ id: 'r', type: 'force', condition: { email: { $regex: '([a-z' } }, variation: 1 }] },
    'bad-in': { variations: bool, default: 0, off: 0, rules: [{ id: 'r', type: 'force', condition: { country: { $in: 'US' } }, variation: 1 }] },
    'bad-index': { variations: bool, default: 5, off: 0 },
    'bad-rule-index': { variations: bool, default: 0, off: 0, rules: [{ id: 'r', type: 'force', variation: 2 }] },
    'bad-weights-length': { variations: bool, default: 0, off: 0, rules: [{ id: 'r', type: 'split', weights: [1], hashAttribute: 'id', seed: 's', hashVersion: 2 }] },
    'bad-experiment': { variations: bool, default: 0, off: 0, rules: [{ id: 'r', type: 'experiment', experiment: 'no-such-experiment', variations: [0, 1] }] },
    'bad-mapping': { variations: bool, default: 0, off: 0, rules: [{ id: 'r', type: 'experiment', experiment: 'exp-abc', variations: [0, 1] }] },
    'bad-shape': { variations: 'yes', default: 0 },
    'bad-unknown-key': { variations: bool, default: 0, off: 0, colour: 'red' },
    'bad-rule-type': { variations: bool, default: 0, off: 0, rules: [{ id: 'r', type: 'magic', variation: 1 }] },
  },
};

const cases = [];
const add = (name, flag, context, expected, extra = {}) => cases.push({ name, ruleset: 'main', flag, context, ...extra, expected });
const D = (v, k) => ({ value: v, variationKey: k, reason: 'DEFAULT' });
const M = (v, k, ruleId) => ({ value: v, variationKey: k, reason: 'TARGETING_MATCH', ruleId });
const S = (v, k, ruleId, more = {}) => ({ value: v, variationKey: k, reason: 'SPLIT', ruleId, ...more });
const E = (code, value = null) => ({ value, variationKey: null, reason: 'ERROR', errorCode: code });

// Static and disabled flags.
add('flag on with no rules serves its default variation', 'static-on', { attributes: { id: 'u' } }, D(true, 'on'));
add('flag on with no rules needs no attributes', 'static-on', {}, D(true, 'on'));
add('disabled flag serves its off variation', 'static-off', { attributes: { id: 'u' } }, { value: false, variationKey: 'off', reason: 'DISABLED' });
add('disabled flag ignores everything else', 'static-off', { attributes: { id: 'u', country: 'US' } }, { value: false, variationKey: 'off', reason: 'DISABLED' });
add('number flag default', 'number-limit', { attributes: { plan: 'free' } }, D(10, 'low'));
add('number flag targeted', 'number-limit', { attributes: { plan: 'pro' } }, M(100, 'high', 'pro'));
add('json flag default value is the whole object', 'json-config', { attributes: {} }, D({ retries: 3, endpoints: ['a', 'b'] }, 'v1'));
add('json flag targeted by a dotted path', 'json-config', { attributes: { geo: { region: 'eu' } } }, M({ retries: 5, endpoints: [] }, 'v2', 'eu'));
add('dotted path through a missing parent does not match', 'json-config', { attributes: { region: 'eu' } }, D({ retries: 3, endpoints: ['a', 'b'] }, 'v1'));
add('dotted path through a non-object does not match', 'json-config', { attributes: { geo: 'eu' } }, D({ retries: 3, endpoints: ['a', 'b'] }, 'v1'));

// Targeting order and conditions.
add('first matching rule wins', 'button-color', { attributes: { country: 'US', email: 'a@acme.com' } }, M('green', 'green', 'us'));
add('second rule matches when the first does not', 'button-color', { attributes: { country: 'FR', email: 'a@acme.com' } }, M('red', 'red', 'acme'));
add('regex is anchored as written', 'button-color', { attributes: { country: 'FR', email: 'a@acme.com.evil.org' } }, D('blue', 'blue'));
add('no rule matches: default', 'button-color', { attributes: { country: 'FR', email: 'a@example.com' } }, D('blue', 'blue'));
add('missing attributes match nothing', 'button-color', { attributes: {} }, D('blue', 'blue'));
add('saved group membership by string id', 'button-color', { attributes: { id: 'user-2' } }, M('red', 'red', 'beta'));
add('saved group membership by number id', 'button-color', { attributes: { id: 42 } }, M('red', 'red', 'beta'));
add('saved group membership is strict about type', 'button-color', { attributes: { id: '42' } }, D('blue', 'blue'));
add('string condition coerces a number attribute', 'number-limit', { attributes: { plan: 'pro' } }, M(100, 'high', 'pro'));
add('condition on case differs', 'button-color', { attributes: { country: 'us' } }, D('blue', 'blue'));

const tenBase = { country: 'US', plan: 'pro', age: 30, appVersion: '2.3.1', email: 'jo.doe@x.io', tags: ['early', 'x'], device: { os: 'ios' }, seats: 10, beta: false, locale: 'en-US' };
add('ten conditions all true', 'ten-conditions', { attributes: tenBase }, M(true, 'on', 'all'));
add('ten conditions: $or satisfied by the second branch', 'ten-conditions', { attributes: { ...tenBase, seats: 1, vip: true } }, M(true, 'on', 'all'));
for (const [name, patch] of [
  ['country not in list', { country: 'FR' }],
  ['plan is free', { plan: 'free' }],
  ['too young', { age: 17 }],
  ['too old (upper bound exclusive)', { age: 65 }],
  ['version too old', { appVersion: '2.2.9' }],
  ['version pre-release sorts before release', { appVersion: '2.3.0-rc.1' }],
  ['email fails regex', { email: 'Jo@x.io' }],
  ['tag missing', { tags: ['late'] }],
  ['device os not allowed', { device: { os: 'windows' } }],
  ['neither $or branch', { seats: 5, vip: false }],
  ['beta attribute missing', { beta: undefined }],
  ['excluded locale', { locale: 'fr-FR' }],
]) {
  const attrs = Object.fromEntries(Object.entries({ ...tenBase, ...patch }).filter(([, v]) => v !== undefined));
  add(`ten conditions fail: ${name}`, 'ten-conditions', { attributes: attrs }, D(false, 'off'));
}
add('version with leading v and build metadata', 'ten-conditions', { attributes: { ...tenBase, appVersion: 'v2.3.0+build.7' } }, M(true, 'on', 'all'));
add('numeric version compares numerically per part', 'ten-conditions', { attributes: { ...tenBase, appVersion: '2.10.0' } }, M(true, 'on', 'all'));

// Percentage rollouts.
for (const [id, n] of idsWhere('rollout-20', 2, (n) => n <= 0.2, 4)) {add(`rollout 20%: ${id} inside (bucket ${n})`, 'rollout-20', { attributes: { id } }, S(true, 'on', 'ramp', { bucket: n }));}
for (const [id, n] of idsWhere('rollout-20', 2, (n) => n > 0.2, 4)) {add(`rollout 20%: ${id} outside (bucket ${n})`, 'rollout-20', { attributes: { id } }, D(false, 'off'));}
for (const [id, n] of idsWhere('rollout-v1', 1, (n) => n <= 0.5, 2)) {add(`rollout with hash v1: ${id} inside (bucket ${n})`, 'rollout-v1', { attributes: { id } }, S(true, 'on', 'ramp', { bucket: n }));}
for (const [id] of idsWhere('rollout-v1', 1, (n) => n > 0.5, 2)) {add(`rollout with hash v1: ${id} outside`, 'rollout-v1', { attributes: { id } }, D(false, 'off'));}
// The inclusive edge (`bucket <= coverage`): buckets are multiples of 1/10000 (v2) or 1/1000 (v1), so a unit
// can hash exactly onto the coverage.
for (const [seed, version, coverage, flag, label] of [['rollout-20', 2, 0.2, 'rollout-20', 'rollout 20%'], ['rollout-v1', 1, 0.5, 'rollout-v1', 'rollout with hash v1']]) {
  const [[id, n]] = idsWhere(seed, version, (x) => x === coverage, 1);
  add(`${label}: ${id} whose bucket equals the coverage (${n}) is inside`, flag, { attributes: { id } }, S(true, 'on', 'ramp', { bucket: n }));
}
const [[zeroId]] = idsWhere('rollout-zero', 2, (n) => n < 0.01, 1);
add('rollout at 0% includes nobody, even a unit hashing to the very bottom', 'rollout-zero', { attributes: { id: zeroId } }, D(false, 'off'));
for (const [id, n] of idsWhere('rollout-full', 2, () => true, 2)) {add(`rollout at 100% includes ${id}`, 'rollout-full', { attributes: { id } }, S(true, 'on', 'ramp', { bucket: n }));}
add('rollout skips a unit without the hash attribute', 'rollout-full', { attributes: {} }, D(false, 'off'));
add('rollout skips an empty-string id', 'rollout-full', { attributes: { id: '' } }, D(false, 'off'));
add('rollout skips a null id', 'rollout-full', { attributes: { id: null } }, D(false, 'off'));
const numericN = hash('rollout-full', '12345', 2);
add('rollout hashes a numeric id as its decimal string', 'rollout-full', { attributes: { id: 12345 } }, S(true, 'on', 'ramp', { bucket: numericN }));
add('rollout with an object id is a type mismatch', 'rollout-full', { attributes: { id: { nested: 1 } } }, E('TYPE_MISMATCH'));
add('rollout with a boolean id is a type mismatch', 'rollout-full', { attributes: { id: true } }, E('TYPE_MISMATCH'));
add('rollout with an array id is a type mismatch, with the caller default', 'rollout-full', { attributes: { id: ['a'] } }, E('TYPE_MISMATCH', 'fallback'), { options: { defaultValue: 'fallback' } });
{
  const [[a, na]] = idsWhere('rollout-fallback', 2, (n) => n <= 0.5, 1, 'anon-');
  add('rollout uses the fallback attribute when the hash attribute is missing', 'rollout-fallback', { attributes: { anonymousId: a } }, S(true, 'on', 'ramp', { bucket: na }));
  const [[u, nu]] = idsWhere('rollout-fallback', 2, (n) => n <= 0.5, 1, 'login-');
  add('rollout prefers the hash attribute over the fallback', 'rollout-fallback', { attributes: { userId: u, anonymousId: 'whatever' } }, S(true, 'on', 'ramp', { bucket: nu }));
  const [[o]] = idsWhere('rollout-fallback', 2, (n) => n > 0.5, 1, 'login-');
  add('rollout with the hash attribute outside ignores the fallback', 'rollout-fallback', { attributes: { userId: o, anonymousId: a } }, D(false, 'off'));
}
{
  const [[inId, n]] = idsWhere('rollout-targeted', 2, (n) => n <= 0.5, 1);
  add('targeted rollout: matching and inside', 'rollout-targeted', { attributes: { id: inId, country: 'DE' } }, S(true, 'on', 'ramp', { bucket: n }));
  add('targeted rollout: inside but not matching', 'rollout-targeted', { attributes: { id: inId, country: 'AT' } }, D(false, 'off'));
}
{
  const pick = (lo, hi) => idsWhere('split-3', 2, (n) => n >= lo && n < hi, 2);
  for (const [id, n] of pick(0, 0.5)) {add(`split 50/30/20: ${id} lands in the first range`, 'split-3', { attributes: { id } }, S('blue', 'blue', 'split', { bucket: n }));}
  for (const [id, n] of pick(0.5, 0.8)) {add(`split 50/30/20: ${id} lands in the second range`, 'split-3', { attributes: { id } }, S('green', 'green', 'split', { bucket: n }));}
  for (const [id, n] of pick(0.8, 1)) {add(`split 50/30/20: ${id} lands in the third range`, 'split-3', { attributes: { id } }, S('red', 'red', 'split', { bucket: n }));}
  const eq = idsWhere('split-bad-sum', 2, (n) => n >= 2 / 3, 1);
  add('split weights not adding up to 1 fall back to equal weights', 'split-bad-sum', { attributes: { id: eq[0][0] } }, S('red', 'red', 'split', { bucket: eq[0][1] }));
  add('split without a hash attribute falls through to the default', 'split-3', { attributes: {} }, D('blue', 'blue'));
}

// Schedules and active windows.
{
  const low = idsWhere('scheduled-ramp', 2, (n) => n <= 0.1, 1)[0];
  const mid = idsWhere('scheduled-ramp', 2, (n) => n > 0.1 && n <= 0.5, 1)[0];
  const high = idsWhere('scheduled-ramp', 2, (n) => n > 0.5, 1)[0];
  const at = (iso) => T(iso);
  add('scheduled ramp before the first step covers nobody', 'scheduled-ramp', { attributes: { id: low[0] }, now: at('2026-01-09T23:59:59Z') }, D(false, 'off'));
  add('scheduled ramp step 1 (10%) covers a low bucket', 'scheduled-ramp', { attributes: { id: low[0] }, now: at('2026-01-10T00:00:00Z') }, S(true, 'on', 'ramp', { bucket: low[1] }));
  add('scheduled ramp step 1 (10%) excludes a middle bucket', 'scheduled-ramp', { attributes: { id: mid[0] }, now: at('2026-01-15T00:00:00Z') }, D(false, 'off'));
  add('scheduled ramp step 2 (50%) covers a middle bucket', 'scheduled-ramp', { attributes: { id: mid[0] }, now: at('2026-01-20T00:00:00Z') }, S(true, 'on', 'ramp', { bucket: mid[1] }));
  add('scheduled ramp step 2 (50%) excludes a high bucket', 'scheduled-ramp', { attributes: { id: high[0] }, now: at('2026-01-31T23:59:59Z') }, D(false, 'off'));
  add('scheduled ramp step 3 (100%) covers everyone', 'scheduled-ramp', { attributes: { id: high[0] }, now: at('2026-02-01T00:00:00Z') }, S(true, 'on', 'ramp', { bucket: high[1] }));
  add('scheduled ramp stays at the last step', 'scheduled-ramp', { attributes: { id: high[0] }, now: at('2030-01-01T00:00:00Z') }, S(true, 'on', 'ramp', { bucket: high[1] }));
  add('active window: before start', 'launch-window', { attributes: {}, now: at('2026-11-26T23:59:59.999Z') }, D(false, 'off'));
  add('active window: start is inclusive', 'launch-window', { attributes: {}, now: at('2026-11-27T00:00:00Z') }, M(true, 'on', 'sale'));
  add('active window: inside', 'launch-window', { attributes: {}, now: at('2026-11-28T12:00:00Z') }, M(true, 'on', 'sale'));
  add('active window: end is exclusive', 'launch-window', { attributes: {}, now: at('2026-11-30T00:00:00Z') }, D(false, 'off'));
}

// Prerequisites.
add('prerequisite met: child serves its default', 'child', { attributes: { country: 'US' } }, D('green', 'green'));
add('prerequisite not met: child serves its off variation', 'child', { attributes: { country: 'KP' } }, { value: 'blue', variationKey: 'blue', reason: 'PREREQUISITE_FAILED', prerequisite: 'parent' });
add('prerequisite chain of three met', 'grandchild', { attributes: { country: 'US' } }, D(true, 'on'));
add('prerequisite chain fails at the root', 'grandchild', { attributes: { country: 'KP' } }, { value: false, variationKey: 'off', reason: 'PREREQUISITE_FAILED', prerequisite: 'child' });
add('prerequisite on a disabled flag fails', 'child-of-off', { attributes: {} }, { value: false, variationKey: 'off', reason: 'PREREQUISITE_FAILED', prerequisite: 'parent-off' });
add('prerequisite on a missing flag fails safely', 'child-of-missing', { attributes: {} }, { value: false, variationKey: 'off', reason: 'PREREQUISITE_FAILED', prerequisite: 'deleted-flag' });
add('prerequisite on a flag that cannot be evaluated fails safely', 'child-of-broken', { attributes: { email: 'x' } }, { value: false, variationKey: 'off', reason: 'PREREQUISITE_FAILED', prerequisite: 'bad-regex' });
add('prerequisite whose evaluation errors on this context fails safely', 'child-of-mismatch', { attributes: { id: { nested: 1 } } }, { value: false, variationKey: 'off', reason: 'PREREQUISITE_FAILED', prerequisite: 'rollout-full' });
add('prerequisite cycle is an error', 'cycle-a', { attributes: {} }, E('PREREQUISITE_CYCLE'));
add('prerequisite cycle is an error for every member', 'cycle-b', { attributes: {} }, E('PREREQUISITE_CYCLE', false), { options: { defaultValue: false } });

// Experiments.
const inExp = (key, variationKey, more = {}) => ({ key, variationKey, inExperiment: true, ...more });
{
  for (const [id, n] of idsWhere('exp-ab', 2, (n) => n < 0.5, 2)) {add(`experiment 50/50: ${id} gets control`, 'checkout-exp', { attributes: { id } }, S('old', 'old', 'exp', { bucket: n, experiment: inExp('exp-ab', 'control', { bucket: n }) }));}
  for (const [id, n] of idsWhere('exp-ab', 2, (n) => n >= 0.5, 2)) {add(`experiment 50/50: ${id} gets treatment`, 'checkout-exp', { attributes: { id } }, S('new', 'new', 'exp', { bucket: n, experiment: inExp('exp-ab', 'treatment', { bucket: n }) }));}
  add('experiment without a hash attribute falls through to the default', 'checkout-exp', { attributes: {} }, D('old', 'old'));
  const gap = idsWhere('exp-half', 2, (n) => (n >= 0.25 && n < 0.5) || n >= 0.75, 2);
  for (const [id] of gap) {add(`experiment at 50% coverage: ${id} hashes into a gap and falls through`, 'half-exp', { attributes: { id } }, M(false, 'off', 'rest'));}
  const inside = idsWhere('exp-half', 2, (n) => n >= 0.5 && n < 0.75, 1);
  for (const [id, n] of inside) {add(`experiment at 50% coverage: ${id} is in treatment`, 'half-exp', { attributes: { id } }, S(true, 'on', 'exp', { bucket: n, experiment: inExp('exp-half', 'treatment') }));}
  for (const [lo, hi, key] of [[0, 0.2, 'blue'], [0.2, 0.5, 'green'], [0.5, 1, 'red']]) {
    const [[id, n]] = idsWhere('exp-abc', 1, (x) => x >= lo && x < hi, 1);
    add(`experiment 20/30/50 with hash v1: ${id} gets ${key}`, 'abc-exp', { attributes: { id } }, S(key, key, 'exp', { bucket: n }));
  }
  const nsIn = idsWhere('__checkout-layer', 1, (n) => n < 0.5, 1)[0][0];
  const nsOut = idsWhere('__checkout-layer', 1, (n) => n >= 0.5, 1)[0][0];
  const nsBucket = hash('exp-ns', nsIn, 2);
  add('namespace: unit inside the range is bucketed', 'ns-exp', { attributes: { id: nsIn } }, S(nsBucket >= 0.5, nsBucket < 0.5 ? 'off' : 'on', 'exp', { bucket: nsBucket, experiment: inExp('exp-ns', nsBucket < 0.5 ? 'control' : 'treatment') }));
  add('namespace: unit outside the range falls through', 'ns-exp', { attributes: { id: nsOut } }, D(false, 'off'));
  const held = idsWhere('__holdout__global', 2, (n) => n < 0.5, 1)[0][0];
  const free = idsWhere('__holdout__global', 2, (n) => n >= 0.5, 1)[0][0];
  const fb = hash('exp-holdout', free, 2);
  add('holdout: held-out unit falls through to the default', 'holdout-exp', { attributes: { id: held } }, D(false, 'off'));
  add('holdout: other units are bucketed', 'holdout-exp', { attributes: { id: free } }, S(fb >= 0.5, fb >= 0.5 ? 'on' : 'off', 'exp', { bucket: fb }));
  // The holdout test is `hash < coverage`: a unit hashing exactly onto the coverage is not held out.
  const edge = idsWhere('__holdout__global', 2, (n) => n === 0.5, 1)[0][0];
  const eb = hash('exp-holdout', edge, 2);
  add(`holdout: ${edge}, whose holdout hash equals the coverage (0.5), is not held out and is bucketed`, 'holdout-exp', { attributes: { id: edge } }, S(eb >= 0.5, eb >= 0.5 ? 'on' : 'off', 'exp', { bucket: eb, experiment: inExp('exp-holdout', eb >= 0.5 ? 'treatment' : 'control', { bucket: eb }) }));
  const cb = hash('exp-cond', 'user-7', 2);
  add("experiment's own condition: matching unit is bucketed", 'cond-exp', { attributes: { id: 'user-7', plan: 'pro' } }, S(cb >= 0.5, cb >= 0.5 ? 'on' : 'off', 'exp', { bucket: cb }));
  add("experiment's own condition: other units fall through", 'cond-exp', { attributes: { id: 'user-7', plan: 'free' } }, D(false, 'off'));
  const tb = hash('exp-ab', 'user-9', 2);
  add('rule condition gates the experiment: matching', 'targeted-exp', { attributes: { id: 'user-9', country: 'US' } }, S(tb >= 0.5, tb >= 0.5 ? 'on' : 'off', 'exp', { bucket: tb }));
  add('rule condition gates the experiment: not matching', 'targeted-exp', { attributes: { id: 'user-9', country: 'MX' } }, D(false, 'off'));
  add('released winner is served to everyone, untracked', 'winner-exp', { attributes: { id: 'anyone' } }, S(true, 'on', 'exp', { experiment: { key: 'exp-winner', variationKey: 'treatment', inExperiment: false, forced: true } }));
  add('released winner is served even without an id', 'winner-exp', { attributes: {} }, S(true, 'on', 'exp'));
  const compB = hash('exp-company', 'acme', 2);
  add('experiment hashed by company id', 'company-exp', { attributes: { id: 'u1', companyId: 'acme' } }, S(compB >= 0.5, compB >= 0.5 ? 'on' : 'off', 'exp', { bucket: compB, experiment: { key: 'exp-company', variationKey: compB >= 0.5 ? 'treatment' : 'control', inExperiment: true, hashAttribute: 'companyId', hashValue: 'acme' } }));
  const compF = hash('exp-company', 'u1', 2);
  add('experiment falls back to the user id without a company', 'company-exp', { attributes: { id: 'u1' } }, S(compF >= 0.5, compF >= 0.5 ? 'on' : 'off', 'exp', { bucket: compF, experiment: { key: 'exp-company', variationKey: compF >= 0.5 ? 'treatment' : 'control', inExperiment: true, hashAttribute: 'id', hashValue: 'u1' } }));
}

// Forced variations and QA overrides.
{
  const [[cid, cb]] = idsWhere('exp-ab', 2, (n) => n < 0.5, 1);
  const forced = (key, variationKey) => ({ key, variationKey, inExperiment: false, forced: true });
  add('forced variation by key overrides bucketing', 'checkout-exp', { attributes: { id: cid }, forcedVariations: { 'exp-ab': 'treatment' } }, S('new', 'new', 'exp', { experiment: forced('exp-ab', 'treatment') }));
  add('forced variation by index', 'checkout-exp', { attributes: { id: cid }, forcedVariations: { 'exp-ab': 1 } }, S('new', 'new', 'exp', { experiment: forced('exp-ab', 'treatment') }));
  add('forced variation works without an id', 'checkout-exp', { attributes: {}, forcedVariations: { 'exp-ab': 'control' } }, S('old', 'old', 'exp', { experiment: forced('exp-ab', 'control') }));
  add('unknown forced variation is ignored', 'checkout-exp', { attributes: { id: cid }, forcedVariations: { 'exp-ab': 'purple' } }, S('old', 'old', 'exp', { bucket: cb, experiment: inExp('exp-ab', 'control', { bucket: cb }) }));
  add('out-of-range forced index is ignored', 'checkout-exp', { attributes: { id: cid }, forcedVariations: { 'exp-ab': 7 } }, S('old', 'old', 'exp', { bucket: cb, experiment: inExp('exp-ab', 'control', { bucket: cb }) }));
  add('QA override in the URL by variation key', 'checkout-exp', { attributes: { id: cid }, url: 'https://shop.example/cart?utm=x&xp_exp-ab=treatment' }, S('new', 'new', 'exp', { experiment: forced('exp-ab', 'treatment') }));
  add('QA override in the URL by index', 'checkout-exp', { attributes: { id: cid }, url: 'https://shop.example/cart?xp_exp-ab=1#top' }, S('new', 'new', 'exp', { experiment: forced('exp-ab', 'treatment') }));
  add('QA override beats a forced variation in the context', 'checkout-exp', { attributes: { id: cid }, url: '/cart?xp_exp-ab=control', forcedVariations: { 'exp-ab': 'treatment' } }, S('old', 'old', 'exp', { experiment: forced('exp-ab', 'control') }));
  add('QA override with an unknown value is ignored', 'checkout-exp', { attributes: { id: cid }, url: '/cart?xp_exp-ab=2' }, S('old', 'old', 'exp', { bucket: cb, experiment: inExp('exp-ab', 'control', { bucket: cb }) }));
  add('QA override for another experiment is ignored', 'checkout-exp', { attributes: { id: cid }, url: '/cart?xp_exp-other=1' }, S('old', 'old', 'exp', { bucket: cb, experiment: inExp('exp-ab', 'control', { bucket: cb }) }));
  add('QA override in the fragment only is ignored', 'checkout-exp', { attributes: { id: cid }, url: '/cart#xp_exp-ab=1' }, S('old', 'old', 'exp', { bucket: cb, experiment: inExp('exp-ab', 'control', { bucket: cb }) }));
  const lb = hash('exp-locked', cid, 2);
  add('QA override is refused when the experiment disallows it', 'locked-exp', { attributes: { id: cid }, url: '/?xp_exp-locked=treatment' }, S(lb >= 0.5, lb >= 0.5 ? 'on' : 'off', 'exp', { bucket: lb }));
}

// Sticky bucketing.
{
  const [[sid, sn]] = idsWhere('exp-sticky', 2, (n) => n < 0.5, 1);
  add('sticky: no stored assignment buckets normally and saves it', 'sticky-exp', { attributes: { id: sid }, stickyAssignments: {} }, S(false, 'off', 'exp', { bucket: sn, experiment: inExp('exp-sticky', 'control') }), { expectedStickyAssignments: { [`id||${sid}`]: { 'exp-sticky__2': 'control' } } });
  add('sticky: a stored assignment wins over the hash', 'sticky-exp', { attributes: { id: sid }, stickyAssignments: { [`id||${sid}`]: { 'exp-sticky__2': 'treatment' } } }, S(true, 'on', 'exp', { experiment: inExp('exp-sticky', 'treatment', { sticky: true }) }));
  add('sticky: an assignment from an old bucket version blocks the unit', 'sticky-exp', { attributes: { id: sid }, stickyAssignments: { [`id||${sid}`]: { 'exp-sticky__0': 'treatment' } } }, D(false, 'off'));
  add('sticky: an assignment from another experiment is ignored', 'sticky-exp', { attributes: { id: sid }, stickyAssignments: { [`id||${sid}`]: { 'exp-other__2': 'treatment' } } }, S(false, 'off', 'exp', { bucket: sn }), { expectedStickyAssignments: { [`id||${sid}`]: { 'exp-other__2': 'treatment', 'exp-sticky__2': 'control' } } });
  add('sticky: a stored unknown variation is re-bucketed', 'sticky-exp', { attributes: { id: sid }, stickyAssignments: { [`id||${sid}`]: { 'exp-sticky__2': 'gone' } } }, S(false, 'off', 'exp', { bucket: sn }));
}

// Bad input.
add('unknown flag gives FLAG_NOT_FOUND and null', 'no-such-flag', { attributes: {} }, { value: null, variationKey: null, reason: 'FLAG_NOT_FOUND', errorCode: 'FLAG_NOT_FOUND' });
add("unknown flag gives the caller's default", 'no-such-flag', { attributes: {} }, { value: 'dflt', variationKey: null, reason: 'FLAG_NOT_FOUND', errorCode: 'FLAG_NOT_FOUND' }, { options: { defaultValue: 'dflt' } });
add('unknown operator is an error, never a guess', 'bad-operator', { attributes: { age: 1 } }, E('INVALID_RULE', false), { options: { defaultValue: false } });
add('invalid regex is an error', 'bad-regex', { attributes: { email: 'x' } }, E('INVALID_RULE'));
add('$in with a non-array is an error', 'bad-in', { attributes: { country: 'US' } }, E('INVALID_RULE'));
add('default index out of range is a parse error', 'bad-index', {}, E('PARSE_ERROR'));
add('rule variation index out of range is a parse error', 'bad-rule-index', {}, E('PARSE_ERROR'));
add('split weights of the wrong length are a parse error', 'bad-weights-length', { attributes: { id: 'u' } }, E('PARSE_ERROR'));
add('experiment rule naming a missing experiment is an error', 'bad-experiment', { attributes: { id: 'u' } }, E('INVALID_RULE'));
add('experiment rule mapping the wrong number of variations is a parse error', 'bad-mapping', { attributes: { id: 'u' } }, E('PARSE_ERROR'));
add('malformed flag entry is a parse error', 'bad-shape', {}, E('PARSE_ERROR'));
add('unknown key in a flag entry is a parse error', 'bad-unknown-key', {}, E('PARSE_ERROR'));
add('unknown rule type is a parse error', 'bad-rule-type', {}, E('PARSE_ERROR'));
add('a broken flag does not affect its neighbours', 'static-on', {}, D(true, 'on'));
add('attributes that are an array are an invalid context', 'static-on', { attributes: ['id', 'u'] }, E('INVALID_CONTEXT'));
add('attributes that are a string are an invalid context', 'static-on', { attributes: 'u1' }, E('INVALID_CONTEXT'));
add('attributes that are null are an invalid context', 'static-on', { attributes: null }, E('INVALID_CONTEXT'));
cases.push({ name: 'context that is not an object is invalid', ruleset: 'main', flag: 'static-on', context: 'user-1', expected: E('INVALID_CONTEXT') });
for (const [name, rs] of [
  ['ruleset that is a string', 'not a ruleset'],
  ['ruleset that is null', null],
  ['ruleset that is an array', []],
  ['ruleset with an unsupported schema version', { ...main, schemaVersion: 99 }],
  ['ruleset without flags', { schemaVersion: 1, environment: 'production', version: 1 }],
  ['ruleset with flags as an array', { schemaVersion: 1, environment: 'production', version: 1, flags: [] }],
  ['ruleset with a negative version', { ...main, version: -1 }],
  ['ruleset with an unknown top-level key', { ...main, extra: true }],
]) {
  cases.push({ name: `${name} is a parse error with the caller's default`, rulesetInline: rs, flag: 'static-on', context: {}, options: { defaultValue: 'safe' }, expected: E('PARSE_ERROR', 'safe') });
}

// Differential-fuzzer findings: each case once disagreed between the engines. Their flags join `main`
// (fresh maps, so the malformed rulesets above, spread from `main`, keep theirs).
{
  main.flags = { ...main.flags };
  main.experiments = { ...main.experiments };
  main.holdouts = { ...main.holdouts };
  const ramp = (more) => ({ id: 'ramp', type: 'rollout', variation: 1, coverage: 1, seed: 's', hashVersion: 2, ...more });
  const exp = (more) => ({ seed: 'e', hashVersion: 2, coverage: 1, weights: [0.5, 0.5], variations: [{ key: 'control' }, { key: 'treatment' }], ...more });
  const expFlag = (experiment) => ({ variations: bool, default: 0, off: 0, rules: [{ id: 'exp', type: 'experiment', experiment, variations: [0, 1] }] });
  // Only the attributes' own properties are read: an attribute named after an Object member is missing.
  const members = ['constructor', 'toString', '__proto__', 'hasOwnProperty'];
  for (const attr of members) {
    main.flags[`rollout-by-${attr.replaceAll('_', '')}`] = { variations: bool, default: 0, off: 0, rules: [ramp({ hashAttribute: attr })] };
  }
  main.flags['rollout-fallback-valueof'] = { variations: bool, default: 0, off: 0, rules: [ramp({ hashAttribute: 'userId', fallbackAttribute: 'valueOf' })] };
  main.experiments['exp-by-constructor'] = exp({ hashAttribute: 'constructor' });
  main.experiments['exp-by-constructor-fallback'] = exp({ hashAttribute: 'constructor', fallbackAttribute: 'id' });
  main.holdouts['by-tostring'] = { hashAttribute: 'toString', seed: 'h', coverage: 1 };
  main.experiments['exp-holdout-by-tostring'] = exp({ hashAttribute: 'id', holdout: 'by-tostring' });
  for (const key of ['exp-by-constructor', 'exp-by-constructor-fallback', 'exp-holdout-by-tostring']) {
    main.flags[key.replace('exp-', 'flag-')] = expFlag(key);
  }
  main.flags['early-window'] = { variations: bool, default: 0, off: 0, rules: [{ id: 'early', type: 'force', variation: 1, from: 0, until: 2000 }] };

  for (const attr of members) {
    add(`hash attribute "${attr}" absent from the attributes skips the rollout`, `rollout-by-${attr.replaceAll('_', '')}`, { attributes: { id: 'u' } }, D(false, 'off'));
  }
  add('fallback attribute "valueOf" absent from the attributes skips the rollout', 'rollout-fallback-valueof', { attributes: { id: 'u' } }, D(false, 'off'));
  add('experiment hash attribute "constructor" absent from the attributes assigns nobody', 'flag-by-constructor', { attributes: { id: 'u' } }, D(false, 'off'));
  const eb = hash('e', 'u', 2);
  const bucketed = (more = {}) => S(eb >= 0.5, eb >= 0.5 ? 'on' : 'off', 'exp', { bucket: eb, experiment: inExp(more.key, eb >= 0.5 ? 'treatment' : 'control', { bucket: eb, ...more }) });
  add('experiment hash attribute "constructor" absent from the attributes falls back to the id', 'flag-by-constructor-fallback', { attributes: { id: 'u' } }, bucketed({ key: 'exp-by-constructor-fallback', hashAttribute: 'id', hashValue: 'u' }));
  add('holdout hash attribute "toString" absent from the attributes holds nobody out', 'flag-holdout-by-tostring', { attributes: { id: 'u' } }, bucketed({ key: 'exp-holdout-by-tostring' }));
  // The query string is everything after the first '?': in `??xp_<key>=…` the parameter is named `?xp_<key>`.
  const [[cid, cb]] = idsWhere('exp-ab', 2, (n) => n < 0.5, 1);
  add('QA override after a doubled question mark is another parameter', 'checkout-exp', { attributes: { id: cid }, url: 'https://shop.example/cart??xp_exp-ab=treatment' }, S('old', 'old', 'exp', { bucket: cb, experiment: inExp('exp-ab', 'control', { bucket: cb }) }));
  // A `now` that is not a finite number is ignored: the wall clock (long after 1970-01-01T00:00:02Z) decides.
  for (const [label, now] of [['the string "1000"', '1000'], ['true', true], ['[1]', [1]], ['an ISO string', '1970-01-01T00:00:01Z']]) {
    add(`now given as ${label} is ignored for the wall clock`, 'early-window', { attributes: {}, now }, D(false, 'off'));
  }
}

// Prerequisites on a parent that is off or failing its own prerequisites fail, even where the parent's
// off variation is the required one (as LaunchDarkly and GrowthBook do); and a dotted hash attribute
// is a path, read as conditions read theirs.
{
  main.flags['parent-off-on'] = { on: false, variations: bool, default: 0, off: 1 };
  main.flags['child-of-off-on'] = { variations: bool, default: 1, off: 0, prerequisites: [{ flag: 'parent-off-on', variation: 'on' }] };
  main.flags['gated-parent'] = { variations: bool, default: 1, off: 1, prerequisites: [{ flag: 'parent', variation: 'on' }] };
  main.flags['child-of-gated'] = { variations: bool, default: 1, off: 0, prerequisites: [{ flag: 'gated-parent', variation: 'on' }] };
  const P = (prerequisite) => ({ value: false, variationKey: 'off', reason: 'PREREQUISITE_FAILED', prerequisite });
  add('prerequisite on a disabled flag fails even when its off variation is the required one', 'child-of-off-on', { attributes: {} }, P('parent-off-on'));
  add('prerequisite on a flag whose own prerequisite fails fails, even when its off variation is the required one', 'child-of-gated', { attributes: { country: 'KP' } }, P('gated-parent'));
  add('prerequisite on a flag whose own prerequisite passes is met', 'child-of-gated', { attributes: { country: 'US' } }, D(true, 'on'));

  const ramp = (more) => ({ id: 'ramp', type: 'rollout', variation: 1, coverage: 1, hashVersion: 2, ...more });
  main.flags['rollout-by-org'] = { variations: bool, default: 0, off: 0, rules: [ramp({ hashAttribute: 'organization.key', seed: 'rollout-by-org' })] };
  main.flags['rollout-by-org-constructor'] = { variations: bool, default: 0, off: 0, rules: [ramp({ hashAttribute: 'organization.constructor', seed: 'rollout-by-org' })] };
  main.flags['rollout-by-first-team'] = { variations: bool, default: 0, off: 0, rules: [ramp({ hashAttribute: 'teams.0', seed: 'rollout-by-org' })] };
  main.flags['rollout-by-user-or-device'] = { variations: bool, default: 0, off: 0, rules: [ramp({ hashAttribute: 'user.id', fallbackAttribute: 'device.id', seed: 'rollout-by-org' })] };
  main.flags['split-by-org'] = { variations: colors, default: 0, off: 0, rules: [{ id: 'split', type: 'split', weights: [0.5, 0.3, 0.2], hashAttribute: 'organization.key', seed: 'split-by-org', hashVersion: 2 }] };
  const on = (id) => S(true, 'on', 'ramp', { bucket: hash('rollout-by-org', id, 2) });
  add('rollout on a dotted hash attribute buckets the nested value', 'rollout-by-org', { attributes: { organization: { key: 'org-1' } } }, on('org-1'));
  add('rollout on a dotted hash attribute buckets a nested number as its string', 'rollout-by-org', { attributes: { organization: { key: 42 } } }, on('42'));
  add('rollout on a dotted hash attribute skips a unit without the nested value', 'rollout-by-org', { attributes: { organization: {} } }, D(false, 'off'));
  add('rollout on a dotted hash attribute skips a unit whose parent is a string', 'rollout-by-org', { attributes: { organization: 'org-1' } }, D(false, 'off'));
  add('rollout on a dotted hash attribute does not read a top-level attribute named with the dot', 'rollout-by-org', { attributes: { 'organization.key': 'org-1' } }, D(false, 'off'));
  add('rollout on a dotted hash attribute with a nested object is a type mismatch', 'rollout-by-org', { attributes: { organization: { key: { id: 1 } } } }, E('TYPE_MISMATCH'));
  add('rollout on a dotted hash attribute reads only own properties', 'rollout-by-org-constructor', { attributes: { organization: { key: 'org-1' } } }, D(false, 'off'));
  add('rollout on a dotted hash attribute steps into an array by index', 'rollout-by-first-team', { attributes: { teams: ['team-a', 'team-b'] } }, on('team-a'));
  add('rollout on a dotted hash attribute falls back to a dotted fallback attribute', 'rollout-by-user-or-device', { attributes: { user: {}, device: { id: 'dev-1' } } }, on('dev-1'));
  add('rollout on a dotted hash attribute prefers it over the dotted fallback', 'rollout-by-user-or-device', { attributes: { user: { id: 'u-1' }, device: { id: 'dev-1' } } }, on('u-1'));
  const sb = hash('split-by-org', 'org-1', 2);
  const sk = sb < 0.5 ? 'blue' : sb < 0.8 ? 'green' : 'red';
  add('split on a dotted hash attribute buckets the nested value', 'split-by-org', { attributes: { organization: { key: 'org-1' } } }, S(sk, sk, 'split', { bucket: sb }));
  add('split on a dotted hash attribute skips a unit without it', 'split-by-org', { attributes: { 'organization.key': 'org-1' } }, D('blue', 'blue'));

  const exp = (seed, more) => ({ hashAttribute: 'organization.key', seed, hashVersion: 2, coverage: 1, weights: [0.5, 0.5], variations: [{ key: 'control' }, { key: 'treatment' }], ...more });
  const expFlag = (experiment) => ({ variations: bool, default: 0, off: 0, rules: [{ id: 'exp', type: 'experiment', experiment, variations: [0, 1] }] });
  main.holdouts['by-org'] = { hashAttribute: 'organization.key', seed: '__holdout__by-org', coverage: 0.5 };
  main.experiments['exp-org'] = exp('exp-org', { fallbackAttribute: 'id' });
  main.experiments['exp-org-sticky'] = exp('exp-org-sticky', { sticky: { bucketVersion: 1, minBucketVersion: 0 } });
  main.experiments['exp-org-ns'] = exp('exp-org-ns', { namespace: ['org-layer', 0, 0.5] });
  main.experiments['exp-org-holdout'] = exp('exp-org-holdout', { holdout: 'by-org' });
  for (const key of ['exp-org', 'exp-org-sticky', 'exp-org-ns', 'exp-org-holdout']) {
    main.flags[key.replace('exp-', 'flag-')] = expFlag(key);
  }
  const assigned = (key, value, more = {}) => {
    const b = hash(key, value, 2);
    const v = b < 0.5 ? 'control' : 'treatment';
    return S(b >= 0.5, b >= 0.5 ? 'on' : 'off', 'exp', { bucket: b, experiment: { key, variationKey: v, inExperiment: true, hashAttribute: 'organization.key', hashValue: value, bucket: b, ...more } });
  };
  add('experiment on a dotted hash attribute buckets the nested value', 'flag-org', { attributes: { id: 'u1', organization: { key: 'org-1' } } }, assigned('exp-org', 'org-1'));
  const fb = hash('exp-org', 'u1', 2);
  add('experiment on a dotted hash attribute falls back to the id without it', 'flag-org', { attributes: { id: 'u1', organization: {} } }, S(fb >= 0.5, fb >= 0.5 ? 'on' : 'off', 'exp', { bucket: fb, experiment: { key: 'exp-org', inExperiment: true, hashAttribute: 'id', hashValue: 'u1' } }));
  const stickyControl = hash('exp-org-sticky', 'org-1', 2) < 0.5 ? 'control' : 'treatment';
  add('sticky assignments of an experiment on a dotted hash attribute are keyed by its name and the nested value', 'flag-org-sticky', { attributes: { organization: { key: 'org-1' } }, stickyAssignments: {} }, assigned('exp-org-sticky', 'org-1'), { expectedStickyAssignments: { 'organization.key||org-1': { 'exp-org-sticky__1': stickyControl } } });
  const kept = stickyControl === 'control' ? 'treatment' : 'control';
  add('a stored sticky assignment under a dotted hash attribute is used', 'flag-org-sticky', { attributes: { organization: { key: 'org-1' } }, stickyAssignments: { 'organization.key||org-1': { 'exp-org-sticky__1': kept } } }, S(kept === 'treatment', kept === 'treatment' ? 'on' : 'off', 'exp', { experiment: { key: 'exp-org-sticky', variationKey: kept, sticky: true, hashAttribute: 'organization.key', hashValue: 'org-1' } }));
  const [[nsIn]] = idsWhere('__org-layer', 1, (n) => n < 0.5, 1, 'org-');
  const [[nsOut]] = idsWhere('__org-layer', 1, (n) => n >= 0.5, 1, 'org-');
  add('namespace of an experiment on a dotted hash attribute takes the nested value: inside', 'flag-org-ns', { attributes: { id: nsOut, organization: { key: nsIn } } }, assigned('exp-org-ns', nsIn));
  add('namespace of an experiment on a dotted hash attribute takes the nested value: outside', 'flag-org-ns', { attributes: { id: nsIn, organization: { key: nsOut } } }, D(false, 'off'));
  const [[held]] = idsWhere('__holdout__by-org', 2, (n) => n < 0.5, 1, 'org-');
  const [[free]] = idsWhere('__holdout__by-org', 2, (n) => n >= 0.5, 1, 'org-');
  add('holdout on a dotted hash attribute holds out by the nested value', 'flag-org-holdout', { attributes: { organization: { key: held } } }, D(false, 'off'));
  add('holdout on a dotted hash attribute lets other nested values through', 'flag-org-holdout', { attributes: { organization: { key: free } } }, assigned('exp-org-holdout', free));
}

const flagDoc = {
  description:
    'evaluateFlag(ruleset, flagKey, context, options): rule order, force/rollout/split/experiment rules, prerequisites, schedules and active windows, namespaces, holdouts, forced variations and QA URL overrides, sticky bucketing, and bad input. A case names a ruleset from `rulesets` (or gives `rulesetInline`). `context.now` is epoch milliseconds. `context.stickyAssignments` maps "<hashAttribute>||<hashValue>" to stored assignments; `expectedStickyAssignments` is the store after evaluation. Only the fields listed in `expected` are compared, except that `errorCode`, `ruleId`, `bucket` and `prerequisite` must be absent when not listed; `expected.experiment` is compared as a subset.',
  rulesets: { main },
  cases,
};
out('evaluate-flag.json', flagDoc);

// Standalone experiments and split-URL.
const ecases = [];
const eadd = (name, experiment, context, expected, extra = {}) => ecases.push({ name, ruleset: 'main', experiment, context, ...extra, expected });
for (const [id, n] of idsWhere('exp-ab', 2, () => true, 6)) {
  const i = n < 0.5 ? 0 : 1;
  eadd(`getVariant assigns ${id} (bucket ${n})`, 'exp-ab', { attributes: { id } }, { inExperiment: true, variationIndex: i, variationKey: i ? 'treatment' : 'control', value: i ? 't' : 'c', bucket: n });
}
eadd('not running experiment', 'exp-gone', { attributes: { id: 'u' } }, { inExperiment: false, variationIndex: -1, variationKey: null, skipReason: 'NOT_RUNNING' });
eadd('no hash attribute', 'exp-ab', { attributes: {} }, { inExperiment: false, variationIndex: -1, variationKey: null, skipReason: 'NO_HASH_ATTRIBUTE' });
eadd('outside coverage', 'exp-half', { attributes: { id: idsWhere('exp-half', 2, (n) => n >= 0.25 && n < 0.5, 1)[0][0] } }, { inExperiment: false, variationIndex: -1, variationKey: null, skipReason: 'COVERAGE' });
eadd('condition not met', 'exp-cond', { attributes: { id: 'u', plan: 'free' } }, { inExperiment: false, variationIndex: -1, variationKey: null, skipReason: 'CONDITION' });
eadd('outside namespace', 'exp-ns', { attributes: { id: idsWhere('__checkout-layer', 1, (n) => n >= 0.5, 1)[0][0] } }, { inExperiment: false, variationIndex: -1, variationKey: null, skipReason: 'NAMESPACE' });
eadd('held out', 'exp-holdout', { attributes: { id: idsWhere('__holdout__global', 2, (n) => n < 0.5, 1)[0][0] } }, { inExperiment: false, variationIndex: -1, variationKey: null, skipReason: 'HOLDOUT' });
eadd('sticky blocked', 'exp-sticky', { attributes: { id: 'u' }, stickyAssignments: { 'id||u': { 'exp-sticky__0': 'control' } } }, { inExperiment: false, variationIndex: -1, variationKey: null, skipReason: 'STICKY_BLOCKED' });
eadd('forced is not in the experiment', 'exp-ab', { attributes: { id: 'u' }, forcedVariations: { 'exp-ab': 'treatment' } }, { inExperiment: false, variationIndex: 1, variationKey: 'treatment', forced: true });
eadd('type mismatch on the hash attribute', 'exp-ab', { attributes: { id: { a: 1 } } }, { inExperiment: false, variationIndex: -1, variationKey: null, errorCode: 'TYPE_MISMATCH' });
{
  const lin = idsWhere('landing', 2, (n) => n < 0.4, 1)[0];
  const lnew = idsWhere('landing', 2, (n) => n >= 0.5 && n < 0.9, 1)[0];
  const lout = idsWhere('landing', 2, (n) => n >= 0.9, 1)[0];
  eadd('split-URL: original variation URL', 'landing', { attributes: { id: lin[0] } }, { inExperiment: true, variationKey: 'original', url: 'https://example.com/landing', bucket: lin[1] }, { splitUrl: true });
  eadd('split-URL: new variation URL', 'landing', { attributes: { id: lnew[0] } }, { inExperiment: true, variationKey: 'new', url: 'https://example.com/landing-v2', bucket: lnew[1] }, { splitUrl: true });
  eadd('split-URL: outside coverage keeps the original URL', 'landing', { attributes: { id: lout[0] } }, { inExperiment: false, variationKey: null, url: 'https://example.com/landing', skipReason: 'COVERAGE' }, { splitUrl: true });
  eadd('split-URL: QA override', 'landing', { attributes: { id: lin[0] }, url: 'https://example.com/landing?xp_landing=new' }, { inExperiment: false, variationKey: 'new', url: 'https://example.com/landing-v2', forced: true }, { splitUrl: true });
  eadd('split-URL: unknown experiment has no URL', 'nope', { attributes: { id: 'u' } }, { inExperiment: false, variationKey: null, skipReason: 'NOT_RUNNING' }, { splitUrl: true });
}
{
  const b = hash('exp-org', 'org-1', 2);
  eadd('getVariant on a dotted hash attribute buckets the nested value', 'exp-org', { attributes: { id: 'u1', organization: { key: 'org-1' } } }, { inExperiment: true, variationIndex: b < 0.5 ? 0 : 1, variationKey: b < 0.5 ? 'control' : 'treatment', hashAttribute: 'organization.key', hashValue: 'org-1', bucket: b });
}
out('experiments.json', {
  description:
    'evaluateExperiment(ruleset, experimentKey, context) — getVariant for standalone experiments — and, for cases with `splitUrl: true`, resolveSplitUrl (a unit outside the experiment gets the first variation\'s URL). Rulesets are those of evaluate-flag.json (`ruleset: "main"`). Only the fields listed in `expected` are compared.',
  cases: ecases,
});
console.log(`evaluate-flag.json: ${cases.length} cases; experiments.json: ${ecases.length} cases`);
