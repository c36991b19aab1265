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

const aggregateSchema = z.strictObject({
  event: z.string().min(1).max(200),
  aggregation: z.enum(['count', 'sum']),
  /** Event property summed when aggregation is "sum"; without it, the events' value. */
  property: attributeNameSchema.optional(),
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
   }, whenFieldsValid('type', 'numerator', 'denominator', 'event', 'property', 'capping', 'delayHours', 'windowHours'));
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
