/**
 * The SDK batch item rules of `sdkBatchItemSchema` (event.ts) as plain code, for the SDK endpoints and the
 * evaluation Lambda, which must not load zod (its bundle and cold start budget). A test feeds both
 * the same thousands of generated inputs and requires the same verdict and the same output.
 */
import type { EvaluationsPipelineEvent, PipelineRecord, SdkBatchItem } from './event.js';
import { KEY_MAX_LENGTH, KEY_PATTERN, KEY_PATTERN_MESSAGE } from './keys.js';

export const MAX_EVENTS_PER_BATCH = 500;
export const MAX_EVENT_BYTES = 16 * 1024;
/** At most this many (flag, variation) counts in one `evaluations` record; SDKs split larger windows. */
export const MAX_EVALUATION_COUNTS = 100;
/** The largest count of one (flag, variation) pair in one `evaluations` record. */
export const MAX_EVALUATION_COUNT = 1_000_000_000;
/** The longest window (`start` to `timestamp`) an `evaluations` record may cover. */
export const MAX_EVALUATION_WINDOW_MS = 60 * 60 * 1000;
/**
 * The application (service) an SDK names itself as (`appName` in the JS SDK, `app_name` in Python),
 * carried by its `evaluations` records as `app` so that counts can be told apart by application:
 * 1 to 64 ASCII letters, digits, ".", "_" and "-", starting with a letter or digit (LaunchDarkly's
 * application id rule).
 */
export const APP_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const APP_NAME_MESSAGE = 'must be 1 to 64 ASCII letters, digits, ".", "_" and "-", starting with a letter or digit (e.g. "checkout-api")';
/** How deeply a tracked event's property values may nest arrays and objects (a property's value is level 1). */
export const MAX_PROPERTY_DEPTH = 32;
const DEPTH_MESSAGE = `nested more than ${MAX_PROPERTY_DEPTH} levels deep`;
/** How many other identifiers (`units`: attribute name → value) a tracked event may carry. */
export const MAX_UNITS = 10;
/** The error message of `units` with too many entries, shared with the zod schema (event.ts). */
export const UNITS_COUNT_MESSAGE = `must have at most ${MAX_UNITS} entries`;

/**
 * Whether a value nests arrays and objects at most `max` levels deep (a scalar is 0, `[1]` is 1),
 * checked without recursion so that no input can overflow the stack.
 */
export function nestsWithin(value: unknown, max: number): boolean {
  const stack: { v: unknown; depth: number }[] = [{ v: value, depth: 0 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (typeof v !== 'object' || v === null) {
      continue;
    }
    if (depth + 1 > max) {
      return false;
    }
    for (const item of Array.isArray(v) ? v : Object.values(v)) {
      stack.push({ v: item, depth: depth + 1 });
    }
  }
  return true;
}

/** The zod error message of a property value nested too deeply (event.ts), shared with the plain check. */
export const PROPERTY_DEPTH_MESSAGE = DEPTH_MESSAGE;

/** The first problem with an event: where (dotted path, '' for the event itself) and what. */
export interface EventProblem {
  readonly path: string;
  readonly message: string;
}

export type EventCheck = { readonly ok: true; readonly event: SdkBatchItem } | { readonly ok: false; readonly problem: EventProblem };

const ID_PATTERN = /^[A-Za-z0-9_-]+$/;
const DATE = String.raw`(?:\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|02-(?:0[1-9]|1\d|2[0-8]))|(?:\d\d(?:[2468][048]|[13579][26]|0[48])|(?:[02468][048]|[13579][26])00)-02-29)`;
/** RFC 3339 instant: date, time with seconds and optional fraction, Z or a ±hh:mm offset. */
const INSTANT = new RegExp(String.raw`^${DATE}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$`);

const EXPOSURE_KEYS = new Set(['id', 'unitId', 'timestamp', 'type', 'experiment', 'variation', 'flag', 'hashAttribute', 'attributes']);
const TRACK_KEYS = new Set(['id', 'unitId', 'timestamp', 'type', 'name', 'value', 'properties', 'units']);
const EVALUATIONS_KEYS = new Set(['id', 'timestamp', 'type', 'start', 'app', 'counts']);
const COUNT_KEYS = new Set(['flag', 'variation', 'count']);

/** Epoch milliseconds of a checked timestamp (epoch ms or an RFC 3339 instant). */
function epochMs(value: number | string): number {
  return typeof value === 'number' ? value : Date.parse(value);
}

/**
 * The rules of an `evaluations` record beyond the shape of its fields (shared with the zod schema):
 * its window is at most an hour and does not end before it starts, and no (flag, variation) pair
 * repeats. Undefined when it keeps them.
 */
export function evaluationsProblem(event: { readonly start: number | string; readonly timestamp: number | string; readonly counts: readonly { readonly flag: string; readonly variation: string | null }[] }): EventProblem | undefined {
  const start = epochMs(event.start);
  const end = epochMs(event.timestamp);
  if (start > end) {
    return { path: 'start', message: 'must be at or before timestamp (the window opens before it closes)' };
  }
  if (end - start > MAX_EVALUATION_WINDOW_MS) {
    return { path: 'start', message: 'must be at most 1 hour before timestamp (send the counts at least hourly)' };
  }
  const seen = new Map<string, number>();
  for (const [index, c] of event.counts.entries()) {
    // JSON of the pair: no flag or variation text can make two pairs collide.
    const pair = JSON.stringify([c.flag, c.variation]);
    const first = seen.get(pair);
    if (first !== undefined) {
      return { path: `counts.${index}`, message: `repeats the (flag, variation) pair of counts.${first}: send each pair once, its counts added up` };
    }
    seen.set(pair, index);
  }
  return undefined;
}

class Problem extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeName(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

// Unit ids are measured as the SDKs measure them; the message says so, since an emoji counts twice.
const UNIT_ID_UNITS = 'UTF-16 code units (an emoji counts as 2)';

function string(value: unknown, path: string, min: number, max: number, units = 'characters'): string {
  if (typeof value !== 'string') {
    throw new Problem(path, `expected string, received ${typeName(value)}`);
  }
  if (value.length < min) {
    throw new Problem(path, min === 1 ? 'must not be empty' : `must be at least ${min} ${units}`);
  }
  if (value.length > max) {
    throw new Problem(path, `must be at most ${max} ${units}`);
  }
  return value;
}

function key(value: unknown, path: string): string {
  const text = string(value, path, 1, KEY_MAX_LENGTH);
  if (!KEY_PATTERN.test(text)) {
    throw new Problem(path, KEY_PATTERN_MESSAGE);
  }
  return text;
}

function finite(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Problem(path, typeof value === 'number' ? 'expected a finite number (JSON such as 1e999 reads as infinity)' : `expected number, received ${typeName(value)}`);
  }
  return value;
}

function count(value: unknown, path: string): void {
  if (typeof value !== 'number') {
    throw new Problem(path, `expected number, received ${typeName(value)}`);
  }
  if (!Number.isSafeInteger(value)) {
    throw new Problem(path, 'expected an integer');
  }
  if (value < 1) {
    throw new Problem(path, 'must be at least 1');
  }
  if (value > MAX_EVALUATION_COUNT) {
    throw new Problem(path, `must be at most ${MAX_EVALUATION_COUNT}`);
  }
}

function checkEvaluations(value: Record<string, unknown>): void {
  for (const name of Object.keys(value)) {
    if (!EVALUATIONS_KEYS.has(name)) {
      throw new Problem('', `unrecognized key "${name}"`);
    }
  }
  const id = string(value.id, 'id', 8, 64);
  if (!ID_PATTERN.test(id)) {
    throw new Problem('id', 'must contain only ASCII letters, digits, "_" and "-"');
  }
  timestamp(value.timestamp, 'timestamp');
  timestamp(value.start, 'start');
  if (value.app !== undefined) {
    const app = string(value.app, 'app', 1, 64);
    if (!APP_NAME_PATTERN.test(app)) {
      throw new Problem('app', APP_NAME_MESSAGE);
    }
  }
  const counts = value.counts;
  if (!Array.isArray(counts)) {
    throw new Problem('counts', `expected array, received ${typeName(counts)}`);
  }
  if (counts.length < 1) {
    throw new Problem('counts', 'must have at least 1 entry');
  }
  if (counts.length > MAX_EVALUATION_COUNTS) {
    throw new Problem('counts', `must have at most ${MAX_EVALUATION_COUNTS} entries (send more in another record)`);
  }
  counts.forEach((item: unknown, index) => {
    const path = `counts.${index}`;
    if (!isRecord(item)) {
      throw new Problem(path, `expected object, received ${typeName(item)}`);
    }
    for (const name of Object.keys(item)) {
      if (!COUNT_KEYS.has(name)) {
        throw new Problem(path, `unrecognized key "${name}"`);
      }
    }
    string(item.flag, `${path}.flag`, 1, 200);
    if (item.variation !== null) {
      key(item.variation, `${path}.variation`);
    }
    count(item.count, `${path}.count`);
  });
  const problem = evaluationsProblem(value as unknown as Parameters<typeof evaluationsProblem>[0]);
  if (problem !== undefined) {
    throw new Problem(problem.path, problem.message);
  }
}

/** Any JSON value (z.json()): strings, finite numbers, booleans, null, arrays and objects of them. */
function json(value: unknown, path: string): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') {
    return;
  }
  if (typeof value === 'number') {
    finite(value, path);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      json(item, join(path, String(index)));
    });
    return;
  }
  if (isRecord(value)) {
    for (const [k, v] of Object.entries(value)) {
      json(v, join(path, k));
    }
    return;
  }
  throw new Problem(path, 'expected a JSON value');
}

function record(value: unknown, path: string, keyMin: number, keyMax: number, item: (v: unknown, p: string) => void): void {
  if (!isRecord(value)) {
    throw new Problem(path, `expected object, received ${typeName(value)}`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (k.length < keyMin || k.length > keyMax) {
      throw new Problem(join(path, k), `key must be ${keyMin}-${keyMax} characters`);
    }
    item(v, join(path, k));
  }
}

function timestamp(value: unknown, path: string): void {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new Problem(path, 'expected an integer number of epoch milliseconds');
    }
    if (value < 0) {
      throw new Problem(path, 'must be at least 0');
    }
    return;
  }
  if (typeof value !== 'string' || !INSTANT.test(value)) {
    throw new Problem(path, 'expected epoch milliseconds or an RFC 3339 instant such as 2026-01-31T12:00:00Z or 2026-01-31T12:00:00.123+02:00 (seconds required, "T" and "Z" upper case, the offset with a colon)');
  }
}

function check(value: unknown): void {
  if (!isRecord(value)) {
    throw new Problem('', `expected object, received ${typeName(value)}`);
  }
  const type = value.type;
  if (type === 'evaluations') {
    checkEvaluations(value);
    return;
  }
  if (type !== 'exposure' && type !== 'track') {
    throw new Problem('type', 'expected "exposure", "track" or "evaluations"');
  }
  const allowed = type === 'exposure' ? EXPOSURE_KEYS : TRACK_KEYS;
  for (const name of Object.keys(value)) {
    if (!allowed.has(name)) {
      throw new Problem('', `unrecognized key "${name}"`);
    }
  }
  const id = string(value.id, 'id', 8, 64);
  if (!ID_PATTERN.test(id)) {
    throw new Problem('id', 'must contain only ASCII letters, digits, "_" and "-"');
  }
  string(value.unitId, 'unitId', 1, 256, UNIT_ID_UNITS);
  timestamp(value.timestamp, 'timestamp');
  if (type === 'exposure') {
    key(value.experiment, 'experiment');
    key(value.variation, 'variation');
    if (value.flag !== undefined) {
      key(value.flag, 'flag');
    }
    if (value.hashAttribute !== undefined) {
      string(value.hashAttribute, 'hashAttribute', 1, 256);
    }
    if (value.attributes !== undefined) {
      record(value.attributes, 'attributes', 0, 256, (v, p) => {
        if (typeof v === 'string') {
          string(v, p, 0, 1024);
        } else if (typeof v !== 'boolean') {
          finite(v, p);
        }
      });
    }
    return;
  }
  string(value.name, 'name', 1, 200);
  if (value.value !== undefined) {
    finite(value.value, 'value');
  }
  if (value.properties !== undefined) {
    record(value.properties, 'properties', 0, 200, (v, p) => {
      if (!nestsWithin(v, MAX_PROPERTY_DEPTH)) {
        throw new Problem(p, DEPTH_MESSAGE);
      }
      json(v, p);
    });
  }
  if (value.units !== undefined) {
    record(value.units, 'units', 1, 256, (v, p) => {
      string(v, p, 1, 256, UNIT_ID_UNITS);
    });
    if (Object.keys(value.units as object).length > MAX_UNITS) {
      throw new Problem('units', UNITS_COUNT_MESSAGE);
    }
  }
}

/**
 * Checks one item of an SDK batch (an exposure, a tracked event or evaluation counts) exactly as
 * `sdkBatchItemSchema` does, and returns it typed, or its first problem. Never throws.
 */
export function checkSdkEvent(value: unknown): EventCheck {
  try {
    check(value);
    return { ok: true, event: value as SdkBatchItem };
  } catch (error) {
    if (error instanceof Problem) {
      return { ok: false, problem: { path: error.path, message: error.message } };
    }
    // A stack overflow on absurdly deep JSON, say: reject rather than throw.
    return { ok: false, problem: { path: '', message: 'not an event' } };
  }
}

/** Whether a pipeline record carries evaluation counts (not a unit's exposure or tracked event). */
export function isEvaluationsRecord(e: PipelineRecord): e is EvaluationsPipelineEvent {
  return e.event.type === 'evaluations';
}
