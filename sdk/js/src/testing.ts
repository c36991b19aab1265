/**
 * @xp/sdk/testing — a client for unit tests of code that uses flags and experiments: no network, no
 * API, deterministic. It is a real ExperimentationClient serving a real ruleset built from the values
 * given, so evaluation (reasons, type mismatches, `isFeatureEnabled` on a non-boolean flag, …) is
 * production's; exposures and tracked events are recorded for assertions instead of being sent.
 */
import { KEY_MAX_LENGTH, KEY_PATTERN, KEY_PATTERN_MESSAGE, checkRuleset } from '@xp/shared/eval';
import type { StickyBucketStore } from '@xp/shared/eval';
import type { SdkEvent } from '@xp/shared';
import { ExperimentationClient } from './client.js';
import { deepFreeze } from './ruleset-state.js';
import type { JsonDefault, JsonValue } from './client.js';
import { NotConfiguredError, XpError, XpErrorCode } from './errors.js';
import { ClientStatus } from './types.js';

export { NotConfiguredError } from './errors.js';
import type { EvaluateOptions, EvaluationDetails, ExposureOptions, Logger, ReadyResult, User } from './types.js';
import type { ExperimentResult } from '@xp/shared/eval';


/** The environment the test ruleset claims to be of. */
const ENVIRONMENT = 'test';
/** Every experiment buckets on the unit id, as the platform's default. */
const HASH_ATTRIBUTE = 'id';
/** Sticky bucket version of experiments with per-unit variations (see unitAssignments). */
const BUCKET_VERSION = 0;
/**
 * The ruleset schema's limits (shared/src/eval/ruleset-validator.ts, rulesetSchema): a flag holds 1
 * to 100 variations and at most 500 rules (a rule per distinct per-unit value: at most 99 here); an
 * experiment 1 to 64 variations.
 */
const MAX_FLAG_VARIATIONS = 100;
const MAX_FLAG_RULES = 500;
const MAX_EXPERIMENT_VARIATIONS = 64;

/**
 * A flag value: any JSON. JsonDefault also takes values typed by an interface (which has no index
 * signature); JsonValue lets an object literal's properties through TypeScript's excess-property check.
 */
export type TestValue = JsonValue | JsonDefault;

/**
 * Unit id → value, in the order first given. A Map keeps its insertion order exactly; a plain
 * object lists integer-like keys ("0", "42") first, in ascending order, then the others as written
 * (JavaScript's property order), so use a Map when such ids must keep their order.
 */
export type UnitValues<T> = Readonly<Record<string, T>> | ReadonlyMap<string | number, T>;

/** Per-unit values: unit id (as the SDK reads it: the user's id, a number as its string) → value. */
export interface UnitOverrides<T> {
  readonly units?: UnitValues<T>;
}

export interface TestClientOptions {
  /** Flag key → the value served to every unit; its type (boolean, string, number, JSON) is the flag's. An object or a Map. */
  readonly flags?: Readonly<Record<string, TestValue>> | ReadonlyMap<string, TestValue>;
  /** Experiment key → the variation every unit is bucketed into (an exposure is recorded). An object or a Map. */
  readonly experiments?: Readonly<Record<string, string>> | ReadonlyMap<string, string>;
  /**
   * Evaluating a flag or experiment that is not configured throws an XpError naming it and the keys
   * configured (with "did you mean" for a near miss), instead of serving the default. Default false.
   */
  readonly strict?: boolean;
  /** Clock in epoch ms for the recorded events' timestamps. Default `Date.now`. */
  readonly now?: () => number;
  /** Where the client's warnings go (a malformed trackEvent, …). Default: the console. */
  readonly logger?: Logger;
  /**
   * Attributes left out of recorded exposures and tracked events' `units`, by name, or `true` for all:
   * the real client's `privateAttributes` (ClientOptions), so tests see what production would send.
   */
  readonly privateAttributes?: readonly string[] | true;
}

/** The options createTestClient knows; any other key is refused (a typo would otherwise be ignored). */
const OPTION_KEYS = ['flags', 'experiments', 'strict', 'now', 'logger', 'privateAttributes'] as const;

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

/** A flag's setting and its part of the ruleset, compiled once when set (a change to another flag reuses it). */
interface FlagEntry {
  readonly setting: FlagSetting;
  readonly compiled: Record<string, unknown>;
}

interface ExperimentEntry {
  readonly setting: ExperimentSetting;
  readonly compiled: Record<string, unknown>;
}

/** What the test client serves; replaced whole by each change, never changed in place. */
interface Configuration {
  readonly flags: ReadonlyMap<string, FlagEntry>;
  readonly experiments: ReadonlyMap<string, ExperimentEntry>;
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
      // Defined, not assigned: a "__proto__" key (JSON.parse makes it an own property) stays data, as
      // the real client serves it, instead of setting the copy's prototype.
      Object.defineProperty(out, k, { value: jsonCopy(v, where, `${path}.${k}`, seen), enumerable: true, writable: true, configurable: true });
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

function typeOf(value: JsonValue): FlagType {
  return typeof value === 'boolean' ? 'boolean' : typeof value === 'string' ? 'string' : typeof value === 'number' ? 'number' : 'json';
}

/** The entries of a plain object or a Map (in its insertion order), or undefined when `given` is neither. */
function entriesOf(given: unknown): [unknown, unknown][] | undefined {
  if (given instanceof Map) {
    return [...(given as Map<unknown, unknown>)];
  }
  if (typeof given === 'object' && given !== null && !Array.isArray(given) && isPlainObject(given)) {
    return Object.entries(given);
  }
  return undefined;
}

/** A unit id as the SDK reads a user's id: a non-empty string, a finite number as its string. */
function unitId(given: unknown, where: string): string {
  const unit = typeof given === 'number' && Number.isFinite(given) ? String(given) : given;
  if (typeof unit !== 'string') {
    throw configError(`${where}: a unit id must be a string or a finite number, got ${given === null ? 'null' : typeof given}`);
  }
  if (unit === '') {
    throw configError(`${where}: a unit id must not be empty`);
  }
  return unit;
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
  const unknown = Object.keys(options).filter((k) => k !== 'units');
  if (unknown.length > 0) {
    throw configError(`${where}: unknown option ${unknown.map((k) => JSON.stringify(k)).join(', ')} (the only option is "units")`);
  }
  const given: unknown = options.units;
  if (given === undefined) {
    return units;
  }
  const entries = entriesOf(given);
  if (entries === undefined) {
    throw configError(`${where}: units must be an object or a Map of unit id → value, like { "user-1": … }`);
  }
  for (const [key, value] of entries) {
    const unit = unitId(key, where);
    if (units.has(unit)) {
      throw configError(`${where}: ${JSON.stringify(key)} is the unit "${unit}" given twice (a number id is read as its string)`);
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
  const indexes = new Map([[JSON.stringify(setting.value), 0]]);
  const byVariation = new Map<number, string[]>();
  for (const [unit, value] of setting.units) {
    const text = JSON.stringify(value);
    let index = indexes.get(text);
    if (index === undefined) {
      index = values.push(value) - 1;
      indexes.set(text, index);
    }
    if (index !== 0) {
      // Pushed, not copied: a copy per unit is quadratic in the units of a variation.
      let ids = byVariation.get(index);
      if (ids === undefined) {
        byVariation.set(index, (ids = []));
      }
      ids.push(unit);
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
  private config: Configuration = { flags: new Map(), experiments: new Map() };
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
    const flags = new Map<string, FlagEntry>();
    const experiments = new Map<string, ExperimentEntry>();
    for (const [key, value] of entriesOf(options.flags) ?? []) {
      flags.set(key as string, flagEntry(key, value, undefined));
    }
    for (const [key, variation] of entriesOf(options.experiments) ?? []) {
      experiments.set(key as string, experimentEntry(key, variation, undefined));
    }
    this.publish({ flags, experiments });
  }

  /** Resolves at once: the test ruleset is served from the start. */
  override ready(): Promise<ReadyResult> {
    return Promise.resolve({ status: this.status });
  }

  /**
   * Serves `value` to every unit (and each `units` entry's value to that unit), replacing the flag's
   * previous definition; change listeners are called as for a ruleset update. The flag's type is
   * the value's; per-unit values must have the same type. A refused change (bad input, over a
   * limit) throws and changes nothing.
   */
  setFlag(key: string, value: TestValue, options?: UnitOverrides<TestValue>): void {
    this.checkOpen('setFlag');
    const entry = flagEntry(key, value, options);
    this.publish({ ...this.config, flags: new Map(this.config.flags).set(key, entry) });
  }

  /** Buckets every unit into `variation` (each `units` entry into its own), replacing the experiment's previous definition. */
  setExperiment(key: string, variation: string, options?: UnitOverrides<string>): void {
    this.checkOpen('setExperiment');
    const entry = experimentEntry(key, variation, options);
    this.publish({ ...this.config, experiments: new Map(this.config.experiments).set(key, entry) });
  }

  /** Removes the flag (evaluations then answer FLAG_NOT_FOUND, or throw in strict mode); false when it was not configured. */
  removeFlag(key: string): boolean {
    this.checkOpen('removeFlag');
    if (!this.config.flags.has(key)) {
      return false;
    }
    const flags = new Map(this.config.flags);
    flags.delete(key);
    this.publish({ ...this.config, flags });
    return true;
  }

  /** Removes the experiment (getVariant then answers null, or throws in strict mode); false when it was not configured. */
  removeExperiment(key: string): boolean {
    this.checkOpen('removeExperiment');
    if (!this.config.experiments.has(key)) {
      return false;
    }
    const experiments = new Map(this.config.experiments);
    experiments.delete(key);
    this.publish({ ...this.config, experiments });
    return true;
  }

  /** What trackEvent recorded, oldest first (a copy; the events are deeply frozen). */
  get trackedEvents(): readonly TrackedEvent[] {
    return Object.freeze([...this.tracked]);
  }

  /** The exposures the client would have sent, oldest first (a copy; the exposures are deeply frozen). */
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
    // A deep copy, deeply frozen: a test changing what it read (or what it passed) changes no later read.
    if (event.type === 'exposure') {
      const { type: _type, id: _id, ...exposure } = event;
      this.exposed.push(deepFreeze(frozenCopy(withoutUndefined(exposure))) as RecordedExposure);
    } else {
      const { type: _type, id: _id, ...tracked } = event;
      this.tracked.push(deepFreeze(frozenCopy(withoutUndefined(tracked))) as TrackedEvent);
    }
  }

  /**
   * Serves `next` as a new ruleset version, as one from the API would be, and makes it the
   * configuration; when it is refused, throws and keeps the current one (a refused change changes
   * nothing).
   */
  private publish(next: Configuration): void {
    const flags = Object.fromEntries([...next.flags].map(([key, entry]) => [key, entry.compiled]));
    const experiments = Object.fromEntries([...next.experiments].map(([key, entry]) => [key, entry.compiled]));
    const assignments = new Map<string, Record<string, string>>();
    for (const [key, { setting }] of next.experiments) {
      for (const [unit, variation] of setting.units) {
        let forUnit = assignments.get(unit);
        if (forUnit === undefined) {
          assignments.set(unit, (forUnit = {}));
        }
        forUnit[`${key}__${BUCKET_VERSION}`] = variation;
      }
    }
    const document = { schemaVersion: 1, environment: ENVIRONMENT, version: this.version + 1, flags, experiments };
    // Each entry was checked as it was given: a problem here is a bug of this module, said plainly.
    const problems = checkRuleset(document, '');
    if (problems.length > 0) {
      throw configError(`the test ruleset is invalid (${problems.join('; ')})`);
    }
    // Installed before serving: change listeners called while it is served may evaluate (strict mode
    // reads the configuration, per-unit variations the store); put back if it is refused.
    const previous = { config: this.config, byUnit: this.assignments.byUnit };
    this.config = next;
    this.assignments.byUnit = assignments;
    const error = this.serveRuleset(document);
    if (error !== undefined) {
      this.config = previous.config;
      this.assignments.byUnit = previous.byUnit;
      throw configError(`the test ruleset was refused (${error.message})`);
    }
    this.version = document.version;
  }

  /** A closed client gets no new ruleset: a change after close() is a mistake of the test, said so. */
  private checkOpen(method: string): void {
    if (this.status === ClientStatus.Closed) {
      throw new XpError(XpErrorCode.Closed, `xp testing: ${method}() after close(): a closed client takes no new flags or experiments (create a new test client)`);
    }
  }

  private checkConfigured(kind: 'flag' | 'experiment', key: string): void {
    const settings: ReadonlyMap<string, unknown> = kind === 'flag' ? this.config.flags : this.config.experiments;
    if (!this.strict || settings.has(key)) {
      return;
    }
    const keys = [...settings.keys()].sort();
    const other = kind === 'flag' ? this.config.experiments : this.config.flags;
    const hint = other.has(key)
      ? ` ("${key}" is configured as ${kind === 'flag' ? 'an experiment' : 'a flag'})`
      : ((near) => (near === undefined ? '' : ` (did you mean "${near}"?)`))(typeof key === 'string' ? nearest(key, keys) : undefined);
    throw new NotConfiguredError(
      XpErrorCode.Configuration,
      `xp testing: ${kind} ${JSON.stringify(key)} is not configured in this strict test client${hint}; configured ${kind}s: ${keys.length === 0 ? '(none)' : keys.map((k) => `"${k}"`).join(', ')}`,
    );
  }
}

/** A flag's entry: its value and per-unit values checked and copied, and compiled (within the schema's limits). */
function flagEntry(key: unknown, value: unknown, options: UnitOverrides<unknown> | undefined): FlagEntry {
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
  const setting = { value: copy, units };
  const compiled = compileFlag(setting);
  const variations = (compiled.variations as unknown[]).length;
  if (variations > MAX_FLAG_VARIATIONS) {
    throw configError(`${where} has ${variations} distinct values (its value for everyone and the units'), over the limit of ${MAX_FLAG_VARIATIONS} variations per flag; give fewer distinct per-unit values`);
  }
  const rules = ((compiled.rules as unknown[] | undefined) ?? []).length;
  if (rules > MAX_FLAG_RULES) {
    throw configError(`${where} needs ${rules} rules, over the limit of ${MAX_FLAG_RULES} rules per flag`);
  }
  checkEntry(where, 'flags', key as string, compiled);
  return { setting, compiled };
}

function experimentEntry(key: unknown, variation: unknown, options: UnitOverrides<unknown> | undefined): ExperimentEntry {
  const where = `experiment "${checkKey('experiment', key)}"`;
  const name = (v: unknown, at: string): string => {
    if (typeof v !== 'string' || v.length === 0 || v.length > KEY_MAX_LENGTH || !KEY_PATTERN.test(v)) {
      throw configError(`${at}: variation ${typeof v === 'string' ? JSON.stringify(v) : `(${v === null ? 'null' : typeof v})`} is not a valid variation name: it must be a string of 1 to ${KEY_MAX_LENGTH} characters that ${KEY_PATTERN_MESSAGE}`);
    }
    return v;
  };
  const everyone = name(variation, where);
  const units = unitMap(options, where, (v, unit) => name(v, `${where}, unit "${unit}"`));
  const setting = { variation: everyone, units };
  const compiled = compileExperiment(key as string, setting);
  const variations = (compiled.variations as unknown[]).length;
  if (variations > MAX_EXPERIMENT_VARIATIONS) {
    throw configError(`${where} has ${variations} distinct variations (the one for everyone and the units'), over the limit of ${MAX_EXPERIMENT_VARIATIONS} variations per experiment`);
  }
  checkEntry(where, 'experiments', key as string, compiled);
  return { setting, compiled };
}

/** The ruleset schema's verdict on one entry, as a configuration error naming it. */
function checkEntry(where: string, kind: 'flags' | 'experiments', key: string, compiled: Record<string, unknown>): void {
  const document = { schemaVersion: 1, environment: ENVIRONMENT, version: 1, flags: {}, [kind]: { [key]: compiled } };
  const problems = checkRuleset(document, '');
  if (problems.length > 0) {
    throw configError(`${where} cannot be served: ${problems.join('; ')}`);
  }
}

/** A JSON-like copy of a recorded event (its properties and attributes are the caller's objects). */
function frozenCopy<T>(value: T): T {
  try {
    return structuredClone(value);
  } catch {
    // Not cloneable (the client sends it as JSON anyway): the JSON text's value.
    return JSON.parse(JSON.stringify(value)) as T;
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
function clientOptions(options: TestClientOptions): { now?: () => number; logger?: Logger; privateAttributes?: readonly string[] | true } {
  if (typeof options !== 'object' || (options as unknown) === null || Array.isArray(options)) {
    throw configError('createTestClient takes an object like { flags: { … }, experiments: { … } }');
  }
  const unknown = Object.keys(options).filter((k) => !(OPTION_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    const hint = unknown.includes('logExposures')
      ? ' (the JavaScript client has no logExposures option: pass { exposure: false } to getExperiment, getVariant or evaluate to evaluate without an exposure)'
      : '';
    throw configError(`unknown option ${unknown.map((k) => JSON.stringify(k)).join(', ')}${hint}; the options are ${OPTION_KEYS.join(', ')}`);
  }
  for (const name of ['flags', 'experiments'] as const) {
    const given: unknown = options[name];
    if (given !== undefined && entriesOf(given) === undefined) {
      throw configError(`${name} must be an object or a Map of key → value`);
    }
  }
  if (options.strict !== undefined && typeof options.strict !== 'boolean') {
    throw configError(`strict must be true or false, got the ${typeof options.strict} ${typeof options.strict === 'string' ? JSON.stringify(options.strict) : String(options.strict)}`);
  }
  if (options.now !== undefined && typeof options.now !== 'function') {
    throw configError('now must be a function returning epoch milliseconds');
  }
  const logger: unknown = options.logger;
  if (logger !== undefined && (typeof logger !== 'object' || logger === null || !(['debug', 'info', 'warn', 'error'] as const).every((m) => typeof (logger as Record<string, unknown>)[m] === 'function'))) {
    throw configError('logger must be an object with debug, info, warn and error methods');
  }
  const hidden: unknown = options.privateAttributes;
  if (hidden !== undefined && hidden !== true && !(Array.isArray(hidden) && hidden.every((name) => typeof name === 'string'))) {
    throw configError('privateAttributes must be an array of attribute names, or true for all');
  }
  return {
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.privateAttributes === undefined ? {} : { privateAttributes: options.privateAttributes }),
  };
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** A test client serving `flags` and `experiments`; see TestClient. Throws an XpError for bad configuration. */
export function createTestClient(options: TestClientOptions = {}): TestClient {
  return new TestClient(options);
}
