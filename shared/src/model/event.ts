import { z } from 'zod';
import { attributeNameSchema, keySchema } from './common.js';
import { APP_NAME_MESSAGE, APP_NAME_PATTERN, MAX_EVALUATION_COUNT, MAX_EVALUATION_COUNTS, MAX_PROPERTY_DEPTH, MAX_UNITS, PROPERTY_DEPTH_MESSAGE, UNITS_COUNT_MESSAGE, evaluationsProblem, nestsWithin } from './event-check.js';

/**
 * Events SDKs send to POST /sdk/v1/events: exposures (a unit saw a variation) and tracked events
 * (a unit did something, optionally with a value). The server adds the project and environment
 * from the SDK key and the time it received the batch.
 */

export { APP_NAME_MESSAGE, APP_NAME_PATTERN, MAX_EVALUATION_COUNT, MAX_EVALUATION_COUNTS, MAX_EVALUATION_WINDOW_MS, MAX_EVENTS_PER_BATCH, MAX_EVENT_BYTES, MAX_PROPERTY_DEPTH, MAX_UNITS, isEvaluationsRecord } from './event-check.js';

/**
 * A property value: any JSON nested at most MAX_PROPERTY_DEPTH levels. The depth is checked first,
 * without recursion, so that z.json() never walks (and overflows the stack on) absurd nesting.
 */
const propertyValueSchema = z
  .unknown()
  .refine((v) => nestsWithin(v, MAX_PROPERTY_DEPTH), { message: PROPERTY_DEPTH_MESSAGE, abort: true })
  .pipe(z.json());

const eventBase = {
  /** Client-generated unique id; the pipeline drops repeats of the same id (exactly-once). */
  id: z.string().min(8).max(64).regex(/^[A-Za-z0-9_-]+$/, 'must contain only ASCII letters, digits, "_" and "-"'),
  /** The unit (user, device, company…) the event belongs to: its bucketing id. */
  unitId: z.string().min(1).max(256),
  /** When it happened, as epoch milliseconds or an ISO 8601 instant. */
  timestamp: z.union([z.number().int().min(0), z.iso.datetime({ offset: true })]),
};

export const exposureEventSchema = z.strictObject({
  ...eventBase,
  type: z.literal('exposure'),
  experiment: keySchema,
  variation: keySchema,
  /** The flag whose evaluation exposed the unit, when there is one. */
  flag: keySchema.optional(),
  hashAttribute: attributeNameSchema.optional(),
  /** The unit's targeting attributes when exposed (flat), stored with its first exposure for result filters. */
  attributes: z.record(z.string().max(256), z.union([z.string().max(1024), z.number(), z.boolean()])).optional(),
});

export const trackEventSchema = z.strictObject({
  ...eventBase,
  type: z.literal('track'),
  /** The event name metrics count, e.g. purchase_completed. */
  name: z.string().min(1).max(200),
  /** The quantity sum metrics add up (e.g. revenue); counts use 1 per event when absent. */
  value: z.number().optional(),
  properties: z.record(z.string().max(200), propertyValueSchema).optional(),
  /**
   * The unit's other identifiers: attribute name → value (e.g. `{ deviceId: "dev1" }`), so that the
   * event also counts for experiments bucketed on those attributes (whose exposures carry that value
   * as `unitId`). At most MAX_UNITS entries; values follow the rules of `unitId`.
   */
  units: z
    .record(z.string().min(1).max(256), z.string().min(1).max(256))
    .refine((units) => Object.keys(units).length <= MAX_UNITS, { message: UNITS_COUNT_MESSAGE })
    .optional(),
});

/**
 * How often an SDK evaluated each flag over a window (`start` to `timestamp`), by the variation it
 * served: what "is this flag still used, and what does it serve?" is answered from. `variation` null:
 * the caller's default was served (the flag is not in the ruleset, or the evaluation failed). Not tied
 * to a unit; the pipeline adds the counts to hourly buckets of the window's end.
 */
export const evaluationsEventSchema = z
  .strictObject({
    id: eventBase.id,
    type: z.literal('evaluations'),
    /** When the window closed (the counts are bucketed by this time), as epoch milliseconds or an ISO 8601 instant. */
    timestamp: eventBase.timestamp,
    /** When the window opened: at or before `timestamp`, at most an hour before it. */
    start: eventBase.timestamp,
    /** The application (service) whose SDK counted, as configured (`appName`); absent: none named. */
    app: z.string().min(1).max(64).regex(APP_NAME_PATTERN, APP_NAME_MESSAGE).optional(),
    counts: z
      .array(
        z.strictObject({
          /** The key the code asked for, defined or not (a key missing from the ruleset is counted too). */
          flag: z.string().min(1).max(200),
          variation: keySchema.nullable(),
          count: z.number().int().min(1).max(MAX_EVALUATION_COUNT),
        }),
      )
      .min(1)
      .max(MAX_EVALUATION_COUNTS),
  })
  .superRefine((event, ctx) => {
    const problem = evaluationsProblem(event);
    if (problem !== undefined) {
      ctx.addIssue({ code: 'custom', path: problem.path === '' ? [] : problem.path.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p)), message: problem.message });
    }
  });

export const sdkEventSchema = z.discriminatedUnion('type', [exposureEventSchema, trackEventSchema]);
/** Anything a batch to POST /sdk/v1/events may hold: unit events and evaluation counts. */
export const sdkBatchItemSchema = z.discriminatedUnion('type', [exposureEventSchema, trackEventSchema, evaluationsEventSchema]);
export type SdkEvent = z.output<typeof sdkEventSchema>;
export type ExposureEvent = z.output<typeof exposureEventSchema>;
export type TrackEvent = z.output<typeof trackEventSchema>;
export type EvaluationsEvent = z.output<typeof evaluationsEventSchema>;
export type SdkBatchItem = z.output<typeof sdkBatchItemSchema>;

const pipelineEnvelope = {
  v: z.literal(1),
  projectId: z.string().min(1).max(64),
  environment: keySchema,
  /** Epoch milliseconds when the API accepted the batch. */
  receivedAt: z.number().int().min(0),
  /** Normalised occurrence time in epoch milliseconds (for evaluation counts: the window's end). */
  occurredAt: z.number().int().min(0),
};

/** A unit event (exposure or tracked event) as the pipeline carries it: the SDK event plus where and when it was received. */
export const pipelineEventSchema = z.strictObject({ ...pipelineEnvelope, event: sdkEventSchema });
export type PipelineEvent = z.output<typeof pipelineEventSchema>;
/** Evaluation counts as the pipeline carries them. */
export const evaluationsPipelineEventSchema = z.strictObject({ ...pipelineEnvelope, event: evaluationsEventSchema });
export type EvaluationsPipelineEvent = z.output<typeof evaluationsPipelineEventSchema>;
/** What the pipeline carries on Kinesis: any batch item (a unit event or evaluation counts) plus where and when it was received. */
export const pipelineRecordSchema = z.strictObject({ ...pipelineEnvelope, event: sdkBatchItemSchema });
export type PipelineRecord = PipelineEvent | EvaluationsPipelineEvent;
