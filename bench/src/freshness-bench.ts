/**
 * Freshness: how long from `POST /sdk/v1/events` (202) until the events are visible in results, on
 * the local stack exactly as `xp start` runs it (embedded PGlite, kinesalite, the shard poller),
 * without demo traffic. Batches go out at a steady rate; each is visible once every one of its event
 * ids is in `processed_events`, which the aggregator commits in the same transaction as the
 * aggregates the results query reads. Target: p99 ≤ 5 s.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { configFromEnv, pipeline, startLocalStack } from '@xp/cloud';
import { formatTable, percentile } from './harness.js';

const LIMIT_MS = 5_000;
const EXPERIMENT = 'demo-checkout-cta';

export interface FreshnessBenchOptions {
  /** Batches sent (and measured). Default 200 (quick: 30). */
  readonly batches?: number;
  /** Users per batch; each sends an exposure and a purchase. Default 10 (20 events). */
  readonly usersPerBatch?: number;
  /** Gap between batch sends. Default 100 ms (about 200 events/s). */
  readonly intervalMs?: number;
  /** How often visibility is polled. Default 10 ms (the resolution of the figures). */
  readonly pollMs?: number;
  /** A PostgreSQL server instead of embedded PGlite. */
  readonly databaseUrl?: string;
  readonly quick?: boolean;
  readonly print?: (line: string) => void;
}

export interface FreshnessBenchResult {
  readonly batches: number;
  readonly events: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** p99 / 5 s: at most 1 meets the target. */
  readonly ratio: number;
}

interface Pending {
  readonly ids: readonly string[];
  readonly sentAt: number;
}

export async function runFreshnessBench(options: FreshnessBenchOptions = {}): Promise<FreshnessBenchResult> {
  const print = options.print ?? ((line: string) => {
    console.log(line);
  });
  const batches = options.batches ?? (options.quick === true ? 30 : 200);
  const usersPerBatch = options.usersPerBatch ?? 10;
  const intervalMs = options.intervalMs ?? 100;
  const pollMs = options.pollMs ?? 10;
  const dir = await mkdtemp(path.join(tmpdir(), 'xp-freshness-'));
  const stack = await startLocalStack(
    configFromEnv(
      { XP_DATA_DIR: dir, XP_API_PORT: '0', XP_CONSOLE_PORT: '0', XP_DEMO: '0', XP_GUARDRAIL_INTERVAL_SECONDS: '0' },
      options.databaseUrl === undefined ? {} : { databaseUrl: options.databaseUrl },
    ),
    { logger: { info: () => undefined, warn: () => undefined, error: () => undefined }, print: () => undefined },
  );
  try {
    const key = stack.boot.sdkKeys?.development?.server;
    const projectId = (await stack.deps.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'demo'")).rows[0]?.id;
    if (key === undefined || projectId === undefined) {
      throw new Error('the local stack did not bootstrap the demo project');
    }
    const run = `f${Date.now().toString(36)}`;
    const pending = new Map<number, Pending>();
    const latencies: number[] = [];
    const producer = { running: true, error: undefined as Error | undefined };

    const send = async (b: number): Promise<void> => {
      const at = Date.now();
      const events = Array.from({ length: usersPerBatch }, (_, u) => {
        const unitId = `${run}-${b}-${u}`;
        return [
          { id: `${unitId}-x`, type: 'exposure', unitId, timestamp: at, experiment: EXPERIMENT, variation: u % 2 === 0 ? 'control' : 'treatment' },
          { id: `${unitId}-p`, type: 'track', unitId, timestamp: at + 1, name: 'demo_purchase', properties: { amount: 10 } },
        ];
      }).flat();
      const sentAt = performance.now();
      const res = await fetch(`${stack.apiUrl}/sdk/v1/events`, {
        method: 'POST',
        headers: { 'X-XP-SDK-Key': key, 'content-type': 'application/json' },
        body: JSON.stringify({ events }),
      });
      await res.body?.cancel();
      if (res.status !== 202) {
        throw new Error(`POST /sdk/v1/events answered ${res.status}`);
      }
      pending.set(b, { ids: events.map((e) => e.id), sentAt });
    };

    // Warm-up: the first batch pays for plan caching and the poller's first shard iterator.
    await send(-1);
    const produced = (async () => {
      for (let b = 0; b < batches; b++) {
        const started = performance.now();
        await send(b);
        await delay(Math.max(0, intervalMs - (performance.now() - started)));
      }
    })()
      .catch((e: unknown) => {
        producer.error = e instanceof Error ? e : new Error(String(e));
      })
      .finally(() => {
        producer.running = false;
      });

    const deadline = performance.now() + batches * intervalMs + 60_000;
    while ((producer.running || pending.size > 0) && producer.error === undefined && performance.now() < deadline) {
      if (pending.size > 0) {
        const ids = [...pending.values()].flatMap((p) => p.ids);
        const seen = await stack.deps.db.query<{ event_id: string }>('SELECT event_id FROM processed_events WHERE project_id = $1 AND event_id = ANY($2::text[])', [projectId, ids]);
        const now = performance.now();
        const visible = new Set(seen.rows.map((r) => r.event_id));
        for (const [b, p] of pending) {
          if (p.ids.every((id) => visible.has(id))) {
            pending.delete(b);
            if (b >= 0) {
              latencies.push(now - p.sentAt);
            }
          }
        }
      }
      await delay(pollMs);
    }
    await produced;
    if (producer.error !== undefined) {
      throw producer.error;
    }
    if (pending.size > 0) {
      throw new Error(`${pending.size} batches were still not visible after the deadline`);
    }
    // Sanity: the results query sees every unit that was sent.
    const stats = await pipeline.querySufficientStatistics(stack.deps.db, { projectId, environment: 'development', experiment: EXPERIMENT, metrics: ['demo-purchase'] });
    const units = stats.reduce((s, r) => s + r.n, 0);
    if (units !== (batches + 1) * usersPerBatch) {
      throw new Error(`the results show ${units} units, expected ${(batches + 1) * usersPerBatch}`);
    }

    const sorted = Float64Array.from(latencies).sort();
    const p50Ms = percentile(sorted, 0.5);
    const p99Ms = percentile(sorted, 0.99);
    const maxMs = sorted[sorted.length - 1] ?? 0;
    const ratio = p99Ms / LIMIT_MS;
    const events = batches * usersPerBatch * 2;
    print(`\nFreshness: POST /sdk/v1/events → visible in results, local stack (${options.databaseUrl === undefined ? 'PGlite' : 'PostgreSQL'}, kinesalite), ${batches} batches of ${usersPerBatch * 2} events every ${intervalMs} ms (target p99 ≤ ${LIMIT_MS / 1000} s)`);
    print(
      formatTable(
        ['measure', 'ms', 'ratio to 5 s'],
        [
          ['p50', p50Ms.toFixed(0), (p50Ms / LIMIT_MS).toFixed(3)],
          ['p99', p99Ms.toFixed(0), ratio.toFixed(3)],
          ['max', maxMs.toFixed(0), (maxMs / LIMIT_MS).toFixed(3)],
        ],
      ),
    );
    print(`p99 is ${ratio.toFixed(3)}× the limit; ${ratio <= 1 ? 'meets' : 'misses'} the target`);
    return { batches, events, p50Ms, p99Ms, maxMs, ratio };
  } finally {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  }
}
