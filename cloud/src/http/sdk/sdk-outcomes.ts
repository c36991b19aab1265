import type { Context, MiddlewareHandler } from 'hono';
import { MetricName } from '../../functions/metrics.js';

/**
 * What the SDK endpoints (and the OFREP ones) report per request — latency, flags evaluated, events accepted and
 * rejected, event batches refused for overload — to a metric sink: EMF lines in the evaluation Lambda, the in-process counters behind
 * the local Health view.
 */
export interface MetricSink {
  put(name: MetricName, value: number): void;
}

/**
 * Flags evaluated per request, noted by its handler (re-reading the JSON it sent cost every
 * evaluation a parse): POST /sdk/v1/evaluate and the OFREP endpoints (ofrep.ts).
 */
const evaluated = new WeakMap<Request, number>();

/**
 * What an evaluating endpoint tells the outcome of its request: how many flags it evaluated. Noted
 * once per request (a second note replaces the first), so a request is counted once.
 */
export function noteEvaluations(c: Context, flags: number): void {
  evaluated.set(c.req.raw, flags);
}

/** Counts what a finished SDK response says. */
export async function recordSdkOutcome(c: Context, sink: MetricSink, latencyMs: number): Promise<void> {
  sink.put(MetricName.EvaluationLatency, latencyMs);
  const path = c.req.path;
  const status = c.res.status;
  // Every request that evaluated flags, whatever its answer: an OFREP answer of 304 (the bulk
  // answer unchanged, no body) or 400 (TARGETING_KEY_MISSING) still evaluated them.
  const noted = evaluated.get(c.req.raw);
  if (noted !== undefined) {
    sink.put(MetricName.Evaluations, noted);
    return;
  }
  if (c.req.method !== 'POST' || !(c.res.headers.get('content-type') ?? '').includes('json')) {
    return;
  }
  if (path === '/sdk/v1/events' && (status === 503 || status === 429)) {
    // Neither accepted nor rejected: the SDK sends the batch again. Counted, so an overload shows.
    sink.put(MetricName.EventBatchesRefused, 1);
    return;
  }
  if (path === '/sdk/v1/events') {
    const body = (await c.res.clone().json()) as { accepted?: number; rejected?: unknown[]; error?: { details?: { rejected?: unknown[] } } };
    const rejected = body.rejected ?? body.error?.details?.rejected ?? [];
    sink.put(MetricName.EventsAccepted, body.accepted ?? 0);
    sink.put(MetricName.EventsRejected, Array.isArray(rejected) ? rejected.length : 0);
  }
}

/** Middleware recording every SDK request's outcome; `after` runs last (the Lambda flushes its EMF line there). */
export function sdkOutcomes(sink: MetricSink, options: { readonly clock?: () => number; readonly after?: () => void } = {}): MiddlewareHandler {
  const clock = options.clock ?? (() => performance.now());
  return async (c, next) => {
    const started = clock();
    try {
      await next();
      await recordSdkOutcome(c, sink, clock() - started).catch(() => undefined);
    } finally {
      options.after?.();
    }
  };
}
