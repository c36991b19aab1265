import type { EvaluationsPipelineEvent, PipelineRecord, SdkBatchItem } from '@xp/shared/edge';
import { MAX_EVALUATION_COUNTS, MAX_EVENTS_PER_BATCH, MAX_EVENT_BYTES, MAX_PROPERTY_DEPTH, checkSdkEvent } from '@xp/shared/edge';
import { findBadString } from '../text.js';

/** Why one event of a batch was not accepted. */
export const RejectCode = {
  /** The event does not match the event schema (types, missing fields, unknown fields; for evaluation counts also a window over an hour or a repeated pair), or has a NUL or unpaired surrogate in a string. */
  Invalid: 'INVALID_EVENT',
  /** The event's JSON is larger than MAX_EVENT_BYTES. */
  TooLarge: 'EVENT_TOO_LARGE',
  /** The timestamp (for evaluation counts, the window's end) is more than 24 h ahead of the server or older than 30 days. */
  ClockSkew: 'CLOCK_SKEW',
  /** The event is beyond MAX_EVENTS_PER_BATCH; send it again in another batch. */
  BatchLimit: 'BATCH_LIMIT',
} as const;
export type RejectCode = (typeof RejectCode)[keyof typeof RejectCode];

export interface RejectedEvent {
  readonly index: number;
  readonly id?: string;
  readonly code: RejectCode;
  readonly reason: string;
}

export interface ValidatedBatch {
  readonly valid: PipelineRecord[];
  /** Each valid event's index in the batch, in the order of `valid`. */
  readonly validIndexes: number[];
  readonly rejected: RejectedEvent[];
}

/** How far ahead of the server clock an event may be dated. */
export const MAX_FUTURE_MS = 24 * 60 * 60 * 1000;
/** How old an event may be. */
export const MAX_AGE_MS = 30 * 24 * 60 * 60 * 1000;

const ID_SHAPE = /^[A-Za-z0-9_-]{1,64}$/;

/** The longest string an exposure attribute may hold (the limit event-check.ts enforces). */
const MAX_ATTRIBUTE_STRING = 1024;
/**
 * What an exposure attribute may be, said instead of the event check's bare type mismatch
 * ("expected number, received null"): the check tries a number last, so null, an object or an
 * array read as if only numbers were allowed.
 */
export const ATTRIBUTE_VALUE_MESSAGE = `expected a string of at most ${MAX_ATTRIBUTE_STRING} characters, a number or a boolean; null, objects and arrays are not allowed (attributes are flat: leave one without a value out)`;

/** The check's problem as told to the sender: an exposure attribute's wrong type names what is allowed. */
function problemText(path: string, message: string): string {
  const text = path.startsWith('attributes.') && message.startsWith('expected number, received ') ? ATTRIBUTE_VALUE_MESSAGE : message;
  return `${path === '' ? 'event' : path}: ${text}`;
}

/** Epoch milliseconds of an event timestamp (already validated by the schema). */
export function occurredAtOf(event: SdkBatchItem): number {
  return typeof event.timestamp === 'number' ? event.timestamp : Date.parse(event.timestamp);
}

function idOf(raw: unknown): string | undefined {
  const id = typeof raw === 'object' && raw !== null ? (raw as { id?: unknown }).id : undefined;
  // Only echo ids that could be valid, so a hostile batch cannot make us reflect arbitrary text.
  return typeof id === 'string' && ID_SHAPE.test(id) ? id : undefined;
}

/**
 * Checks each event of a batch on its own: the valid ones become pipeline events, every other one
 * gets a reason. Duplicated ids are kept: the aggregator deduplicates.
 */
export function validateBatch(events: readonly unknown[], where: { projectId: string; environment: string; receivedAt: number }): ValidatedBatch {
  const valid: PipelineRecord[] = [];
  const validIndexes: number[] = [];
  const rejected: RejectedEvent[] = [];
  events.forEach((raw, index) => {
    const id = idOf(raw);
    const reject = (code: RejectCode, reason: string): void => {
      rejected.push({ index, ...(id === undefined ? {} : { id }), code, reason });
    };
    if (index >= MAX_EVENTS_PER_BATCH) {
      reject(RejectCode.BatchLimit, `a batch holds at most ${MAX_EVENTS_PER_BATCH} events; send this one in another batch`);
      return;
    }
    let json: string | undefined;
    try {
      // undefined for an undefined entry, which the check below refuses
      const text = JSON.stringify(raw) as string | undefined;
      json = text;
    } catch {
      // Only nesting deep enough to overflow the stack makes a parsed body unserialisable.
      reject(RejectCode.Invalid, `properties: nested more than ${MAX_PROPERTY_DEPTH} levels deep`);
      return;
    }
    const bytes = json === undefined ? 0 : Buffer.byteLength(json, 'utf8');
    if (bytes > MAX_EVENT_BYTES) {
      reject(RejectCode.TooLarge, `the event is ${bytes} bytes; the limit is ${MAX_EVENT_BYTES}`);
      return;
    }
    const checked = checkSdkEvent(raw);
    if (!checked.ok) {
      const { path, message } = checked.problem;
      reject(RejectCode.Invalid, problemText(path, message));
      return;
    }
    // The aggregator could never store it (and its unit id is the stream's partition key).
    const bad = findBadString(checked.event);
    if (bad !== undefined) {
      reject(RejectCode.Invalid, `${bad.path === '' ? 'event' : bad.path}: ${bad.reason}`);
      return;
    }
    const occurredAt = occurredAtOf(checked.event);
    if (occurredAt > where.receivedAt + MAX_FUTURE_MS) {
      reject(RejectCode.ClockSkew, 'timestamp is more than 24 hours in the future; check the device clock');
      return;
    }
    if (occurredAt < where.receivedAt - MAX_AGE_MS) {
      reject(RejectCode.ClockSkew, 'timestamp is more than 30 days old');
      return;
    }
    valid.push({ v: 1, projectId: where.projectId, environment: where.environment, receivedAt: where.receivedAt, occurredAt, event: checked.event } as PipelineRecord);
    validIndexes.push(index);
  });
  return { valid, validIndexes, rejected };
}

/** An accepted event that will probably count in no result: said in the 202 so that a sender sees its mistake. */
export interface EventWarning {
  readonly index: number;
  readonly id: string;
  readonly code: 'UNKNOWN_EXPERIMENT' | 'UNKNOWN_VARIATION';
  readonly message: string;
}

/** At most this many warnings in one answer (a batch naming one wrong key 500 times needs one to be seen). */
export const MAX_EVENT_WARNINGS = 20;

/**
 * The accepted exposures that name an experiment the environment's current ruleset does not run, or a
 * variation it does not have: stored all the same (the ruleset may have changed since the SDK
 * evaluated), but a made-up or mistyped key counts in no results (an unknown variation is left out of
 * the analysis and flags the SRM check). The first MAX_EVENT_WARNINGS, and how many there were.
 */
export function exposureWarnings(
  batch: Pick<ValidatedBatch, 'valid' | 'validIndexes'>,
  experiments: Readonly<Record<string, { readonly variations: readonly { readonly key: string }[] }>>,
): { readonly warnings: EventWarning[]; readonly count: number } {
  const warnings: EventWarning[] = [];
  let count = 0;
  batch.valid.forEach((pipelineEvent, i) => {
    const event = pipelineEvent.event;
    if (event.type !== 'exposure') {
      return;
    }
    const experiment = Object.hasOwn(experiments, event.experiment) ? experiments[event.experiment] : undefined;
    const warning =
      experiment === undefined
        ? {
            code: 'UNKNOWN_EXPERIMENT' as const,
            message: `experiment "${event.experiment}" is not running in this environment (unknown, a draft, stopped, or in another environment): the exposure is stored, but counts in no results unless an experiment with that key runs here; send the key the ruleset gives`,
          }
        : experiment.variations.some((v) => v.key === event.variation)
          ? undefined
          : {
              code: 'UNKNOWN_VARIATION' as const,
              message: `experiment "${event.experiment}" has no variation "${event.variation}" (it has ${experiment.variations.map((v) => `"${v.key}"`).join(', ')}): the unit is left out of the analysis and flags the SRM check`,
            };
    if (warning === undefined) {
      return;
    }
    count += 1;
    if (warnings.length < MAX_EVENT_WARNINGS) {
      warnings.push({ index: batch.validIndexes[i]!, id: event.id, ...warning });
    }
  });
  return { warnings, count };
}

/**
 * The `evaluations` records of the server's own evaluations (POST /sdk/v1/evaluate, OFREP) in one
 * request: each (flag, served variation) pair counted, null when the flag was not found or failed
 * (the caller's default is served), at most MAX_EVALUATION_COUNTS pairs per record (one record for
 * any request that names fewer flags), under `app` (the request's X-XP-App header) when one is
 * named. Empty for no evaluations.
 */
export function serverEvaluationCounts(
  where: { readonly projectId: string; readonly environment: string },
  at: number,
  newId: () => string,
  served: readonly { readonly flag: string; readonly variation: string | null }[],
  app?: string,
): EvaluationsPipelineEvent[] {
  const counts = new Map<string, { flag: string; variation: string | null; count: number }>();
  for (const { flag, variation } of served) {
    const key = JSON.stringify([flag, variation]);
    const entry = counts.get(key);
    if (entry === undefined) {
      counts.set(key, { flag, variation, count: 1 });
    } else {
      entry.count++;
    }
  }
  const all = [...counts.values()];
  const records: EvaluationsPipelineEvent[] = [];
  for (let i = 0; i < all.length; i += MAX_EVALUATION_COUNTS) {
    records.push({
      v: 1,
      projectId: where.projectId,
      environment: where.environment,
      receivedAt: at,
      occurredAt: at,
      event: { type: 'evaluations', id: newId(), start: at, timestamp: at, ...(app === undefined ? {} : { app }), counts: all.slice(i, i + MAX_EVALUATION_COUNTS) },
    });
  }
  return records;
}
