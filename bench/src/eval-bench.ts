import { GrowthBookClient } from '@growthbook/growthbook';
import type { ConditionInterface, FeatureDefinition, UserContext } from '@growthbook/growthbook';
import { evaluateFlag } from '@xp/shared';
import type { EvaluationContext, Ruleset } from '@xp/shared';
import type { Measurement, Operation } from './harness.js';
import { bytesPerOp, createRandom, formatTable, measure } from './harness.js';

/**
 * Flag evaluation, xp against GrowthBook's JS SDK, in one process on equivalent definitions.
 * Every scenario is first checked for agreement (same value for every generated user), then timed.
 */

export interface EvalBenchOptions {
  /** Tiny budgets for tests: the agreement check is complete, the timings are not meaningful. */
  readonly quick?: boolean;
}

/** A user for whom the two engines returned different values. */
export interface Mismatch {
  readonly user: number;
  readonly flag: string;
  readonly xp: unknown;
  readonly gb: unknown;
}

export interface Agreement {
  /** Users evaluated on both sides. */
  readonly checked: number;
  readonly mismatchCount: number;
  /** The first few mismatches. */
  readonly mismatches: readonly Mismatch[];
  /** Distinct values served, so a scenario that serves one value to everyone is visible. */
  readonly distinctValues: number;
}

export interface EvalBenchRow {
  readonly scenario: string;
  /** Regex scenarios are exempt from the p99 target. */
  readonly regex: boolean;
  readonly xp: Measurement;
  readonly gb: Measurement;
  /** xp ops/s divided by GrowthBook ops/s. */
  readonly ratio: number;
  /** Undefined unless the process runs with --expose-gc. */
  readonly xpBytesPerEval: number | undefined;
  readonly gbBytesPerEval: number | undefined;
  readonly agreement: Agreement;
  readonly meetsRatio: boolean;
  /** Undefined for regex scenarios, which the p99 target does not cover. */
  readonly meetsP99: boolean | undefined;
}

export const TARGET_RATIO = 3;
export const TARGET_P99_MICROS = 5;
const USER_COUNT = 10_000;
const FLAG_COUNT = 1_000;
const MAX_REPORTED_MISMATCHES = 10;

const COUNTRIES = ['US', 'US', 'US', 'CA', 'GB', 'DE', 'FR', 'IN', 'BR', 'JP', 'AU', 'MX'] as const;
const DOMAINS = ['acme.com', 'example.com', 'acme.com', 'gmail.com', 'corp.io', 'example.com'] as const;
const PLANS = ['free', 'pro', 'pro', 'enterprise'] as const;
const BROWSERS = ['chrome', 'chrome', 'firefox', 'safari', 'edge'] as const;
const DEVICES = ['desktop', 'mobile', 'mobile', 'tablet'] as const;
const TAGS = ['beta', 'vip', 'new', 'churn-risk'] as const;

/** Varied attributes, some missing, with nested objects and arrays for dotted paths and $elemMatch. */
type BenchUser = Record<string, unknown>;

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

function generateUsers(count: number, seed: number): BenchUser[] {
  const rand = createRandom(seed);
  const users: BenchUser[] = [];
  for (let n = 0; n < count; n++) {
    const user: BenchUser = {
      id: `u${n}-${Math.floor(rand() * 0xffffffff).toString(16)}`,
      country: pick(rand, COUNTRIES),
      email: `user${Math.floor(rand() * 1e6)}@${pick(rand, DOMAINS)}`,
      browser: pick(rand, BROWSERS),
      device: { type: pick(rand, DEVICES) },
      age: 13 + Math.floor(rand() * 60),
      loggedIn: rand() < 0.85,
      score: Math.floor(rand() * 100),
      tags: TAGS.filter(() => rand() < 0.45),
    };
    if (rand() < 0.95) {
      const prefix = rand() < 0.1 ? 'v' : '';
      const suffix = rand() < 0.1 ? '-rc.1' : '';
      user.appVersion = `${prefix}${1 + Math.floor(rand() * 3)}.${Math.floor(rand() * 12)}.${Math.floor(rand() * 20)}${suffix}`;
    }
    if (rand() < 0.97) {
      user.company = { plan: pick(rand, PLANS), size: Math.floor(rand() * 5000) };
    }
    users.push(user);
  }
  return users;
}

/** One flag defined for both engines. */
interface FlagPair {
  readonly key: string;
  readonly xp: Record<string, unknown>;
  readonly gb: FeatureDefinition;
  /** Experiments the xp flag references. */
  readonly experiments?: Record<string, Record<string, unknown>>;
}

function variations(values: readonly unknown[]): { key: string; value: unknown }[] {
  return values.map((value, i) => ({ key: `v${i}`, value }));
}

function staticFlag(key: string, value: unknown): FlagPair {
  return { key, xp: { variations: variations([value]), default: 0, off: 0 }, gb: { defaultValue: value } };
}

function forceFlag(key: string, condition: Record<string, unknown>, fallback: unknown, forced: unknown): FlagPair {
  return {
    key,
    xp: { variations: variations([fallback, forced]), default: 0, off: 0, rules: [{ id: 'r', type: 'force', condition, variation: 1 }] },
    gb: { defaultValue: fallback, rules: [{ id: 'r', condition: condition as ConditionInterface, force: forced }] },
  };
}

function rolloutFlag(key: string, coverage: number, hashVersion: 1 | 2): FlagPair {
  return {
    key,
    xp: {
      variations: variations([false, true]),
      default: 0,
      off: 0,
      rules: [{ id: 'r', type: 'rollout', hashAttribute: 'id', seed: key, hashVersion, coverage, variation: 1 }],
    },
    gb: { defaultValue: false, rules: [{ id: 'r', force: true, coverage, hashAttribute: 'id', seed: key, hashVersion }] },
  };
}

function experimentFlag(key: string, namespace: readonly [string, number, number], coverage: number, weights: readonly number[]): FlagPair {
  const values = weights.map((_, i) => `${key}-${i}`);
  const experiment = {
    hashAttribute: 'id',
    seed: key,
    hashVersion: 2,
    coverage,
    weights: [...weights],
    variations: values.map((_, i) => ({ key: `v${i}` })),
    namespace: [...namespace],
  };
  return {
    key,
    xp: {
      variations: variations(['default', ...values]),
      default: 0,
      off: 0,
      rules: [{ id: 'r', type: 'experiment', experiment: key, variations: values.map((_, i) => i + 1) }],
    },
    gb: {
      defaultValue: 'default',
      rules: [
        {
          id: 'r',
          key,
          seed: key,
          hashVersion: 2,
          hashAttribute: 'id',
          coverage,
          weights: [...weights],
          variations: values,
          // eslint-disable-next-line @typescript-eslint/no-deprecated -- the field whose semantics xp's namespace reproduces
          namespace: [...namespace],
          meta: values.map((_, i) => ({ key: `v${i}` })),
        },
      ],
    },
    experiments: { [key]: experiment },
  };
}

/** Ten top-level conditions: $regex, $vgte, $in, $elemMatch, $or, dotted paths, ranges, $exists. */
const TEN_CONDITIONS: Record<string, unknown> = {
  loggedIn: true,
  country: { $in: ['US', 'CA', 'GB', 'DE', 'FR'] },
  email: { $regex: '@(acme|example)\\.com$' },
  appVersion: { $vgte: '1.4.0' },
  'company.plan': { $in: ['pro', 'enterprise'] },
  tags: { $elemMatch: { $in: ['beta', 'vip'] } },
  $or: [{ browser: 'chrome' }, { 'device.type': 'mobile' }],
  age: { $gte: 18, $lt: 70 },
  score: { $gt: 10 },
  'company.size': { $exists: true },
};

/** A deterministic mix of every non-regex flag shape. */
function mixedFlags(count: number): FlagPair[] {
  const rand = createRandom(1_000);
  const flags: FlagPair[] = [];
  for (let i = 0; i < count; i++) {
    const key = `flag-${String(i).padStart(4, '0')}`;
    switch (i % 5) {
      case 0:
        flags.push(staticFlag(key, rand() < 0.5));
        break;
      case 1:
        flags.push(forceFlag(key, { country: pick(rand, COUNTRIES) }, 'off', 'on'));
        break;
      case 2:
        flags.push(rolloutFlag(key, Math.round(rand() * 100) / 100, rand() < 0.5 ? 1 : 2));
        break;
      case 3: {
        const start = Math.floor(rand() * 5) / 10;
        flags.push(experimentFlag(key, [`ns-${i % 7}`, start, start + 0.5], 0.5 + Math.floor(rand() * 6) / 10, [0.5, 0.5]));
        break;
      }
      default:
        flags.push(
          forceFlag(key, { 'company.plan': pick(rand, PLANS), age: { $gte: 18 + (i % 20) }, tags: { $in: [pick(rand, TAGS)] } }, 0, 1 + (i % 9)),
        );
    }
  }
  return flags;
}

/** Both engines loaded with the same flags; the ruleset is compiled by its first evaluation. */
interface Engines {
  readonly ruleset: Ruleset;
  readonly client: GrowthBookClient<Record<string, unknown>>;
}

function load(flags: readonly FlagPair[]): Engines {
  const xpFlags: Record<string, unknown> = {};
  const xpExperiments: Record<string, unknown> = {};
  const features: Record<string, FeatureDefinition> = {};
  for (const f of flags) {
    xpFlags[f.key] = f.xp;
    Object.assign(xpExperiments, f.experiments);
    features[f.key] = f.gb;
  }
  const ruleset = { schemaVersion: 1, environment: 'bench', version: 1, flags: xpFlags, experiments: xpExperiments } as unknown as Ruleset;
  // No tracking callback, event logger, sticky buckets or debug logging: neither side pays for I/O.
  const client = new GrowthBookClient<Record<string, unknown>>({ debug: false }).initSync({ payload: { features }, streaming: false });
  return { ruleset, client };
}

interface Scenario {
  readonly name: string;
  readonly regex: boolean;
  /** The flag evaluated for the i-th user. */
  readonly flagAt: (i: number) => string;
  readonly xp: Operation;
  readonly gb: Operation;
}

function scenario(name: string, regex: boolean, engines: Engines, flagAt: (i: number) => string, users: readonly BenchUser[]): Scenario {
  // Contexts are built once per user on both sides, as a server builds one per request.
  const xpContexts: EvaluationContext[] = users.map((attributes) => ({ attributes }));
  const gbContexts: UserContext[] = users.map((attributes) => ({ attributes }));
  const { ruleset, client } = engines;
  return {
    name,
    regex,
    flagAt,
    xp: (i) => evaluateFlag(ruleset, flagAt(i), xpContexts[i]).value,
    gb: (i) => client.evalFeature(flagAt(i), gbContexts[i]!).value,
  };
}

function buildScenarios(users: readonly BenchUser[]): Scenario[] {
  const small = load([
    staticFlag('static', true),
    forceFlag('one-condition', { country: 'US' }, 'blue', 'green'),
    forceFlag('ten-conditions', TEN_CONDITIONS, 'control', 'variant'),
    rolloutFlag('rollout-20', 0.2, 2),
    experimentFlag('checkout-experiment', ['checkout-layer', 0.2, 0.8], 0.8, [0.5, 0.25, 0.25]),
  ]);
  const mixed = mixedFlags(FLAG_COUNT);
  const large = load(mixed);
  const rand = createRandom(7);
  const keys = mixed.map((f) => f.key);
  const flagSequence = users.map(() => keys[Math.floor(rand() * keys.length)]!);
  const fixed = (key: string) => (): string => key;
  return [
    scenario('static flag', false, small, fixed('static'), users),
    scenario('one-condition targeting', false, small, fixed('one-condition'), users),
    scenario('ten-condition targeting (regex)', true, small, fixed('ten-conditions'), users),
    scenario('percentage rollout 20%', false, small, fixed('rollout-20'), users),
    scenario('experiment in namespace', false, small, fixed('checkout-experiment'), users),
    scenario('1,000-flag ruleset, random flag', false, large, (i) => flagSequence[i]!, users),
  ];
}

/** Evaluates every user on both sides; also compiles the xp ruleset before anything is timed. */
function checkAgreement(s: Scenario, count: number): Agreement {
  const mismatches: Mismatch[] = [];
  const distinct = new Set<string>();
  let mismatchCount = 0;
  for (let i = 0; i < count; i++) {
    const xp = s.xp(i);
    const gb = s.gb(i);
    const xpJson = JSON.stringify(xp);
    distinct.add(xpJson);
    if (xpJson !== JSON.stringify(gb)) {
      mismatchCount++;
      if (mismatches.length < MAX_REPORTED_MISMATCHES) {
        mismatches.push({ user: i, flag: s.flagAt(i), xp, gb });
      }
    }
  }
  return { checked: count, mismatchCount, mismatches, distinctValues: distinct.size };
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

function micros(v: number): string {
  return v < 10 ? v.toFixed(3) : v.toFixed(1);
}

function bytes(v: number | undefined): string {
  return v === undefined ? 'n/a' : integer.format(v);
}

function verdict(row: EvalBenchRow): string {
  const misses: string[] = [];
  if (!row.meetsRatio) {
    misses.push(`ratio ${row.ratio.toFixed(2)}x < ${TARGET_RATIO}x`);
  }
  if (row.meetsP99 === false) {
    misses.push(`p99 ${micros(row.xp.p99Micros)} us >= ${TARGET_P99_MICROS} us`);
  }
  if (row.agreement.mismatchCount > 0) {
    misses.push(`${row.agreement.mismatchCount} disagreements`);
  }
  return misses.length === 0 ? 'PASS' : `MISS (${misses.join(', ')})`;
}

function printTable(rows: readonly EvalBenchRow[], quick: boolean): void {
  const headers = ['scenario', 'xp ops/s', 'GB ops/s', 'ratio xp/GB', 'xp p50 us', 'xp p99 us', 'GB p50 us', 'GB p99 us', 'xp bytes/eval', 'GB bytes/eval', 'target'];
  const cells = rows.map((r) => [
    r.scenario,
    integer.format(r.xp.opsPerSec),
    integer.format(r.gb.opsPerSec),
    `${r.ratio.toFixed(2)}x`,
    micros(r.xp.p50Micros),
    micros(r.xp.p99Micros),
    micros(r.gb.p50Micros),
    micros(r.gb.p99Micros),
    bytes(r.xpBytesPerEval),
    bytes(r.gbBytesPerEval),
    verdict(r),
  ]);
  const env = process.env.NODE_ENV ?? 'unset';
  console.log(
    `\nFlag evaluation: xp vs @growthbook/growthbook GrowthBookClient.evalFeature (NODE_ENV=${env})${quick ? ', quick: timings not meaningful' : ''}`,
  );
  console.log(formatTable(headers, cells));
  console.log(
    [
      `Targets: ratio xp/GB >= ${TARGET_RATIO}x in every scenario; xp p99 < ${TARGET_P99_MICROS} us in every non-regex scenario.`,
      'Latencies are per-call means of 32-call batches; bytes/eval needs node --expose-gc.',
      `Agreement: every scenario evaluated for ${integer.format(rows[0]?.agreement.checked ?? 0)} users on both sides before timing.`,
    ].join('\n'),
  );
}

/** Runs every scenario, prints the comparison table and returns its rows. Reports targets, never throws on them. */
export async function runEvalBench(options: EvalBenchOptions = {}): Promise<EvalBenchRow[]> {
  const quick = options.quick === true;
  const users = generateUsers(USER_COUNT, 42);
  const timing = quick ? { warmupMs: 5, budgetMs: 10 } : { warmupMs: 400, budgetMs: 1_500 };
  const rows: EvalBenchRow[] = [];
  for (const s of buildScenarios(users)) {
    const agreement = checkAgreement(s, users.length);
    const xp = measure(s.xp, users.length, timing);
    const gb = measure(s.gb, users.length, timing);
    const ratio = xp.opsPerSec / gb.opsPerSec;
    rows.push({
      scenario: s.name,
      regex: s.regex,
      xp,
      gb,
      ratio,
      xpBytesPerEval: quick ? undefined : bytesPerOp(s.xp, users.length),
      gbBytesPerEval: quick ? undefined : bytesPerOp(s.gb, users.length),
      agreement,
      meetsRatio: ratio >= TARGET_RATIO,
      meetsP99: s.regex ? undefined : xp.p99Micros < TARGET_P99_MICROS,
    });
    // Yield between scenarios so timers and pending I/O of the host process are not starved.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  printTable(rows, quick);
  return rows;
}
