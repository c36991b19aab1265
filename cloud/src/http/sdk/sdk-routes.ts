import type { Context, Hono } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import type { EvaluationResult, ExposureEvent, PipelineEvent } from '@xp/shared';
import { MAX_EVENTS_PER_BATCH, MAX_EVENT_BYTES, evaluateFlag, expandVariations, keySchema, resolveSplitUrl } from '@xp/shared';
import type { Deps } from '../../domain/context.js';
import { experimentsRepo } from '../../domain/publisher.js';
import { parseOrThrow } from '../../domain/validation.js';
import { AppError, AppErrorCode, invalid } from '../../errors.js';
import type { EventSink } from '../../store/event-sink.js';
import { validateBatch } from './event-batch.js';
import { RulesetCache } from './ruleset-cache.js';
import type { ServedRuleset } from './ruleset-cache.js';
import { SDK_KEY_HEADER, SdkKeyCache, authenticateSdkKey, rejectKeysInQuery } from './sdk-keys.js';
import type { SdkCaller } from './sdk-keys.js';

/**
 * The SDK endpoints under /sdk/v1 (key in the X-XP-SDK-Key header) and the public split-URL
 * redirect /r/{experimentKey} (client key as ?k=). Both key kinds may call every /sdk/v1
 * endpoint: a client key can already download the whole ruleset, so remote evaluation with
 * arbitrary attributes reveals nothing more.
 */

export interface SdkOptions {
  /** Ruleset cache TTL: the longest another instance's publish goes unseen by GET /ruleset. Default 5 s. */
  readonly rulesetTtlMs?: number;
  /** SDK key cache TTL: a revoked key keeps working at most this long. Default 30 s. */
  readonly keyTtlMs?: number;
  /** How often streams re-read the store for other instances' publishes. Default 5 s. */
  readonly pollMs?: number;
  /** Heartbeat comment interval on streams. Default 15 s. */
  readonly heartbeatMs?: number;
  /** Concurrent streams per process; one more gets 503. Default 1,000. */
  readonly maxStreams?: number;
  /** Counters the caller can read (tests, health output); created when absent. */
  readonly metrics?: SdkMetrics;
}

export interface SdkMetrics {
  streamsOpen: number;
  exposuresLogged: number;
  /** Exposures lost because the event sink refused them (evaluations still answered). */
  exposuresDropped: number;
}

export const createSdkMetrics = (): SdkMetrics => ({ streamsOpen: 0, exposuresLogged: 0, exposuresDropped: 0 });

export const SDK_COOKIE = 'xp_uid';
const COOKIE_MAX_AGE_SECONDS = 365 * 24 * 60 * 60;
const UID_SHAPE = /^[A-Za-z0-9_-]{8,64}$/;
const MAX_EVALUATE_FLAGS = 200;
const EVALUATE_BODY_BYTES = 64 * 1024;
const EVENTS_BODY_BYTES = MAX_EVENTS_PER_BATCH * MAX_EVENT_BYTES + 1024 * 1024;
const NOT_RUNNING_CACHE_ENTRIES = 1_000;
/** A stream whose client stopped reading is closed once this many events are queued. */
const MAX_QUEUED_STREAM_CHUNKS = 64;

const evaluateBodySchema = z.strictObject({
  unit: z.strictObject({
    id: z.string().min(1).max(256),
    attributes: z.record(z.string().max(200), z.json()).optional(),
  }),
  flags: z.array(keySchema).max(MAX_EVALUATE_FLAGS).optional(),
});

/** What /sdk/v1/evaluate returns per flag. */
export interface EvaluatedFlag {
  readonly value: unknown;
  readonly variationKey: string | null;
  readonly reason: string;
  readonly ruleId?: string;
  readonly errorCode?: string;
}

const tooLarge = (): AppError => new AppError(AppErrorCode.PayloadTooLarge, 'the request body is too large');

/** Reads the body as text within `maxBytes`, without the copies Hono's bodyLimit makes on Node when Content-Length is given. */
async function readText(c: Context, maxBytes: number): Promise<string> {
  const length = c.req.header('content-length');
  if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
    if (!/^\d{1,15}$/.test(length) || Number(length) > maxBytes) {
      throw tooLarge();
    }
    return c.req.text();
  }
  const body: ReadableStream<Uint8Array> | null = c.req.raw.body;
  if (body === null) {
    return '';
  }
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      return Buffer.concat(chunks).toString('utf8');
    }
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
}

async function readJsonBody(c: Context, maxBytes: number): Promise<unknown> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
    throw invalid('send the body as application/json', { issues: [{ path: 'Content-Type', message: `got "${type.slice(0, 64)}"` }] });
  }
  const text = await readText(c, maxBytes);
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

function isHttps(c: Context): boolean {
  return new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto')?.split(',')[0]?.trim() === 'https';
}

function withRetryAfter(c: Context, error: unknown): never {
  if (error instanceof AppError && error.code === AppErrorCode.Unavailable) {
    const seconds = (error.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds ?? 1;
    c.header('Retry-After', String(seconds));
  }
  throw error;
}

function toEvaluated(r: EvaluationResult): EvaluatedFlag {
  return {
    value: r.value,
    variationKey: r.variationKey,
    reason: r.reason,
    ...(r.ruleId === undefined ? {} : { ruleId: r.ruleId }),
    ...(r.errorCode === undefined ? {} : { errorCode: r.errorCode }),
  };
}

/** Registers the SDK endpoints; `deps.events` must be set. */
export function mountSdkRoutes(app: Hono, deps: Deps, options: SdkOptions = {}): SdkMetrics {
  const sink: EventSink | undefined = deps.events;
  if (sink === undefined) {
    throw new TypeError('the SDK endpoints need deps.events');
  }
  const metrics = options.metrics ?? createSdkMetrics();
  const now = (): number => deps.now().getTime();
  const keys = new SdkKeyCache(deps.db, { ttlMs: options.keyTtlMs ?? 30_000, now });
  const rulesets = new RulesetCache(deps.rulesets, { ttlMs: options.rulesetTtlMs ?? 5_000, pollMs: options.pollMs ?? 5_000, notifier: deps.notifier, logger: deps.logger, now });
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const maxStreams = options.maxStreams ?? 1_000;
  const notRunning = new Map<string, { url: string | undefined; expiresAt: number }>();

  const caller = (c: Context): Promise<SdkCaller> => {
    rejectKeysInQuery(c);
    return authenticateSdkKey(keys, c.req.header(SDK_KEY_HEADER), ['server', 'client']);
  };

  const current = async (who: SdkCaller): Promise<ServedRuleset> => {
    const served = await rulesets.get(who.projectId, who.environment);
    if (served === undefined) {
      throw new AppError(AppErrorCode.NotFound, 'no ruleset has been published for this environment yet');
    }
    return served;
  };

  /** Logs exposures without ever failing the request that caused them. */
  const logExposures = async (events: PipelineEvent[], who: SdkCaller): Promise<void> => {
    if (events.length === 0) {
      return;
    }
    try {
      await sink.put(events);
      metrics.exposuresLogged += events.length;
    } catch (error) {
      metrics.exposuresDropped += events.length;
      deps.logger.warn('exposures not logged: the event sink refused them', {
        projectId: who.projectId,
        environment: who.environment,
        count: events.length,
        error: error instanceof Error ? error.message : 'unknown',
      });
    }
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
    const served = await current(who);
    c.header('ETag', served.etag);
    c.header('Cache-Control', 'no-cache');
    c.header('Vary', 'X-XP-SDK-Key');
    if (etagMatches(c.req.header('if-none-match'), served.etag)) {
      return c.body(null, 304);
    }
    return c.body(served.json, 200, { 'Content-Type': 'application/json; charset=utf-8' });
  });

  app.get('/sdk/v1/stream', async (c) => {
    const who = await caller(c);
    const include = c.req.query('include');
    if (include !== undefined && include !== 'ruleset') {
      throw invalid('include must be "ruleset" or absent', { issues: [{ path: 'query.include', message: 'unknown value' }] });
    }
    if (metrics.streamsOpen >= maxStreams) {
      withRetryAfter(c, new AppError(AppErrorCode.Unavailable, 'too many open streams on this instance; retry later', { retryAfterSeconds: 5 }));
    }
    const initial = await rulesets.get(who.projectId, who.environment);
    const encoder = new TextEncoder();
    let lastSent = -1;
    let cleanup = (): void => undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        metrics.streamsOpen++;
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
        const sendRuleset = (r: ServedRuleset): void => {
          if (r.version <= lastSent) {
            return;
          }
          lastSent = r.version;
          const data = include === 'ruleset' ? `{"version":${r.version},"etag":${JSON.stringify(r.etag)},"ruleset":${r.json}}` : JSON.stringify({ version: r.version, etag: r.etag });
          send(`event: ruleset\nid: ${r.version}\ndata: ${data}\n\n`);
        };
        const unwatch = rulesets.watch(who.projectId, who.environment, sendRuleset);
        const heartbeat = setInterval(() => {
          send(': heartbeat\n\n');
        }, heartbeatMs);
        heartbeat.unref();
        cleanup = () => {
          if (closed) {
            return;
          }
          closed = true;
          clearInterval(heartbeat);
          unwatch();
          metrics.streamsOpen--;
        };
        c.req.raw.signal.addEventListener('abort', () => {
          cleanup();
          try {
            controller.close();
          } catch {
            // already closed or errored by the consumer
          }
        });
        send('retry: 3000\n\n');
        if (initial !== undefined) {
          sendRuleset(initial);
        }
      },
      cancel() {
        cleanup();
      },
    });
    return c.body(body, 200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
    });
  });

  app.post('/sdk/v1/evaluate', async (c) => {
    const who = await caller(c);
    const input = parseOrThrow(evaluateBodySchema, await readJsonBody(c, EVALUATE_BODY_BYTES), 'body');
    const served = await current(who);
    const at = now();
    const context = { attributes: { ...input.unit.attributes, id: input.unit.id }, now: at };
    const flagKeys = input.flags ?? Object.keys(served.ruleset.flags);
    const flags: Record<string, EvaluatedFlag> = {};
    const exposures: PipelineEvent[] = [];
    for (const key of flagKeys) {
      const result = evaluateFlag(served.ruleset, key, context);
      flags[key] = toEvaluated(result);
      const exp = result.experiment;
      if (exp?.inExperiment === true) {
        exposures.push(exposure(who, at, { unitId: exp.hashValue, experiment: exp.key, variation: exp.variationKey, flag: key, hashAttribute: exp.hashAttribute }));
      }
    }
    await logExposures(exposures, who);
    c.header('Cache-Control', 'no-store');
    return c.json({ version: served.version, flags });
  });

  app.post('/sdk/v1/events', async (c) => {
    const who = await caller(c);
    const body = await readJsonBody(c, EVENTS_BODY_BYTES);
    const events = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as { events?: unknown }).events : undefined;
    if (!Array.isArray(events)) {
      throw invalid('the body must be { "events": [ ... ] }', { issues: [{ path: 'body.events', message: 'expected an array' }] });
    }
    if (events.length === 0) {
      throw invalid('the batch is empty', { issues: [{ path: 'body.events', message: 'no events' }] });
    }
    const { valid, rejected } = validateBatch(events, { projectId: who.projectId, environment: who.environment, receivedAt: now() });
    if (valid.length === 0) {
      throw invalid(`none of the ${events.length} events is valid`, { accepted: 0, rejected });
    }
    try {
      await sink.put(valid);
    } catch (error) {
      withRetryAfter(c, error);
    }
    c.header('Cache-Control', 'no-store');
    return c.json({ accepted: valid.length, rejected }, 202);
  });

  /** The first variation's URL of an experiment that is not running here, or undefined; cached briefly. */
  const notRunningUrl = async (who: SdkCaller, key: string): Promise<string | undefined | null> => {
    const cacheKey = `${who.projectId}#${key}`;
    const hit = notRunning.get(cacheKey);
    if (hit !== undefined && hit.expiresAt > now()) {
      return hit.url;
    }
    const stored = await experimentsRepo.find(deps.db, who.projectId, key);
    const url = stored === undefined || stored.archived ? null : expandVariations(stored.definition)[0]?.url;
    if (notRunning.size >= NOT_RUNNING_CACHE_ENTRIES) {
      notRunning.clear();
    }
    if (url !== null) {
      notRunning.set(cacheKey, { url, expiresAt: now() + (options.rulesetTtlMs ?? 5_000) });
    }
    return url;
  };

  app.get('/r/:experimentKey', async (c) => {
    rejectKeysInQuery(c, true);
    const who = await authenticateSdkKey(keys, c.req.query('k') ?? c.req.header(SDK_KEY_HEADER), ['client']);
    const experimentKey = c.req.param('experimentKey');
    if (!keySchema.safeParse(experimentKey).success) {
      throw new AppError(AppErrorCode.NotFound, 'experiment not found');
    }
    c.header('Cache-Control', 'no-store');
    const incoming = new URL(c.req.url);
    incoming.searchParams.delete('k');
    const served = await rulesets.get(who.projectId, who.environment);
    let url: string | undefined;
    if (served?.ruleset.experiments?.[experimentKey] !== undefined) {
      const cookie = getCookie(c, SDK_COOKIE);
      const uid = cookie !== undefined && UID_SHAPE.test(cookie) ? cookie : deps.newId();
      setCookie(c, SDK_COOKIE, uid, { path: '/', httpOnly: true, sameSite: 'Lax', secure: isHttps(c), maxAge: COOKIE_MAX_AGE_SECONDS });
      const at = now();
      const result = resolveSplitUrl(served.ruleset, experimentKey, { attributes: { id: uid }, now: at, url: incoming.toString() });
      if (result.inExperiment && result.variationKey !== null) {
        await logExposures([exposure(who, at, { unitId: result.hashValue ?? uid, experiment: experimentKey, variation: result.variationKey, hashAttribute: result.hashAttribute ?? 'id' })], who);
      }
      url = result.url;
    } else {
      const fallback = await notRunningUrl(who, experimentKey);
      if (fallback === null) {
        throw new AppError(AppErrorCode.NotFound, `experiment "${experimentKey}" not found`);
      }
      url = fallback;
    }
    const target = url === undefined || !URL.canParse(url) ? undefined : new URL(url);
    if (target === undefined || (target.protocol !== 'https:' && target.protocol !== 'http:')) {
      throw new AppError(AppErrorCode.NotFound, `experiment "${experimentKey}" has no URL to send this visitor to`);
    }
    for (const [name, value] of incoming.searchParams) {
      target.searchParams.append(name, value);
    }
    return c.redirect(target.toString(), 302);
  });

  return metrics;
}
