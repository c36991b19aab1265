import type { ErrorCode, EvaluationResult, StickyBucketStore } from '@xp/shared/eval';
import type { XpError } from './errors.js';
import type { RulesetDocument } from './ruleset-state.js';

/** A unit given as its id (a number is hashed as its string), or as an object with attributes. The id becomes `attributes.id`. */
export type User = string | number | UserContext;

export interface UserContext {
  /** The unit's id, written to `attributes.id` (the default hash attribute). */
  readonly id?: string | number | null;
  readonly attributes?: Readonly<Record<string, unknown>>;
  /** The page URL, for QA overrides `?xp_<experiment>=<variation>`. */
  readonly url?: string;
  /** Experiment key → variation key or index, served without tracking (QA, tests). */
  readonly forcedVariations?: Readonly<Record<string, string | number>>;
}

/** Where log lines go; the default writes warnings and errors to the console. */
export interface Logger {
  debug(message: string, ...details: unknown[]): void;
  info(message: string, ...details: unknown[]): void;
  warn(message: string, ...details: unknown[]): void;
  error(message: string, ...details: unknown[]): void;
}

/** The parts of `fetch` the SDK uses, so tests and old runtimes can pass their own. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** Base URL of the xp API, e.g. `https://xp.example.com`. Absent: offline, serving `bootstrap` only. */
  readonly apiUrl?: string;
  /** Bound on `ready()` and on every HTTP request, in ms. Default 3000. */
  readonly timeoutMs?: number;
  /** Ruleset polling interval while the stream is off or down (while it is down, `streamRetryMaxMs` when shorter), in ms. Default 30000. */
  readonly pollIntervalMs?: number;
  /** Keep the ruleset fresh over server-sent events (fetch streaming, also in browsers). Default true. */
  readonly streaming?: boolean;
  /**
   * Share one event stream between the pages (tabs) of an origin that use the same `apiUrl` and SDK
   * key: the page holding a Web Lock streams and passes new rulesets on over a BroadcastChannel, and
   * another page takes over when it closes. Browsers allow 6 HTTP/1.1 connections per host, so
   * without it the 7th tab gets no ruleset over HTTP/1.1. Default true in pages that have
   * `navigator.locks` and `BroadcastChannel` (ignored where they are missing); false: a stream per client.
   */
  readonly shareStream?: boolean;
  /**
   * A ruleset document to serve before (or instead of) the network: SSR hydration, offline start
   * (`getSnapshot()` of another client). A client-side key (`xpk_cli_…`) drops the server-side-only
   * flags and experiments a snapshot lists in `serverOnly`. `null` (what a server without a ruleset
   * yet embeds: `getSnapshot() ?? null`) is no bootstrap: defaults until the API answers.
   */
  readonly bootstrap?: unknown;
  /** Persists experiment assignments so a unit keeps its variation when weights change. */
  readonly stickyBucketStore?: StickyBucketStore;
  /** Longest time an event waits in the queue before a send, in ms. Default 5000. */
  readonly flushIntervalMs?: number;
  /** Events per POST; a full batch is sent at once. Default 250, at most 500 (the API's limit). */
  readonly maxBatchSize?: number;
  /** Batches sent at the same time when more than one is queued. Default 4. */
  readonly maxConcurrentBatches?: number;
  /** Events kept in memory while the API is unreachable; beyond it the oldest are dropped. Default 10000. */
  readonly maxQueueSize?: number;
  /**
   * Attributes never sent with exposure events nor in tracked events' `units`, by name, or `true` for
   * all (a value still leaves as the unit id of an exposure to an experiment bucketed on it). By default a unit's
   * first exposure carries its flat attributes (strings, finite numbers and booleans of at most 256
   * characters with the name; the first 16), which the results can be filtered and broken down by
   * (`attr.<name>=…`, an experiment's dimensions); objects, arrays and longer values never leave.
   */
  readonly privateAttributes?: readonly string[] | true;
  /** Distinct experiment+unit+variation exposures remembered for de-duplication. Default 10000. */
  readonly maxExposureCacheSize?: number;
  /** First retry delay after a failure, in ms; doubles up to `retryMaxMs`, with jitter. Default 1000. */
  readonly retryBaseMs?: number;
  /** Longest retry delay, in ms. Default 60000. */
  readonly retryMaxMs?: number;
  /**
   * Longest wait between stream reconnect attempts, and between ruleset polls while the stream is
   * down (when shorter than `pollIntervalMs`), in ms; jittered, never sooner than `Retry-After`.
   * Bounds how long after an outage a change takes to arrive. Default 5000.
   */
  readonly streamRetryMaxMs?: number;
  /** The stream is reconnected when nothing (not even a heartbeat) arrives for this long, in ms. Default 45000. */
  readonly streamIdleTimeoutMs?: number;
  /** Default: `globalThis.fetch`. */
  readonly fetch?: FetchLike;
  readonly logger?: Logger;
  /** Clock in epoch ms for schedules and event timestamps. Default `Date.now`. */
  readonly now?: () => number;
  /** Randomness in [0, 1) for retry jitter. Default `Math.random`. */
  readonly random?: () => number;
  /**
   * Called with each exposure the client logs, as `onExposure(listener)` subscribes one: to forward
   * exposures to another tool (an "Experiment Viewed" event for Segment, GA, a warehouse).
   */
  readonly onExposure?: ExposureListener;
  /**
   * Send how often each flag is evaluated, by the variation served (the console's "last evaluated"
   * and "still used?"): `getValue`, `isFeatureEnabled`, `evaluate` (not with `explain`) and
   * OpenFeature resolutions are counted in memory by (flag key, variation key or null for the
   * default) and sent as one `evaluations` record per 100 pairs at each flush of the event queue.
   * No unit ids, no attributes. Default true; nothing is counted without an `apiUrl`.
   */
  readonly sendEvaluationCounts?: boolean;
  /**
   * The application (service) this client runs in, e.g. `checkout-api`: every `evaluations` record
   * carries it as `app`, so the console tells which applications still evaluate a flag. 1 to 64
   * ASCII letters, digits, `.`, `_` and `-`, starting with a letter or digit, case-sensitive
   * (`Checkout-API` and `checkout-api` are two applications). Anything else (empty, too long, other
   * characters, not a string) is dropped with one `logger.warn`, and the client works as without it.
   * Default (also `null`): none (counts under "no application named"). Exposures and tracked events do not carry it.
   */
  readonly appName?: string | null;
}

/** What the client is serving. */
export const ClientStatus = {
  /** Still waiting for the first ruleset (and no bootstrap). */
  Starting: 'STARTING',
  /** Serving a ruleset from the API. */
  Ready: 'READY',
  /** Serving the bootstrap ruleset; the API has not answered (yet). */
  Bootstrapped: 'BOOTSTRAPPED',
  /** No ruleset at all: every evaluation returns the caller's default with reason ERROR. */
  Defaults: 'DEFAULTS',
  /** `close()` was called. */
  Closed: 'CLOSED',
} as const;
export type ClientStatus = (typeof ClientStatus)[keyof typeof ClientStatus];

/** What `ready()` resolves with; it never rejects. */
export interface ReadyResult {
  readonly status: ClientStatus;
  /** Why the API's ruleset is not being served, when it is not. */
  readonly error?: XpError;
}

/** Error codes of SDK evaluations: evaluation's own, plus the client's. */
export const SdkErrorCode = {
  /** No ruleset has been loaded yet (API down at start, no bootstrap). */
  ProviderNotReady: 'PROVIDER_NOT_READY',
} as const;
export type SdkErrorCode = ErrorCode | (typeof SdkErrorCode)[keyof typeof SdkErrorCode];

/** Options of `getSnapshot`. */
export interface SnapshotOptions {
  /**
   * Keep the flags and experiments marked server-side only (`clientSide: false`) and list their
   * keys in `serverOnly`, for another server (a file for an offline start, a worker). Never embed
   * such a snapshot in a page. Default false: a snapshot a browser may see.
   */
  readonly includeServerOnly?: boolean;
}

/** Options of `getExperiment` and `getVariant`. */
export interface ExposureOptions {
  /**
   * Log an exposure when the unit is bucketed into an experiment. Default true. `false` evaluates
   * the same without logging one (nor remembering it as logged): a server rendering a page that
   * hydrates leaves the exposure to the browser client, which evaluates the same unit from the
   * bootstrap.
   */
  readonly exposure?: boolean;
}

/** Options of `evaluate`. */
export interface EvaluateOptions extends ExposureOptions {
  /** Return in `trace` every rule considered and why it did or did not apply (as Python's `explain=True`). */
  readonly explain?: boolean;
}

/** What `flush()` resolves with. */
export interface FlushResult {
  /** Events the API accepted while the flush ran (0 when it failed, or waited for a `Retry-After`). */
  readonly delivered: number;
  /** Events still queued after it: more than 0 means they were not delivered (yet); the client retries them later. */
  readonly queued: number;
}

/**
 * A ruleset as `getSnapshot()` gives it, to embed in a page or save for `bootstrap`: the API's
 * document (flags, experiments, saved groups, holdouts, …), deeply frozen; with
 * `includeServerOnly`, the server-side-only keys listed in `serverOnly` (when there are any).
 */
export type RulesetSnapshot = RulesetDocument & {
  readonly serverOnly?: { readonly flags: readonly string[]; readonly experiments: readonly string[] };
};

/** An evaluation with its reason; `getValue` returns its `value`. */
export type EvaluationDetails<T = unknown> = Omit<EvaluationResult<T>, 'errorCode'> & {
  readonly flagKey: string;
  readonly errorCode?: SdkErrorCode;
};

/** A newer ruleset replaced the previous one, or a timed rule of the one served took effect. */
export interface RulesetChange {
  /** Flags whose result may differ: changed, added, removed, or depending on something that changed. */
  readonly flags: readonly string[];
  /** Experiments changed, added or removed, or whose condition's saved group or whose holdout changed. */
  readonly experiments: readonly string[];
  readonly version: number;
  /** Set when no new ruleset came: a ramp step or a rule's active window (activeFrom / activeUntil) took effect. */
  readonly timed?: true;
}

/**
 * Called after a ruleset update, and when a ramp step or a rule's active window takes effect, with
 * the flags that may evaluate differently. It may be async: a rejected promise is logged as a
 * synchronous throw is ("xp: a change listener threw"), never left unhandled; the client does not wait for it.
 */
export type ChangeListener = (changedFlags: readonly string[], change: RulesetChange) => unknown;

/**
 * An exposure as the client logs it and sends it to xp (less the event's `id` and `type`): the unit
 * was bucketed into `variation` of `experiment`. The fields of the test client's `exposures`.
 */
export interface Exposure {
  /** The exposed unit's value of `hashAttribute` (its id by default), as the API stores it. */
  readonly unitId: string;
  /** When it was logged, in epoch ms (the client's `now`). */
  readonly timestamp: number;
  readonly experiment: string;
  readonly variation: string;
  /** The attribute the experiment buckets on (`id` by default). */
  readonly hashAttribute: string;
  /** The flag whose evaluation exposed the unit; absent for `getExperiment` and `getVariant`. */
  readonly flag?: string;
  /** The unit's flat attributes as sent, less `privateAttributes` and its id; absent when none is left. */
  readonly attributes?: Readonly<Record<string, string | number | boolean>>;
}

/**
 * Called once per exposure the client logs (an experiment + unit + variation once, as exposures
 * are de-duplicated), with a deeply frozen copy; also on an offline client, which sends nothing.
 * It runs inside the evaluation that exposed the unit: keep it short. It may be async; a throw or a
 * rejection is logged once per listener ("xp: an exposure listener threw") and never reaches the
 * evaluation; the client does not wait for it.
 */
export type ExposureListener = (exposure: Exposure) => unknown;

/** Counters for monitoring the SDK itself. */
export interface ClientStats {
  readonly queuedEvents: number;
  readonly sentEvents: number;
  /** Dropped because the queue was full or the client closed before they could be sent. */
  readonly droppedEvents: number;
  /** Refused by the server as invalid (not retried). */
  readonly rejectedEvents: number;
  readonly rulesetVersion: number | undefined;
  /** The event stream is up (this client's, or the one shared by the pages of the origin). */
  readonly streaming: boolean;
  /**
   * Set while the ruleset served is older than the one the stream announced (the fetch failed, or
   * answered an older copy): the versions, since when (epoch ms) and why; the client keeps retrying.
   */
  readonly rulesetLag?: {
    readonly announcedVersion: number | undefined;
    readonly heldVersion: number | undefined;
    readonly since: number;
    readonly lastError: string | undefined;
  };
}

/** A sticky-bucket store over asynchronous storage that must load a unit before evaluation. */
export interface PreloadableStickyBucketStore {
  preload(hashAttribute: string, hashValue: string): Promise<void>;
}
