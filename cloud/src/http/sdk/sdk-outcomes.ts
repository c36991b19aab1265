import type { Context, MiddlewareHandler } from 'hono';
import { MetricName } from '../../functions/metrics.js';

/**
 * What the SDK endpoints report per request — latency, flags evaluated, events accepted and
 * rejected, event batches refused for overload — to a metric sink: EMF lines in the evaluation Lambda, the in-process counters behind
 * the local Health view.
 */
export interface MetricSink {
  put(name: MetricName, value: number): void;
}

/** Flags evaluated per POST /sdk/v1/evaluate request, noted by its handler (re-reading the JSON it sent cost every evaluation a parse). */
const evaluated = new WeakMap<Request, number>();

/** What POST /sdk/v1/evaluate tells the outcome of its request: how many flags it evaluated. */
export function noteEvaluations(c: Context, flags: number): void {
  evaluated.set(c.req.raw, flags);
}

/** Counts what a finished SDK response says. */
export async function recordSdkOutcome(c: Context, sink: MetricSink, latencyMs: number): Promise<void> {
  sink.put(MetricName.EvaluationLatency, latencyMs);
  const path = c.req.path;
  const status = c.res.status;
  if (c.req.method !== 'POST' || !(c.res.headers.get('content-type') ?? '').includes('json')) {
    return;
  }
  if (path === '/sdk/v1/events' && (status === 503 || status === 429)) {
    // Neither accepted nor rejected: the SDK sends the batch again. Counted, so an overload shows.
    sink.put(MetricName.EventBatchesRefused, 1);
    return;
  }
  if (path === '/sdk/v1/evaluate' && status === 200) {
    sink.put(MetricName.Evaluations, evaluated.get(c.req.raw) ?? 0);
  } else if (path === '/sdk/v1/events') {
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
