import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { GrowthBookClient } from '@growthbook/growthbook';
import type { FeatureDefinition, UserContext } from '@growthbook/growthbook';
import { OpenFeature } from '@openfeature/server-sdk';
import type { EvaluationContext as OfContext } from '@openfeature/server-sdk';
import { ExperimentationClient } from '@xp/sdk';
import type { Logger, UserContext as XpUser } from '@xp/sdk';
import { XpServerProvider } from '@xp/sdk/openfeature';
import { build } from 'esbuild';
import { Unleash } from 'unleash-client';
import type { Context as UnleashContext } from 'unleash-client';
import type { Measurement } from './harness.js';
import { createRandom, formatTable, measure } from './harness.js';

/**
 * The JavaScript SDK end to end (user normalisation, local evaluation, exposure bookkeeping)
 * against GrowthBook's SDK, the OpenFeature server SDK over xp's provider (the OpenFeature
 * overhead), and Unleash's Node SDK (offline: an in-memory repository, metrics off, no network);
 * then the browser bundle size against its target.
 */

export interface SdkJsBenchOptions {
  /** Tiny budgets for tests: the agreement checks are complete, the timings are not meaningful. */
  readonly quick?: boolean;
  readonly print?: (line: string) => void;
}

export interface ThroughputRow {
  readonly scenario: string;
  readonly xp: Measurement;
  readonly growthbook: Measurement;
  /** OpenFeature's server client is async: awaited one call at a time. */
  readonly openfeature: Measurement;
  /** Undefined when Unleash cannot express the scenario. */
  readonly unleash: Measurement | undefined;
  /** xp SDK ops/s divided by GrowthBook's. */
  readonly ratioVsGrowthbook: number;
  /** OpenFeature-over-xp ops/s divided by the bare xp SDK's. */
  readonly openfeatureShare: number;
  /** Users for whom xp and GrowthBook served different values (same hashing: must be 0). */
  readonly mismatches: number;
  /** Share of users served `true` by xp and by Unleash (Unleash hashes differently, so only the share compares). */
  readonly xpOnShare: number;
  readonly unleashOnShare: number | undefined;
}

export interface BundleRow {
  readonly entry: string;
  readonly minifiedBytes: number;
  readonly gzipBytes: number;
  /** Minified bytes by origin: the SDK's own code, @xp/shared's source, zod, other packages. */
  readonly breakdown: Readonly<Record<string, number>>;
  readonly meetsTarget: boolean;
}

/** Tracking while the events endpoint is down: the cost per event of filling the queue against that of overflowing it. */
export interface QueueRow {
  readonly maxQueueSize: number;
  readonly fillNsPerEvent: number;
  /** Each new event past the cap drops the oldest. */
  readonly overflowNsPerEvent: number;
  /** overflow / fill: about 1 when dropping costs O(1) per event. */
  readonly ratio: number;
}

export interface SdkJsBenchResult {
  readonly throughput: readonly ThroughputRow[];
  readonly bundles: readonly BundleRow[];
  readonly queue: QueueRow;
}

export const BUNDLE_TARGET_GZIP_BYTES = 15 * 1024;
const USER_COUNT = 10_000;
/** Units of the A/B test scenario: five times the exposure cache's default capacity. */
const EXPERIMENT_USER_COUNT = 50_000;
const COUNTRIES = ['US', 'US', 'CA', 'GB', 'DE', 'FR', 'IN', 'BR'] as const;

interface Users {
  readonly xp: XpUser[];
  readonly gb: UserContext[];
  readonly of: OfContext[];
  readonly unleash: UnleashContext[];
}

function generateUsers(count: number): Users {
  const rand = createRandom(42);
  const users: Users = { xp: [], gb: [], of: [], unleash: [] };
  for (let n = 0; n < count; n++) {
    const id = `u${n}-${Math.floor(rand() * 0xffffffff).toString(16)}`;
    const country = COUNTRIES[Math.floor(rand() * COUNTRIES.length)]!;
    users.xp.push({ id, attributes: { country } });
    users.gb.push({ attributes: { id, country } });
    users.of.push({ targetingKey: id, country });
    users.unleash.push({ userId: id, properties: { country } });
  }
  return users;
}

const onOff = [
  { key: 'off', value: false },
  { key: 'on', value: true },
];

const XP_RULESET = {
  schemaVersion: 1,
  environment: 'bench',
  version: 1,
  flags: {
    static: { variations: onOff, default: 1, off: 0 },
    'rollout-20': { variations: onOff, default: 0, off: 0, rules: [{ id: 'r', type: 'rollout', hashAttribute: 'id', seed: 'rollout-20', hashVersion: 2, coverage: 0.2, variation: 1 }] },
    'us-only': { variations: onOff, default: 0, off: 0, rules: [{ id: 'r', type: 'force', condition: { country: 'US' }, variation: 1 }] },
    // An A/B test: each new unit is assigned and its exposure logged once (de-duplicated), as GrowthBook's tracking callback.
    'ab-test': { variations: onOff, default: 0, off: 0, rules: [{ id: 'r', type: 'experiment', experiment: 'ab-test', variations: [0, 1] }] },
  },
  experiments: {
    'ab-test': { hashAttribute: 'id', seed: 'ab-test', hashVersion: 2, coverage: 1, weights: [0.5, 0.5], variations: [{ key: 'control' }, { key: 'treatment' }] },
  },
};

const GB_FEATURES: Record<string, FeatureDefinition> = {
  static: { defaultValue: true },
  'rollout-20': { defaultValue: false, rules: [{ id: 'r', force: true, coverage: 0.2, hashAttribute: 'id', seed: 'rollout-20', hashVersion: 2 }] },
  'us-only': { defaultValue: false, rules: [{ id: 'r', condition: { country: 'US' }, force: true }] },
  'ab-test': { defaultValue: false, rules: [{ id: 'r', key: 'ab-test', variations: [false, true], weights: [0.5, 0.5], hashAttribute: 'id', seed: 'ab-test', hashVersion: 2 }] },
};

const UNLEASH_FEATURES = [
  { name: 'static', enabled: true, strategies: [{ name: 'default', parameters: {}, constraints: [] }] },
  { name: 'rollout-20', enabled: true, strategies: [{ name: 'flexibleRollout', parameters: { rollout: '20', stickiness: 'userId', groupId: 'rollout-20' }, constraints: [] }] },
  {
    name: 'us-only',
    enabled: true,
    strategies: [{ name: 'default', parameters: {}, constraints: [{ contextName: 'country', operator: 'IN', values: ['US'], inverted: false, caseInsensitive: false }] }],
  },
];

/** Unleash's repository contract served from memory: Unleash then never opens a connection. */
class MemoryRepository extends EventEmitter {
  private readonly toggles = new Map(UNLEASH_FEATURES.map((f) => [f.name, f]));

  getToggle(name: string): unknown {
    return this.toggles.get(name);
  }

  getToggles(): unknown[] {
    return [...this.toggles.values()];
  }

  getTogglesWithSegmentData(): unknown[] {
    return this.getToggles();
  }

  getSegment(): undefined {
    return undefined;
  }

  stop(): void {
    this.removeAllListeners();
  }

  start(): Promise<void> {
    process.nextTick(() => {
      this.emit('ready');
      this.emit('synchronized');
    });
    return Promise.resolve();
  }
}

const silent: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** Throughput of an async operation awaited one call at a time (OpenFeature's server API is async). */
async function measureAsync(op: (i: number) => Promise<unknown>, cycle: number, warmupMs: number, budgetMs: number): Promise<Measurement> {
  const run = async (ms: number): Promise<{ n: number; elapsed: number; samples: number[] }> => {
    const start = performance.now();
    const samples: number[] = [];
    let n = 0;
    let last = start;
    while (last - start < ms) {
      for (let k = 0; k < 32; k++) {
        await op(n % cycle);
        n++;
      }
      const now = performance.now();
      samples.push((now - last) / 32);
      last = now;
    }
    return { n, elapsed: last - start, samples };
  };
  await run(warmupMs);
  const { n, elapsed, samples } = await run(budgetMs);
  samples.sort((a, b) => a - b);
  const at = (q: number): number => samples[Math.min(samples.length - 1, Math.max(0, Math.ceil(q * samples.length) - 1))] ?? Number.NaN;
  return { opsPerSec: (n * 1000) / elapsed, p50Micros: at(0.5) * 1000, p99Micros: at(0.99) * 1000, operations: n, samples: samples.length };
}

async function throughput(quick: boolean): Promise<ThroughputRow[]> {
  const users = generateUsers(USER_COUNT);
  // No apiUrl: the bench measures evaluation, not I/O; exposures are still de-duplicated and queued.
  const xp = new ExperimentationClient('', { bootstrap: XP_RULESET, logger: silent, maxQueueSize: 1000 });
  // GrowthBook reports each unit's first assignment to its tracking callback, as xp logs an exposure.
  const gb = new GrowthBookClient<Record<string, unknown>>({ debug: false, trackingCallback: () => undefined }).initSync({ payload: { features: GB_FEATURES }, streaming: false });
  await OpenFeature.setProviderAndWait(new XpServerProvider(new ExperimentationClient('', { bootstrap: XP_RULESET, logger: silent, maxQueueSize: 1000 })));
  const of = OpenFeature.getClient();
  const unleash = new Unleash({ appName: 'xp-bench', url: 'http://127.0.0.1:9/unused', disableMetrics: true, skipInstanceCountWarning: true, repository: new MemoryRepository() as never });
  await new Promise<void>((resolve) => {
    unleash.once('ready', () => {
      resolve();
    });
  });
  const budget = quick ? { warmupMs: 5, budgetMs: 20 } : { warmupMs: 300, budgetMs: 1500 };

  const rows: ThroughputRow[] = [];
  // The A/B test cycles through more units than the exposure cache holds (10,000 by default), as a
  // busy server sees: most calls log a new exposure and evict the least recently used one.
  const manyUsers = generateUsers(EXPERIMENT_USER_COUNT);
  for (const [scenario, key, pool, inUnleash] of [
    ['static flag', 'static', users, true],
    ['percentage rollout 20%', 'rollout-20', users, true],
    ['one-condition targeting', 'us-only', users, true],
    [`A/B test, exposure logged (${integer.format(EXPERIMENT_USER_COUNT)} units)`, 'ab-test', manyUsers, false],
  ] as const) {
    const count = pool.xp.length;
    let mismatches = 0;
    let xpOn = 0;
    let unleashOn = 0;
    for (let i = 0; i < count; i++) {
      const a = xp.isFeatureEnabled(key, pool.xp[i]!);
      mismatches += a === gb.isOn(key, pool.gb[i]!) ? 0 : 1;
      xpOn += a ? 1 : 0;
      unleashOn += inUnleash && unleash.isEnabled(key, pool.unleash[i]) ? 1 : 0;
    }
    const xpM = measure((i) => xp.isFeatureEnabled(key, pool.xp[i]!), count, budget);
    const gbM = measure((i) => gb.isOn(key, pool.gb[i]!), count, budget);
    const unM = inUnleash ? measure((i) => unleash.isEnabled(key, pool.unleash[i]), count, budget) : undefined;
    const ofM = await measureAsync((i) => of.getBooleanValue(key, false, pool.of[i]), count, budget.warmupMs, budget.budgetMs);
    rows.push({
      scenario,
      xp: xpM,
      growthbook: gbM,
      openfeature: ofM,
      unleash: unM,
      ratioVsGrowthbook: xpM.opsPerSec / gbM.opsPerSec,
      openfeatureShare: ofM.opsPerSec / xpM.opsPerSec,
      mismatches,
      xpOnShare: xpOn / count,
      unleashOnShare: inUnleash ? unleashOn / count : undefined,
    });
  }
  unleash.destroy();
  await OpenFeature.close();
  await xp.close();
  return rows;
}

function origin(path: string): string {
  if (path.includes('node_modules/zod/')) {
    return 'zod';
  }
  if (path.includes('shared/src/')) {
    return '@xp/shared';
  }
  if (path.includes('sdk/js/src/')) {
    return '@xp/sdk';
  }
  return 'other';
}

async function bundle(entry: string, contents: string, external: readonly string[] = []): Promise<BundleRow> {
  const result = await build({
    stdin: { contents, resolveDir: fileURLToPath(new URL('..', import.meta.url)), loader: 'ts' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['xp-source'],
    write: false,
    metafile: true,
    logLevel: 'silent',
    external: [...external],
  });
  const code = result.outputFiles[0]!.contents;
  const breakdown: Record<string, number> = {};
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [path, input] of Object.entries(output.inputs)) {
      const o = origin(path);
      breakdown[o] = (breakdown[o] ?? 0) + input.bytesInOutput;
    }
  }
  const gzipBytes = gzipSync(code, { level: 9 }).length;
  return { entry, minifiedBytes: code.length, gzipBytes, breakdown, meetsTarget: gzipBytes <= BUNDLE_TARGET_GZIP_BYTES };
}

const TYPICAL_PAGE =
  "import { ExperimentationClient, LocalStorageStickyBucketStore } from '@xp/sdk/browser';\n" +
  "const c = new ExperimentationClient('key', { apiUrl: 'https://xp.example', stickyBucketStore: new LocalStorageStickyBucketStore() });\n" +
  "(globalThis as Record<string, unknown>).xp = [c.isFeatureEnabled('a', 'u'), c.getVariant('e', 'u'), c.trackEvent('t', 'u')];";

function bundles(): Promise<BundleRow[]> {
  return Promise.all([
    bundle('@xp/sdk/browser, everything exported', "export * from '@xp/sdk/browser';"),
    bundle('@xp/sdk/browser, typical page (client + localStorage store)', TYPICAL_PAGE),
    // Diagnostic only: what the same page weighs without zod, which @xp/shared's evaluation imports.
    bundle('typical page with zod left out (diagnostic)', TYPICAL_PAGE, ['zod']),
  ]);
}

/** Fills the event queue to its cap with the API down, then tracks twice as many more (each dropping the oldest). */
async function queueAtCap(quick: boolean): Promise<QueueRow> {
  const maxQueueSize = quick ? 2_000 : 50_000;
  const hour = 3_600_000;
  const client = new ExperimentationClient('xpk_srv_bench', {
    apiUrl: 'http://127.0.0.1:9',
    fetch: () => Promise.reject(new Error('the API is down')),
    streaming: false,
    pollIntervalMs: hour,
    bootstrap: XP_RULESET,
    logger: silent,
    maxQueueSize,
    maxBatchSize: 500,
    flushIntervalMs: hour,
    retryBaseMs: hour,
    retryMaxMs: hour,
  });
  const track = (from: number, count: number): number => {
    const started = performance.now();
    for (let i = from; i < from + count; i++) {
      client.trackEvent('click', `u${i}`);
    }
    return ((performance.now() - started) * 1e6) / count;
  };
  const fillNsPerEvent = track(0, maxQueueSize);
  // The first full batch's send fails and its events return to the queue.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const overflowNsPerEvent = track(maxQueueSize, 2 * maxQueueSize);
  void client.close();
  return { maxQueueSize, fillNsPerEvent, overflowNsPerEvent, ratio: overflowNsPerEvent / fillNsPerEvent };
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} kB`;

export async function runSdkJsBench(options: SdkJsBenchOptions = {}): Promise<SdkJsBenchResult> {
  const print =
    options.print ??
    ((line: string): void => {
      console.log(line);
    });
  const quick = options.quick === true;
  const rows = await throughput(quick);
  print(`\nJS SDK evaluation (ops/s, one call per user, ${integer.format(USER_COUNT)} users)${quick ? ', quick: timings not meaningful' : ''}`);
  print(
    formatTable(
      ['scenario', 'xp SDK', 'GrowthBook', 'xp/GB', 'OpenFeature(xp)', 'OF/xp', 'Unleash', 'xp≠GB users', 'on: xp / Unleash'],
      rows.map((r) => [
        r.scenario,
        integer.format(r.xp.opsPerSec),
        integer.format(r.growthbook.opsPerSec),
        `${r.ratioVsGrowthbook.toFixed(2)}x`,
        integer.format(r.openfeature.opsPerSec),
        `${(r.openfeatureShare * 100).toFixed(0)}%`,
        r.unleash === undefined ? 'n/a' : integer.format(r.unleash.opsPerSec),
        String(r.mismatches),
        `${(r.xpOnShare * 100).toFixed(1)}% / ${r.unleashOnShare === undefined ? 'n/a' : `${(r.unleashOnShare * 100).toFixed(1)}%`}`,
      ]),
    ),
  );
  print('Unleash runs offline on an in-memory repository (metrics off); it hashes with murmur3, so only the served share compares.');

  const sizes = await bundles();
  print(`\nBrowser bundle (esbuild --minify, gzip -9), target ${kb(BUNDLE_TARGET_GZIP_BYTES)} gzip`);
  print(
    formatTable(
      ['entry', 'minified', 'gzip', 'target', '@xp/sdk', '@xp/shared', 'zod', 'other'],
      sizes.map((b) => [
        b.entry,
        kb(b.minifiedBytes),
        kb(b.gzipBytes),
        b.meetsTarget ? 'met' : 'MISSED',
        kb(b.breakdown['@xp/sdk'] ?? 0),
        kb(b.breakdown['@xp/shared'] ?? 0),
        kb(b.breakdown.zod ?? 0),
        kb(b.breakdown.other ?? 0),
      ]),
    ),
  );
  const queue = await queueAtCap(quick);
  print(`\nEvent queue at its cap while the API is down (maxQueueSize ${integer.format(queue.maxQueueSize)}): each event past the cap drops the oldest`);
  print(
    formatTable(
      ['phase', 'ns/event', 'ratio'],
      [
        ['filling to the cap', integer.format(queue.fillNsPerEvent), '1.00'],
        [`${integer.format(2 * queue.maxQueueSize)} more, past the cap`, integer.format(queue.overflowNsPerEvent), queue.ratio.toFixed(2)],
      ],
    ),
  );
  return { throughput: rows, bundles: sizes, queue };
}
