/**
 * The reliability test: real PostgreSQL and kinesalite, events shuffled out of order, 10%
 * duplicates, poison records, an aggregator that crashes mid-batch and is killed and replaced, and
 * PostgreSQL connections terminated during ingestion. The aggregates must equal ground truth
 * computed independently from the generated events, exactly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { PipelineEvent } from '@xp/shared';
import type { LocalService } from '../../local/aws-local.js';
import { createKinesisClient, ensureStream, startKinesalite } from '../../local/aws-local.js';
import type { Database } from '../../store/db.js';
import { DatabaseError, createPgDatabase } from '../../store/db.js';
import { postgresTarget } from '../../store/__tests__/test-databases.js';
import type { AggregateOptions, StreamRecord } from '../aggregate.js';
import { processBatch } from '../aggregate.js';
import type { Poller } from '../poller.js';
import { createPoller, kinesisShardReader } from '../poller.js';
import { querySufficientStatistics } from '../sufficient-statistics.js';
import type { AggregateState } from './fixtures.js';
import type { Catalogue } from './fixtures.js';
import { CATALOGUE, DAY, ENV, PROJECT, T0, exposure, groundTruth, prng, readState, seedProject, track, withHook } from './fixtures.js';
import { putAll, quickSleep, until } from './kinesis-helpers.js';

const STREAM = 'chaos-events';

/**
 * The seeded catalogue plus metrics with a conversion delay, listed by exp-a: one that also counts
 * the day before the exposure, one that skips the first day (retention) for two days.
 */
const DELAYED: Catalogue = {
  metrics: [
    ...CATALOGUE.metrics,
    { key: 'purchased-early', name: 'Purchased (from a day before)', type: 'conversion', event: 'purchase', delayHours: -24 },
    { key: 'sessions-retained', name: 'Sessions on days 2-3', type: 'count', event: 'session', delayHours: 24, windowHours: 48 },
    {
      key: 'revenue-per-session-late',
      name: 'Revenue per session after 12 h',
      type: 'ratio',
      numerator: { event: 'purchase', aggregation: 'sum', property: 'amount' },
      denominator: { event: 'session', aggregation: 'count' },
      delayHours: 12.5,
    },
  ],
  experiments: {
    ...CATALOGUE.experiments,
    'exp-a': { ...CATALOGUE.experiments['exp-a']!, secondary: [...CATALOGUE.experiments['exp-a']!.secondary, 'purchased-early', 'sessions-retained', 'revenue-per-session-late'] },
  },
};
const UNITS = 600;

interface Scenario {
  readonly payloads: (PipelineEvent | Uint8Array)[];
  readonly valid: PipelineEvent[];
  readonly duplicates: number;
  readonly poison: number;
}

function generate(seed: number): Scenario {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const cents = (): number => Math.floor(random() * 20_000) / 100;
  const events: PipelineEvent[] = [];
  const variations: Record<string, string[]> = { 'exp-a': ['control', 'treatment'], 'exp-b': ['v1', 'v2', 'v3'] };
  for (let u = 0; u < UNITS; u++) {
    const unit = `user-${u}`;
    let exposedAt = T0;
    for (const [experiment, share] of [
      ['exp-a', 0.9],
      ['exp-b', 0.6],
    ] as const) {
      if (random() >= share) {
        continue;
      }
      const options = variations[experiment]!;
      const variation = pick(options);
      exposedAt = T0 + Math.floor(random() * 7 * DAY);
      events.push(exposure(unit, experiment, variation, exposedAt));
      if (random() < 0.3) {
        events.push(exposure(unit, experiment, variation, exposedAt + Math.floor(random() * 3 * DAY)));
      }
      if (random() < 0.05) {
        events.push(exposure(unit, experiment, pick(options.filter((v) => v !== variation)), exposedAt + Math.floor((random() - 0.5) * DAY)));
      }
    }
    const tracked = Math.floor(random() * 9);
    for (let k = 0; k < tracked; k++) {
      const at = exposedAt + Math.floor((random() * 30 - 16) * DAY);
      const name = pick(['purchase', 'purchase', 'session', 'page_view', 'signup']);
      if (name === 'purchase' && random() < 0.2) {
        // The amount as the event's value rather than the property: sums fall back to it.
        const e = track(unit, name, at);
        events.push({ ...e, event: { ...e.event, ...(e.event.type === 'track' ? { value: cents() } : {}) } });
      } else {
        events.push(track(unit, name, at, name === 'purchase' ? cents() : undefined));
      }
    }
  }
  // Arrival order unrelated to occurrence order: tracks before exposures, late exposures, …
  for (let i = events.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [events[i], events[j]] = [events[j]!, events[i]!];
  }
  const payloads: (PipelineEvent | Uint8Array)[] = [...events];
  const duplicates = Math.round(events.length * 0.1);
  for (let d = 0; d < duplicates; d++) {
    const at = Math.floor(random() * payloads.length);
    payloads.splice(at + 1 + Math.floor(random() * (payloads.length - at)), 0, pick(events));
  }
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);
  const poisons = [
    text('{"v":1,"projectId":'),
    text('not json at all'),
    new Uint8Array([0xff, 0x00, 0xfe]),
    text(JSON.stringify({ ...events[0]!, v: 2 })),
    text(JSON.stringify({ ...events[1]!, event: { ...events[1]!.event, unitId: 'nul\u0000unit' } })),
    text(JSON.stringify({ ...events[2]!, environment: 'bad env!' })),
    text('[]'),
  ];
  const poison = 28;
  for (let p = 0; p < poison; p++) {
    payloads.splice(Math.floor(random() * payloads.length), 0, poisons[p % poisons.length]!);
  }
  return { payloads, valid: events, duplicates, poison };
}

/** Statistics per variation × metric from the ground truth, in hundredths (squares: ten-thousandths). */
function expectedStatistics(truth: AggregateState, experiment: string, metrics: readonly string[]) {
  const prefix = `${PROJECT}/${ENV}/${experiment}/`;
  const included = new Map(truth.exposures.filter((x) => x.key.startsWith(prefix) && !x.excluded).map((x) => [x.key, x.variation]));
  const rows = new Map<string, bigint[]>();
  const n = new Map<string, number>();
  for (const variation of included.values()) {
    n.set(variation, (n.get(variation) ?? 0) + 1);
  }
  for (const t of truth.totals) {
    const unitKey = t.key.slice(0, t.key.lastIndexOf('/'));
    const metric = t.key.slice(t.key.lastIndexOf('/') + 1);
    const variation = included.get(unitKey);
    if (variation === undefined) {
      continue;
    }
    const [v, p, d] = [BigInt(t.value), BigInt(t.preValue), BigInt(t.denominator)];
    const acc = rows.get(`${variation}/${metric}`) ?? [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
    const add = [v, v * v, p, p * p, v * p, d, d * d, v * d];
    rows.set(
      `${variation}/${metric}`,
      acc.map((a, i) => a + add[i]!),
    );
  }
  return [...n.keys()].sort().flatMap((variation) =>
    [...metrics].sort().map((metric) => ({ variation, metric, n: n.get(variation)!, sums: rows.get(`${variation}/${metric}`) ?? [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n] })),
  );
}

/** A decimal string times 10^digits, exactly. */
function scaled(text: string, digits: number): bigint {
  const [whole = '0', fraction = ''] = text.split('.');
  const negative = whole.startsWith('-');
  const magnitude = BigInt(whole.replace('-', '') + fraction.padEnd(digits, '0').slice(0, digits));
  if (fraction.length > digits && /[1-9]/.test(fraction.slice(digits))) {
    throw new Error(`${text} has more than ${digits} decimals`);
  }
  return negative ? -magnitude : magnitude;
}

describe('chaos: aggregator crashes, connection kills, duplicates and poison on real PostgreSQL + kinesalite', () => {
  const target = postgresTarget();
  let db: Database;
  let url: string;
  let kinesalite: LocalService;
  let kinesis: KinesisClient;
  const pollers: Poller[] = [];
  const pools: Database[] = [];

  beforeAll(async () => {
    db = await target.open();
    await seedProject(db);
    for (const m of DELAYED.metrics.filter((d) => !CATALOGUE.metrics.includes(d))) {
      await db.query('INSERT INTO metrics (project_id, key, name, definition) VALUES ($1, $2, $3, $4)', [PROJECT, m.key, m.name, JSON.stringify(m)]);
    }
    await db.query(`UPDATE experiments SET definition = $2 WHERE project_id = $1 AND key = 'exp-a'`, [PROJECT, JSON.stringify({ key: 'exp-a', name: 'exp-a', metrics: DELAYED.experiments['exp-a'] })]);
    const name = await db.query<{ name: string }>('SELECT current_database() AS name');
    const base = new URL(process.env.XP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
    base.pathname = `/${name.rows[0]!.name}`;
    url = base.toString();
    kinesalite = await startKinesalite();
    kinesis = createKinesisClient(kinesalite.endpoint);
    await ensureStream(kinesis, STREAM, 2);
  });
  afterAll(async () => {
    for (const p of pollers) {
      await p.stop();
    }
    for (const p of pools) {
      await p.close();
    }
    kinesis.destroy();
    await kinesalite.close();
    await target.dispose();
  });

  it('ends with aggregates equal to ground truth, exactly', { timeout: 120_000 }, async () => {
    const scenario = generate(20240101);
    const split = Math.floor(scenario.payloads.length * 0.6);
    const lastSequence = await putAll(kinesis, STREAM, scenario.payloads.slice(0, split));
    const reader = kinesisShardReader(kinesis);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const terminateOthers = async (): Promise<number> => {
      const out = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
      return out.rowCount ?? 0;
    };
    const processed = async (): Promise<number> => {
      const out = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM processed_events');
      return out.rows[0]!.n;
    };

    // Aggregator 1: crashes twice mid-batch (after the exposures are written, before the events are),
    // then is killed outright: every statement fails from then on, as if the process had died.
    const pool1 = createPgDatabase(url, { max: 4 });
    pools.push(pool1);
    let killed = false;
    let crashes = 0;
    let batches1 = 0;
    const crashing = async (d: Database, records: readonly StreamRecord[], options: AggregateOptions) => {
      batches1++;
      const crashThisBatch = batches1 === 3 || batches1 === 7;
      const hooked = withHook(d, (sql) => {
        if (killed) {
          throw new DatabaseError('57P01', 'aggregator process killed');
        }
        if (crashThisBatch && sql.includes('INSERT INTO unit_events')) {
          crashes++;
          throw new DatabaseError('57P01', 'aggregator crashed mid-batch');
        }
      });
      return processBatch(hooked, records, options);
    };
    const first = createPoller({ db: pool1, reader, streamName: STREAM, sleep: quickSleep, batchLimit: 100, process: crashing });
    pollers.push(first);
    first.start();
    await until(async () => (await processed()) > scenario.valid.length / 3, 'aggregator 1 to get a third of the way');
    killed = true;
    await first.stop();
    const atKill = await processed();

    // Aggregator 2: a new process with its own pool, resuming from the checkpoints, while the rest of
    // the records arrive and PostgreSQL connections are terminated under it, mid-transaction.
    const pool2 = createPgDatabase(url, { max: 4 });
    pools.push(pool2);
    let batches2 = 0;
    let terminated = 0;
    const killConnections = async (d: Database, records: readonly StreamRecord[], options: AggregateOptions) => {
      batches2++;
      const killThisBatch = batches2 % 4 === 2 && batches2 <= 14;
      let done = false;
      const hooked = withHook(d, async (sql) => {
        if (killThisBatch && !done && sql.includes('INSERT INTO exposures')) {
          done = true;
          terminated += await terminateOthers();
        }
      });
      return processBatch(hooked, records, options);
    };
    const second = createPoller({ db: pool2, reader, streamName: STREAM, sleep: quickSleep, batchLimit: 100, process: killConnections });
    pollers.push(second);
    second.start();
    for (const [shard, seq] of await putAll(kinesis, STREAM, scenario.payloads.slice(split))) {
      lastSequence.set(shard, seq);
    }
    const uniqueValid = new Set(scenario.valid.map((e) => e.event.id)).size;
    await until(async () => {
      const letters = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM dead_letters');
      const positions = await db.query<{ shard_id: string; sequence_number: string }>('SELECT shard_id, sequence_number FROM stream_checkpoints WHERE stream = $1', [
        STREAM,
      ]);
      const caughtUp = [...lastSequence].every(([shard, seq]) => positions.rows.some((r) => r.shard_id === shard && r.sequence_number === seq));
      return (await processed()) === uniqueValid && letters.rows[0]!.n === scenario.poison && caughtUp;
    }, 'aggregator 2 to catch up with the stream');
    await second.stop();
    await admin.end();

    const truth = groundTruth(scenario.valid, undefined, DELAYED);
    const state = await readState(db);
    const stats = [];
    for (const experiment of Object.keys(DELAYED.experiments)) {
      const listed = DELAYED.experiments[experiment]!;
      const metrics = [...new Set([...listed.primary, ...listed.secondary, ...listed.guardrails, ...DELAYED.metrics.filter((m) => m.guardrail === true).map((m) => m.key)])];
      const rows = await querySufficientStatistics(db, { projectId: PROJECT, environment: ENV, experiment, metrics });
      stats.push({
        actual: rows.map((r) => ({
          variation: r.variation,
          metric: r.metric,
          n: r.n,
          sums: [
            scaled(r.sum, 2),
            scaled(r.sumSquares, 4),
            scaled(r.preSum, 2),
            scaled(r.preSumSquares, 4),
            scaled(r.sumProducts, 4),
            scaled(r.denominatorSum, 2),
            scaled(r.denominatorSumSquares, 4),
            scaled(r.numeratorDenominatorProducts, 4),
          ],
        })),
        expected: expectedStatistics(truth, experiment, metrics),
      });
    }
    // The delayed conversion does count differently from its undelayed twin (purchases dated the day
    // before an exposure convert), so the comparison covers the delay.
    const valueOf = new Map(truth.totals.map((t) => [t.key, t.value]));
    const differing = (delayed: string, plain: string): number =>
      truth.totals.filter((t) => t.key.endsWith(`/${delayed}`) && t.value !== (valueOf.get(t.key.slice(0, -delayed.length) + plain) ?? 0)).length;
    const delayedDiffer = { purchasedEarly: differing('purchased-early', 'purchased') };
    const letters = await db.query<{ reason: string }>('SELECT reason FROM dead_letters');
    const figures = {
      records: scenario.payloads.length,
      uniqueEvents: uniqueValid,
      duplicatesInjected: scenario.duplicates,
      poison: scenario.poison,
      crashesMidBatch: crashes,
      processedBeforeKill: atKill,
      connectionsTerminated: terminated,
      aggregator1: first.stats(),
      aggregator2: second.stats(),
      exposures: state.exposures.length,
      excluded: state.exposures.filter((x) => x.excluded).length,
      totalsRows: state.totals.length,
      delayedDiffer,
    };
    console.log(`chaos figures: ${JSON.stringify(figures)}`);

    expect(crashes).toBe(2);
    expect(terminated).toBeGreaterThan(0);
    expect(second.stats().failedBatches).toBeGreaterThan(0);
    expect(state.exposures).toEqual(truth.exposures);
    expect(state.totals).toEqual(truth.totals);
    for (const { actual, expected } of stats) {
      expect(actual).toEqual(expected);
    }
    expect(letters.rows.every((r) => /^(payload is not|not a pipeline event|payload contains a NUL)/.test(r.reason))).toBe(true);
    expect(figures.excluded).toBeGreaterThan(0);
    expect(delayedDiffer.purchasedEarly).toBeGreaterThan(0);
  });
});
