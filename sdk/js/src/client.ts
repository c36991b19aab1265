import { ErrorCode, Reason, checkRuleset, evaluateExperiment, evaluateFlag, exposureAttributes, readAttribute } from '@xp/shared/eval';
import type { EvaluationContext, EvaluationResult, ExperimentAssignment, ExperimentResult } from '@xp/shared/eval';
import type { SdkEvent } from '@xp/shared';
import { APP_NAME_MESSAGE, APP_NAME_PATTERN } from '@xp/shared/edge';
import { NetworkError, XpError, XpErrorCode, describeError } from './errors.js';
import type { HttpError } from './errors.js';
import { EventQueue } from './event-queue.js';
import { EvaluationCounter } from './evaluation-counts.js';
import { LruSet } from './lru.js';
import { browserSafe, deepFreeze, diffRulesets, loadRuleset, mayReplace, SERVER_ONLY_FIELD } from './ruleset-state.js';
import type { LoadedRuleset, RulesetDocument } from './ruleset-state.js';
import { RulesetSync, keyHash } from './ruleset-sync.js';
import type { BroadcastChannelLike, LockManagerLike, StreamShare } from './ruleset-sync.js';
import { Transport, keyLabel, sdkKeyProblem } from './transport.js';
import { ClientStatus, SdkErrorCode } from './types.js';
import type {
  ChangeListener,
  ClientOptions,
  ClientStats,
  EvaluateOptions,
  EvaluationDetails,
  Exposure,
  ExposureListener,
  ExposureOptions,
  FlushResult,
  Logger,
  PreloadableStickyBucketStore,
  ReadyResult,
  RulesetSnapshot,
  SnapshotOptions,
  User,
  UserContext,
} from './types.js';
import { startTimer } from './backoff.js';
import { MAX_TIMER_MS, flagsChangedBetween, nextTimedChange } from './timed-changes.js';
import { utf8Length } from './event-queue.js';
import { MAX_UNIT_ID, cleanAttributes, cleanProperties, wellFormed } from './sanitize.js';

/** A JSON value, as flag values are. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/**
 * What a flag's default may be typed as: a JsonValue, or any object or array type, including an
 * `interface` (which TypeScript does not take as a JsonValue: it has no index signature). Functions
 * are refused (they have `call` and `apply`), as are undefined, symbols and bigints.
 */
export type JsonDefault = null | boolean | number | string | (object & { readonly call?: never; readonly apply?: never });

const consoleLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (message, ...details) => {
    console.warn(message, ...details);
  },
  error: (message, ...details) => {
    console.error(message, ...details);
  },
};

/**
 * Why an `appName` cannot be sent (the API would refuse every `evaluations` record naming it), as a
 * warning; undefined when it is absent (undefined, null) or valid. The value is shown escaped and cut
 * (JSON.stringify: a name read from config with a newline stays on one log line).
 */
function appNameProblem(appName: unknown): string | undefined {
  if (appName === undefined || appName === null || (typeof appName === 'string' && APP_NAME_PATTERN.test(appName))) {
    return undefined;
  }
  const got =
    typeof appName === 'string'
      ? JSON.stringify(appName.length > 100 ? `${appName.slice(0, 100)}…` : appName)
      : typeof appName === 'number' || typeof appName === 'boolean'
        ? String(appName)
        : describeType(appName);
  return `xp: appName ${APP_NAME_MESSAGE}, got ${got}: ignored, the client's evaluation counts name no application`;
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}

/** Event ids: random, URL-safe, unique enough for the pipeline's exactly-once de-duplication. */
function newEventId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string; getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  // randomUUID exists only in secure contexts; getRandomValues everywhere but Node before 19.
  return (
    c?.randomUUID?.() ??
    Array.from(c?.getRandomValues?.(new Uint8Array(16)) ?? Uint8Array.from({ length: 16 }, () => Math.random() * 256), (b) => b.toString(16).padStart(2, '0')).join('')
  );
}

/**
 * A unit id as the evaluation API takes it: a finite number becomes its decimal string (`42` → `"42"`),
 * so id lists and `$in` conditions on ids match it as they match the string; anything else is kept.
 */
function idString(id: unknown): unknown {
  // Number.isFinite is false for anything but a finite number.
  return Number.isFinite(id) ? String(id) : id;
}

const FALSE_DEFAULT = Object.freeze({ defaultValue: false });

/** Results the client turned into TYPE_MISMATCH because the served value had the wrong type. */
const wrongValueType = new WeakSet<object>();

/**
 * What @xp/sdk/react reads of a client, under a global symbol (not public API; a copy of the SDK in
 * another bundle finds it too). It sees what `onChange` does not announce: status changes, an API
 * ruleset equal to the one served, and change notifications nobody listened to.
 */
export const CLIENT_STATE: unique symbol = Symbol.for('@xp/sdk/client-state');

/**
 * Not public API: an `evaluate` option key (true: the evaluation is not counted in the evaluation
 * counts) for the SDK's own modules: an OpenFeature resolution, which may evaluate twice, counts
 * itself once with COUNT_EVALUATION; the React bindings' exposure logging is no evaluation of its own.
 */
export const UNCOUNTED: unique symbol = Symbol.for('@xp/sdk/uncounted');
/** `evaluate` options that leave the evaluation uncounted (see UNCOUNTED). */
export const UNCOUNTED_OPTIONS = Object.freeze({ [UNCOUNTED]: true }) as EvaluateOptions;
/** Not public API: the client method counting one evaluation by (flag, served variation or null) (see UNCOUNTED). */
export const COUNT_EVALUATION: unique symbol = Symbol.for('@xp/sdk/count-evaluation');

export interface ClientStateSource {
  /** Change notifications so far (`onChange`'s, listened to or not): what evaluations depend on moved when it moves. */
  readonly changes: () => number;
  /** Why the API's ruleset is not (yet) served: why startup settled without it; undefined once it is served. */
  readonly error: () => XpError | undefined;
  /** Calls `watcher` after every change of status, of the ruleset served (even an equal one), and after change notifications. */
  readonly watch: (watcher: () => void) => () => void;
  /** Whether the client served a ruleset from its construction (an accepted `bootstrap`): what a page hydrates with. */
  readonly startedWithRuleset: () => boolean;
}

/** Whether a TYPE_MISMATCH came from the value's type (not from a bucketing attribute's type). */
export function isWrongValueType(details: object): boolean {
  return wrongValueType.has(details);
}

/**
 * Events per POST by default: with 4 batches in flight (servers) about 250 × 4 per round trip,
 * some 12,000 events/s at 80 ms; the API takes up to 500 (MAX_EVENTS_PER_BATCH).
 */
const DEFAULT_MAX_BATCH_SIZE = 250;

/** How many other identifiers a tracked event may carry (`units`; the API's limit). */
const MAX_UNITS = 10;

/** Whether a string holds what the API refuses: a NUL or an unpaired surrogate (no lookbehind: older Safari cannot parse one). */
function unstorable(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || (c >= 0xdc00 && c <= 0xdfff)) {
      return true;
    }
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) {
        return true;
      }
      i++;
    }
  }
  return false;
}

/** The attributes the ruleset's experiments bucket on (hash and fallback), other than `id`, sorted. */
function unitAttributesOf(document: RulesetDocument): string[] {
  const names = new Set<string>();
  for (const def of Object.values(document.experiments ?? {}) as { hashAttribute?: unknown; fallbackAttribute?: unknown }[]) {
    for (const name of [def.hashAttribute, def.fallbackAttribute]) {
      if (typeof name === 'string' && name !== '' && name !== 'id' && name.length <= 256) {
        names.add(name);
      }
    }
  }
  return [...names].sort();
}

/** What the exposure cache remembers an exposure by. */
function exposureKey(experiment: string, hashAttribute: string, unitId: string, variation: string): string {
  return `${experiment}\u0000${hashAttribute}\u0000${unitId}\u0000${variation}`;
}

/** The type of a value with its article, for messages: "a string", "an object", "null". */
function describeType(value: unknown): string {
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return type === 'null' ? type : `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
}

/** Whether a value is a promise or another thenable (what an async change listener returns). */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * Calls a listener, handing what it throws, or the rejection of the promise it returns, to `threw`:
 * a rejection left unhandled would end a Node process.
 */
function callListener(call: () => unknown, threw: (e: unknown) => void): void {
  try {
    const returned = call();
    if (isThenable(returned)) {
      returned.then(undefined, threw);
    }
  } catch (e) {
    threw(e);
  }
}

/** The caller's default with reason ERROR and why: what an evaluation returns when it cannot do better. */
function failed(value: unknown, errorCode: SdkErrorCode, errorMessage: string): EvaluationResult {
  return { value: value ?? null, variationKey: null, reason: Reason.Error, errorCode: errorCode as ErrorCode, errorMessage };
}

/** No ruleset yet, the same answer from evaluate() and getExperiment(). */
const NOT_READY = 'no ruleset loaded yet';
/** Reading the user threw (a throwing getter, a revoked proxy): evaluation never passes that on. */
const UNREADABLE_USER = 'unexpected evaluation failure';

/** Whether a served value has the type of the caller's default (a null default accepts any JSON). */
function sameType(value: unknown, defaultValue: unknown): boolean {
  if (defaultValue === null || defaultValue === undefined) {
    return true;
  }
  if (typeof defaultValue === 'object') {
    return typeof value === 'object' && value !== null && Array.isArray(value) === Array.isArray(defaultValue);
  }
  return typeof value === typeof defaultValue;
}

/**
 * How this page shares its event stream with the other pages of the origin (one per API URL and
 * key), or undefined to stream alone: asked for (default: in pages) and Web Locks and
 * BroadcastChannel both present.
 */
function streamShare(wanted: boolean | undefined, apiUrl: string, sdkKey: string): StreamShare | undefined {
  const g = globalThis as unknown as { navigator?: { locks?: LockManagerLike }; BroadcastChannel?: new (name: string) => BroadcastChannelLike; document?: unknown };
  const locks = g.navigator?.locks;
  const Channel = g.BroadcastChannel;
  if (!(wanted ?? g.document !== undefined) || typeof locks?.request !== 'function' || typeof Channel !== 'function') {
    return undefined;
  }
  return { name: `xp-sdk-stream ${apiUrl} ${keyHash(sdkKey)}`, locks, openChannel: (name) => new Channel(name) };
}

interface HostGlobals {
  readonly document?: {
    readonly visibilityState?: string;
    addEventListener?(type: string, listener: () => void): void;
    removeEventListener?(type: string, listener: () => void): void;
  };
  addEventListener?(type: string, listener: () => void): void;
  removeEventListener?(type: string, listener: () => void): void;
  readonly process?: {
    on?(event: 'beforeExit', listener: () => void): unknown;
    off?(event: 'beforeExit', listener: () => void): unknown;
  };
}

/**
 * The clients' flushes before the process exits: one process listener for all of them (one each
 * made the 11th live client trip MaxListenersExceededWarning). Each runs once, as with `once`: a
 * flush that keeps failing must not keep the process alive by rescheduling itself at every
 * beforeExit.
 */
const exitHooks = new Set<() => void>();
let exitListener: { readonly off: (event: 'beforeExit', listener: () => void) => unknown; readonly run: () => void } | undefined;

function onProcessExit(g: HostGlobals, hook: () => void): () => void {
  const proc = g.process;
  if (proc?.on === undefined || proc.off === undefined) {
    return () => undefined;
  }
  exitHooks.add(hook);
  if (exitListener === undefined) {
    const off = proc.off.bind(proc);
    const run = (): void => {
      const hooks = [...exitHooks];
      exitHooks.clear();
      stopListening();
      for (const h of hooks) {
        h();
      }
    };
    proc.on('beforeExit', run);
    exitListener = { off, run };
  }
  return () => {
    exitHooks.delete(hook);
    if (exitHooks.size === 0) {
      stopListening();
    }
  };
}

function stopListening(): void {
  if (exitListener !== undefined) {
    exitListener.off('beforeExit', exitListener.run);
    exitListener = undefined;
  }
}

/**
 * The xp SDK client: evaluates flags and experiments locally against a ruleset it keeps fresh,
 * logs exposures and tracked events in batches. No method throws; evaluations return the
 * caller's default (reason ERROR) when nothing better is known.
 */
export class ExperimentationClient {
  private current: LoadedRuleset | undefined;
  private statusValue: ClientStatus;
  private readonly logger: Logger;
  private readonly now: (() => number) | undefined;
  private readonly options: ClientOptions;
  private readonly transport: Transport | undefined;
  private readonly sync: RulesetSync | undefined;
  private readonly events: EventQueue;
  /**
   * Evaluations of the public API by (flag, served variation) since the last flush, sent as
   * `evaluations` records; undefined when they are not sent (sendEvaluationCounts false, no events
   * endpoint, or the client closed).
   */
  private counts: EvaluationCounter | undefined;
  /** Exposures logged (experiment, unit, variation), not to log them twice. */
  private exposureCache: LruSet;
  private readonly listeners = new Set<ChangeListener>();
  private readonly exposureListeners = new Set<ExposureListener>();
  /** Exposure listeners whose throw was logged: each is logged once. */
  private readonly failedExposureListeners = new WeakSet<ExposureListener>();
  private readonly readyPromise: Promise<ReadyResult>;
  private closing: Promise<void> | undefined;
  private readonly detachHooks: () => void;
  /** A client-side key (`xpk_cli_…`): what anyone can read; never holds server-side-only entries. */
  private readonly clientKey: boolean;
  /** The hash and fallback attributes of the current ruleset's experiments, less private ones, sorted: what trackEvent sends as `units`. */
  private unitAttributes: readonly string[] = [];
  /** Private attributes warned about as left out of tracked events' `units` (once per client and attribute). */
  private readonly warnedPrivate = new Set<string>();
  /** Whether a unit id the API cannot store was warned about (once per client). */
  private warnedUnitId = false;
  /** Sticky experiments warned about as served without a stickyBucketStore (once per client and experiment). */
  private readonly warnedSticky = new Set<string>();
  /** getSnapshot()'s answers for the current ruleset, computed once. */
  private snapshots: { readonly of: LoadedRuleset; safe?: RulesetSnapshot; full?: RulesetSnapshot } | undefined;
  /** The environment of the bootstrap ruleset, while it is served: the API's first ruleset is checked against it. */
  private bootstrapEnvironment: string | undefined;
  /** The one timer for the next instant a timed rule of the current ruleset takes effect. */
  private timedTimer: ReturnType<typeof startTimer> | undefined;
  /** Timed rules that took effect up to this instant were announced (or came with the ruleset). */
  private timedUpTo = 0;
  /** Change notifications so far, and what CLIENT_STATE reports (see ClientStateSource). */
  private changeCount = 0;
  private startupError: XpError | undefined;
  private readonly stateWatchers = new Set<() => void>();
  /** An accepted bootstrap was served from the constructor on (CLIENT_STATE.startedWithRuleset). */
  private bootstrapped = false;

  /** For @xp/sdk/react, not public API. */
  readonly [CLIENT_STATE]: ClientStateSource = {
    changes: () => this.changeCount,
    error: () => this.startupError,
    watch: (watcher) => {
      this.stateWatchers.add(watcher);
      return () => {
        this.stateWatchers.delete(watcher);
      };
    },
    startedWithRuleset: () => this.bootstrapped,
  };

  constructor(sdkKey: string, options: ClientOptions = {}) {
    this.options = options;
    this.logger = options.logger ?? consoleLogger;
    this.now = options.now;
    const random = options.random ?? Math.random;
    const timeoutMs = positive(options.timeoutMs, 3000);
    const retryBaseMs = positive(options.retryBaseMs, 1000);
    const retryMaxMs = Math.max(retryBaseMs, positive(options.retryMaxMs, 60_000));
    this.exposureCache = new LruSet(positive(options.maxExposureCacheSize, 10_000));
    this.clientKey = typeof sdkKey === 'string' && sdkKey.startsWith('xpk_cli_');
    if (options.onExposure !== undefined) {
      this.onExposure(options.onExposure);
    }

    // null is no bootstrap: what a server without a ruleset yet embeds (`getSnapshot() ?? null`).
    if (options.bootstrap !== undefined && options.bootstrap !== null) {
      this.bootstrapped = this.offer(options.bootstrap, 'bootstrap') === undefined;
    }
    this.statusValue = this.current === undefined ? ClientStatus.Starting : ClientStatus.Bootstrapped;

    // A counting label: a bad one (often from config: an empty or path-like service name) is dropped with a
    // warning, never a reason to serve defaults. Checked with or without apiUrl: an offline run shows it too.
    const appProblem = appNameProblem(options.appName);
    if (appProblem !== undefined) {
      this.logger.warn(appProblem);
    }
    const appName = appProblem === undefined && typeof options.appName === 'string' ? options.appName : undefined;
    let configError: XpError | undefined;
    const base = (options.apiUrl ?? '').replace(/\/+$/, '');
    if (options.apiUrl !== undefined) {
      const fetchFn = options.fetch ?? (globalThis.fetch as typeof globalThis.fetch | undefined)?.bind(globalThis);
      const keyProblem = typeof sdkKey === 'string' && sdkKey !== '' ? sdkKeyProblem(sdkKey) : undefined;
      if (typeof sdkKey !== 'string' || sdkKey === '') {
        configError = new XpError(XpErrorCode.Configuration, 'an SDK key is required to reach the API');
      } else if (keyProblem !== undefined) {
        // Never sent: a key the API cannot have issued would only be refused, and may be another secret.
        configError = new XpError(XpErrorCode.Configuration, `the SDK key "${keyLabel(sdkKey)}" is not an xp SDK key (${keyProblem}), so it is not sent`);
      } else if (!/^https?:\/\/[^/]/i.test(base)) {
        configError = new XpError(XpErrorCode.Configuration, `apiUrl must be an http(s) URL, got "${options.apiUrl}"`);
      } else if (fetchFn === undefined) {
        configError = new XpError(XpErrorCode.Configuration, 'no fetch implementation: pass options.fetch');
      } else if (typeof (globalThis as { AbortController?: unknown }).AbortController !== 'function') {
        // Every request is bounded by aborting it: without it each would fail as a NETWORK error.
        configError = new XpError(XpErrorCode.Configuration, 'this runtime has no AbortController, which the SDK needs to time requests out: install a polyfill before creating the client');
      } else {
        this.transport = new Transport(base, sdkKey, fetchFn, timeoutMs);
        if (sdkKey.startsWith('xpk_srv_') && (globalThis as { document?: unknown }).document !== undefined) {
          // Said loudly: a page's code is public. Still sent: the API refuses it from a browser (its
          // requests carry Origin), while a DOM emulated on a server (jsdom, SSR tests) sends none and is served.
          this.logger.error(
            `xp: a server SDK key (${keyLabel(sdkKey)}) is used in a web page, where anyone can read it, and with it the rules marked server-side only: the API refuses it there; use the environment's client key (xpk_cli_…) in pages and apps, and revoke this server key`,
          );
        }
      }
    }
    if (configError !== undefined) {
      this.logger.error(`xp: ${configError.message}; the client stays offline, serving ${this.current === undefined ? 'defaults' : 'the bootstrap ruleset'}`);
    }

    const counter =
      this.transport === undefined || options.sendEvaluationCounts === false
        ? undefined
        : new EvaluationCounter({
            now: () => this.clock(),
            newId: newEventId,
            logger: this.logger,
            app: appName,
            opened: () => {
              this.events.wake();
            },
            // A window at its pair cap closes now, as at a flush: its records are queued and sent (after any backoff).
            full: () => {
              void this.events.flush();
            },
          });
    this.counts = counter;
    this.events = new EventQueue({
      transport: this.transport,
      collect: counter === undefined ? undefined : () => counter.close(),
      flushIntervalMs: positive(options.flushIntervalMs, 5000),
      maxBatchSize: positive(options.maxBatchSize, DEFAULT_MAX_BATCH_SIZE),
      // In pages, one at a time: an HTTP/1.1 API gives the whole page 6 connections to it.
      maxConcurrentBatches: Math.floor(positive(options.maxConcurrentBatches, (globalThis as { document?: unknown }).document === undefined ? 4 : 1)),
      maxQueueSize: positive(options.maxQueueSize, 10_000),
      retryBaseMs,
      retryMaxMs,
      random,
      logger: this.logger,
      // An exposure dropped unsent is not remembered as sent: the next evaluation logs it again.
      onDropped: (events) => {
        for (const e of events) {
          if (e.type === 'exposure') {
            this.exposureCache.delete(exposureKey(e.experiment, e.hashAttribute ?? 'id', e.unitId, e.variation));
          }
        }
      },
    });

    if (this.transport === undefined) {
      this.sync = undefined;
      this.settleStartup(configError);
      this.readyPromise = Promise.resolve(this.readyResult(configError));
    } else {
      this.sync = new RulesetSync({
        transport: this.transport,
        includeServerOnly: !this.clientKey,
        streaming: (options.streaming ?? true) && this.canStream(),
        customFetch: options.fetch !== undefined,
        pollIntervalMs: positive(options.pollIntervalMs, 30_000),
        retryBaseMs,
        retryMaxMs,
        streamRetryMaxMs: positive(options.streamRetryMaxMs, 5000),
        streamIdleTimeoutMs: positive(options.streamIdleTimeoutMs, 45_000),
        random,
        logger: this.logger,
        offer: (candidate) => this.offer(candidate, 'network'),
        heldVersion: () => this.current?.version,
        keyRefused: (refused) => {
          this.keyRefused(refused, sdkKey, base, retryMaxMs);
        },
        recovered: () => {
          this.events.resume();
        },
        share: options.streaming === false ? undefined : streamShare(options.shareStream, base, sdkKey),
      });
      this.readyPromise = this.startup(this.sync.start(), timeoutMs);
    }
    this.detachHooks = this.transport === undefined ? () => undefined : this.attachHooks();
  }

  /** What the client is serving now. */
  get status(): ClientStatus {
    return this.statusValue;
  }

  /**
   * Resolves (never rejects) once the first ruleset request has settled, or after `timeoutMs`,
   * whichever comes first, with the status: READY, BOOTSTRAPPED (serving the bootstrap) or
   * DEFAULTS (nothing to serve yet; evaluations return defaults with reason ERROR). The client
   * keeps retrying in the background either way.
   */
  ready(): Promise<ReadyResult> {
    if (this.closing === undefined) {
      return this.readyPromise;
    }
    // Closed after startup settled: CLOSED, as `status` says, with why the API's ruleset was not served, if it was not.
    return this.readyPromise.then((result) => (result.status === ClientStatus.Closed ? result : { ...result, status: ClientStatus.Closed }));
  }

  /**
   * Assigns the unit to a standalone experiment: its variation key, or null when not in it.
   * `{ exposure: false }` logs no exposure (see EvaluateOptions).
   */
  getVariant(experimentKey: string, user: User, options?: ExposureOptions): string | null {
    return this.getExperiment(experimentKey, user, options).variationKey;
  }

  /**
   * The full assignment (bucket, skip reason, variation value and URL) of a standalone experiment.
   * `{ exposure: false }` logs no exposure (see EvaluateOptions).
   */
  getExperiment(experimentKey: string, user: User, options?: ExposureOptions): ExperimentResult {
    const rs = this.current;
    if (rs === undefined) {
      return { inExperiment: false, variationIndex: -1, variationKey: null, errorCode: SdkErrorCode.ProviderNotReady as unknown as ErrorCode, errorMessage: NOT_READY };
    }
    try {
      const result = evaluateExperiment(rs.document, experimentKey, this.context(user));
      if (result.inExperiment && result.variationKey !== null && result.hashValue !== undefined && options?.exposure !== false) {
        this.expose(experimentKey, result.variationKey, result.hashAttribute ?? 'id', result.hashValue, undefined, user);
      }
      return result;
    } catch {
      return { inExperiment: false, variationIndex: -1, variationKey: null, errorCode: ErrorCode.General, errorMessage: UNREADABLE_USER };
    }
  }

  /** Whether the flag serves a truthy value to this unit (false when it cannot be evaluated). */
  isFeatureEnabled(flagKey: string, user: User): boolean {
    const result = this.evaluateInternal(flagKey, user);
    this.counts?.count(flagKey, result.variationKey);
    // Any type: JavaScript truthiness of the served value ("C", 50 and {} are on), as GrowthBook's isOn.
    return Boolean(result.value);
  }

  /**
   * The flag's value for this unit, or `defaultValue` when it is missing, broken or of another type.
   * A boolean, string or number default gives that type (not its literal: `false` gives boolean);
   * a null default accepts any JSON value; an object or array default (a type alias or an
   * interface) gives its own type.
   */
  getValue(flagKey: string, user: User, defaultValue: boolean): boolean;
  getValue(flagKey: string, user: User, defaultValue: string): string;
  getValue(flagKey: string, user: User, defaultValue: number): number;
  getValue(flagKey: string, user: User, defaultValue: null): JsonValue;
  getValue<T extends JsonDefault>(flagKey: string, user: User, defaultValue: T): T;
  getValue(flagKey: string, user: User, defaultValue: unknown): unknown {
    const result = this.evaluateInternal(flagKey, user, defaultValue);
    this.counts?.count(flagKey, result.variationKey);
    return result.value;
  }

  /**
   * Evaluates a flag with details: value, variation, reason, rule, experiment, error code. With a
   * default, a value of another type gives the default with reason ERROR and TYPE_MISMATCH. With
   * `{ explain: true }`, `trace` lists every rule considered and why it did or did not apply. With
   * `{ exposure: false }`, no exposure is logged (a server rendering a page the browser hydrates).
   * `value` is typed as with getValue (`false` gives boolean); without a default, as any JSON value.
   */
  evaluate(flagKey: string, user: User, defaultValue: boolean, options?: EvaluateOptions): EvaluationDetails<boolean>;
  evaluate(flagKey: string, user: User, defaultValue: string, options?: EvaluateOptions): EvaluationDetails<string>;
  evaluate(flagKey: string, user: User, defaultValue: number, options?: EvaluateOptions): EvaluationDetails<number>;
  evaluate(flagKey: string, user: User, defaultValue?: null, options?: EvaluateOptions): EvaluationDetails<JsonValue>;
  evaluate<T extends JsonDefault>(flagKey: string, user: User, defaultValue?: T, options?: EvaluateOptions): EvaluationDetails<T>;
  evaluate(flagKey: string, user: User, defaultValue?: unknown, options?: EvaluateOptions): EvaluationDetails {
    const explain = options?.explain === true;
    const result = this.evaluateInternal(flagKey, user, defaultValue, explain, options?.exposure !== false);
    // A diagnostic (explain) is not a use of the flag.
    if (!explain && (options as { readonly [UNCOUNTED]?: boolean } | undefined)?.[UNCOUNTED] !== true) {
      this.counts?.count(flagKey, result.variationKey);
    }
    const details: EvaluationDetails = { ...result, flagKey };
    if (wrongValueType.has(result)) {
      wrongValueType.add(details);
    }
    return details;
  }

  /** Records that the unit did something; `properties.value` (a number) becomes the event's value. */
  trackEvent(name: string, user: User, properties?: Readonly<Record<string, unknown>>): void {
    const id = this.unitId(user);
    if (typeof name !== 'string' || name === '' || name.length > 200 || id === undefined) {
      this.logger.warn(`xp: trackEvent(${JSON.stringify(name)}) ignored: it needs a 1-200 character name and a user id`);
      return;
    }
    if (name.includes('\0')) {
      // The API refuses the event; refused here, where the caller can see it.
      this.logger.warn(`xp: trackEvent(${JSON.stringify(name)}) ignored: the name holds a NUL character, which the API refuses`);
      return;
    }
    const unitId = this.storableUnitId(id);
    if (unitId === undefined) {
      return;
    }
    name = wellFormed(name);
    if (properties !== undefined && (properties as unknown) !== null && (typeof properties !== 'object' || Array.isArray(properties))) {
      // An array would spread into {"0": …}; a string or number has no property names at all.
      this.logger.warn(`xp: trackEvent(${JSON.stringify(name)}): properties must be an object, got ${describeType(properties)}; sent without them`);
      properties = undefined;
    }
    let value: unknown;
    let others: Record<string, unknown> = {};
    if (typeof properties === 'object' && (properties as unknown) !== null) {
      ({ value, ...others } = properties as Record<string, unknown>);
      // NaN and ±Infinity would reach the API as null, a value no metric can use: as the Python SDK, drop the event.
      if (typeof value === 'number' && !Number.isFinite(value)) {
        this.logger.warn(`xp: trackEvent(${JSON.stringify(name)}) ignored: value must be a finite number`);
        return;
      }
      if (value !== undefined && typeof value !== 'number') {
        others.value = value;
        value = undefined;
      }
    }
    // Undefined fields are left out when the batch is serialised.
    const event = { type: 'track', id: newEventId(), unitId, timestamp: this.timestamp(), name, value: value as number | undefined, units: this.otherUnits(user, unitId) } as SdkEvent & { properties?: unknown };
    if (Object.keys(others).length > 0) {
      // Plain JSON, property by property: one the API would refuse (too deep, a NUL, not serialisable)
      // is left out, not the event; unpaired surrogates become U+FFFD.
      const { properties: clean, dropped } = cleanProperties(others);
      if (dropped.length > 0) {
        this.logger.warn(`xp: trackEvent(${JSON.stringify(name)}): properties left out: ${dropped.join(', ')}`);
      }
      // The API refuses a whole event whose JSON exceeds 16 KiB of UTF-8.
      if (Object.keys(clean).length > 0) {
        if (utf8Length(JSON.stringify({ ...event, properties: clean })) > 16384) {
          this.logger.warn(`xp: trackEvent(${JSON.stringify(name)}): properties too large (the event would exceed 16 KiB), sent without them`);
        } else {
          event.properties = clean;
        }
      }
    }
    this.record(event);
  }

  /**
   * Calls the listener with the keys of flags that may evaluate differently: after a ruleset update,
   * and when a ramp step or a rule's active window takes effect (then `change.timed` is true).
   */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Calls the listener with each exposure the client logs from now on, as it is sent to xp: once per
   * experiment + unit + variation (exposures are de-duplicated; not for `{ exposure: false }`), also
   * on an offline client (no `apiUrl`), never after `close()`. For forwarding exposures to another
   * tool; see ExposureListener. Returns a function that unsubscribes it.
   */
  onExposure(listener: ExposureListener): () => void {
    if (typeof listener !== 'function') {
      this.logger.error(`xp: onExposure takes a function, got ${describeType(listener)}; ignored`);
      return () => undefined;
    }
    this.exposureListeners.add(listener);
    return () => {
      this.exposureListeners.delete(listener);
    };
  }

  /**
   * Loads the unit's sticky assignments from an asynchronous store (one with `preload`, such as
   * the Redis example) for every hash attribute a sticky experiment uses. Call before evaluating.
   */
  async preloadStickyBuckets(user: User): Promise<void> {
    const store = this.options.stickyBucketStore as Partial<PreloadableStickyBucketStore> | undefined;
    const experiments = this.current?.document.experiments;
    if (store?.preload === undefined || experiments === undefined) {
      return;
    }
    const given: unknown = this.context(user).attributes;
    if (typeof given !== 'object' || given === null || Array.isArray(given)) {
      return;
    }
    const attributes = given as Readonly<Record<string, unknown>>;
    const loads = new Map<string, Promise<void>>();
    for (const def of Object.values(experiments) as { sticky?: unknown; hashAttribute?: unknown; fallbackAttribute?: unknown }[]) {
      if (def.sticky === undefined) {
        continue;
      }
      if (typeof def.hashAttribute !== 'string') {
        continue;
      }
      // Evaluation reads assignments keyed by the experiment's hashAttribute, whichever attribute
      // the id came from: the fallback's id too (a logged-in unit keeps what its device was given).
      for (const name of [def.hashAttribute, def.fallbackAttribute]) {
        const value = typeof name === 'string' ? readAttribute(attributes, name) : undefined;
        if ((typeof value === 'string' && value !== '') || typeof value === 'number') {
          const key = `${def.hashAttribute}||${String(value)}`;
          if (!loads.has(key)) {
            loads.set(key, store.preload(def.hashAttribute, String(value)));
          }
        }
      }
    }
    await Promise.all(loads.values());
  }

  /**
   * Sends queued events now, without waiting for the backoff of a failed send (one attempt; if it
   * fails, the backoff goes on growing). A Retry-After the API gave is still honoured: inside its
   * window nothing is sent. Resolves (never rejects) with how many events the API accepted while it
   * ran and how many are still queued: `queued > 0` means they were not delivered (yet).
   */
  async flush(): Promise<FlushResult> {
    const before = this.events.sent;
    await this.events.flush({ now: true });
    return { delivered: this.events.sent - before, queued: this.events.size };
  }

  /**
   * The ruleset being served, to embed in a page for `bootstrap` (SSR) or save for an offline start.
   * By default what a browser may see: without the flags and experiments marked server-side only and
   * the id lists and holdouts only they use (as a client-side key's download). `includeServerOnly`
   * keeps them, with their keys listed in `serverOnly`, for other servers. The object is frozen
   * (shared, never copied per call): `structuredClone` it to change it. **Undefined before any
   * ruleset** (still starting, or the API down since start without a bootstrap): embed
   * `getSnapshot() ?? null`, which a client given as `bootstrap` takes as none (defaults, then the API's).
   */
  getSnapshot(options?: SnapshotOptions): RulesetSnapshot | undefined {
    const rs = this.current;
    if (rs === undefined) {
      return undefined;
    }
    if (this.snapshots?.of !== rs) {
      this.snapshots = { of: rs };
    }
    const memo = this.snapshots;
    if (options?.includeServerOnly === true) {
      memo.full ??= rs.serverOnly === undefined ? rs.document : deepFreeze({ ...rs.document, [SERVER_ONLY_FIELD]: rs.serverOnly });
      return memo.full;
    }
    memo.safe ??= deepFreeze(browserSafe(rs.document, rs.serverOnly));
    return memo.safe;
  }

  getStats(): ClientStats {
    const lag = this.sync?.rulesetLag;
    return {
      queuedEvents: this.events.size,
      sentEvents: this.events.sent,
      droppedEvents: this.events.dropped,
      rejectedEvents: this.events.rejected,
      rulesetVersion: this.current?.version,
      streaming: this.sync?.streaming ?? false,
      ...(lag === undefined ? {} : { rulesetLag: lag }),
    };
  }

  /**
   * Stops syncing and sends the queued events, retrying a failed send as the API asks, all within
   * twice `timeoutMs`; what is still unsent then is dropped (and counted). Idempotent.
   */
  close(): Promise<void> {
    if (this.closing === undefined) {
      this.statusValue = ClientStatus.Closed;
      this.detachHooks();
      this.sync?.close();
      clearTimeout(this.timedTimer);
      this.stateChanged();
      // close() closes the evaluation-count window synchronously (its records go with the final flush): later evaluations are not counted.
      const closing = this.events.close(2 * (this.transport?.timeoutMs ?? 0));
      this.counts = undefined;
      this.closing = closing.finally(() => {
        this.transport?.close();
        this.listeners.clear();
      });
    }
    return this.closing;
  }

  /** Not public API: counts one evaluation made with UNCOUNTED_OPTIONS (an OpenFeature resolution), by the variation it served (null: the default). */
  [COUNT_EVALUATION](flagKey: string, variationKey: string | null): void {
    this.counts?.count(flagKey, variationKey);
  }

  /**
   * Where exposures and tracked events go: the queue that sends them. A hook for @xp/sdk/testing,
   * whose test client records them instead.
   */
  protected record(event: SdkEvent): void {
    this.events.push(event);
  }

  /** Serves `document` as if the API had sent it (validated, change listeners called). A hook for @xp/sdk/testing. */
  protected serveRuleset(document: unknown): XpError | undefined {
    return this.offer(document, 'network');
  }

  /** Forgets which exposures were logged, so the next evaluation logs them again. A hook for @xp/sdk/testing (its reset()). */
  protected forgetExposures(): void {
    this.exposureCache = new LruSet(positive(this.options.maxExposureCacheSize, 10_000));
  }

  /** Whether the event stream can be read here (it decodes with TextDecoder); if not, says so once and polls. */
  private canStream(): boolean {
    if (typeof (globalThis as { TextDecoder?: unknown }).TextDecoder === 'function') {
      return true;
    }
    this.logger.warn('xp: this runtime has no TextDecoder, which reading the ruleset stream needs: polling instead (every pollIntervalMs)');
    return false;
  }

  private evaluateInternal(flagKey: string, user: User, defaultValue?: unknown, explain = false, exposure = true): EvaluationResult {
    const rs = this.current;
    if (rs === undefined) {
      return failed(defaultValue, SdkErrorCode.ProviderNotReady, NOT_READY);
    }
    try {
      const options = explain ? { defaultValue, explain } : defaultValue === undefined ? undefined : defaultValue === false ? FALSE_DEFAULT : { defaultValue };
      const result = evaluateFlag(rs.document, flagKey, this.context(user), options);
      if (result.errorCode === undefined && defaultValue !== undefined && !sameType(result.value, defaultValue)) {
        const mismatch = failed(defaultValue, ErrorCode.TypeMismatch, `flag "${flagKey}" serves ${describeType(result.value)}, expected ${describeType(defaultValue)}`);
        wrongValueType.add(mismatch);
        return mismatch;
      }
      const exp: ExperimentAssignment | undefined = result.experiment;
      if (exp?.inExperiment === true && exposure) {
        this.expose(exp.key, exp.variationKey, exp.hashAttribute, exp.hashValue, flagKey, user);
      }
      return result;
    } catch {
      return failed(defaultValue, ErrorCode.General, UNREADABLE_USER);
    }
  }

  private context(user: User): EvaluationContext {
    // Neither an id nor an object (null, undefined, a boolean): evaluation answers INVALID_CONTEXT.
    let attributes: unknown = null;
    let extra: UserContext | undefined;
    if (typeof user === 'string' || typeof user === 'number') {
      attributes = { id: idString(user) };
    } else if (typeof user === 'object' && (user as unknown) !== null) {
      extra = user;
      const given = user.attributes ?? {};
      // A null id is an absent one (as /sdk/v1/evaluate reads it): attributes.id, when given, is the id.
      const id = user.id === null ? undefined : idString(user.id);
      if (typeof given !== 'object' || Array.isArray(given)) {
        // Attributes that are not an object (a string, an array): kept as given, so evaluation answers
        // INVALID_CONTEXT as the Python SDK does, instead of spreading them into an object with the id.
        attributes = given;
      } else if (id === undefined || given.id === id) {
        attributes = given;
      } else {
        // Spreading into a literal that starts with \`id\` is several times faster in V8 than appending it.
        attributes = given.id === undefined ? { id, ...given } : { ...given, id };
      }
    }
    const o = this.options;
    // Evaluation reads an undefined entry as an absent one.
    return (
      o.stickyBucketStore === undefined && this.now === undefined && extra?.url === undefined && extra?.forcedVariations === undefined
        ? { attributes }
        : { attributes, now: this.now?.(), stickyBuckets: o.stickyBucketStore, url: extra?.url, forcedVariations: extra?.forcedVariations }
    ) as EvaluationContext;
  }

  private unitId(user: User): string | undefined {
    const id = idString(typeof user === 'object' && (user as unknown) !== null ? (user.id ?? user.attributes?.id) : user);
    return typeof id === 'string' ? id || undefined : undefined;
  }

  /**
   * The unit's other identifiers, for experiments bucketed on an attribute other than its id: its
   * values (as bucketing reads them) of the ruleset's hash and fallback attributes that differ from
   * `unitId`, at most MAX_UNITS by attribute name. Undefined when there are none.
   */
  private otherUnits(user: User, unitId: string): Record<string, string> | undefined {
    if (this.unitAttributes.length === 0) {
      return undefined;
    }
    const given: unknown = this.context(user).attributes;
    if (typeof given !== 'object' || given === null || Array.isArray(given)) {
      return undefined;
    }
    const attributes = given as Readonly<Record<string, unknown>>;
    let units: Record<string, string> | undefined;
    let n = 0;
    for (const name of this.unitAttributes) {
      const value = idString(readAttribute(attributes, name));
      // A value the API would refuse (too long, NUL, an unpaired surrogate) would lose the whole event: left out.
      if (typeof value === 'string' && value !== '' && value.length <= 256 && value !== unitId && !unstorable(value)) {
        (units ??= {})[name] = value;
        if (++n === MAX_UNITS) {
          break;
        }
      }
    }
    return units;
  }

  /**
   * The ruleset's unit attributes (unitAttributesOf) that tracked events may carry: not the private
   * ones. Each private one an experiment buckets on is warned about once: that experiment's metrics
   * then count only the events tracked with its value as the unit id.
   */
  private trackedUnitAttributes(document: RulesetDocument): string[] {
    const hidden = this.options.privateAttributes;
    return unitAttributesOf(document).filter((name) => {
      // A lone name (not in the types, but as the Python SDK takes one) is one private attribute.
      if (hidden !== true && !(Array.isArray(hidden) ? hidden.includes(name) : (hidden as unknown) === name)) {
        return true;
      }
      if (!this.warnedPrivate.has(name)) {
        this.warnedPrivate.add(name);
        const on = Object.entries(document.experiments ?? {})
          .filter(([, def]) => (def as { hashAttribute?: unknown } | null)?.hashAttribute === name || (def as { fallbackAttribute?: unknown } | null)?.fallbackAttribute === name)
          .map(([key]) => JSON.stringify(key));
        this.logger.warn(
          `xp: private attribute "${name}" is left out of tracked events (privateAttributes): the metrics of the experiments bucketed on it (${on.join(', ')}) count only the events tracked with its value as the unit id: trackEvent(name, { id: <${name}> }) (warned once)`,
        );
      }
      return false;
    });
  }

  /**
   * Warns once per client and experiment about a sticky experiment served to a client without a
   * stickyBucketStore: its split may move while it runs (a bandit), and without a store each unit is
   * bucketed by the new split, may get another variation, is exposed to both and left out of the results.
   */
  private warnStickyWithoutStore(document: RulesetDocument): void {
    if (this.options.stickyBucketStore !== undefined) {
      return;
    }
    const keys = Object.entries(document.experiments ?? {})
      .filter(([key, def]) => (def as { sticky?: unknown } | null)?.sticky !== undefined && !this.warnedSticky.has(key))
      .map(([key]) => key);
    if (keys.length === 0) {
      return;
    }
    for (const key of keys) {
      this.warnedSticky.add(key);
    }
    const named = keys.map((key) => JSON.stringify(key)).join(', ');
    const one = keys.length === 1;
    this.logger.warn(
      `xp: ${one ? 'experiment' : 'experiments'} ${named} ${one ? 'uses' : 'use'} sticky bucketing (${one ? 'its split' : 'their splits'} may move while ${one ? 'it runs' : 'they run'}, e.g. a bandit); this client has no stickyBucketStore, so ${one ? 'its' : 'their'} units would be assigned again by the new split: pass one (MemoryStickyBucketStore, LocalStorageStickyBucketStore in browsers, or a shared store such as RedisStickyBucketStore across servers)`,
    );
  }

  private timestamp(): number {
    return Math.max(0, Math.floor(this.clock()));
  }

  /**
   * A unit id as the API stores it (unpaired surrogates as U+FFFD), or undefined, with one warning
   * per client, for one it refuses (over 256 characters, a NUL): such a unit is evaluated, but its
   * exposures and events cannot be stored, so they are not sent.
   */
  private storableUnitId(id: string): string | undefined {
    if (id.length <= MAX_UNIT_ID && !id.includes('\0')) {
      return wellFormed(id);
    }
    if (!this.warnedUnitId) {
      this.warnedUnitId = true;
      this.logger.warn(
        `xp: unit id ${JSON.stringify(id.slice(0, 40))}… is ${id.includes('\0') ? 'holding a NUL character' : `${id.length} characters long (at most ${MAX_UNIT_ID})`}: it is evaluated, but the API cannot store its exposures and events, so they are not sent (warned once)`,
      );
    }
    return undefined;
  }

  private expose(experiment: string, variation: string, hashAttribute: string, hashValue: string, flag: string | undefined, user: User): void {
    if (!this.exposureCache.add(exposureKey(experiment, hashAttribute, hashValue, variation))) {
      return;
    }
    const unitId = this.storableUnitId(hashValue);
    if (unitId === undefined) {
      return;
    }
    const timestamp = this.timestamp();
    // The unit's own attributes (its id is unitId already).
    const attributes = cleanAttributes(exposureAttributes((user as UserContext).attributes, this.options.privateAttributes));
    // Undefined fields (no flag, no attributes) are left out when the batch is serialised.
    this.record({ type: 'exposure', id: newEventId(), unitId, timestamp, experiment, variation, hashAttribute, flag, attributes });
    // After close() the exposure is dropped, not logged (and not remembered: it would be reported at every evaluation).
    if (this.exposureListeners.size > 0 && this.statusValue !== ClientStatus.Closed) {
      // A copy, deeply frozen: a listener changes neither the queued event nor what the next listener gets.
      const exposure: Exposure = deepFreeze({
        unitId,
        timestamp,
        experiment,
        variation,
        hashAttribute,
        ...(flag === undefined ? {} : { flag }),
        ...(attributes === undefined ? {} : { attributes: { ...attributes } }),
      });
      for (const listener of [...this.exposureListeners]) {
        callListener(
          () => listener(exposure),
          (e) => {
            // Once per listener: a broken one would otherwise log at every new exposure.
            if (!this.failedExposureListeners.has(listener)) {
              this.failedExposureListeners.add(listener);
              this.logger.error('xp: an exposure listener threw (logged once per listener; it is still called)', e);
            }
          },
        );
      }
    }
  }

  /** Validates and installs a ruleset; returns why it was refused, if it was. */
  private offer(candidate: unknown, source: 'bootstrap' | 'network'): XpError | undefined {
    let next = loadRuleset(candidate);
    if (!(next instanceof XpError) && this.clientKey && next.serverOnly !== undefined) {
      // A server's full snapshot handed to a browser (defense in depth): serve what the key would download.
      const n = next.serverOnly.flags.length + next.serverOnly.experiments.length;
      this.logger.warn(`xp: ${source} ruleset holds ${n} server-side-only flags and experiments; dropped (take snapshots for pages with getSnapshot(), without includeServerOnly)`);
      const document = deepFreeze(browserSafe(next.document, next.serverOnly));
      next = { document, version: next.version, complete: next.complete || checkRuleset(document, '').length === 0 };
    }
    if (next instanceof XpError) {
      this.logger.warn(`xp: ${source} ruleset refused (${next.message}); ${this.current === undefined ? 'serving defaults' : 'keeping the last good one'}`);
      return next;
    }
    if (!mayReplace(this.current, next)) {
      const refused = new XpError(XpErrorCode.InvalidRuleset, 'the new ruleset has invalid entries; keeping the last valid one');
      this.logger.warn(`xp: ${refused.message}`);
      return refused;
    }
    if (!next.complete) {
      this.logger.warn(`xp: ${source} ruleset has invalid entries; those flags serve defaults`);
    }
    const previous: RulesetDocument | undefined = this.current?.document;
    if (source === 'network' && this.bootstrapEnvironment !== undefined && this.bootstrapEnvironment !== next.document.environment) {
      // A bootstrap file from another environment (the wrong image or variable): its flags were served under this key.
      this.logger.warn(
        `xp: the bootstrap ruleset is of environment "${this.bootstrapEnvironment}", but the API serves environment "${next.document.environment}" to this SDK key; serving the API's ruleset from now on (check the bootstrap file or snapshot this client is given)`,
      );
    }
    this.bootstrapEnvironment = source === 'bootstrap' ? next.document.environment : undefined;
    this.current = next;
    this.unitAttributes = this.trackedUnitAttributes(next.document);
    this.warnStickyWithoutStore(next.document);
    if (source === 'network') {
      this.startupError = undefined;
      if (this.statusValue !== ClientStatus.Closed) {
        this.statusValue = ClientStatus.Ready;
      }
    }
    const now = this.clock();
    if (previous !== undefined || source === 'network') {
      const diff = diffRulesets(previous, next.document);
      // A timed rule that took effect before its timer ran (a suspended laptop, a sleeping tab) is news too.
      const due = previous === undefined ? [] : flagsChangedBetween(next.document, this.timedUpTo, now).filter((key) => !diff.flags.includes(key));
      const change = due.length === 0 ? diff : { ...diff, flags: [...diff.flags, ...due] };
      // The first ruleset from the API is news even when empty (an environment without flags yet):
      // an OpenFeature provider that gave up at startup recovers to READY on it.
      if (previous === undefined || change.flags.length > 0 || change.experiments.length > 0) {
        this.notify(change);
      }
    }
    // What its timed rules serve now came with it; the next one to take effect is announced then.
    this.timedUpTo = Math.max(this.timedUpTo, now);
    this.armTimedChange();
    this.stateChanged();
    return undefined;
  }

  private clock(): number {
    return this.now === undefined ? Date.now() : this.now();
  }

  /** Sets the timer for the next instant a timed rule of the current ruleset takes effect (replacing any). */
  private armTimedChange(): void {
    clearTimeout(this.timedTimer);
    this.timedTimer = undefined;
    const document = this.current?.document;
    const next = document === undefined || this.closing !== undefined ? undefined : nextTimedChange(document, this.timedUpTo);
    if (next === undefined) {
      return;
    }
    // Further than setTimeout can wait: it fires early, announces nothing and sets the timer again.
    this.timedTimer = startTimer(() => {
      this.timedChange();
    }, Math.min(Math.max(0, next - this.clock()), MAX_TIMER_MS));
  }

  /** Calls the listeners with the flags whose timed rules took effect since the last call, then re-arms. */
  private timedChange(): void {
    const rs = this.current;
    if (rs === undefined || this.closing !== undefined) {
      return;
    }
    const now = Math.max(this.timedUpTo, this.clock());
    const flags = flagsChangedBetween(rs.document, this.timedUpTo, now);
    this.timedUpTo = now;
    if (flags.length > 0) {
      this.notify({ flags, experiments: [], version: rs.version, timed: true });
      this.stateChanged();
    }
    this.armTimedChange();
  }

  private notify(change: ReturnType<typeof diffRulesets>): void {
    this.changeCount++;
    const threw = (e: unknown): void => {
      this.logger.error('xp: a change listener threw', e);
    };
    for (const listener of [...this.listeners]) {
      // An async listener's rejection is logged as a throw.
      callListener(() => listener(change.flags, change), threw);
    }
  }

  /** Tells CLIENT_STATE's watchers (the React bindings) that the status or the ruleset served changed. */
  private stateChanged(): void {
    for (const watcher of [...this.stateWatchers]) {
      try {
        watcher();
      } catch (e) {
        this.logger.error('xp: a state watcher threw', e);
      }
    }
  }

  private settleStartup(error: XpError | undefined): void {
    if (this.statusValue === ClientStatus.Starting) {
      this.statusValue = ClientStatus.Defaults;
    }
    if (error === undefined || this.statusValue === ClientStatus.Ready) {
      this.stateChanged();
      return;
    }
    this.startupError = error;
    this.stateChanged();
    const serving = this.current === undefined ? 'defaults' : 'the bootstrap ruleset';
    if (this.transport === undefined) {
      // Misconfigured: the constructor said so, and the API is never contacted.
      return;
    }
    if (this.statusValue === ClientStatus.Closed) {
      this.logger.info(`xp: client closed before the first ruleset arrived; it serves ${serving} from now on`);
    } else if (error.code !== XpErrorCode.Unauthorized) {
      // A refused key was reported as such (keyRefused); the message alone for an expected, retried failure.
      this.logger.warn(`xp: ${describeError(error)}; serving ${serving} until the API answers`);
    }
  }

  /** The API refused the SDK key (an error, once until it accepts it again), or accepts it again. */
  private keyRefused(refused: HttpError | false, sdkKey: string, base: string, retryMaxMs: number): void {
    if (refused === false) {
      this.logger.info('xp: the API accepts the SDK key again');
      return;
    }
    const serving = this.current === undefined ? 'defaults' : this.bootstrapEnvironment !== undefined ? 'the bootstrap ruleset' : 'the last ruleset it sent';
    const every = retryMaxMs >= 1000 ? `${Math.round(retryMaxMs / 100) / 10} s` : `${retryMaxMs} ms`;
    this.logger.error(
      `xp: the API refused the SDK key "${keyLabel(sdkKey)}" (${refused.message}): the key is invalid, was revoked, or was rotated out and has expired. Check that it is the current server (xpk_srv_…) or client (xpk_cli_…) SDK key of the environment you mean, copied whole, and that ${base} is the API that issued it; serving ${serving}, retrying about every ${every}`,
    );
  }

  private readyResult(error: XpError | undefined): ReadyResult {
    return this.statusValue === ClientStatus.Ready || error === undefined ? { status: this.statusValue } : { status: this.statusValue, error };
  }

  private startup(first: Promise<XpError | undefined>, timeoutMs: number): Promise<ReadyResult> {
    return new Promise((resolve) => {
      let settled = false;
      const settle = (error: XpError | undefined): void => {
        if (!settled) {
          settled = true;
          this.settleStartup(error);
          resolve(this.readyResult(error));
        }
      };
      const timer = startTimer(() => {
        settle(new NetworkError(XpErrorCode.Timeout, `no ruleset within ${timeoutMs} ms`));
      }, timeoutMs);
      void first.then((error) => {
        clearTimeout(timer);
        settle(error);
      });
    });
  }

  /** Flushes on page hide (browsers), when the browser is back online, and before the process exits (Node); detached by close(). */
  private attachHooks(): () => void {
    const g = globalThis as HostGlobals;
    const doc = g.document;
    const onHidden = (): void => {
      if (doc?.visibilityState === undefined || doc.visibilityState === 'hidden') {
        this.events.sendNow();
      }
    };
    const onExit = (): void => {
      void this.events.flush({ final: true });
    };
    // Events held back by a failed send, and a ruleset poll or stream waiting to reconnect, need not
    // wait out a backoff grown while offline.
    const onOnline = (): void => {
      this.events.resume();
      this.sync?.online();
    };
    doc?.addEventListener?.('visibilitychange', onHidden);
    g.addEventListener?.('pagehide', onHidden);
    g.addEventListener?.('online', onOnline);
    const detachExit = onProcessExit(g, onExit);
    return () => {
      doc?.removeEventListener?.('visibilitychange', onHidden);
      g.removeEventListener?.('pagehide', onHidden);
      g.removeEventListener?.('online', onOnline);
      detachExit();
    };
  }
}

