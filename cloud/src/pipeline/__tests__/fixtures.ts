/**
 * Shared test fixtures for the pipeline: a project with metrics and experiments, record builders, a
 * fault-injecting database wrapper, and an independent ground-truth model of what the aggregates
 * must hold (plain JavaScript over the generated events, amounts in hundredths so it is exact).
 */
import type { EvaluationsPipelineEvent, MetricInput, PipelineEvent, PipelineRecord } from '@xp/shared';
import type { Database, Queryable } from '../../store/db.js';
import type { StreamRecord } from '../aggregate.js';
import { seededRandom } from '@xp/shared';

export const PROJECT = 'proj-1';
export const ENV = 'production';
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
/** Exposure times in tests are around here (2024-01-01T00:00:00Z). */
export const T0 = Date.UTC(2024, 0, 1);

export const METRICS: readonly MetricInput[] = [
  { key: 'purchased', name: 'Purchased', type: 'conversion', event: 'purchase' },
  { key: 'purchases', name: 'Purchases', type: 'count', event: 'purchase' },
  { key: 'revenue', name: 'Revenue', type: 'sum', event: 'purchase', property: 'amount' },
  { key: 'revenue-48h', name: 'Revenue in 48 h', type: 'sum', event: 'purchase', property: 'amount', windowHours: 48 },
  {
    key: 'revenue-per-session',
    name: 'Revenue per session',
    type: 'ratio',
    numerator: { event: 'purchase', aggregation: 'sum', property: 'amount' },
    denominator: { event: 'session', aggregation: 'count' },
  },
  { key: 'page-views', name: 'Page views', type: 'count', event: 'page_view', guardrail: true },
];

/** Experiment key → its listed metrics (page-views also applies to all, as a project guardrail). */
export const EXPERIMENTS: Readonly<Record<string, { primary: string[]; secondary: string[]; guardrails: string[] }>> = {
  'exp-a': { primary: ['purchased', 'revenue'], secondary: ['purchases', 'revenue-per-session', 'revenue-48h'], guardrails: [] },
  'exp-b': { primary: ['purchases'], secondary: [], guardrails: ['revenue'] },
};

/** Which metrics there are and which experiments list them (the seeded ones unless a test adds some). */
export interface Catalogue {
  readonly metrics: readonly MetricInput[];
  readonly experiments: Readonly<Record<string, { primary: string[]; secondary: string[]; guardrails: string[] }>>;
}

export const CATALOGUE: Catalogue = { metrics: METRICS, experiments: EXPERIMENTS };

/** Inserts the organisation, project, metrics and experiments the aggregator reads. */
export async function seedProject(db: Queryable, projectId = PROJECT): Promise<void> {
  await db.query(`INSERT INTO organizations (id, name) VALUES ('org-1', 'Org') ON CONFLICT DO NOTHING`);
  await db.query(`INSERT INTO projects (id, org_id, key, name) VALUES ($1, 'org-1', $1, $1)`, [projectId]);
  for (const m of METRICS) {
    await db.query('INSERT INTO metrics (project_id, key, name, definition) VALUES ($1, $2, $3, $4)', [projectId, m.key, m.name, JSON.stringify(m)]);
  }
  for (const [key, metrics] of Object.entries(EXPERIMENTS)) {
    await db.query(`INSERT INTO experiments (project_id, key, name, definition, status) VALUES ($1, $2, $2, $3, 'running')`, [
      projectId,
      key,
      JSON.stringify({ key, name: key, metrics }),
    ]);
  }
}

let counter = 0;
/** A fresh valid event id. */
export function nextId(prefix = 'ev'): string {
  counter++;
  return `${prefix}-${String(counter).padStart(8, '0')}`;
}

export function exposure(unitId: string, experiment: string, variation: string, at: number, id = nextId('x'), projectId = PROJECT): PipelineEvent {
  return {
    v: 1,
    projectId,
    environment: ENV,
    receivedAt: at,
    occurredAt: at,
    event: { id, type: 'exposure', unitId, timestamp: at, experiment, variation },
  };
}

export function track(unitId: string, name: string, at: number, amount?: number, id = nextId('t'), projectId = PROJECT): PipelineEvent {
  return {
    v: 1,
    projectId,
    environment: ENV,
    receivedAt: at,
    occurredAt: at,
    event: { id, type: 'track', unitId, timestamp: at, name, ...(amount === undefined ? {} : { properties: { amount } }) },
  };
}

/** Evaluation counts (flag, variation, count) over the minute before `at`. */
export function evaluations(counts: EvaluationsPipelineEvent['event']['counts'], at: number, id = nextId('n'), projectId = PROJECT): EvaluationsPipelineEvent {
  return { v: 1, projectId, environment: ENV, receivedAt: at, occurredAt: at, event: { id, type: 'evaluations', start: at - 60_000, timestamp: at, counts } };
}

let sequence = 1000;
/** A stream record carrying `payload` (an event, or raw text/bytes for poison). */
export function toRecord(payload: PipelineRecord | string | Uint8Array, shardId = 'shardId-000000000000'): StreamRecord {
  sequence++;
  const data = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload instanceof Uint8Array ? payload : new TextEncoder().encode(JSON.stringify(payload));
  const partitionKey = typeof payload === 'object' && !(payload instanceof Uint8Array) ? (payload.event.type === 'evaluations' ? payload.event.id : payload.event.unitId) : 'poison';
  return { data, sequenceNumber: String(sequence).padStart(20, '0'), shardId, partitionKey };
}

/** Called before every statement; throw from it to inject a failure. */
export type QueryHook = (sql: string, params: readonly unknown[] | undefined) => void | Promise<void>;

/** Wraps a database so `hook` sees (and may fail) every statement, inside transactions too. */
export function withHook(db: Database, hook: QueryHook): Database {
  const hooked = (q: Queryable): Queryable['query'] =>
    async function query<R>(sql: string, params?: readonly unknown[]) {
      await hook(sql, params);
      return q.query<R>(sql, params);
    };
  return {
    kind: db.kind,
    query: hooked(db),
    withTransaction: (fn) => db.withTransaction((tx) => fn({ query: hooked(tx) })),
    close: () => db.close(),
  };
}

export const prng = seededRandom;

export interface ExposureRow {
  readonly key: string;
  readonly variation: string;
  readonly exposedAt: number;
  readonly excluded: boolean;
}
/** Amounts in hundredths (counts × 100) so every comparison is between exact integers. */
export interface TotalsRow {
  readonly key: string;
  readonly value: number;
  readonly preValue: number;
  readonly denominator: number;
  readonly preDenominator: number;
}
export interface AggregateState {
  readonly exposures: ExposureRow[];
  readonly totals: TotalsRow[];
}

function byKey(a: { key: string }, b: { key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function hundredths(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n)) {
    throw new Error(`not a whole number of hundredths: ${text}`);
  }
  return n;
}

/** Reads the aggregate tables in the ground-truth format. */
export async function readState(db: Queryable): Promise<AggregateState> {
  const x = await db.query<{ key: string; variation: string; exposed_ms: string; excluded: boolean }>(
    `SELECT project_id || '/' || environment || '/' || experiment || '/' || unit_id AS key, variation,
            (extract(epoch FROM exposed_at) * 1000)::bigint::text AS exposed_ms, excluded
     FROM exposures`,
  );
  const t = await db.query<{ key: string; value: string; pre_value: string; denominator: string; pre_denominator: string }>(
    `SELECT project_id || '/' || environment || '/' || experiment || '/' || unit_id || '/' || metric AS key,
            (value * 100)::text AS value, (pre_value * 100)::text AS pre_value,
            (denominator * 100)::text AS denominator, (pre_denominator * 100)::text AS pre_denominator
     FROM unit_metric_totals`,
  );
  return {
    exposures: x.rows.map((r) => ({ key: r.key, variation: r.variation, exposedAt: Number(r.exposed_ms), excluded: r.excluded })).sort(byKey),
    totals: t.rows
      .map((r) => ({
      key: r.key,
      value: hundredths(r.value),
      preValue: hundredths(r.pre_value),
      denominator: hundredths(r.denominator),
      preDenominator: hundredths(r.pre_denominator),
      }))
      .sort(byKey),
  };
}

interface Input {
  readonly name: string;
  readonly part: 0 | 1;
  readonly sum: boolean;
  readonly property: string | undefined;
}

/** What the aggregates must be after applying each distinct event once, in any order. */
export function groundTruth(events: readonly PipelineEvent[], preWindowMs = 14 * DAY, catalogue: Catalogue = CATALOGUE): AggregateState {
  const unique = new Map<string, PipelineEvent>();
  for (const e of events) {
    const id = `${e.projectId}/${e.event.id}`;
    if (!unique.has(id)) {
      unique.set(id, e);
    }
  }
  const first = new Map<string, { at: number; id: string; variation: string; variations: Set<string>; unitKey: string; experiment: string }>();
  const tracksByUnit = new Map<string, PipelineEvent[]>();
  for (const e of unique.values()) {
    const unitKey = `${e.projectId}/${e.environment}/${e.event.unitId}`;
    if (e.event.type === 'exposure') {
      const key = `${e.projectId}/${e.environment}/${e.event.experiment}/${e.event.unitId}`;
      const prev = first.get(key);
      const earlier = prev === undefined || e.occurredAt < prev.at || (e.occurredAt === prev.at && e.event.id < prev.id);
      const variations = prev?.variations ?? new Set<string>();
      variations.add(e.event.variation);
      first.set(key, earlier ? { at: e.occurredAt, id: e.event.id, variation: e.event.variation, variations, unitKey, experiment: e.event.experiment } : { ...prev, variations });
    } else {
      const list = tracksByUnit.get(unitKey) ?? [];
      list.push(e);
      tracksByUnit.set(unitKey, list);
    }
  }
  const exposures: ExposureRow[] = [];
  const totals: TotalsRow[] = [];
  const metricsOf = (experiment: string): MetricInput[] => {
    const listed = catalogue.experiments[experiment];
    const keys = new Set([...(listed?.primary ?? []), ...(listed?.secondary ?? []), ...(listed?.guardrails ?? [])]);
    return catalogue.metrics.filter((m) => m.guardrail === true || keys.has(m.key));
  };
  for (const [key, x] of first) {
    exposures.push({ key, variation: x.variation, exposedAt: x.at, excluded: x.variations.size > 1 });
    for (const m of metricsOf(x.experiment)) {
      const inputs: Input[] =
        m.type === 'ratio'
          ? [
              { name: m.numerator!.event, part: 0, sum: m.numerator!.aggregation === 'sum', property: m.numerator!.property },
              { name: m.denominator!.event, part: 1, sum: m.denominator!.aggregation === 'sum', property: m.denominator!.property },
            ]
          : [{ name: m.event!, part: 0, sum: m.type === 'sum', property: m.property }];
      const acc = { post: [0, 0], pre: [0, 0], hits: 0 };
      for (const e of tracksByUnit.get(x.unitKey) ?? []) {
        if (e.event.type !== 'track') {
          continue;
        }
        const t = e.occurredAt;
        // The analysis window starts `delayHours` after the exposure; the pre-period ends at the
        // exposure or at that start, whichever is first; between the exposure and a later start, nothing.
        const start = x.at + (m.delayHours ?? 0) * HOUR;
        const post = t >= start && (m.windowHours === undefined || t < start + m.windowHours * HOUR);
        const pre = t >= x.at - preWindowMs && t < Math.min(x.at, start);
        if (!post && !pre) {
          continue;
        }
        for (const input of inputs) {
          if (input.name !== e.event.name) {
            continue;
          }
          acc.hits++;
          const raw = input.sum ? (input.property !== undefined ? e.event.properties?.[input.property] : undefined) : 1;
          const amount = typeof raw === 'number' ? raw : input.sum ? (e.event.value ?? 0) : 1;
          const side = post ? acc.post : acc.pre;
          const cents = Math.round(amount * 100);
          side[input.part] = m.type === 'conversion' ? 100 : side[input.part]! + cents;
        }
      }
      if (acc.hits > 0) {
        totals.push({ key: `${key}/${m.key}`, value: acc.post[0]!, preValue: acc.pre[0]!, denominator: acc.post[1]!, preDenominator: acc.pre[1]! });
      }
    }
  }
  return { exposures: exposures.sort(byKey), totals: totals.sort(byKey) };
}
