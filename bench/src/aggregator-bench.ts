/**
 * Aggregator throughput: Kinesis-shaped records (JSON bytes) through `processBatch` into the
 * PostgreSQL aggregates — validation, dedupe, first exposures, stored events, per-unit metric
 * totals, one transaction per batch — against the ceiling: the same records decoded and bulk-inserted
 * (`INSERT … SELECT FROM unnest(…)`, the COPY equivalent without pg-copy-streams) into an unindexed
 * table. Both run one batch at a time, as one shard's consumer does, in a throwaway database on the
 * real server.
 */
import { performance } from 'node:perf_hooks';
import { pipeline } from '@xp/cloud';
import type { PipelineEvent } from '@xp/shared';
import { seededRandom } from '@xp/shared';
import { formatTable } from './harness.js';
import { withThrowawayDatabase } from './throwaway-db.js';

const TARGET_RATIO = 0.5;
const PROJECT = 'bench-project';
const ENV = 'production';
const T0 = Date.UTC(2024, 0, 1);
const DAY = 86_400_000;

export interface AggregatorBenchOptions {
  /** Events per side. Default 100,000 (quick: 3,000). */
  readonly events?: number;
  /** Records per batch (a GetRecords page / Lambda batch). Default 1,000. */
  readonly batchSize?: number;
  /** Server to create the throwaway database on. Default XP_BENCH_PG_URL, XP_TEST_PG_URL or local postgres. */
  readonly adminUrl?: string;
  readonly quick?: boolean;
  readonly print?: (line: string) => void;
}

export interface AggregatorBenchResult {
  readonly events: number;
  readonly batchSize: number;
  readonly aggregatorEventsPerSec: number;
  readonly ceilingEventsPerSec: number;
  readonly ratio: number;
  /** Rows the aggregator left, as a sanity check that it did the work. */
  readonly exposures: number;
  readonly totalsRows: number;
}

interface BenchRecord {
  readonly data: Uint8Array;
  readonly sequenceNumber: string;
  readonly shardId: string;
  readonly partitionKey: string;
}

/** A realistic mix: every unit exposed to one experiment, half to a second; ~4 tracked events each. */
function generate(count: number, seed: number): BenchRecord[] {
  const random = seededRandom(seed);
  const events: PipelineEvent[] = [];
  const base = { v: 1 as const, projectId: PROJECT, environment: ENV };
  for (let u = 0; events.length < count; u++) {
    const unitId = `unit-${u}`;
    const exposedAt = T0 + Math.floor(random() * 7 * DAY);
    const id = (): string => `e${events.length.toString(36).padStart(8, '0')}`;
    events.push({ ...base, receivedAt: exposedAt, occurredAt: exposedAt, event: { id: id(), type: 'exposure', unitId, timestamp: exposedAt, experiment: 'exp-a', variation: random() < 0.5 ? 'control' : 'treatment' } });
    if (random() < 0.5) {
      events.push({ ...base, receivedAt: exposedAt, occurredAt: exposedAt, event: { id: id(), type: 'exposure', unitId, timestamp: exposedAt, experiment: 'exp-b', variation: random() < 0.5 ? 'v1' : 'v2' } });
    }
    const tracked = Math.floor(random() * 8);
    for (let k = 0; k < tracked; k++) {
      const at = exposedAt + Math.floor((random() * 20 - 6) * DAY);
      const name = random() < 0.4 ? 'purchase' : random() < 0.5 ? 'session' : 'page_view';
      const props = name === 'purchase' ? { properties: { amount: Math.floor(random() * 20_000) / 100 } } : {};
      events.push({ ...base, receivedAt: at, occurredAt: at, event: { id: id(), type: 'track', unitId, timestamp: at, name, ...props } });
    }
  }
  events.length = count;
  for (let i = events.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [events[i], events[j]] = [events[j]!, events[i]!];
  }
  const encoder = new TextEncoder();
  return events.map((e, i) => ({
    data: encoder.encode(JSON.stringify(e)),
    sequenceNumber: String(i + 1).padStart(20, '0'),
    shardId: 'shardId-000000000000',
    partitionKey: e.event.unitId,
  }));
}

async function seed(db: pipeline.Database): Promise<void> {
  await db.query(`INSERT INTO organizations (id, name) VALUES ('bench-org', 'Bench')`);
  await db.query(`INSERT INTO projects (id, org_id, key, name) VALUES ($1, 'bench-org', $1, $1)`, [PROJECT]);
  const metrics = [
    { key: 'purchased', name: 'Purchased', type: 'conversion', event: 'purchase' },
    { key: 'purchases', name: 'Purchases', type: 'count', event: 'purchase' },
    { key: 'revenue', name: 'Revenue', type: 'sum', event: 'purchase', property: 'amount' },
    { key: 'revenue-48h', name: 'Revenue 48 h', type: 'sum', event: 'purchase', property: 'amount', windowHours: 48 },
    { key: 'revenue-per-session', name: 'Revenue per session', type: 'ratio', numerator: { event: 'purchase', aggregation: 'sum', property: 'amount' }, denominator: { event: 'session', aggregation: 'count' } },
    { key: 'page-views', name: 'Page views', type: 'count', event: 'page_view', guardrail: true },
  ];
  for (const m of metrics) {
    await db.query('INSERT INTO metrics (project_id, key, name, definition) VALUES ($1, $2, $3, $4)', [PROJECT, m.key, m.name, JSON.stringify(m)]);
  }
  const experiments = {
    'exp-a': { primary: ['purchased', 'revenue'], secondary: ['purchases', 'revenue-per-session', 'revenue-48h'], guardrails: [] },
    'exp-b': { primary: ['purchases'], secondary: ['revenue'], guardrails: [] },
  };
  for (const [key, m] of Object.entries(experiments)) {
    await db.query(`INSERT INTO experiments (project_id, key, name, definition, status) VALUES ($1, $2, $2, $3, 'running')`, [PROJECT, key, JSON.stringify({ key, metrics: m })]);
  }
  await db.query(`CREATE TABLE bench_raw_events (
    project_id text, environment text, type text, event_id text, unit_id text, name text, variation text,
    occurred_at timestamptz, value numeric, properties jsonb)`);
}

const RAW_INSERT = `INSERT INTO bench_raw_events
  SELECT project_id, environment, type, event_id, unit_id, name, variation, 'epoch'::timestamptz + interval '1 millisecond' * occurred_ms, value, properties
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::numeric[], $10::jsonb[])
    AS t(project_id, environment, type, event_id, unit_id, name, variation, occurred_ms, value, properties)`;

/** The ceiling: decode each record and bulk-insert it as a row, no validation, no indexes. */
async function insertRaw(db: pipeline.Database, records: readonly BenchRecord[]): Promise<void> {
  const decoder = new TextDecoder();
  const events = records.map((r) => JSON.parse(decoder.decode(r.data)) as PipelineEvent);
  await db.query(RAW_INSERT, [
    events.map((e) => e.projectId),
    events.map((e) => e.environment),
    events.map((e) => e.event.type),
    events.map((e) => e.event.id),
    events.map((e) => e.event.unitId),
    events.map((e) => (e.event.type === 'track' ? e.event.name : e.event.experiment)),
    events.map((e) => (e.event.type === 'exposure' ? e.event.variation : null)),
    events.map((e) => e.occurredAt),
    events.map((e) => (e.event.type === 'track' && e.event.value !== undefined ? String(e.event.value) : null)),
    events.map((e) => (e.event.type === 'track' && e.event.properties !== undefined ? JSON.stringify(e.event.properties) : null)),
  ]);
}

/**
 * XP_BENCH_PROFILE=1: time every statement the aggregator's transactions run, keyed by the
 * statement's length and start (statements that share a prefix differ in length).
 */
function profileStatements(db: pipeline.Database): Map<string, number> {
  const totals = new Map<string, number>();
  const inner = db.withTransaction.bind(db);
  db.withTransaction = (fn) =>
    inner((tx) =>
      fn({
        query: async (sql, params) => {
          const started = performance.now();
          try {
            return await tx.query(sql, params);
          } finally {
            const key = `${sql.length} ${sql.replace(/\s+/g, ' ').slice(0, 80)}`;
            totals.set(key, (totals.get(key) ?? 0) + performance.now() - started);
          }
        },
      }),
    );
  return totals;
}

async function timeBatches(records: readonly BenchRecord[], batchSize: number, run: (batch: readonly BenchRecord[]) => Promise<void>): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < records.length; i += batchSize) {
    await run(records.slice(i, i + batchSize));
  }
  return (performance.now() - start) / 1000;
}

export async function runAggregatorBench(options: AggregatorBenchOptions = {}): Promise<AggregatorBenchResult> {
  const print = options.print ?? ((line: string) => {
    console.log(line);
  });
  const count = options.events ?? (options.quick === true ? 3_000 : 100_000);
  const batchSize = options.batchSize ?? 1_000;
  return withThrowawayDatabase(options.adminUrl, async (db) => {
    await seed(db);
    const warmup = generate(2 * batchSize, 7);
    const records = generate(count, 2024);
    // Warm both paths (plans, caches), then start from empty tables.
    await timeBatches(warmup, batchSize, (b) => insertRaw(db, b));
    await timeBatches(warmup, batchSize, async (b) => {
      await pipeline.processBatch(db, b);
    });
    await db.query('TRUNCATE bench_raw_events, processed_events, exposures, unit_events, unit_metric_totals, dead_letters');
    await db.query('VACUUM ANALYZE');

    const ceilingSeconds = await timeBatches(records, batchSize, (b) => insertRaw(db, b));
    const profile = process.env.XP_BENCH_PROFILE === '1' ? profileStatements(db) : undefined;
    let failures = 0;
    const aggregatorSeconds = await timeBatches(records, batchSize, async (b) => {
      const result = await pipeline.processBatch(db, b);
      failures += result.batchItemFailures.length;
    });
    if (failures > 0) {
      throw new Error(`the aggregator reported ${failures} failed records`);
    }
    for (const [statement, ms] of profile ?? []) {
      print(`${ms.toFixed(0).padStart(7)} ms  ${statement}`);
    }
    const exposures = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM exposures');
    const totals = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM unit_metric_totals');

    const aggregatorEventsPerSec = count / aggregatorSeconds;
    const ceilingEventsPerSec = count / ceilingSeconds;
    const ratio = aggregatorEventsPerSec / ceilingEventsPerSec;
    print(`\nAggregator: ${count.toLocaleString('en-US')} Kinesis records in batches of ${batchSize}, PostgreSQL (target ≥ ${TARGET_RATIO}× the bulk insert)`);
    print(
      formatTable(
        ['path', 'seconds', 'events/s', 'ratio'],
        [
          ['bulk insert, unindexed (ceiling)', ceilingSeconds.toFixed(2), Math.round(ceilingEventsPerSec).toLocaleString('en-US'), '1.00'],
          ['processBatch → aggregates', aggregatorSeconds.toFixed(2), Math.round(aggregatorEventsPerSec).toLocaleString('en-US'), ratio.toFixed(2)],
        ],
      ),
    );
    print(`${exposures.rows[0]!.n.toLocaleString('en-US')} exposures, ${totals.rows[0]!.n.toLocaleString('en-US')} per-unit metric totals; ${ratio >= TARGET_RATIO ? 'meets' : 'below'} the target`);
    return { events: count, batchSize, aggregatorEventsPerSec, ceilingEventsPerSec, ratio, exposures: exposures.rows[0]!.n, totalsRows: totals.rows[0]!.n };
  });
}
