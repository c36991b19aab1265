/**
 * @xp/sdk/testing — a client for unit tests of code that uses flags and experiments: no network, no
 * API, deterministic. It is a real ExperimentationClient serving a real ruleset built from the values
 * given, so evaluation (reasons, type mismatches, `isFeatureEnabled` on a non-boolean flag, …) is
 * production's; exposures and tracked events are recorded for assertions instead of being sent.
 */
import { checkRuleset } from '@xp/shared/eval';
import type { StickyBucketStore } from '@xp/shared/eval';
import type { SdkEvent } from '@xp/shared';
import { ExperimentationClient } from './client.js';
import type { JsonDefault, JsonValue } from './client.js';
import { XpError, XpErrorCode } from './errors.js';
import { ClientStatus } from './types.js';
import type { EvaluateOptions, EvaluationDetails, ExposureOptions, Logger, ReadyResult, User } from './types.js';
import type { ExperimentResult } from '@xp/shared/eval';

/**
 * The shape of flag, experiment and variation keys: shared/src/model/keys.ts (KEY_PATTERN), copied
 * because the SDK loads no part of @xp/shared but its zod-free `eval` entry at run time.
 */
const KEY_MAX_LENGTH = 128;
const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const KEY_PATTERN_MESSAGE = 'must start with an ASCII letter or digit and contain only ASCII letters, digits, "_", "." and "-"';

/** The environment the test ruleset claims to be of. */
const ENVIRONMENT = 'test';
/** Every experiment buckets on the unit id, as the platform's default. */
const HASH_ATTRIBUTE = 'id';
/** Sticky bucket version of experiments with per-unit variations (see unitAssignments). */
const BUCKET_VERSION = 0;

/**
 * A flag value: any JSON. JsonDefault also takes values typed by an interface (which has no index
 * signature); JsonValue lets an object literal's properties through TypeScript's excess-property check.
 */
export type TestValue = JsonValue | JsonDefault;

/** Per-unit values: unit id (as the SDK reads it: the user's id, a number as its string) → value. */
export interface UnitOverrides<T> {
  readonly units?: Readonly<Record<string, T>>;
}

export interface TestClientOptions {
  /** Flag key → the value served to every unit; its type (boolean, string, number, JSON) is the flag's. */
  readonly flags?: Readonly<Record<string, TestValue>>;
  /** Experiment key → the variation every unit is bucketed into (an exposure is recorded). */
  readonly experiments?: Readonly<Record<string, string>>;
  /**
   * Evaluating a flag or experiment that is not configured throws an XpError naming it and the keys
   * configured (with "did you mean" for a near miss), instead of serving the default. Default false.
   */
  readonly strict?: boolean;
  /** Clock in epoch ms for the recorded events' timestamps. Default `Date.now`. */
  readonly now?: () => number;
  /** Where the client's warnings go (a malformed trackEvent, …). Default: the console. */
  readonly logger?: Logger;
}

/** A tracked event as trackEvent would send it. */
export interface TrackedEvent {
  readonly name: string;
  readonly unitId: string;
  readonly value?: number;
  readonly properties?: Readonly<Record<string, unknown>>;
  /** The unit's other identifiers (attributes experiments bucket on other than the id). */
  readonly units?: Readonly<Record<string, string>>;
  readonly timestamp: number | string;
}

/** An exposure as the client would send it (each experiment + unit + variation once, as in production). */
export interface RecordedExposure {
  readonly experiment: string;
  readonly variation: string;
  readonly unitId: string;
  readonly hashAttribute?: string;
  /** The flag whose evaluation exposed the unit, when there is one. */
  readonly flag?: string;
  readonly attributes?: Readonly<Record<string, string | number | boolean>>;
  readonly timestamp: number | string;
}

type FlagType = 'boolean' | 'string' | 'number' | 'json';

interface FlagSetting {
  readonly value: JsonValue;
  readonly units: ReadonlyMap<string, JsonValue>;
}

interface ExperimentSetting {
  readonly variation: string;
  readonly units: ReadonlyMap<string, string>;
}

function configError(message: string): XpError {
  return new XpError(XpErrorCode.Configuration, `xp testing: ${message}`);
}

function checkKey(kind: string, key: unknown): string {
  if (typeof key !== 'string') {
    throw configError(`a ${kind} key must be a string, got ${typeof key}`);
  }
  if (key.length === 0 || key.length > KEY_MAX_LENGTH) {
    throw configError(`${kind} key ${JSON.stringify(key)} must be 1 to ${KEY_MAX_LENGTH} characters`);
  }
  if (!KEY_PATTERN.test(key)) {
    throw configError(`${kind} key ${JSON.stringify(key)} is not a valid key: it ${KEY_PATTERN_MESSAGE}`);
  }
  return key;
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** `value` as plain JSON (a copy), or throws saying where it is not JSON. */
function jsonCopy(value: unknown, where: string, path = 'value', seen = new Set<object>()): JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') {
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw configError(`${where}: ${path} is ${String(value)}, not a JSON value (numbers must be finite)`);
    }
    return value;
  }
  if (typeof value !== 'object') {
    throw configError(`${where}: ${path} is ${value === undefined ? 'undefined' : `a ${typeof value}`}, not a JSON value (use null, a boolean, a string, a finite number, an array or a plain object)`);
  }
  if (seen.has(value)) {
    throw configError(`${where}: ${path} refers to itself (a cycle), not a JSON value`);
  }
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      // A for loop, not map(): it visits holes, which are not JSON.
      const out: JsonValue[] = [];
      for (let i = 0; i < value.length; i++) {
        out.push(jsonCopy(value[i], where, `${path}[${i}]`, seen));
      }
      return out;
    }
    if (!isPlainObject(value)) {
      throw configError(`${where}: ${path} is a ${value.constructor.name || 'non-plain'} object, not a JSON value (use a plain object)`);
    }
    const out: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = jsonCopy(v, where, `${path}.${k}`, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

function typeOf(value: JsonValue): FlagType {
  return typeof value === 'boolean' ? 'boolean' : typeof value === 'string' ? 'string' : typeof value === 'number' ? 'number' : 'json';
}

/** The `units` option as a map, validated with `check` (unit ids must be non-empty). */
function unitMap<T>(options: UnitOverrides<unknown> | undefined, where: string, check: (value: unknown, unit: string) => T): Map<string, T> {
  const units = new Map<string, T>();
  if (options === undefined) {
    return units;
  }
  if (typeof options !== 'object' || (options as unknown) === null || Array.isArray(options)) {
    throw configError(`${where}: the options must be an object like { units: { "user-1": … } }`);
  }
  const given: unknown = options.units;
  if (given === undefined) {
    return units;
  }
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw configError(`${where}: units must be an object of unit id → value, like { "user-1": … }`);
  }
  for (const [unit, value] of Object.entries(given)) {
    if (unit === '') {
      throw configError(`${where}: a unit id must not be empty`);
    }
    units.set(unit, check(value, unit));
  }
  return units;
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    previous = row;
  }
  return previous[b.length]!;
}

/** The configured key closest to `key`, when it is close enough to be a typo (at most 2 edits, ignoring case). */
function nearest(key: string, keys: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of keys) {
    const d = distance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance && d < Math.max(k.length, key.length)) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Flag variation keys: a boolean's are "on" (true) and "off" (false), as the platform names them; a
 * string that is itself a valid key (and not of the form "value-<n>") is its own key; any other
 * value is "value-<i>", i its index in the flag's variations.
 */
function variationKey(value: JsonValue, index: number): string {
  if (typeof value === 'boolean') {
    return value ? 'on' : 'off';
  }
  if (typeof value === 'string' && value.length <= KEY_MAX_LENGTH && KEY_PATTERN.test(value) && !/^value-\d+$/.test(value)) {
    return value;
  }
  return `value-${index}`;
}

/**
 * A flag serving `value` to everyone and each unit's own value to that unit: the distinct values
 * (the everyone value first, then the units' in order of first appearance) are the variations; a
 * `force` rule per distinct per-unit value matches those units by id; the default serves `value`.
 */
function compileFlag(setting: FlagSetting): Record<string, unknown> {
  const values: JsonValue[] = [setting.value];
  const texts = [JSON.stringify(setting.value)];
  const byVariation = new Map<number, string[]>();
  for (const [unit, value] of setting.units) {
    const text = JSON.stringify(value);
    let index = texts.indexOf(text);
    if (index < 0) {
      index = values.push(value) - 1;
      texts.push(text);
    }
    if (index !== 0) {
      byVariation.set(index, [...(byVariation.get(index) ?? []), unit]);
    }
  }
  const rules = [...byVariation].map(([variation, ids], i) => ({ id: `unit-values-${i + 1}`, type: 'force', condition: { [HASH_ATTRIBUTE]: { $in: ids } }, variation }));
  return {
    variations: values.map((value, i) => ({ key: variationKey(value, i), value })),
    default: 0,
    off: 0,
    ...(rules.length === 0 ? {} : { rules }),
  };
}

/**
 * An experiment bucketing every unit into `variation`: the distinct variation names (the everyone
 * one first, then the units' in order of first appearance), weight 1 on the first and 0 on the
 * others, coverage 1, on the unit id. Per-unit variations make it sticky, served from the test
 * client's sticky-bucket store (unitAssignments), so those units are in the experiment too.
 */
function compileExperiment(key: string, setting: ExperimentSetting): Record<string, unknown> {
  const names = [...new Set([setting.variation, ...setting.units.values()])];
  return {
    hashAttribute: HASH_ATTRIBUTE,
    seed: key,
    hashVersion: 2,
    coverage: 1,
    weights: names.map((_, i) => (i === 0 ? 1 : 0)),
    variations: names.map((name) => ({ key: name })),
    ...(setting.units.size === 0 ? {} : { sticky: { bucketVersion: BUCKET_VERSION, minBucketVersion: 0 } }),
  };
}

/**
 * A client for tests: serves the flags and experiments it is given (and later set) through the real
 * evaluator, records exposures and tracked events instead of sending them, reaches no network and
 * starts no timer. Ready at once; `close()` works as on any client.
 */
export class TestClient extends ExperimentationClient {
  private readonly flagSettings = new Map<string, FlagSetting>();
  private readonly experimentSettings = new Map<string, ExperimentSetting>();
  private readonly strict: boolean;
  private version = 0;
  private tracked: TrackedEvent[] = [];
  private exposed: RecordedExposure[] = [];
  /** The per-unit experiment variations. */
  private readonly assignments: UnitAssignments;

  constructor(options: TestClientOptions = {}) {
    const store = new UnitAssignments();
    super('xp-test', { stickyBucketStore: store, ...clientOptions(options) });
    this.assignments = store;
    this.strict = options.strict === true;
    for (const [key, value] of Object.entries(options.flags ?? {})) {
      this.putFlag(key, value, undefined);
    }
    for (const [key, variation] of Object.entries(options.experiments ?? {})) {
      this.putExperiment(key, variation, undefined);
    }
    this.publish();
  }

  /** Resolves at once: the test ruleset is served from the start. */
  override ready(): Promise<ReadyResult> {
    return Promise.resolve({ status: this.status });
  }

  /**
   * Serves `value` to every unit (and each `units` entry's value to that unit), replacing the flag's
   * previous definition; change listeners are called as for a ruleset update. The flag's type is
   * the value's; per-unit values must have the same type.
   */
  setFlag(key: string, value: TestValue, options?: UnitOverrides<TestValue>): void {
    this.putFlag(key, value, options);
    this.publish();
  }

  /** Buckets every unit into `variation` (each `units` entry into its own), replacing the experiment's previous definition. */
  setExperiment(key: string, variation: string, options?: UnitOverrides<string>): void {
    this.putExperiment(key, variation, options);
    this.publish();
  }

  /** Removes the flag (evaluations then answer FLAG_NOT_FOUND, or throw in strict mode); false when it was not configured. */
  removeFlag(key: string): boolean {
    const removed = this.flagSettings.delete(key);
    if (removed) {
      this.publish();
    }
    return removed;
  }

  /** Removes the experiment (getVariant then answers null, or throws in strict mode); false when it was not configured. */
  removeExperiment(key: string): boolean {
    const removed = this.experimentSettings.delete(key);
    if (removed) {
      this.publish();
    }
    return removed;
  }

  /** What trackEvent recorded, oldest first (a copy). */
  get trackedEvents(): readonly TrackedEvent[] {
    return Object.freeze([...this.tracked]);
  }

  /** The exposures the client would have sent, oldest first (a copy). */
  get exposures(): readonly RecordedExposure[] {
    return Object.freeze([...this.exposed]);
  }

  /**
   * Clears the recorded events and exposures, and which exposures were logged, so a unit evaluated
   * again is exposed again (as by a new client). The flags and experiments stay.
   */
  reset(): void {
    this.tracked = [];
    this.exposed = [];
    this.forgetExposures();
  }

  override isFeatureEnabled(flagKey: string, user: User): boolean {
    this.checkConfigured('flag', flagKey);
    return super.isFeatureEnabled(flagKey, user);
  }

  override getValue(flagKey: string, user: User, defaultValue: boolean): boolean;
  override getValue(flagKey: string, user: User, defaultValue: string): string;
  override getValue(flagKey: string, user: User, defaultValue: number): number;
  override getValue(flagKey: string, user: User, defaultValue: null): JsonValue;
  override getValue<T extends JsonDefault>(flagKey: string, user: User, defaultValue: T): T;
  override getValue(flagKey: string, user: User, defaultValue: unknown): unknown {
    this.checkConfigured('flag', flagKey);
    return super.getValue(flagKey, user, defaultValue as JsonDefault);
  }

  override evaluate(flagKey: string, user: User, defaultValue: boolean, options?: EvaluateOptions): EvaluationDetails<boolean>;
  override evaluate(flagKey: string, user: User, defaultValue: string, options?: EvaluateOptions): EvaluationDetails<string>;
  override evaluate(flagKey: string, user: User, defaultValue: number, options?: EvaluateOptions): EvaluationDetails<number>;
  override evaluate(flagKey: string, user: User, defaultValue?: null, options?: EvaluateOptions): EvaluationDetails<JsonValue>;
  override evaluate<T extends JsonDefault>(flagKey: string, user: User, defaultValue?: T, options?: EvaluateOptions): EvaluationDetails<T>;
  override evaluate(flagKey: string, user: User, defaultValue?: unknown, options?: EvaluateOptions): EvaluationDetails {
    this.checkConfigured('flag', flagKey);
    return super.evaluate(flagKey, user, defaultValue as JsonDefault | undefined, options);
  }

  /** getVariant goes through it too. */
  override getExperiment(experimentKey: string, user: User, options?: ExposureOptions): ExperimentResult {
    this.checkConfigured('experiment', experimentKey);
    return super.getExperiment(experimentKey, user, options);
  }

  protected override record(event: SdkEvent): void {
    // A closed client drops what is logged after close(); so does this one.
    if (this.status === ClientStatus.Closed) {
      return;
    }
    if (event.type === 'exposure') {
      const { type: _type, id: _id, ...exposure } = event;
      this.exposed.push(Object.freeze(withoutUndefined(exposure)) as RecordedExposure);
    } else {
      const { type: _type, id: _id, ...tracked } = event;
      this.tracked.push(Object.freeze(withoutUndefined(tracked)) as TrackedEvent);
    }
  }

  private putFlag(key: string, value: unknown, options: UnitOverrides<unknown> | undefined): void {
    const where = `flag "${checkKey('flag', key)}"`;
    const copy = jsonCopy(value, where);
    const type = typeOf(copy);
    const units = unitMap(options, where, (v, unit) => {
      const unitValue = jsonCopy(v, `${where}, unit "${unit}"`);
      if (typeOf(unitValue) !== type) {
        throw configError(`${where}, unit "${unit}": the value is ${typeOf(unitValue) === 'json' ? 'JSON' : `a ${typeOf(unitValue)}`}, but the flag serves ${type === 'json' ? 'JSON' : `a ${type}`} (a flag's values all have one type)`);
      }
      return unitValue;
    });
    this.flagSettings.set(key, { value: copy, units });
  }

  private putExperiment(key: string, variation: unknown, options: UnitOverrides<unknown> | undefined): void {
    const where = `experiment "${checkKey('experiment', key)}"`;
    const name = (v: unknown, at: string): string => {
      if (typeof v !== 'string' || v.length === 0 || v.length > KEY_MAX_LENGTH || !KEY_PATTERN.test(v)) {
        throw configError(`${at}: variation ${typeof v === 'string' ? JSON.stringify(v) : `(${v === null ? 'null' : typeof v})`} is not a valid variation name: it must be a string of 1 to ${KEY_MAX_LENGTH} characters that ${KEY_PATTERN_MESSAGE}`);
      }
      return v;
    };
    const everyone = name(variation, where);
    const units = unitMap(options, where, (v, unit) => name(v, `${where}, unit "${unit}"`));
    this.experimentSettings.set(key, { variation: everyone, units });
  }

  /** Builds the ruleset from the settings and serves it, as a new version from the API would be. */
  private publish(): void {
    const flags = Object.fromEntries([...this.flagSettings].map(([key, setting]) => [key, compileFlag(setting)]));
    const experiments = Object.fromEntries([...this.experimentSettings].map(([key, setting]) => [key, compileExperiment(key, setting)]));
    const assignments = new Map<string, Record<string, string>>();
    for (const [key, setting] of this.experimentSettings) {
      for (const [unit, variation] of setting.units) {
        assignments.set(unit, { ...assignments.get(unit), [`${key}__${BUCKET_VERSION}`]: variation });
      }
    }
    const document = { schemaVersion: 1, environment: ENVIRONMENT, version: ++this.version, flags, experiments };
    // The settings were checked as they were given: a problem here is a bug of this module, said plainly.
    const problems = checkRuleset(document, '');
    const refused = problems.length > 0 ? problems.join('; ') : undefined;
    if (refused !== undefined) {
      throw configError(`the test ruleset is invalid (${refused})`);
    }
    this.assignments.byUnit = assignments;
    const error = this.serveRuleset(document);
    if (error !== undefined) {
      throw configError(`the test ruleset was refused (${error.message})`);
    }
  }

  private checkConfigured(kind: 'flag' | 'experiment', key: string): void {
    const settings: ReadonlyMap<string, unknown> = kind === 'flag' ? this.flagSettings : this.experimentSettings;
    if (!this.strict || settings.has(key)) {
      return;
    }
    const keys = [...settings.keys()].sort();
    const other = kind === 'flag' ? this.experimentSettings : this.flagSettings;
    const hint = other.has(key)
      ? ` ("${key}" is configured as ${kind === 'flag' ? 'an experiment' : 'a flag'})`
      : ((near) => (near === undefined ? '' : ` (did you mean "${near}"?)`))(typeof key === 'string' ? nearest(key, keys) : undefined);
    throw configError(`${kind} ${JSON.stringify(key)} is not configured in this strict test client${hint}; configured ${kind}s: ${keys.length === 0 ? '(none)' : keys.map((k) => `"${k}"`).join(', ')}`);
  }
}

/**
 * The sticky-bucket store answering the per-unit experiment variations (unit id → experiment
 * bucket key → variation): how the real evaluator serves them with the unit in the experiment.
 */
class UnitAssignments implements StickyBucketStore {
  byUnit: ReadonlyMap<string, Readonly<Record<string, string>>> = new Map();

  get(hashAttribute: string, hashValue: string): Readonly<Record<string, string>> | undefined {
    return hashAttribute === HASH_ATTRIBUTE ? this.byUnit.get(hashValue) : undefined;
  }

  /** Bucketed assignments are not kept: a unit follows the variation set now, as the test says. */
  set(): void {
    return undefined;
  }
}

/** The client options a test client's settings give (checked: a test passing garbage is told so). */
function clientOptions(options: TestClientOptions): { now?: () => number; logger?: Logger } {
  if (typeof options !== 'object' || (options as unknown) === null || Array.isArray(options)) {
    throw configError('createTestClient takes an object like { flags: { … }, experiments: { … } }');
  }
  for (const name of ['flags', 'experiments'] as const) {
    const given: unknown = options[name];
    if (given !== undefined && (typeof given !== 'object' || given === null || Array.isArray(given))) {
      throw configError(`${name} must be an object of key → value`);
    }
  }
  if (options.now !== undefined && typeof options.now !== 'function') {
    throw configError('now must be a function returning epoch milliseconds');
  }
  return { ...(options.now === undefined ? {} : { now: options.now }), ...(options.logger === undefined ? {} : { logger: options.logger }) };
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** A test client serving `flags` and `experiments`; see TestClient. Throws an XpError for bad configuration. */
export function createTestClient(options: TestClientOptions = {}): TestClient {
  return new TestClient(options);
}
