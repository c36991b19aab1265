/**
 * The evaluation Lambda: only the SDK endpoints (/sdk/v1/*, /ofrep/v1/*, /r/*), latency first. Module init
 * imports just Hono, the SDK routes and their stores; the database secret is read and the app built
 * on the first request, after which the ruleset and SDK key caches stay warm across invocations.
 */
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import type { Deps } from '../domain/context.js';
import { AppError, AppErrorCode } from '../errors.js';
import { errorResponse, noRoute } from '../http/errors.js';
import { sdkOutcomes } from '../http/sdk/sdk-outcomes.js';
import { mountSdkRoutes } from '../http/sdk/sdk-routes.js';
import type { SdkOptions } from '../http/sdk/sdk-routes.js';
import { createKinesisEventSink, createKinesisPutClient } from '../store/event-sink.js';
import { createDynamoClient, createDynamoRulesetStore } from '../store/ruleset-store.js';
import { PostgresStickyAssignmentStore } from '../store/sticky-buckets.js';
import { httpHandler } from './lambda-http.js';
import type { HttpHandler } from './lambda-http.js';
import { EmfMetrics } from './metrics.js';
import { EnvVar, connectDatabase, functionLogger, optional, required, stageOf } from './runtime.js';
import type { SecretReader } from './runtime.js';
import { guardRegexBacktracking } from '../http/regex-guard.js';

/** The SDK-only Hono app with EMF metrics per request. */
export function createEvaluationApp(deps: Deps, options: { readonly metrics: EmfMetrics; readonly sdk?: SdkOptions; readonly clock?: () => number }): Hono {
  guardRegexBacktracking();
  const clock = options.clock ?? (() => performance.now());
  const app = new Hono();
  app.onError((err, c) => errorResponse(c, err, deps.logger));
  app.notFound((c) => noRoute(app, c));
  app.use('*', async (c, next) => {
    c.header('X-Content-Type-Options', 'nosniff');
    await next();
  });
  app.use('*', sdkOutcomes(options.metrics, { clock, after: () => { options.metrics.flush(); } }));
  mountSdkRoutes(app, deps, options.sdk);
  return app;
}

/** Production wiring from the environment: Aurora via the secret, DynamoDB rulesets, Kinesis events. */
export async function evaluationDepsFromEnv(env: NodeJS.ProcessEnv, readSecret?: SecretReader): Promise<Deps> {
  const db = await connectDatabase(env, readSecret);
  const rulesets = createDynamoRulesetStore({ client: createDynamoClient(optional(env, EnvVar.DynamodbEndpoint)), tableName: required(env, EnvVar.RulesetTable) });
  const streamName = required(env, EnvVar.EventStream);
  return {
    db,
    rulesets,
    now: () => new Date(),
    newId: () => randomUUID(),
    logger: functionLogger(),
    events: createKinesisEventSink({ client: createKinesisPutClient(optional(env, EnvVar.KinesisEndpoint)), streamName }),
  };
}

export interface EvaluationHandlerOptions {
  readonly readSecret?: SecretReader;
  readonly metrics?: EmfMetrics;
}

/** The handler for `env`; a factory so tests can point it at a local stack. */
export function createEvaluationHandler(env: NodeJS.ProcessEnv, options: EvaluationHandlerOptions = {}): HttpHandler {
  return httpHandler(async () => {
    const deps = await evaluationDepsFromEnv(env, options.readSecret);
    const metrics = options.metrics ?? new EmfMetrics({ service: 'evaluation', stage: stageOf(env) });
    if (deps.events === undefined) {
      throw new AppError(AppErrorCode.Internal, 'the evaluation function needs an event stream');
    }
    // Sticky assignments shared through Redis when REDIS_URL is set (ElastiCache); loaded on demand, as
    // a chunk of its own, so the function without Redis never pays for the client. Without Redis (or
    // with Redis unreachable at start) they are kept in the database, shared by every instance and
    // kept across cold starts; the aggregator prunes those unchanged for 90 days.
    const redisUrl = optional(env, EnvVar.RedisUrl);
    const sticky =
      redisUrl === undefined
        ? new PostgresStickyAssignmentStore(deps.db)
        : (await (await import('../store/shared-stores.js')).openSharedStores({ redisUrl, db: deps.db, logger: deps.logger })).sticky;
    // Streams are not served through API Gateway (responses are buffered): /sdk/v1/stream answers 404
    // STREAM_NOT_AVAILABLE, which the SDKs take as "poll /ruleset with ETags", not as an outage.
    return createEvaluationApp(deps, { metrics, sdk: { streaming: false, sticky, metricSink: metrics } });
  });
}

export const handler = createEvaluationHandler(process.env);
