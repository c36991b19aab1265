/**
 * The SDK event rules of `sdkEventSchema` (event.ts) as plain code, for the SDK endpoints and the
 * evaluation Lambda, which must not load zod (its bundle and cold start budget). A test feeds both
 * the same thousands of generated inputs and requires the same verdict and the same output.
 */
import type { SdkEvent } from './event.js';
import { KEY_MAX_LENGTH, KEY_PATTERN, KEY_PATTERN_MESSAGE } from './keys.js';

export const MAX_EVENTS_PER_BATCH = 500;
export const MAX_EVENT_BYTES = 16 * 1024;
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

export type EventCheck = { readonly ok: true; readonly event: SdkEvent } | { readonly ok: false; readonly problem: EventProblem };

const ID_PATTERN = /^[A-Za-z0-9_-]+$/;
const DATE = String.raw`(?:\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|02-(?:0[1-9]|1\d|2[0-8]))|(?:\d\d(?:[2468][048]|[13579][26]|0[48])|(?:[02468][048]|[13579][26])00)-02-29)`;
/** RFC 3339 instant: date, time with seconds and optional fraction, Z or a ±hh:mm offset. */
const INSTANT = new RegExp(String.raw`^${DATE}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$`);

const EXPOSURE_KEYS = new Set(['id', 'unitId', 'timestamp', 'type', 'experiment', 'variation', 'flag', 'hashAttribute', 'attributes']);
const TRACK_KEYS = new Set(['id', 'unitId', 'timestamp', 'type', 'name', 'value', 'properties', 'units']);

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
  if (type !== 'exposure' && type !== 'track') {
    throw new Problem('type', 'expected "exposure" or "track"');
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
 * Checks one SDK event (an exposure or a tracked event) exactly as `sdkEventSchema` does, and returns
 * it typed, or its first problem. Never throws.
 */
export function checkSdkEvent(value: unknown): EventCheck {
  try {
    check(value);
    return { ok: true, event: value as SdkEvent };
  } catch (error) {
    if (error instanceof Problem) {
      return { ok: false, problem: { path: error.path, message: error.message } };
    }
    // A stack overflow on absurdly deep JSON, say: reject rather than throw.
    return { ok: false, problem: { path: '', message: 'not an event' } };
  }
}
