/**
 * Subject access (GDPR article 15): everything a project holds about one unit, read from the rows an
 * erasure would delete (store/erasure.ts `unitRowsWhere`, the same WHERE clauses) and the result
 * dimension values its attributes gave (`unitDimensionValues`, the values an erasure looks at).
 * Each section is read in a stable order and bounded: MAX_EXPORT_ROWS rows per answer, with the
 * section's total and the offset of the rest.
 *
 * Some of those rows are another unit's, holding this one's id: an explorer event of another unit
 * that names it in `units`, a dead letter of another partition key whose raw record names it. The
 * erasure deletes them (they hold the id); the export gives them redacted (`redacted: true`), so
 * that the access to one unit's data does not disclose another's (GDPR article 15(4)): what
 * happened and when, and the identifiers that are this unit's, never the other unit's id,
 * identifiers, value, properties or raw record.
 */
import type { Queryable } from './db.js';
import { unitDimensionValues, unitRowsWhere } from './erasure.js';
import type { UnitTable } from './erasure.js';

/** The sections of an export, named like the erasure's counts (plus the dimension values). */
export const UNIT_EXPORT_SECTIONS = ['exposures', 'unitMetricTotals', 'unitEvents', 'explorerEvents', 'stickyAssignments', 'deadLetters', 'resultsDimensionValues'] as const;
export type UnitExportSection = (typeof UNIT_EXPORT_SECTIONS)[number];

/** Rows per section in one answer; `nextOffset` asks for the rest. */
export const MAX_EXPORT_ROWS = 10_000;

/** One section of an export: `total` rows, `items` from `offset` on. */
export interface ExportSection {
  readonly total: number;
  readonly offset: number;
  /** More rows than `items` follow: ask again with `section` and `offset=nextOffset`. */
  readonly truncated: boolean;
  readonly nextOffset?: number;
  readonly items: Record<string, unknown>[];
}

type Row = Record<string, unknown>;

const iso = (v: unknown): string | null => (v === null || v === undefined ? null : (v instanceof Date ? v : new Date(v as string)).toISOString());
/** numeric columns: strings from pg, numbers from PGlite. */
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A raw record as text when it is UTF-8 (what the events endpoint writes), else base64. */
function bytes(v: unknown): { data: string; encoding: 'utf8' | 'base64' } {
  const buffer = v instanceof Uint8Array ? v : Buffer.from(v as string);
  try {
    return { data: UTF8.decode(buffer), encoding: 'utf8' };
  } catch {
    return { data: Buffer.from(buffer).toString('base64'), encoding: 'base64' };
  }
}

/** The identifiers of `units` (attribute → id) whose value is `unitId`: the exported unit's own, in another unit's event. */
function ownIdentifiers(units: unknown, unitId: string): Record<string, string> {
  if (units === null || typeof units !== 'object' || Array.isArray(units)) {
    return {};
  }
  return Object.fromEntries(Object.entries(units as Record<string, unknown>).filter(([, v]) => v === unitId)) as Record<string, string>;
}

/**
 * Per table section: the table, its columns, a total order, and the item made of a row (`unitId`,
 * the exported unit: a row that is another unit's is redacted).
 */
const TABLE_SECTIONS: Readonly<Record<Exclude<UnitExportSection, 'resultsDimensionValues'>, { table: UnitTable; columns: string; order: string; item: (r: Row, unitId: string) => Row }>> = {
  exposures: {
    table: 'exposures',
    columns: 'environment, experiment, variation, exposed_at, first_event_id, excluded, attributes, updated_at',
    order: 'environment, experiment',
    item: (r) => ({
      environment: r.environment,
      experiment: r.experiment,
      variation: r.variation,
      exposedAt: iso(r.exposed_at),
      firstEventId: r.first_event_id,
      excluded: r.excluded,
      attributes: r.attributes ?? null,
      updatedAt: iso(r.updated_at),
    }),
  },
  unitMetricTotals: {
    table: 'unit_metric_totals',
    columns: 'environment, experiment, metric, conversion, value, pre_value, denominator, pre_denominator, updated_at',
    order: 'environment, experiment, metric',
    item: (r) => ({
      environment: r.environment,
      experiment: r.experiment,
      metric: r.metric,
      conversion: r.conversion,
      value: num(r.value),
      preValue: num(r.pre_value),
      denominator: num(r.denominator),
      preDenominator: num(r.pre_denominator),
      updatedAt: iso(r.updated_at),
    }),
  },
  unitEvents: {
    table: 'unit_events',
    columns: 'environment, event_id, name, occurred_at, value, properties',
    order: 'occurred_at, environment, event_id, name',
    item: (r) => ({ environment: r.environment, eventId: r.event_id, name: r.name, occurredAt: iso(r.occurred_at), value: num(r.value), properties: r.properties ?? null }),
  },
  explorerEvents: {
    table: 'explorer_events',
    columns: 'environment, event_id, type, unit_id, units, name, experiment, variation, flag, value, properties, occurred_at, received_at, seq',
    order: 'occurred_at, seq',
    item: (r, unitId) =>
      r.unit_id === unitId
        ? {
            environment: r.environment,
            eventId: r.event_id,
            type: r.type,
            unitId: r.unit_id,
            units: r.units ?? null,
            name: r.name,
            experiment: r.experiment,
            variation: r.variation,
            flag: r.flag,
            value: num(r.value),
            properties: r.properties ?? null,
            occurredAt: iso(r.occurred_at),
            receivedAt: iso(r.received_at),
          }
        : // Another unit's event naming this one: what happened and when, and this unit's identifiers in it only.
          {
            environment: r.environment,
            eventId: r.event_id,
            type: r.type,
            unitId: null,
            units: ownIdentifiers(r.units, unitId),
            name: r.name,
            experiment: r.experiment,
            variation: r.variation,
            flag: r.flag,
            value: null,
            properties: null,
            occurredAt: iso(r.occurred_at),
            receivedAt: iso(r.received_at),
            redacted: true,
          },
  },
  stickyAssignments: {
    table: 'sticky_assignments',
    columns: 'unit_key, assignments, updated_at',
    order: 'unit_key',
    item: (r) => ({ unitKey: r.unit_key, assignments: r.assignments, updatedAt: iso(r.updated_at) }),
  },
  deadLetters: {
    table: 'dead_letters',
    columns: 'id, shard_id, sequence_number, partition_key, data, reason, created_at',
    order: 'id',
    item: (r, unitId) =>
      r.partition_key === unitId
        ? {
            id: Number(r.id),
            shardId: r.shard_id,
            sequenceNumber: r.sequence_number,
            partitionKey: r.partition_key,
            ...bytes(r.data),
            reason: r.reason,
            createdAt: iso(r.created_at),
          }
        : // Another unit's record (its partition key) naming this one: where and why it was dead-lettered, not its content.
          { id: Number(r.id), shardId: r.shard_id, sequenceNumber: r.sequence_number, reason: r.reason, createdAt: iso(r.created_at), redacted: true },
  },
};

function section(total: number, offset: number, items: Row[]): ExportSection {
  const end = offset + items.length;
  return end < total ? { total, offset, truncated: true, nextOffset: end, items } : { total, offset, truncated: false, items };
}

/**
 * What the project holds about `unitId`, per section: every section from its start, or only
 * `only` from `offset`. Run it in one transaction (REPEATABLE READ on PostgreSQL) so the sections
 * and their totals agree with each other.
 */
export async function exportUnit(
  tx: Queryable,
  projectId: string,
  unitId: string,
  options: { readonly only?: UnitExportSection | undefined; readonly offset?: number | undefined; readonly limit?: number } = {},
): Promise<Partial<Record<UnitExportSection, ExportSection>>> {
  const ids = [unitId];
  const offset = options.offset ?? 0;
  const limit = options.limit ?? MAX_EXPORT_ROWS;
  const out: Partial<Record<UnitExportSection, ExportSection>> = {};
  for (const name of UNIT_EXPORT_SECTIONS) {
    if (options.only !== undefined && options.only !== name) {
      continue;
    }
    if (name === 'resultsDimensionValues') {
      const values = await unitDimensionValues(tx, projectId, ids);
      const held = await tx.query<{ experiment: string; dimension: string; value: unknown }>(
        `SELECT v.experiment, v.dimension, v.dimension_value AS value
         FROM results_dimension_values v
         JOIN (SELECT DISTINCT * FROM unnest($2::text[], $3::text[], $4::jsonb[]) AS p(experiment, dimension, dimension_value)) p
           ON v.experiment = p.experiment AND v.dimension = p.dimension AND v.dimension_value = p.dimension_value
         WHERE v.project_id = $1
         ORDER BY v.experiment, v.dimension, v.dimension_value::text`,
        [projectId, values.map((v) => v.experiment), values.map((v) => v.dimension), values.map((v) => v.value)],
      );
      out[name] = section(held.rows.length, offset, held.rows.slice(offset, offset + limit).map((r) => ({ experiment: r.experiment, dimension: r.dimension, value: r.value })));
      continue;
    }
    const spec = TABLE_SECTIONS[name];
    const { where, params } = unitRowsWhere(spec.table, projectId, ids);
    const total = Number((await tx.query<{ n: number | string }>(`SELECT count(*) AS n FROM ${spec.table} WHERE ${where}`, params)).rows[0]!.n);
    const rows =
      offset >= total
        ? []
        : (
            await tx.query<Row>(`SELECT ${spec.columns} FROM ${spec.table} WHERE ${where} ORDER BY ${spec.order} LIMIT $${params.length + 1} OFFSET $${params.length + 2}`, [
              ...params,
              limit,
              offset,
            ])
          ).rows;
    out[name] = section(total, offset, rows.map((r) => spec.item(r, unitId)));
  }
  return out;
}
