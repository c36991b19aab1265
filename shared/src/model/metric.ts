import { z } from 'zod';
import { attributeNameSchema, keySchema, nameSchema, tagsSchema, whenFieldsValid } from './common.js';

/** How a metric aggregates a unit's events. */
export const MetricType = {
  /** Share of units with at least one event (0/1 per unit). */
  Conversion: 'conversion',
  /** Number of events per unit. */
  Count: 'count',
  /** Sum per unit of an event property (e.g. revenue), or of the events' value when no property is named. */
  Sum: 'sum',
  /** Sum of one quantity over the sum of another, across units (e.g. revenue per session). */
  Ratio: 'ratio',
} as const;
export type MetricType = (typeof MetricType)[keyof typeof MetricType];

/** The operators an event filter (`where`) may use: the targeting conditions' comparison subset. */
export const EVENT_FILTER_OPERATORS = ['$eq', '$ne', '$in', '$nin', '$gt', '$gte', '$lt', '$lte', '$exists'] as const;
export type EventFilterOperator = (typeof EVENT_FILTER_OPERATORS)[number];

const OPERATOR_LIST = EVENT_FILTER_OPERATORS.join(', ');
const PROPERTY_TEST = `a string, number or boolean (shorthand for $eq), or an object of operators (${OPERATOR_LIST})`;

const filterStringSchema = z.string().max(1000, { message: 'takes strings of at most 1000 characters' });
const filterScalarSchema = z.union([filterStringSchema, z.number(), z.boolean()], { error: 'takes a string, a number or a boolean' });
const filterListSchema = z
  .array(filterScalarSchema, { error: 'takes a list of strings, numbers or booleans' })
  .min(1, { message: 'takes at least one value' })
  .max(1000, { message: 'takes at most 1000 values' });
const filterBoundSchema = z.union([z.number(), filterStringSchema], { error: 'takes a number or a string (numbers compare with numbers, strings with strings)' });

const operatorsSchema = z
  .strictObject(
    {
      $eq: filterScalarSchema.optional(),
      $ne: filterScalarSchema.optional(),
      $in: filterListSchema.optional(),
      $nin: filterListSchema.optional(),
      $gt: filterBoundSchema.optional(),
      $gte: filterBoundSchema.optional(),
      $lt: filterBoundSchema.optional(),
      $lte: filterBoundSchema.optional(),
      $exists: z.boolean({ error: 'takes true or false' }).optional(),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys' ? `unknown operator ${issue.keys.map((k) => `"${k}"`).join(', ')}: the operators are ${OPERATOR_LIST}` : undefined,
    },
  )
  // An unknown operator is the one thing to say about `{ $regex: … }`, not also that none is named.
  .refine((o) => Object.values(o).some((v) => v !== undefined), { message: `name at least one operator (${OPERATOR_LIST})`, when: (payload) => payload.issues.length === 0 });

/**
 * One property's test: a value (shorthand for `$eq`) or operators, all of which must hold. A value of
 * neither kind, or operators one of which is wrong, get one message naming the operator, not zod's
 * "Invalid input" for each side of the union.
 */
const propertyFilterSchema = z.union([filterScalarSchema, operatorsSchema], {
  error: (issue) => {
    const input: unknown = issue.input;
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      return `${input === null ? 'null' : Array.isArray(input) ? 'a list' : `a ${typeof input}`} is not a test: give ${PROPERTY_TEST}`;
    }
    // The operators side's issues, each named by its operator.
    const operators = issue.errors[1] ?? [];
    const at = (path: readonly PropertyKey[]): string => path.map((p, k) => (typeof p === 'number' ? `[${p}]` : `${k === 0 ? '' : '.'}${String(p)}`)).join('');
    return operators.length === 0 ? `give ${PROPERTY_TEST}` : operators.map((i) => `${at(i.path)} ${i.message}`.trim()).join('; ');
  },
});

/**
 * Which of a metric's events count, by their properties: `{ plan: 'pro', amount: { $gte: 10 } }`.
 * Every property's test must hold (AND). Semantics are strict JSON (no coercion): `$eq` / `$in` match
 * a property of the same JSON type and value (numbers by value: 1 = 1.0); `$ne` / `$nin` are their
 * negations, so a missing property matches them; `$gt` … `$lte` with a number match JSON numbers only,
 * with a string JSON strings only, by Unicode code point (ISO 8601 dates sort by time); `$exists: true`
 * is a property present and not null, `false` missing or null.
 */
export const eventFilterSchema = z
  .record(attributeNameSchema, propertyFilterSchema, {
    error: (issue) => (issue.code === 'invalid_key' ? 'a property name is 1 to 256 characters' : 'takes an object of property names and their tests, e.g. { "plan": "pro" }'),
  })
  .refine((w) => Object.keys(w).length > 0, { message: 'names no property: leave where out to count every event' })
  .refine((w) => Object.keys(w).length <= 20, { message: 'names at most 20 properties' });
export type EventFilter = z.output<typeof eventFilterSchema>;

const aggregateSchema = z.strictObject({
  event: z.string().min(1).max(200),
  aggregation: z.enum(['count', 'sum']),
  /** Event property summed when aggregation is "sum"; without it, the events' value. */
  property: attributeNameSchema.optional(),
  /** Only events whose properties pass count toward this side of the ratio. */
  where: eventFilterSchema.optional(),
});

export const cappingSchema = z.discriminatedUnion('type', [
  /** Per-unit values above `value` are replaced by `value`. */
  z.strictObject({ type: z.literal('absolute'), value: z.number().positive({ message: 'an absolute cap must be more than 0 (per-unit values above it count as it)' }) }),
  /** Per-unit values above this quantile of all units are replaced by the quantile. */
  z.strictObject({
    type: z.literal('percentile'),
    value: z
      .number()
      .gt(0, { message: 'a percentile cap must be between 0 and 1, both excluded (0.99 caps at the 99th percentile)' })
      .lt(1, { message: 'a percentile cap must be between 0 and 1, both excluded (0.99 caps at the 99th percentile)' }),
  }),
]);

export const metricSchema = z
  .strictObject({
    key: keySchema,
    name: nameSchema,
    description: z.string().max(2000).optional(),
    type: z.enum([MetricType.Conversion, MetricType.Count, MetricType.Sum, MetricType.Ratio]),
    // Which of these a type needs is checked below; the document can only say it.
    event: z.string().min(1).max(200).optional().meta({ description: 'Required for conversion, count and sum metrics (not for ratio)' }),
    property: attributeNameSchema.optional(),
    where: eventFilterSchema
      .optional()
      .meta({ description: 'Only events whose properties pass count (conversion, count and sum metrics; a ratio metric filters its numerator and denominator)' }),
    numerator: aggregateSchema.optional().meta({ description: 'Required for a ratio metric' }),
    denominator: aggregateSchema.optional().meta({ description: 'Required for a ratio metric' }),
    capping: cappingSchema.optional(),
    higherIsBetter: z.boolean().default(true),
    /** Hours after exposure that count; empty means until the experiment stops. */
    windowHours: z
      .number()
      .positive({ message: 'windowHours must be more than 0 (hours after the exposure that count); leave it out to count until the experiment stops' })
      .max(24 * 365, { message: 'windowHours must be at most 8760 (a year)' })
      .optional(),
    /**
     * Hours from exposure to the start of the analysis window (a conversion delay; default 0). A
     * negative delay (down to -24) also counts events shortly before the exposure, e.g. those of a
     * client whose clock is behind the server that logged the exposure; a positive one skips the
     * first hours (a retention metric: events between the exposure and the start count nowhere).
     */
    delayHours: z
      .number()
      .min(-24, { message: 'delayHours must be at least -24 (a day before the exposure)' })
      .max(24 * 365, { message: 'delayHours must be at most 8760 (a year)' })
      .optional()
      .meta({ description: 'Hours after exposure at which the analysis window starts (default 0); negative (down to -24) counts events shortly before the exposure (a client clock behind the server), positive skips the first hours (retention)' }),
    guardrail: z.boolean().default(false),
    tags: tagsSchema.default([]),
  })
  .superRefine((m, ctx) => {
    // A window that closes before the exposure holds only what happened before it: nothing the
    // variation can have caused. A negative delay is for clocks, not for measuring the past.
    if (m.delayHours !== undefined && m.windowHours !== undefined && m.delayHours + m.windowHours <= 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['windowHours'],
        message: `the window must end after the exposure: the delay (delayHours, ${m.delayHours} h) plus the window (windowHours, ${m.windowHours} h) must be more than 0`,
      });
    }
    if (m.type === MetricType.Ratio) {
      if (m.where !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['where'], message: 'a ratio metric filters its sides: put where on the numerator or the denominator' });
      }
      if (m.numerator === undefined) {
        ctx.addIssue({ code: 'custom', path: ['numerator'], message: 'a ratio metric needs a numerator' });
      }
      if (m.denominator === undefined) {
        ctx.addIssue({ code: 'custom', path: ['denominator'], message: 'a ratio metric needs a denominator' });
      }
      return;
    }
    if (m.event === undefined) {
      ctx.addIssue({ code: 'custom', path: ['event'], message: `a ${m.type} metric needs an event` });
    }
    if (m.type === MetricType.Conversion && m.capping !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['capping'], message: 'conversion metrics are 0/1 and cannot be capped' });
    }
   }, whenFieldsValid('type', 'numerator', 'denominator', 'event', 'property', 'where', 'capping', 'delayHours', 'windowHours'));
export type Metric = z.output<typeof metricSchema>;
export type MetricInput = z.input<typeof metricSchema>;

/**
 * The metrics the guardrail checks watch for an experiment: the unarchived ones it lists as
 * guardrails, and every unarchived metric marked `guardrail` in the project. One rule for the checks
 * and for the results' `guardrail` mark.
 */
export function guardrailMetricKeys(experiment: { readonly metrics: { readonly guardrails: readonly string[] } }, metrics: Iterable<{ readonly key: string; readonly guardrail: boolean; readonly archived?: boolean }>): Set<string> {
  const live = [...metrics].filter((m) => m.archived !== true);
  const known = new Set(live.map((m) => m.key));
  // The experiment's own list first, in its order, then the project's marked metrics.
  return new Set([...experiment.metrics.guardrails.filter((k) => known.has(k)), ...live.filter((m) => m.guardrail).map((m) => m.key)]);
}
