import type { Context, Hono } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { EvaluationResult, Experiment, ExperimentAssignment, ExposureEvent, PipelineEvent, PipelineRecord, TraceStep } from '@xp/shared/edge';
import { APP_NAME_MESSAGE, APP_NAME_PATTERN, KEY_PATTERN_MESSAGE, MAX_EVENTS_PER_BATCH, MAX_EVENT_BYTES, MAX_PROPERTY_DEPTH, evaluateFlag, exposureAttributes, isKey, resolveSplitUrl, runsIn, stoppedRedirectUrl } from '@xp/shared/edge';
import type { Deps } from '../../domain/context.js';
import { DefinitionKind, DefinitionRepository } from '../../store/definitions.js';
import { AppError, AppErrorCode, invalid } from '../../errors.js';
import type { EventSink } from '../../store/event-sink.js';
import { InMemoryStickyAssignmentStore, loadStickySnapshot, saveStickySnapshot } from '../../store/sticky-buckets.js';
import { ExposureRetryBuffer } from './exposure-retry.js';
import { anyOriginCors, preflightHeaders } from './cors.js';
import { mountOfrepRoutes } from './ofrep.js';
import { noteEvaluations } from './sdk-outcomes.js';
import type { MetricSink } from './sdk-outcomes.js';
import type { StickyAssignmentStore } from '../../store/sticky-buckets.js';
import { findBadJson, NOT_UTF8_BODY, unsupportedEncoding, utf8Text } from '../text.js';
import { admitBody, declaredLength } from '../body-limits.js';
import type { BodyBudget } from '../body-limits.js';
import { exposureWarnings, serverEvaluationCounts, validateBatch } from './event-batch.js';
import { RulesetCache, acceptsGzip } from './ruleset-cache.js';
import type { RulesetView, ServedRuleset } from './ruleset-cache.js';
import { SDK_KEY_HEADER, SdkKeyCache, authenticateSdkKey, rejectKeysInQuery, rejectServerKeyFromPage, withinDeadline } from './sdk-keys.js';
import type { SdkCaller } from './sdk-keys.js';
import { UNSTORED_VISITOR_ATTRIBUTES, visitorAttributes } from './visitor-attributes.js';

/**
 * The SDK endpoints under /sdk/v1 (key in the X-XP-SDK-Key header) and the public split-URL
 * redirect /r/{experimentKey} (client key as ?k=). Both key kinds may call every /sdk/v1
 * endpoint. A client key sees the ruleset without the server-side-only flags and experiments
 * (`clientSide: false`), in the ruleset, the stream and remote evaluation alike: evaluation with
 * arbitrary attributes then reveals nothing its ruleset does not. The redirect, evaluated here
 * with attributes derived from the request (visitor-attributes.ts), serves any split-URL experiment.
 */

export interface SdkOptions {
  /** Ruleset cache TTL: the longest another instance's publish goes unseen by GET /ruleset. Default 5 s. */
  readonly rulesetTtlMs?: number;
  /** SDK key cache TTL: a revoked key keeps working at most this long. Default 30 s. */
  readonly keyTtlMs?: number;
  /** How long an SDK key lookup may wait for the database before 503 with Retry-After. Default 2 s. */
  readonly keyLookupTimeoutMs?: number;
  /** How often streams re-read the store for other instances' publishes. Default 5 s. */
  readonly pollMs?: number;
  /** Heartbeat comment interval on streams. Default 15 s. */
  readonly heartbeatMs?: number;
  /**
   * Whether this deployment serves `GET /sdk/v1/stream`. Default true. False where responses are
   * buffered (the evaluation Lambda behind API Gateway): the stream (GET and HEAD) answers 404
   * `STREAM_NOT_AVAILABLE`, without Retry-After, a permanent answer SDKs take as "poll instead", not
   * an outage to retry (the 503 of a full instance was retried every 5 s and kept the 5xx alarm on).
   */
  readonly streaming?: boolean;
  /** Concurrent streams per process; one more gets 503 (a capacity limit, retried). Default 1,000. */
  readonly maxStreams?: number;
  /**
   * Concurrent streams one SDK key may hold in this process; one more gets 429. Default: all but a
   * tenth of `maxStreams`, so one key (a busy site's client key, a leaked key, a reconnect loop)
   * cannot take every slot; and that last tenth goes only to keys holding fewer than a hundredth
   * of `maxStreams` (at least one), so several busy keys together cannot take it either.
   */
  readonly maxStreamsPerKey?: number;
  /** Counters the caller can read (tests, health output); created when absent. */
  readonly metrics?: SdkMetrics;
  /** Request body bytes in flight, overall and per client address (`xp start`); unbounded when absent. */
  readonly bodyBudget?: BodyBudget | undefined;
  /**
   * Where the exposure retry buffer reports ExposuresDropped, ExposuresRecovered and
   * ExposuresRetrying (EMF in the evaluation Lambda, the in-process counters locally).
   */
  readonly metricSink?: MetricSink;
  /** Sticky-bucket assignments for /sdk/v1/evaluate and /r (Redis when REDIS_URL is set). Default: in process memory. */
  readonly sticky?: StickyAssignmentStore;
  /**
   * Exposures the event sink refused that are kept in memory and sent again in the background
   * (exposure-retry.ts); beyond, the oldest are dropped and counted in `exposuresDropped`. Default 50,000.
   */
  readonly exposureRetryMaxEvents?: number;
  /** Backoff between retries of refused exposures: `min` doubling to `max`, jittered. Default 1 s to 30 s. */
  readonly exposureRetryDelayMs?: { readonly min: number; readonly max: number };
  /**
   * Receives the routes' shutdown step: one last send of the exposures waiting for retry, for at
   * most `deadlineMs` (default 2 s), the rest counted as dropped. Call it after the server stopped
   * taking requests and before the event sink closes (`xp start` does).
   */
  readonly addCloser?: (close: (deadlineMs?: number) => Promise<void>) => void;
}

export interface SdkMetrics {
  streamsOpen: number;
  /** Exposures the event sink accepted, at once or on a retry. */
  exposuresLogged: number;
  /**
   * Exposures lost (evaluations still answered): the event sink refused them while the retry buffer
   * was full (the oldest waiting go), or they were still waiting at shutdown.
   */
  exposuresDropped: number;
  /** Gauge: exposures the event sink refused that wait in the retry buffer. */
  exposuresRetrying: number;
  /** Exposures the event sink accepted on a retry (counted in `exposuresLogged` too). */
  exposuresRecovered: number;
}

export const createSdkMetrics = (): SdkMetrics => ({ streamsOpen: 0, exposuresLogged: 0, exposuresDropped: 0, exposuresRetrying: 0, exposuresRecovered: 0 });

export const SDK_COOKIE = 'xp_uid';
const COOKIE_MAX_AGE_SECONDS = 365 * 24 * 60 * 60;
const UID_SHAPE = /^[A-Za-z0-9_-]{8,64}$/;
const MAX_EVALUATE_FLAGS = 200;
/** Left out of an exposure's attributes, as a private attribute is: unit.id wins over attributes.id. */
const UNIT_ID_ATTRIBUTE = ['id'];
/** Left out of a split-URL exposure's attributes: the unit id (the exposure's unitId) and the raw request strings. */
const UNSTORED_REDIRECT_ATTRIBUTES = [...UNIT_ID_ATTRIBUTE, ...UNSTORED_VISITOR_ATTRIBUTES];
const EVALUATE_BODY_BYTES = 64 * 1024;
/** The body, the unit, its attributes, then values nested as deep as event properties may be. */
const EVALUATE_MAX_DEPTH = 2 + MAX_PROPERTY_DEPTH;
const EVENTS_BODY_BYTES = MAX_EVENTS_PER_BATCH * MAX_EVENT_BYTES + 1024 * 1024;
/** Partial exposure batches in flight to the stream at once; the next one gathers meanwhile (group commit). */
const MAX_EXPOSURE_FLUSHES = 2;
const NOT_RUNNING_CACHE_ENTRIES = 1_000;
/** A stream whose client stopped reading is closed once this many events are queued. */
const MAX_QUEUED_STREAM_CHUNKS = 64;

/** The optional header naming the application a remote evaluation counts under (its evaluation counts' `app`). */
export const APP_HEADER = 'X-XP-App';

/**
 * The application a remote evaluation (POST /sdk/v1/evaluate, OFREP) counts under: the X-XP-App
 * header, or undefined without one. A malformed one gets `problem`, the reason (APP_NAME_PATTERN).
 */
export function remoteEvaluationApp(c: Context): { readonly app: string | undefined; readonly problem?: undefined } | { readonly app?: undefined; readonly problem: string } {
  const app = c.req.header(APP_HEADER);
  if (app === undefined || APP_NAME_PATTERN.test(app)) {
    return { app };
  }
  return { problem: `the ${APP_HEADER} header ${APP_NAME_MESSAGE}` };
}

/** The answer to an SDK endpoint's CORS preflight (OPTIONS), 204 with these. */
export const SDK_PREFLIGHT_HEADERS = preflightHeaders('GET, POST, OPTIONS', [SDK_KEY_HEADER, 'Content-Type', 'If-None-Match', 'Last-Event-ID', 'Cache-Control', APP_HEADER]);

/** Experiments as stored (the split-URL redirect's fallback for experiments not running here). */
const experimentsRepo = new DefinitionRepository<Experiment>(DefinitionKind.Experiment);

export interface EvaluateBody {
  /** `id` may be left out: a unit known by its attributes alone (an anonymous visitor's country), as in the SDKs. */
  readonly unit: { readonly id?: string; readonly attributes?: Record<string, unknown> };
  readonly flags?: string[];
  /** Also return each flag's bucket, prerequisite and trace (every rule considered, and why). */
  readonly explain?: boolean;
  /** Attributes evaluated but not stored with the unit's exposures, by name, or `true` for none stored (the SDKs' privateAttributes). */
  readonly privateAttributes?: readonly string[] | true;
  /**
   * `false`: log no exposure for this call (the JS SDK's per-call `{ exposure: false }`), for a client
   * that prefetches values and sends an exposure itself (POST /sdk/v1/events) when it uses one. Default true.
   */
  readonly exposure?: boolean;
}

/**
 * The /sdk/v1/evaluate body: `{ unit: { id?, attributes? }, flags?, explain?, privateAttributes?, exposure? }`, unknown keys refused. Written
 * out rather than with zod, which the evaluation Lambda does not load. `input` comes from JSON.parse,
 * so every attribute value is already JSON. Issue paths are the management API's: `body.` first,
 * array items as `[i]` (`body.flags[3]`, `body.unit.attributes.plan`).
 */
export function parseEvaluateBody(input: unknown): EvaluateBody {
  const fail = (field: string, message: string): never => {
    const path = field === '' ? 'body' : field.startsWith('[') ? `body${field}` : `body.${field}`;
    throw new AppError(AppErrorCode.Validation, `invalid body: ${path}: ${message}`, { issues: [{ path, message }] });
  };
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const onlyKeys = (v: Record<string, unknown>, path: string, allowed: readonly string[]): void => {
    const extra = Object.keys(v).find((k) => !allowed.includes(k));
    if (extra !== undefined) {
      fail(path, `unrecognized key "${extra}"`);
    }
  };
  if (!isObject(input)) {
    return fail('', 'expected an object');
  }
  onlyKeys(input, '', ['unit', 'flags', 'explain', 'privateAttributes', 'exposure']);
  if (input.explain !== undefined && typeof input.explain !== 'boolean') {
    fail('explain', 'expected true or false');
  }
  if (input.exposure !== undefined && typeof input.exposure !== 'boolean') {
    fail('exposure', 'expected true or false (false: log no exposure for this call); leave it out for true');
  }
  // null and false count as absent (none private), as in the SDKs.
  if (input.privateAttributes === null || input.privateAttributes === false) {
    delete input.privateAttributes;
  }
  const hidden = input.privateAttributes;
  if (hidden !== undefined && hidden !== true) {
    if (!Array.isArray(hidden)) {
      fail('privateAttributes', 'expected true, false or an array of attribute names');
    }
    (hidden as unknown[]).forEach((name, index) => {
      if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
        fail(`privateAttributes[${index}]`, 'expected an attribute name of 1-200 characters');
      }
    });
  }
  const unit = input.unit;
  if (!isObject(unit)) {
    return fail('unit', 'expected an object with an id and/or attributes');
  }
  onlyKeys(unit, 'unit', ['id', 'attributes']);
  // Left out (or null), the unit is its attributes: rules and experiments hashed on `id` pass it by
  // (attributes.id, when given, is the id, as in the SDKs).
  if (unit.id === null) {
    delete unit.id;
  }
  if (unit.id !== undefined && (typeof unit.id !== 'string' || unit.id.length === 0 || unit.id.length > 256)) {
    fail('unit.id', 'expected a string of 1-256 UTF-16 code units (an emoji counts as 2)');
  }
  // null counts as absent, as in the SDKs.
  if (unit.attributes === null) {
    delete unit.attributes;
  }
  if (unit.attributes !== undefined) {
    if (!isObject(unit.attributes)) {
      fail('unit.attributes', 'expected an object');
    }
    const long = Object.keys(unit.attributes as object).find((k) => k.length > 200);
    if (long !== undefined) {
      fail(`unit.attributes.${long.slice(0, 40)}…`, 'attribute names are at most 200 characters');
    }
  }
  const flags = input.flags;
  if (flags !== undefined) {
    if (!Array.isArray(flags)) {
      fail('flags', 'expected an array of flag keys');
    }
    const list = flags as unknown[];
    if (list.length > MAX_EVALUATE_FLAGS) {
      fail('flags', `at most ${MAX_EVALUATE_FLAGS} flags`);
    }
    list.forEach((key, index) => {
      if (!isKey(key)) {
        fail(`flags[${index}]`, typeof key === 'string' ? KEY_PATTERN_MESSAGE : 'expected a flag key');
      }
    });
  }
  // Unit ids and attributes travel with exposures to the aggregator, which could never store these;
  // attribute values nest as deep as event properties may (and 1e999, read as Infinity, is refused as there).
  const bad = findBadJson(input, { maxDepth: EVALUATE_MAX_DEPTH });
  if (bad !== undefined) {
    fail(bad.path, bad.problem === 'key' ? `has a key that ${bad.reason}` : bad.reason);
  }
  return input as unknown as EvaluateBody;
}

/** A unit's attributes less the named private ones (all of them when there are none to leave out). */
function withoutPrivate(attributes: Record<string, unknown> | undefined, hidden: readonly string[] | undefined): Record<string, unknown> | undefined {
  if (attributes === undefined || hidden === undefined || hidden.length === 0) {
    return attributes;
  }
  const names = new Set(hidden);
  return Object.fromEntries(Object.entries(attributes).filter(([name]) => !names.has(name)));
}

/** What /sdk/v1/evaluate returns per flag. */
export interface EvaluatedFlag {
  readonly value: unknown;
  readonly variationKey: string | null;
  readonly reason: string;
  readonly ruleId?: string;
  readonly errorCode?: string;
  /** With `explain`: what the error is (a rule that does not compile names its path and why). */
  readonly errorMessage?: string;
  /** With `explain`: the unit's bucket in the rule that served it, the failed prerequisite, the trace. */
  readonly bucket?: number;
  readonly prerequisite?: string;
  /** With `explain`, for a flag an experiment rule served: the unit's assignment (see ExplainedAssignment). */
  readonly experiment?: ExplainedAssignment;
  readonly trace?: readonly TraceStep[];
}

/**
 * The experiment assignment behind a flag's value, as `explain` shows it. `sticky` is always given:
 * true when the variation was kept from this server's store of sticky assignments (so another
 * store, such as an SDK's own, may explain the same unit differently), false when the unit was
 * bucketed (`bucket`) or forced (`forced`) here. `variationKey` is the experiment's variation.
 */
export interface ExplainedAssignment {
  readonly key: string;
  readonly variationKey: string;
  readonly inExperiment: boolean;
  readonly sticky: boolean;
  readonly forced?: true;
  readonly hashAttribute: string;
  readonly bucket?: number;
}

/** Whether a raw `name=value` query pair is the SDK key parameter `k`. */
function isKeyParameter(pair: string): boolean {
  return new URLSearchParams(pair).has('k');
}

/** The body's text; a body that is not UTF-8 is malformed JSON. */
function decoded(bytes: ArrayBuffer | Uint8Array): string {
  const text = utf8Text(bytes);
  if (text === undefined) {
    throw new AppError(AppErrorCode.MalformedJson, NOT_UTF8_BODY);
  }
  return text;
}

/**
 * Reads the body as text within `maxBytes` and the body budget (when given), without the copies
 * Hono's bodyLimit makes on Node when Content-Length is given. A declared length over the limit is
 * refused unread (413), a body the budget has no room for too (503, Retry-After); a streamed body is
 * counted as it arrives. Its share of the budget is given back once it is read, or its reading failed.
 */
async function readText(c: Context, maxBytes: number, budget: BodyBudget | undefined): Promise<string> {
  const admitted = await admitBody(c, maxBytes, budget);
  try {
    if (admitted.counted === undefined) {
      return declaredLength(c) === undefined ? '' : decoded(await c.req.arrayBuffer());
    }
    const reader = admitted.counted.getReader();
    const chunks: Uint8Array[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        return decoded(Buffer.concat(chunks));
      }
      chunks.push(value);
    }
  } finally {
    admitted.release();
  }
}

async function readJsonBody(c: Context, maxBytes: number, budget: BodyBudget | undefined): Promise<unknown> {
  const encoding = unsupportedEncoding(c.req.header('content-encoding'));
  if (encoding !== undefined) {
    throw invalid(encoding, { issues: [{ path: 'Content-Encoding', message: 'not supported' }] });
  }
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
    throw invalid('send the body as application/json', { issues: [{ path: 'Content-Type', message: `got "${type.slice(0, 64)}"` }] });
  }
  const text = await readText(c, maxBytes, budget);
  // No depth check before parsing, unlike the management API: an event nested too deep is rejected
  // on its own with its path and the rest of its batch kept (what a body costs to parse is bounded
  // by its size, however it nests).
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AppError(AppErrorCode.MalformedJson, 'the request body is not valid JSON');
  }
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) {
    return false;
  }
  // If-None-Match uses the weak comparison: W/"x" matches "x".
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}

/**
 * The request's URL as the visitor's browser sees it: behind a TLS-terminating proxy that says so
 * (X-Forwarded-Proto: https, its first entry) the scheme is https, the host the Host header's. The
 * `Secure` cookie flag and the `url` attribute both read it, so they never disagree. The header is
 * taken from any peer, as it always was: who sends a false one only changes their own cookie's flag
 * and their own `url` attribute.
 */
function publicUrl(c: Context): URL {
  const url = new URL(c.req.url);
  if (url.protocol === 'http:' && c.req.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase() === 'https') {
    url.protocol = 'https:';
  }
  return url;
}

const isHttps = (c: Context): boolean => publicUrl(c).protocol === 'https:';

/**
 * Whether the request is a browser's speculative fetch, not a visit: `Sec-Purpose: prefetch` (and
 * `prefetch;prerender`) from speculation rules and <link rel=prefetch>, the older `Purpose: prefetch`,
 * Firefox's `X-Moz: prefetch` and Safari's `X-Purpose: preview`.
 */
function isPrefetch(c: Context): boolean {
  const token = (name: string): string | undefined => c.req.header(name)?.split(/[;,]/)[0]?.trim().toLowerCase();
  return token('sec-purpose') === 'prefetch' || token('purpose') === 'prefetch' || token('x-moz') === 'prefetch' || token('x-purpose') === 'preview';
}

function withRetryAfter(c: Context, error: unknown): never {
  if (error instanceof AppError && (error.code === AppErrorCode.Unavailable || error.code === AppErrorCode.RateLimited)) {
    const seconds = (error.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds ?? 1;
    c.header('Retry-After', String(seconds));
  }
  throw error;
}

function explained(a: ExperimentAssignment): ExplainedAssignment {
  return {
    key: a.key,
    variationKey: a.variationKey,
    inExperiment: a.inExperiment,
    sticky: a.sticky === true,
    ...(a.forced === true ? { forced: true } : {}),
    hashAttribute: a.hashAttribute,
    ...(a.bucket === undefined ? {} : { bucket: a.bucket }),
  };
}

/** The variation an evaluation served, for its count: null when it failed (the caller's default is served then). */
export function servedVariation(r: Pick<EvaluatedFlag, 'variationKey' | 'errorCode'> | undefined): string | null {
  return r === undefined || r.errorCode !== undefined ? null : r.variationKey;
}

function toEvaluated(r: EvaluationResult, explain: boolean): EvaluatedFlag {
  const plain: EvaluatedFlag = {
    value: r.value,
    variationKey: r.variationKey,
    reason: r.reason,
    ...(r.ruleId === undefined ? {} : { ruleId: r.ruleId }),
    ...(r.errorCode === undefined ? {} : { errorCode: r.errorCode }),
  };
  return explain
    ? {
        ...plain,
        ...(r.errorMessage === undefined ? {} : { errorMessage: r.errorMessage }),
        ...(r.bucket === undefined ? {} : { bucket: r.bucket }),
        ...(r.prerequisite === undefined ? {} : { prerequisite: r.prerequisite }),
        ...(r.experiment === undefined ? {} : { experiment: explained(r.experiment) }),
        ...(r.trace === undefined ? {} : { trace: r.trace }),
      }
    : plain;
}

const EXPLAIN = { explain: true } as const;

/** Registers the SDK endpoints; `deps.events` must be set. */
export function mountSdkRoutes(app: Hono, deps: Deps, options: SdkOptions = {}): SdkMetrics {
  const sink: EventSink | undefined = deps.events;
  if (sink === undefined) {
    throw new TypeError('the SDK endpoints need deps.events');
  }
  const metrics = options.metrics ?? createSdkMetrics();
  const now = (): number => deps.now().getTime();
  const keys = new SdkKeyCache(deps.db, { ttlMs: options.keyTtlMs ?? 30_000, lookupTimeoutMs: options.keyLookupTimeoutMs ?? 2_000, now });
  const rulesets = new RulesetCache(deps.rulesets, { ttlMs: options.rulesetTtlMs ?? 5_000, pollMs: options.pollMs ?? 5_000, notifier: deps.notifier, logger: deps.logger, now });
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const streaming = options.streaming ?? true;
  const maxStreams = options.maxStreams ?? 1_000;
  /** The slots kept for keys holding few streams, and what "few" is: a tenth, and a hundredth (at least one). */
  const streamReserve = Math.floor(maxStreams / 10);
  const smallKeyStreams = Math.max(1, Math.floor(maxStreams / 100));
  const maxStreamsPerKey = Math.min(maxStreams, options.maxStreamsPerKey ?? maxStreams - streamReserve);
  /** Open streams per SDK key id (keys without one are not in the map). */
  const streamsByKey = new Map<string, number>();
  const notRunning = new Map<string, { url: string | undefined; expiresAt: number }>();
  const sticky = options.sticky ?? new InMemoryStickyAssignmentStore();
  // Timers do not run while a Lambda invocation is frozen: retries then pause between invocations
  // and resume on the next one (exposure-retry.ts). The Lambda has no shutdown step to flush them.
  const retry = new ExposureRetryBuffer({
    sink,
    logger: deps.logger,
    metrics,
    ...(options.metricSink === undefined ? {} : { metricSink: options.metricSink }),
    ...(options.exposureRetryMaxEvents === undefined ? {} : { maxEvents: options.exposureRetryMaxEvents }),
    ...(options.exposureRetryDelayMs === undefined ? {} : { delayMs: options.exposureRetryDelayMs }),
  });
  options.addCloser?.((deadlineMs) => retry.close(deadlineMs));

  // Browser SDKs run on the customer's own sites: any origin (cors.ts).
  app.use('/sdk/v1/*', anyOriginCors(SDK_PREFLIGHT_HEADERS));

  const caller = (c: Context): Promise<SdkCaller> => {
    rejectKeysInQuery(c);
    const key = c.req.header(SDK_KEY_HEADER);
    rejectServerKeyFromPage(c, key);
    return authenticateSdkKey(keys, key, ['server', 'client']);
  };

  /** What a key may see: client-side keys get the ruleset without the server-side-only flags and experiments. */
  const viewFor = (who: SdkCaller, served: ServedRuleset): RulesetView => (who.kind === 'client' ? served.client : served);

  const published = async (who: SdkCaller): Promise<ServedRuleset> => {
    const served = await rulesets.get(who.projectId, who.environment);
    if (served === undefined) {
      throw new AppError(AppErrorCode.NotFound, 'no ruleset has been published for this environment yet');
    }
    return served;
  };

  const current = async (who: SdkCaller): Promise<RulesetView> => viewFor(who, await published(who));

  /**
   * Logs exposures without ever failing the request that caused them. Exposures of the requests
   * handled in the same event-loop turn go to the sink together: one PutRecords for many concurrent
   * evaluations instead of one each, with no added wait (a batch leaves on setImmediate; one that
   * would pass a Kinesis request's 500 records makes way for a new one). At most
   * MAX_EXPOSURE_FLUSHES partial batches are in flight: while they are, new exposures gather in the
   * next batch, which leaves as soon as one returns (group commit). Requests under load arrive in
   * different turns, so the same-turn batch alone carried under two exposures per put, and each put
   * has a fixed cost (kinesalite, in-process: 1,500 records/s one by one, 12,000 twenty at a time).
   * A full batch leaves at once. Every request still answers only after its own exposures were
   * accepted or, refused, handed to the retry buffer (it does not wait for the retries).
   */
  interface ExposureBatch {
    /** Exposures, and the evaluation counts of remote evaluations, which ride along. */
    readonly events: PipelineRecord[];
  }
  interface PendingExposures {
    readonly batch: ExposureBatch;
    readonly done: Promise<void>;
    readonly resolve: () => void;
    /** Its setImmediate has run: the turn that opened it is over. */
    ready: boolean;
  }
  let pending: PendingExposures | undefined;
  let flushesInFlight = 0;
  const launchExposures = (entry: PendingExposures): void => {
    if (pending === entry) {
      pending = undefined;
    }
    flushesInFlight++;
    void flushExposures(entry.batch).finally(() => {
      flushesInFlight--;
      entry.resolve();
      if (pending !== undefined && pending.ready && flushesInFlight < MAX_EXPOSURE_FLUSHES) {
        launchExposures(pending);
      }
    });
  };
  /** The exposures among records (evaluation counts ride along, but are not exposures). */
  const exposureCount = (events: readonly PipelineRecord[]): number => events.reduce((n, e) => n + (e.event.type === 'exposure' ? 1 : 0), 0);
  /**
   * What the retry buffer keeps of a refused write: its exposures. The remote evaluations' counts in
   * it are dropped (a usage signal, not results data), so an outage never spends the buffer on them.
   */
  const exposuresOf = (events: readonly PipelineRecord[]): PipelineRecord[] => (events.some((e) => e.event.type === 'evaluations') ? events.filter((e) => e.event.type !== 'evaluations') : [...events]);
  const flushExposures = async (batch: ExposureBatch): Promise<void> => {
    if (retry.holding) {
      // The sink refused last and a retry will tell when it is back: no request waits out its deadline meanwhile.
      retry.hold(exposuresOf(batch.events));
      return;
    }
    // What the stream stored before the put failed is not sent again (the rest keeps its ids).
    const stored = new Set<PipelineRecord>();
    try {
      await sink.put(batch.events, (accepted) => {
        for (const e of accepted) {
          stored.add(e);
        }
      });
      metrics.exposuresLogged += exposureCount(batch.events);
      retry.sinkAccepted();
    } catch (error) {
      metrics.exposuresLogged += exposureCount([...stored]);
      retry.add(exposuresOf(stored.size === 0 ? batch.events : batch.events.filter((e) => !stored.has(e))), error);
    }
  };
  const logExposures = (events: PipelineRecord[]): Promise<void> => {
    if (events.length === 0) {
      return Promise.resolve();
    }
    if (pending !== undefined && pending.batch.events.length + events.length > MAX_EVENTS_PER_BATCH) {
      launchExposures(pending);
    }
    if (pending === undefined) {
      let resolve = (): void => undefined;
      const done = new Promise<void>((r) => {
        resolve = r;
      });
      const entry: PendingExposures = { batch: { events: [] }, done, resolve, ready: false };
      pending = entry;
      setImmediate(() => {
        entry.ready = true;
        if (pending === entry && flushesInFlight < MAX_EXPOSURE_FLUSHES) {
          launchExposures(entry);
        }
      });
    }
    pending.batch.events.push(...events);
    return pending.done;
  };

  const exposure = (who: SdkCaller, at: number, e: Omit<ExposureEvent, 'id' | 'timestamp' | 'type'>): PipelineEvent => ({
    v: 1,
    projectId: who.projectId,
    environment: who.environment,
    receivedAt: at,
    occurredAt: at,
    event: { type: 'exposure', id: deps.newId(), timestamp: at, ...e },
  });

  app.get('/sdk/v1/ruleset', async (c) => {
    const who = await caller(c);
    const include = c.req.query('include');
    if (include !== undefined && include !== 'serverOnly') {
      throw invalid('include must be "serverOnly" or absent', { issues: [{ path: 'query.include', message: 'unknown value' }] });
    }
    // Server keys may ask for the list of server-side-only keys beside the ruleset (SDKs strip them
    // from snapshots meant for browsers). Opt-in: older SDKs refuse an unknown top-level field.
    // A client key's view holds nothing server-side only, so it has nothing to list.
    const all = await published(who);
    const served = include === 'serverOnly' && who.kind === 'server' ? all.annotated : viewFor(who, all);
    // One ETag for both encodings (see docs/sdk-endpoints.md): SDKs compare it with the stream's
    // etag, and it names the ruleset version, not the bytes on the wire; Vary keeps caches apart.
    c.header('ETag', served.etag);
    c.header('Cache-Control', 'no-cache');
    c.header('Vary', 'X-XP-SDK-Key, Accept-Encoding');
    if (etagMatches(c.req.header('if-none-match'), served.etag)) {
      return c.body(null, 304);
    }
    const accept = c.req.header('accept-encoding');
    if (accept !== undefined && acceptsGzip(accept)) {
      const compressed = served.gzip();
      if (compressed !== undefined) {
        const bytes = compressed instanceof Promise ? await compressed : compressed;
        return c.body(new Uint8Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength), 200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Encoding': 'gzip' });
      }
    }
    return c.body(served.json, 200, { 'Content-Type': 'application/json; charset=utf-8' });
  });

  app.get('/sdk/v1/stream', async (c) => {
    const who = await caller(c);
    if (!streaming) {
      // Before HEAD's headers: a HEAD must not promise a stream that GET would not open.
      throw new AppError(
        AppErrorCode.StreamNotAvailable,
        'this deployment does not serve /sdk/v1/stream (its responses are buffered): poll GET /sdk/v1/ruleset with If-None-Match instead, which answers 304 while nothing changed',
      );
    }
    const key = c.req.header(SDK_KEY_HEADER) ?? '';
    const include = c.req.query('include');
    if (include !== undefined && include !== 'ruleset') {
      throw invalid('include must be "ruleset" or absent', { issues: [{ path: 'query.include', message: 'unknown value' }] });
    }
    const streamHeaders = { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' };
    // HEAD (Hono runs GET routes for it) gets the headers alone: a stream nobody reads or cancels
    // would hold its slot until the slow-reader limit, so ~1,000 `curl -I` locked every key out.
    if (c.req.method === 'HEAD') {
      return c.body(null, 200, streamHeaders);
    }
    if (metrics.streamsOpen >= maxStreams) {
      withRetryAfter(c, new AppError(AppErrorCode.Unavailable, 'too many open streams on this instance; retry later', { retryAfterSeconds: 5 }));
    }
    const held = streamsByKey.get(who.keyId) ?? 0;
    if (held >= maxStreamsPerKey) {
      withRetryAfter(
        c,
        new AppError(AppErrorCode.RateLimited, `this SDK key holds ${maxStreamsPerKey} open streams on this instance, its most; retry later`, { retryAfterSeconds: 5 }),
      );
    }
    // The last tenth of the slots goes only to keys holding few streams, so two or three busy keys
    // together cannot take them all either.
    if (metrics.streamsOpen >= maxStreams - streamReserve && held >= smallKeyStreams) {
      withRetryAfter(
        c,
        new AppError(
          AppErrorCode.RateLimited,
          `this instance's last ${streamReserve} stream slots are kept for SDK keys holding fewer than ${smallKeyStreams} streams, and this key holds ${held}; retry later`,
          { retryAfterSeconds: 5 },
        ),
      );
    }
    // The slot is taken now, before any await: connects arriving together (a reconnect storm after a
    // deploy) would otherwise all pass the checks above before any of them counted.
    metrics.streamsOpen++;
    streamsByKey.set(who.keyId, held + 1);
    let released = false;
    const release = (): void => {
      if (released) {
        return;
      }
      released = true;
      metrics.streamsOpen--;
      const left = (streamsByKey.get(who.keyId) ?? 1) - 1;
      if (left > 0) {
        streamsByKey.set(who.keyId, left);
      } else {
        streamsByKey.delete(who.keyId);
      }
    };
    let initial: Awaited<ReturnType<typeof rulesets.get>>;
    try {
      initial = await rulesets.get(who.projectId, who.environment);
    } catch (error) {
      release();
      throw error;
    }
    const encoder = new TextEncoder();
    let lastSent = -1;
    let cleanup = release;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        let closed = false;
        const send = (text: string): void => {
          if (closed) {
            return;
          }
          if ((controller.desiredSize ?? 0) < -MAX_QUEUED_STREAM_CHUNKS) {
            cleanup();
            controller.error(new Error('client stopped reading'));
            return;
          }
          controller.enqueue(encoder.encode(text));
        };
        const sendRuleset = (served: ServedRuleset): void => {
          if (served.version <= lastSent) {
            return;
          }
          lastSent = served.version;
          const r = viewFor(who, served);
          const data = include === 'ruleset' ? `{"version":${r.version},"etag":${JSON.stringify(r.etag)},"ruleset":${r.json}}` : JSON.stringify({ version: r.version, etag: r.etag });
          send(`event: ruleset\nid: ${r.version}\ndata: ${data}\n\n`);
        };
        const unwatch = rulesets.watch(who.projectId, who.environment, sendRuleset);
        const close = (): void => {
          cleanup();
          try {
            controller.close();
          } catch {
            // already closed or errored by the consumer
          }
        };
        const heartbeat = setInterval(() => {
          send(': heartbeat\n\n');
          // A revoked key loses its open streams too, within the key cache's TTL like any request.
          void keys.find(key).then(
            (record) => {
              if (record === undefined) {
                close();
              }
            },
            () => undefined,
          );
        }, heartbeatMs);
        heartbeat.unref();
        cleanup = () => {
          if (closed) {
            return;
          }
          closed = true;
          clearInterval(heartbeat);
          unwatch();
          release();
        };
        c.req.raw.signal.addEventListener('abort', close);
        if (c.req.raw.signal.aborted) {
          // The client left while the ruleset was read: no abort event will come.
          close();
          return;
        }
        send('retry: 3000\n\n');
        if (initial !== undefined) {
          sendRuleset(initial);
        }
      },
      cancel() {
        cleanup();
      },
    });
    return c.body(body, 200, streamHeaders);
  });

  app.post('/sdk/v1/evaluate', async (c) => {
    const who = await caller(c);
    const named = remoteEvaluationApp(c);
    if (named.problem !== undefined) {
      throw invalid(named.problem, { issues: [{ path: `header.${APP_HEADER}`, message: APP_NAME_MESSAGE }] });
    }
    const input = parseEvaluateBody(await readJsonBody(c, EVALUATE_BODY_BYTES, options.bodyBudget));
    const served = await current(who);
    const at = now();
    const attributes = input.unit.id === undefined ? { ...input.unit.attributes } : { ...input.unit.attributes, id: input.unit.id };
    const snapshot = await loadStickySnapshot(sticky, who.projectId, served.ruleset, attributes, deps.logger);
    const context = { attributes, now: at, ...(snapshot === undefined ? {} : { stickyBuckets: snapshot }) };
    // A key named twice is evaluated (and exposed) once.
    const flagKeys = input.flags === undefined ? Object.keys(served.ruleset.flags) : [...new Set(input.flags)];
    const flags: Record<string, EvaluatedFlag> = {};
    const exposures: PipelineRecord[] = [];
    // The unit's flat attributes go with its exposures, as the SDKs send them (result filters, dimensions).
    let sent: ReturnType<typeof exposureAttributes> | null = null;
    for (const key of flagKeys) {
      const result = evaluateFlag(served.ruleset, key, context, input.explain === true ? EXPLAIN : undefined);
      flags[key] = toEvaluated(result, input.explain === true);
      const exp = result.experiment;
      // `exposure: false`: the caller sends the exposure itself (/sdk/v1/events) if it uses the value.
      if (exp?.inExperiment === true && input.exposure !== false) {
        // The caller's attributes, as the SDKs send them: without `id`, which unit.id overrides (the
        // exposure's unitId already), so a conflicting attributes.id does not become a dimension.
        // Less the private ones (privateAttributes): evaluated above, never stored.
        sent ??= input.privateAttributes === true ? undefined : exposureAttributes(withoutPrivate(input.unit.attributes, input.privateAttributes), UNIT_ID_ATTRIBUTE);
        exposures.push(
          exposure(who, at, { unitId: exp.hashValue, experiment: exp.key, variation: exp.variationKey, flag: key, hashAttribute: exp.hashAttribute, ...(sent === undefined ? {} : { attributes: sent }) }),
        );
      }
    }
    // The evaluations answered, counted by (flag, served variation) in the same write as the exposures.
    // None for an explain request (a diagnostic, as the SDKs' explain) or one without `flags` (a
    // prefetch of every flag, which would count every flag as used).
    const counted = input.explain === true || input.flags === undefined ? [] : serverEvaluationCounts(who, at, deps.newId, flagKeys.map((key) => ({ flag: key, variation: servedVariation(flags[key]) })), named.app);
    await Promise.all([saveStickySnapshot(sticky, who.projectId, snapshot, deps.logger), logExposures(counted.length === 0 ? exposures : [...exposures, ...counted])]);
    c.header('Cache-Control', 'no-store');
    noteEvaluations(c, flagKeys.length);
    return c.json({ version: served.version, flags });
  });

  app.post('/sdk/v1/events', async (c) => {
    const who = await caller(c);
    const body = await readJsonBody(c, EVENTS_BODY_BYTES, options.bodyBudget);
    const events = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as { events?: unknown }).events : undefined;
    if (!Array.isArray(events)) {
      throw invalid('the body must be { "events": [ ... ] }', { issues: [{ path: 'body.events', message: 'expected an array' }] });
    }
    const extra = Object.keys(body as object).find((k) => k !== 'events');
    if (extra !== undefined) {
      throw invalid(`unrecognized key "${extra.slice(0, 64)}": the body must be { "events": [ ... ] }`, { issues: [{ path: 'body', message: `unrecognized key "${extra.slice(0, 64)}"` }] });
    }
    if (events.length === 0) {
      throw invalid('the batch is empty', { issues: [{ path: 'body.events', message: 'no events' }] });
    }
    const batch = validateBatch(events, { projectId: who.projectId, environment: who.environment, receivedAt: now() });
    const { valid, rejected } = batch;
    if (valid.length === 0) {
      throw invalid(`none of the ${events.length} events is valid`, { accepted: 0, rejected });
    }
    try {
      await sink.put(valid);
    } catch (error) {
      withRetryAfter(c, error);
    }
    // The environment's whole ruleset (not a client key's view): its experiments are the ones that
    // count here. None published yet, or unreadable: nothing to compare with, so no warnings.
    const served = await rulesets.get(who.projectId, who.environment).catch(() => undefined);
    const { warnings, count } = served === undefined ? { warnings: [], count: 0 } : exposureWarnings(batch, served.ruleset.experiments ?? {});
    c.header('Cache-Control', 'no-store');
    return c.json({ accepted: valid.length, rejected, ...(count === 0 ? {} : { warnings, ...(count > warnings.length ? { warningsOmitted: count - warnings.length } : {}) }) }, 202);
  });

  /**
   * Where the links of an experiment that stopped in the caller's environment go: the released
   * winner's URL, else the first variation's, archived or not (archiving changes nothing visitors
   * get: links in old mails and ads keep working); null for an experiment that never ran there (a
   * draft, another environment's, an unknown one). Cached briefly.
   */
  const notRunningUrl = async (who: SdkCaller, key: string): Promise<string | undefined | null> => {
    const cacheKey = `${who.projectId}#${who.environment}#${key}`;
    const hit = notRunning.get(cacheKey);
    if (hit !== undefined && hit.expiresAt > now()) {
      return hit.url;
    }
    // Bounded like the key lookup: a stalled database gives the visitor a 503 to retry, not a hang.
    const stored = await withinDeadline(experimentsRepo.find(deps.db, who.projectId, key), options.keyLookupTimeoutMs ?? 2_000, 'the experiment lookup');
    const def = stored?.definition;
    const url = def !== undefined && def.status === 'stopped' && runsIn(def, who.environment) ? stoppedRedirectUrl(def) : null;
    if (notRunning.size >= NOT_RUNNING_CACHE_ENTRIES) {
      notRunning.clear();
    }
    if (url !== null) {
      notRunning.set(cacheKey, { url, expiresAt: now() + (options.rulesetTtlMs ?? 5_000) });
    }
    return url;
  };

  /** An http(s) URL a visitor may be sent to, or undefined. */
  const redirectable = (url: string | undefined): URL | undefined => {
    const target = url === undefined || !URL.canParse(url) ? undefined : new URL(url);
    return target !== undefined && (target.protocol === 'https:' || target.protocol === 'http:') ? target : undefined;
  };

  app.get('/r/:experimentKey', async (c) => {
    // Every answer, the 400 and 401 of a bad link included: a cached one would outlive the link's fix.
    c.header('Cache-Control', 'no-store');
    rejectKeysInQuery(c, true);
    const header = c.req.header(SDK_KEY_HEADER);
    // A server key is refused wherever it comes, also beside a client key in ?k= (it is secret, and a page must not send it).
    if (c.req.query('k') !== undefined && header !== undefined && header !== '') {
      await authenticateSdkKey(keys, header, ['client']);
    }
    const who = await authenticateSdkKey(keys, c.req.query('k') ?? header, ['client']);
    const experimentKey = c.req.param('experimentKey');
    if (!isKey(experimentKey)) {
      throw new AppError(AppErrorCode.NotFound, 'experiment not found');
    }
    // A browser's prefetch is declined, not answered: a prefetched 302 is followed as is when the
    // visitor clicks, so one without the cookie and the exposure would send them on never counted
    // (and a new visitor, cookie-less, to a variation their next visit may not repeat), while one
    // with them counts every link a page merely offered. A 503 that no cache keeps makes the browser
    // drop the prefetch and fetch the link again on the real navigation, which is then counted once.
    // (HEAD differs: its answer is never navigated to, so it gets the redirect, changing nothing.)
    if (isPrefetch(c)) {
      return c.body(null, 503);
    }
    const incoming = publicUrl(c);
    const rawQuery = incoming.search.slice(1);
    incoming.searchParams.delete('k');
    const served = await rulesets.get(who.projectId, who.environment);
    let url: string | undefined;
    if (served?.ruleset.experiments?.[experimentKey] !== undefined) {
      const cookie = getCookie(c, SDK_COOKIE);
      const uid = cookie !== undefined && UID_SHAPE.test(cookie) ? cookie : deps.newId();
      const at = now();
      // No SDK passes attributes here: targeting reads what the request says (docs/sdk-endpoints.md).
      const derived = visitorAttributes({
        url: incoming,
        userAgent: c.req.header('user-agent'),
        acceptLanguage: c.req.header('accept-language'),
        referrer: c.req.header('referer'),
      });
      const attributes = { ...derived, id: uid };
      // A sticky experiment sends a returning visitor (the cookie's id) where they went first, also
      // after its weights change, as /sdk/v1/evaluate serves a unit.
      const snapshot = await loadStickySnapshot(sticky, who.projectId, served.ruleset, attributes, deps.logger);
      const result = resolveSplitUrl(served.ruleset, experimentKey, { attributes, now: at, url: incoming.toString(), ...(snapshot === undefined ? {} : { stickyBuckets: snapshot }) });
      url = result.url;
      // A visitor is exposed (and gets the cookie) only when actually sent to a variation; a HEAD
      // (link previews: they drop the cookie) is answered alike but changes nothing.
      if (redirectable(url) !== undefined && c.req.method !== 'HEAD') {
        setCookie(c, SDK_COOKIE, uid, { path: '/', httpOnly: true, sameSite: 'Lax', secure: isHttps(c), maxAge: COOKIE_MAX_AGE_SECONDS });
        // A crawler or preview fetcher that says so is sent on but is no unit: no exposure, and no
        // sticky assignment (most drop the cookie, so each of their visits would store another).
        if (!derived.bot) {
          const exposed: PipelineEvent[] = [];
          if (result.inExperiment && result.variationKey !== null) {
            const sent = exposureAttributes(attributes, UNSTORED_REDIRECT_ATTRIBUTES);
            exposed.push(exposure(who, at, { unitId: result.hashValue ?? uid, experiment: experimentKey, variation: result.variationKey, hashAttribute: result.hashAttribute ?? 'id', ...(sent === undefined ? {} : { attributes: sent }) }));
          }
          await Promise.all([saveStickySnapshot(sticky, who.projectId, snapshot, deps.logger), logExposures(exposed)]);
        }
      }
    } else {
      const fallback = await notRunningUrl(who, experimentKey);
      if (fallback === null) {
        throw new AppError(AppErrorCode.NotFound, `experiment "${experimentKey}" not found`);
      }
      url = fallback;
    }
    const target = redirectable(url);
    if (target === undefined) {
      throw new AppError(AppErrorCode.NotFound, `experiment "${experimentKey}" has no URL to send this visitor to`);
    }
    // The visitor's parameters go along as they came (re-encoding would turn bytes that are not
    // UTF-8, such as a Latin-1 %E9, into U+FFFD), after the variation URL's own.
    target.search = [target.search.slice(1), ...rawQuery.split('&').filter((pair) => pair !== '' && !isKeyParameter(pair))].filter((part) => part !== '').join('&');
    return c.redirect(target.toString(), 302);
  });

  // OFREP (ofrep.ts): OpenFeature's remote evaluation protocol over the same keys, rulesets, sticky store and exposures.
  mountOfrepRoutes(app, { keys, current, sticky, logExposures, exposure, newId: deps.newId, now, readBody: (c) => readJsonBody(c, EVALUATE_BODY_BYTES, options.bodyBudget), logger: deps.logger });

  return metrics;
}
