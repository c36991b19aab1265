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
/**
 * A number a filter compares with. An integer beyond 2^53 − 1 has already been rounded by JSON
 * parsing (9007199254740993 arrives as 9007199254740992), so the filter would not be what was sent;
 * `xp apply` refuses such numbers in its files too.
 */
const filterNumberSchema = z.number().refine((n) => !Number.isInteger(n) || Number.isSafeInteger(n), {
  message: 'takes integers between -(2^53 − 1) and 2^53 − 1 only: a larger one cannot be held exactly (it arrives rounded), so the filter would compare with another number',
});
const filterScalarSchema = z.union([filterStringSchema, filterNumberSchema, z.boolean()], { error: 'takes a string, a number or a boolean' });
const filterListSchema = z
  .array(filterScalarSchema, { error: 'takes a list of strings, numbers or booleans' })
  .min(1, { message: 'takes at least one value' })
  .max(1000, { message: 'takes at most 1000 values' });
const filterBoundSchema = z.union([filterNumberSchema, filterStringSchema], { error: 'takes a number or a string (numbers compare with numbers, strings with strings)' });

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
  .refine((o) => Object.values(o).some((v) => v !== undefined), { message: `name at least one operator (${OPERATOR_LIST})`, when: (payload) => payload.issues.length === 0 })
  .superRefine((o, ctx) => {
    const never = neverMatches(o);
    if (never !== undefined) {
      ctx.addIssue({ code: 'custom', message: `never matches: ${never}` });
    }
  });

/** Why a property's operators can match no event (so the metric would read 0 forever), if they cannot. */
function neverMatches(o: {
  $eq?: unknown;
  $ne?: unknown;
  $in?: readonly unknown[] | undefined;
  $nin?: readonly unknown[] | undefined;
  $gt?: unknown;
  $gte?: unknown;
  $lt?: unknown;
  $lte?: unknown;
  $exists?: boolean | undefined;
}): string | undefined {
  const needsValue = (['$eq', '$in', '$gt', '$gte', '$lt', '$lte'] as const).filter((op) => o[op] !== undefined);
  if (o.$exists === false && needsValue.length > 0) {
    return `$exists false means the property is missing or null, and ${needsValue.join(', ')} needs a value`;
  }
  const bounds = (['$gt', '$gte', '$lt', '$lte'] as const).filter((op) => o[op] !== undefined);
  if (new Set(bounds.map((op) => typeof o[op])).size > 1) {
    return `${bounds.join(', ')} mix a number and a string, and a property is one or the other (numbers compare with numbers, strings with strings)`;
  }
  if (o.$eq !== undefined && o.$ne !== undefined && o.$eq === o.$ne) {
    return `$eq and $ne name the same value (${JSON.stringify(o.$eq)})`;
  }
  const excluded = new Set(o.$nin ?? []);
  if (o.$eq !== undefined && excluded.has(o.$eq)) {
    return `$nin excludes the value $eq needs (${JSON.stringify(o.$eq)})`;
  }
  if (o.$in !== undefined && o.$in.every((v) => excluded.has(v))) {
    return 'every value $in lists is excluded by $nin';
  }
  return undefined;
}

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

const filterRecordSchema = z
  .record(attributeNameSchema, propertyFilterSchema, {
    error: (issue) => (issue.code === 'invalid_key' ? 'a property name is 1 to 256 characters' : 'takes an object of property names and their tests, e.g. { "plan": "pro" }'),
  })
  .refine((w) => Object.keys(w).length > 0, { message: 'names no property: leave where out to count every event' })
  .refine((w) => Object.keys(w).length <= 20, { message: 'names at most 20 properties' });

/** Why no event can pass a test on the property of this name, for a name sent that way. */
function unusablePropertyName(name: string): string | undefined {
  if (name === '__proto__') {
    return '"__proto__" cannot be filtered on: events drop a property of that name when they are stored';
  }
  if (name.startsWith('$')) {
    return `${JSON.stringify(name)} is an operator, not a property name: operators go inside a property's test, e.g. { "plan": { ${JSON.stringify(name)}: … } }`;
  }
  if (name.length > 200) {
    return `a property name of ${String(name.length)} characters (${JSON.stringify(name.slice(0, 40))}…): event property names are at most 200, so no event has it`;
  }
  return undefined;
}

const { $schema: _schema, ...filterJsonSchema } = z.toJSONSchema(filterRecordSchema, { io: 'input', unrepresentable: 'any' });

/**
 * Which of a metric's events count, by their properties: `{ plan: 'pro', amount: { $gte: 10 } }`.
 * Every property's test must hold (AND). Semantics are strict JSON (no coercion): `$eq` / `$in` match
 * a property of the same JSON type and value (numbers by value: 1 = 1.0); `$ne` / `$nin` are their
 * negations, so a missing property matches them; `$gt` … `$lte` with a number match JSON numbers only,
 * with a string JSON strings only, by Unicode code point (ISO 8601 dates sort by time); `$exists: true`
 * is a property present and not null, `false` missing or null.
 *
 * The names are judged as sent first: parsing into a record drops a "__proto__" key without a word,
 * which would leave a filter that counts more than asked. The piped schema keeps the record's types
 * and, as metadata, its JSON Schema (a pipe's input side would otherwise document any value).
 */
export const eventFilterSchema = z
  .unknown()
  .superRefine((raw, ctx) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      return;
    }
    for (const name of Object.keys(raw)) {
      const problem = unusablePropertyName(name);
      if (problem !== undefined) {
        ctx.addIssue({ code: 'custom', path: [name], message: problem });
      }
    }
  })
  .pipe(filterRecordSchema)
  .meta({ ...filterJsonSchema, minProperties: 1, maxProperties: 20 }) as unknown as typeof filterRecordSchema;
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
