/**
 * The management API Lambda: API Gateway HTTP API (payload v2) → the Hono app. The SDK endpoints
 * are served by the evaluation function, so no event sink is wired here.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { Deps } from '../domain/context.js';
import { createServices } from '../domain/services.js';
import { createApp } from '../http/app.js';
import type { Hono } from 'hono';
import { attachHealthSource } from '../http/routes/health.js';
import type { HealthSource } from '../http/routes/health.js';
import { openSharedStores } from '../store/shared-stores.js';
import { cloudWatchHealthSource } from './cloudwatch-health.js';
import { httpHandler } from './lambda-http.js';
import { platformDeps, ssoConfigFromEnv } from './platform-deps.js';
import type { HttpHandler } from './lambda-http.js';
import { lambdaSsoFetch } from './sso-egress-fetch.js';
import { EnvVar, functionLogger, optional, stageOf } from './runtime.js';
import type { SecretReader } from './runtime.js';

export interface ApiOptions {
  readonly readSecret?: SecretReader;
  /** The Health view's figures; CloudWatch unless given. */
  readonly health?: HealthSource;
}

export async function apiDepsFromEnv(env: NodeJS.ProcessEnv, readSecret?: SecretReader): Promise<Deps> {
  // Single sign-on (XP_SSO_*) first: a bad setting fails the cold start before a pool is opened.
  const sso = await ssoConfigFromEnv(env, readSecret);
  const logger = functionLogger();
  // In the VPC, requests to the IdP leave through the egress function; elsewhere (local runs) by fetch from this process.
  const ssoEgress = optional(env, EnvVar.SsoEgressFunction);
  return {
    ...(await platformDeps(env, logger, readSecret)),
    ...(sso === undefined ? {} : { sso }),
    ...(sso === undefined || ssoEgress === undefined ? {} : { ssoFetch: lambdaSsoFetch({ functionName: ssoEgress, logger }) }),
    // API Gateway gives up after 30 s: a results request builds a dimension's rollups for at most
    // this long, then scans (a million-unit scan takes seconds); the aggregator builds them later.
    dimensionBuildTimeoutMs: API_DIMENSION_BUILD_MS,
  };
}

/** Time a results request in the API Lambda may spend building a dimension's rollups. */
export const API_DIMENSION_BUILD_MS = 10_000;

/** The app as the Lambda serves it; login throttling is shared through Redis when REDIS_URL is set, else per instance. */
export async function createApiApp(env: NodeJS.ProcessEnv, options: ApiOptions = {}): Promise<Hono> {
  const deps = await apiDepsFromEnv(env, options.readSecret);
  const stores = await openSharedStores({ redisUrl: optional(env, EnvVar.RedisUrl), logger: deps.logger });
  const services = createServices(deps, { limiter: stores.limiter });
  attachHealthSource(services, options.health ?? cloudWatchHealthSource({ client: new CloudWatchClient({}), stage: stageOf(env) }));
  return createApp(services, { requestLog: { collectBody: optional(env, EnvVar.CollectRequestBody) === 'true' } });
}

export function createApiHandler(env: NodeJS.ProcessEnv, options: ApiOptions = {}): HttpHandler {
  return httpHandler(() => createApiApp(env, options), { edgeToken: optional(env, EnvVar.EdgeToken) });
}

export const handler = createApiHandler(process.env);
