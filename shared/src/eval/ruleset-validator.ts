/**
 * A dependency-free validator for the ruleset document: the same rules as the zod schemas in
 * model/ruleset.ts (strict objects, the same bounds), without pulling zod into the evaluation path
 * and so into browser bundles. `ruleset-validator.test.ts` checks that both accept exactly the same
 * documents. Each check returns its problems as "path: message" lines; none means valid.
 */
import { KEY_MAX_LENGTH, KEY_PATTERN } from '../model/keys.js';

export const RULESET_SCHEMA_VERSION = 1;

/** Appends "path: message" lines for what is wrong with `value` (nothing when it is valid). */
type Check = (value: unknown, path: string, out: string[]) => void;


function at(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function problem(out: string[], path: string, message: string): void {
  out.push(`${path === '' ? '(root)' : path}: ${message}`);
}

/** Any object but null or an array (what zod's objects and discriminated unions accept). */
function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An object without a foreign constructor (what zod's records accept). */
function isPlainObject(value: unknown): value is Record<PropertyKey, unknown> {
  if (!isObject(value)) {
    return false;
  }
  const ctor: unknown = value.constructor;
  if (typeof ctor !== 'function') {
    return true;
  }
  const proto: unknown = (ctor as { prototype?: unknown }).prototype;
  return isObject(proto) && Object.hasOwn(proto, 'isPrototypeOf');
}

/** A string of `min` (0 or 1) to `max` characters, matching `pattern` when given. */
function string(min: number, max: number, pattern?: RegExp): Check {
  return (value, path, out) => {
    if (typeof value !== 'string') {
      problem(out, path, 'expected a string');
    } else if (value.length < min) {
      problem(out, path, 'must not be empty');
    } else if (value.length > max) {
      problem(out, path, `must be at most ${max} characters`);
    } else if (pattern !== undefined && !pattern.test(value)) {
      problem(out, path, `must match ${String(pattern)}`);
    }
  };
}

/** Keys of flags, experiments and environments (keySchema). */
const key = string(1, KEY_MAX_LENGTH, KEY_PATTERN);

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** A finite number in [min, max]; `integer` also requires a safe integer, like zod's `.int()`. */
function number(min: number, max: number, integer: boolean): Check {
  return (value, path, out) => {
    if (!isNumber(value)) {
      problem(out, path, integer ? 'expected an integer' : 'expected a number');
    } else if (integer && !Number.isSafeInteger(value)) {
      problem(out, path, 'expected a (safe) integer');
    } else if (value < min || value > max) {
      problem(out, path, max === Infinity ? `must be at least ${min}` : `must be between ${min} and ${max}`);
    }
  };
}

const boolean: Check = (value, path, out) => {
  if (typeof value !== 'boolean') {
    problem(out, path, 'expected a boolean');
  }
};

const anything: Check = () => undefined;

function literal(...allowed: readonly number[]): Check {
  return (value, path, out) => {
    if (!allowed.includes(value as number)) {
      problem(out, path, `must be ${allowed.join(' or ')}`);
    }
  };
}

function array(item: Check, min: number, max: number): Check {
  return (value, path, out) => {
    if (!Array.isArray(value)) {
      problem(out, path, 'expected an array');
      return;
    }
    if (value.length < min || value.length > max) {
      problem(out, path, max === Infinity ? `must hold at least ${min} items` : `must hold ${min} to ${max} items`);
    }
    for (let i = 0; i < value.length; i++) {
      item(value[i], `${path}[${i}]`, out);
    }
  };
}

function tuple(...items: readonly Check[]): Check {
  return (value, path, out) => {
    if (!Array.isArray(value)) {
      problem(out, path, 'expected an array');
      return;
    }
    if (value.length !== items.length) {
      problem(out, path, `must hold ${items.length} items`);
      if (value.length < items.length) {
        return;
      }
    }
    items.forEach((check, i) => {
      check(value[i], `${path}[${i}]`, out);
    });
  };
}

/** The keys zod's records read: own and enumerable, symbols included, "__proto__" left out. */
function recordKeys(value: object): (string | symbol)[] {
  return Reflect.ownKeys(value).filter((k) => k !== '__proto__' && Object.prototype.propertyIsEnumerable.call(value, k));
}

/** A record: a plain object whose keys are strings passing `keyCheck` and whose values pass `valueCheck`. */
function record(keyCheck: Check | undefined, valueCheck: Check): Check {
  return (value, path, out) => {
    if (!isPlainObject(value)) {
      problem(out, path, 'expected an object');
      return;
    }
    for (const k of recordKeys(value)) {
      if (typeof k !== 'string') {
        problem(out, path, `invalid key ${String(k)}`);
        continue;
      }
      const before = out.length;
      keyCheck?.(k, at(path, k), out);
      if (out.length === before) {
        valueCheck(value[k], at(path, k), out);
      }
    }
  };
}

/** Fields that may be absent (or undefined); see `optional`. */
const optionalChecks = new WeakSet<Check>();

/** Marks a field of a strict object as optional: absent or undefined is fine, anything else must pass `check`. */
function optional(check: Check): Check {
  const wrapped: Check = (value, path, out) => {
    check(value, path, out);
  };
  optionalChecks.add(wrapped);
  return wrapped;
}

/**
 * A strict object: every field passes its check (optional ones may be absent or undefined), and
 * any other enumerable key, own or inherited, is a problem.
 */
function strict(fields: Readonly<Record<string, Check>>): Check {
  const entries = Object.entries(fields);
  return (value, path, out) => {
    if (!isObject(value)) {
      problem(out, path, 'expected an object');
      return;
    }
    for (const [k, check] of entries) {
      const v = value[k];
      if (v !== undefined) {
        check(v, at(path, k), out);
      } else if (!optionalChecks.has(check)) {
        problem(out, at(path, k), 'required');
      }
    }
    for (const k in value) {
      if (!Object.hasOwn(fields, k)) {
        problem(out, at(path, k), 'unknown key');
      }
    }
  };
}

/** Any JSON value: string, finite number, boolean, null, array or plain object of JSON values. */
const json: Check = (value, path, out) => {
  if (!isJson(value)) {
    problem(out, path, 'expected a JSON value');
  }
};

function isJson(value: unknown): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean' || isNumber(value)) {
    return true;
  }
  if (Array.isArray(value)) {
    // Not .every(): it skips holes, which zod reads as undefined.
    for (const item of value) {
      if (!isJson(item)) {
        return false;
      }
    }
    return true;
  }
  return isPlainObject(value) && recordKeys(value).every((k) => typeof k === 'string' && isJson(value[k]));
}

const index = number(0, Infinity, true);
const epochMs = number(-Infinity, Infinity, true);
const fraction = number(0, 1, false);
const attributeName = string(1, 256);
const seed = string(0, 256);
const hashVersion = literal(1, 2);
/** A targeting condition: an object of JSON values (its operators are checked when compiled). */
const condition = record(undefined, json);

const ruleBase = { id: string(1, 64), condition: optional(condition), from: optional(epochMs), until: optional(epochMs), type: anything };
const hashing = { hashAttribute: attributeName, fallbackAttribute: optional(attributeName), seed, hashVersion };

const RULES: Readonly<Record<string, Check>> = {
  force: strict({ ...ruleBase, variation: index }),
  rollout: strict({ ...ruleBase, ...hashing, variation: index, coverage: fraction, schedule: optional(array(tuple(epochMs, fraction), 0, 50)) }),
  split: strict({ ...ruleBase, ...hashing, weights: array(fraction, 1, 100) }),
  experiment: strict({ ...ruleBase, experiment: key, variations: array(index, 1, 64) }),
};

/** A rule: an object whose `type` picks the rule kind's strict shape. */
const rule: Check = (value, path, out) => {
  if (!isObject(value)) {
    problem(out, path, 'expected an object');
    return;
  }
  const type = value.type;
  const check = typeof type === 'string' && Object.hasOwn(RULES, type) ? RULES[type] : undefined;
  if (check === undefined) {
    problem(out, at(path, 'type'), `must be one of ${Object.keys(RULES).join(', ')}`);
    return;
  }
  check(value, path, out);
};

const flag = strict({
  on: optional(boolean),
  variations: array(strict({ key, value: json }), 1, 100),
  default: index,
  off: index,
  prerequisites: optional(array(strict({ flag: key, variation: key }), 0, 20)),
  rules: optional(array(rule, 0, 500)),
});

const experiment = strict({
  ...hashing,
  coverage: fraction,
  weights: array(fraction, 1, 64),
  variations: array(strict({ key, value: optional(json), url: optional(string(0, 2048)) }), 1, 64),
  condition: optional(condition),
  namespace: optional(tuple(string(1, 128), fraction, fraction)),
  holdout: optional(key),
  sticky: optional(strict({ bucketVersion: index, minBucketVersion: index })),
  force: optional(index),
  urlOverride: optional(boolean),
});

const holdout = strict({ hashAttribute: attributeName, seed, coverage: fraction });

const savedGroups = record(undefined, array((v, p, out) => {
  if (typeof v !== 'string' && !isNumber(v)) {
    problem(out, p, 'expected a string or a number');
  }
}, 0, Infinity));

/** The document, its entries (keyed by `entryKey`) checked by the given checks. */
function document(entryKey: Check | undefined, flagCheck: Check, experimentCheck: Check, holdoutCheck: Check): Check {
  return strict({
    schemaVersion: literal(RULESET_SCHEMA_VERSION),
    environment: key,
    version: index,
    generatedAt: optional(string(0, Infinity)),
    flags: record(entryKey, flagCheck),
    experiments: optional(record(entryKey, experimentCheck)),
    savedGroups: optional(savedGroups),
    holdouts: optional(record(entryKey, holdoutCheck)),
  });
}

/** The envelope alone (rulesetEnvelopeSchema): flags, experiments and holdouts are checked one by one. */
const envelope = document(undefined, anything, anything, anything);

/** The whole document (rulesetSchema). */
const ruleset = document(key, flag, experiment, holdout);

function run(check: Check, value: unknown, path: string): string[] {
  const out: string[] = [];
  check(value, path, out);
  return out;
}

/** Problems with the envelope (rulesetEnvelopeSchema); entries are left to the checks below. */
export function checkRulesetEnvelope(value: unknown, path = 'ruleset'): string[] {
  return run(envelope, value, path);
}

/** Problems anywhere in the document (rulesetSchema): the envelope and every flag, experiment and holdout. */
export function checkRuleset(value: unknown, path = 'ruleset'): string[] {
  return run(ruleset, value, path);
}

/** Problems with one flag entry (rulesetFlagSchema), paths under `path` (e.g. "flags.checkout"). */
export function checkRulesetFlag(value: unknown, path = ''): string[] {
  return run(flag, value, path);
}

/** Problems with one experiment entry (rulesetExperimentSchema). */
export function checkRulesetExperiment(value: unknown, path = ''): string[] {
  return run(experiment, value, path);
}

/** Problems with one holdout entry (rulesetHoldoutSchema). */
export function checkRulesetHoldout(value: unknown, path = ''): string[] {
  return run(holdout, value, path);
}
