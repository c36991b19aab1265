import { StreamSlots } from './polling-stream.js';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Hono } from 'hono';
import { CONSOLE_CSP } from '@xp/shared';
import type { Services } from '../domain/services.js';
import { projectFor } from '../domain/definitions.js';
import { AppError, AppErrorCode } from '../errors.js';
import type { AnyRoute } from './api.js';
import { mount } from './api.js';
import type { BodyBudget } from './body-limits.js';
import { guardBodies } from './body-limits.js';
import type { TrustedProxies } from './client-ip.js';
import { errorResponse, noRoute } from './errors.js';
import { openApiDocument } from './openapi.js';
import { requestLogger } from './request-log.js';
import type { RequestLogOptions } from './request-log.js';
import { accountRoutes } from './routes/accounts.js';
import { serviceAccountRoutes } from './routes/service-accounts.js';
import { ssoRoutes } from './routes/sso.js';
import { SCIM_BASE_PATH, scimResponses, scimRoutes } from './routes/scim.js';
import { alertRoutes } from './routes/alerts.js';
import { codeRefRoutes } from './routes/code-refs.js';
import { webhookRoutes } from './routes/webhooks.js';
import { definitionRoutes } from './routes/definitions.js';
import { changeRoutes } from './routes/changes.js';
import { explorerRoutes } from './routes/explorer.js';
import { flagEvaluationRoutes } from './routes/flag-evaluations.js';
import { governanceRoutes } from './routes/governance.js';
import { scheduledChangeRoutes } from './routes/scheduled-changes.js';
import { guardRegexBacktracking } from './regex-guard.js';
import { healthRoutes, healthz } from './routes/health.js';
import { projectRoutes } from './routes/projects.js';
import { resultRoutes } from './routes/results.js';
import { unitRoutes } from './routes/units.js';
import { sdkOutcomes } from './sdk/sdk-outcomes.js';
import type { MetricSink } from './sdk/sdk-outcomes.js';
import { mountSdkRoutes } from './sdk/sdk-routes.js';
import type { SdkOptions } from './sdk/sdk-routes.js';

export interface AppOptions {
  /** Largest accepted request body in bytes (segments of a million ids need a few MB). */
  readonly maxBodyBytes?: number;
  readonly version?: string;
  /** Caches, polling and limits of the SDK endpoints (mounted when `deps.events` is set). */
  readonly sdk?: SdkOptions;
  /** Where the SDK endpoints report latency, evaluations and events (the local Health view's counters). */
  readonly sdkMetrics?: MetricSink;
  /** The per-request log line; COLLECT_REQUEST_BODY=true sets `collectBody`. Default: on, without bodies. */
  readonly requestLog?: RequestLogOptions | false;
  /** XP_TRUSTED_PROXIES: peers whose X-Forwarded-For names the client (login throttling per client address). Default none. */
  readonly trustedProxies?: TrustedProxies | undefined;
  /**
   * Request body bytes in flight, overall and per client address (`xp start`: XP_MAX_BODY_BYTES_IN_FLIGHT
   * and XP_MAX_BODY_BYTES_PER_ADDRESS), for the management API and the SDK endpoints alike; a body that
   * does not fit gets 503 with Retry-After, unread. Default none (behind API Gateway, which limits payloads).
   */
  readonly bodyBudget?: BodyBudget | undefined;
}

export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

/** Every management route, in documentation order. */
export function managementRoutes(services: Services): AnyRoute[] {
  // One count of open streams per user for both streaming routes of this app.
  const streams = new StreamSlots();
  return [...accountRoutes(services), ...ssoRoutes(services), ...serviceAccountRoutes(services), ...scimRoutes(services), ...projectRoutes(services), ...definitionRoutes(services), ...flagEvaluationRoutes(services), ...governanceRoutes(services), ...scheduledChangeRoutes(services), ...alertRoutes(services), ...healthRoutes(services), ...resultRoutes(services), ...explorerRoutes(services, streams), ...unitRoutes(services), ...changeRoutes(services, streams), ...codeRefRoutes(services), ...webhookRoutes(services)];
}

const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>xp API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script>
</body></html>`;

const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#ui', deepLinking: true, persistAuthorization: false });`;

const DOC_ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

/** The Hono app: management API, OpenAPI document, docs UI and health; runs on Lambda and on Node. */
export function createApp(services: Services, options: AppOptions = {}): Hono {
  guardRegexBacktracking();
  const app = new Hono();
  const routes = managementRoutes(services);
  const logger = services.deps.logger;
  app.onError((err, c) => errorResponse(c, err, logger));
  app.notFound((c) => noRoute(app, c));
  if (options.requestLog !== false) {
    app.use('*', requestLogger(logger, options.requestLog));
  }
  app.use('*', async (c, next) => {
    // Set before the handler: headers added to a finished response make Hono copy it each time.
    c.header('X-Content-Type-Options', 'nosniff');
    // Not on the split-URL redirect /r/…: a redirect's Referrer-Policy replaces the linking page's for
    // the hop to the landing page, which would then lose document.referrer and its attribution. Left
    // out, the linking page's policy (else the browser's strict-origin-when-cross-origin) applies; the
    // referrer it sends is that page's, never the /r link with its key.
    if (!c.req.path.startsWith('/r/')) {
      c.header('Referrer-Policy', 'no-referrer');
    }
    c.header('X-Frame-Options', 'DENY');
    await next();
  });
  // SCIM's answers (errors included) are SCIM's, and its bodies small (routes/scim.ts): before the body limits below.
  app.use(`${SCIM_BASE_PATH}/*`, scimResponses(logger));
  // Small routes (sign-in, tokens…) take SMALL_BODY_BYTES, the others maxBodyBytes; all within the budget.
  app.use('/api/*', guardBodies({ maxBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, budget: options.bodyBudget }));
  app.get('/healthz', healthz(services));
  const doc = openApiDocument(
    routes,
    {
      title: 'xp management API',
      version: options.version ?? '0.1.0',
      description: 'Flags, experiments, segments, metrics, environments, SDK keys, users, change requests and the audit log; and, where this app serves them, the SDK endpoints (/sdk/v1, /ofrep/v1, /r).',
    },
    // The SDK endpoints are described where they are mounted (below).
    { sdk: services.deps.events !== undefined },
  );
  app.get('/openapi.json', (c) => c.json(doc));
  // Swagger UI loads only its own files (no inline script), so it takes the console's policy, as on AWS.
  app.get('/docs', (c) => c.html(DOCS_HTML, 200, { 'Content-Security-Policy': CONSOLE_CSP }));
  const require = createRequire(import.meta.url);
  const assetsDir = path.dirname(require.resolve('swagger-ui-dist/package.json'));
  // One route for every asset: a static /docs/assets/init.js beside it made Hono's fast router
  // (RegExpRouter) refuse the route table, and every request was then matched by the slower trie.
  app.get('/docs/assets/:file', async (c) => {
    const file = c.req.param('file');
    if (file === 'init.js') {
      return c.body(DOCS_INIT, 200, { 'Content-Type': 'text/javascript; charset=utf-8' });
    }
    const type = DOC_ASSETS[file];
    if (type === undefined) {
      throw new AppError(AppErrorCode.NotFound, 'no such asset');
    }
    return c.body(await readFile(path.join(assetsDir, file)), 200, { 'Content-Type': type, 'Cache-Control': 'public, max-age=3600' });
  });
  mount(app, routes, (token, client) => services.accounts.authenticate(token, client), {
    trustedProxies: options.trustedProxies,
    projectInScope: async (actor, key) => {
      await projectFor(services.deps.db, actor, key);
    },
  });
  if (services.deps.events !== undefined) {
    if (options.sdkMetrics !== undefined) {
      app.use('/sdk/*', sdkOutcomes(options.sdkMetrics));
      // OFREP (sdk/ofrep.ts) evaluates as /sdk/v1/evaluate does, and is counted alike (Evaluations, latency).
      app.use('/ofrep/*', sdkOutcomes(options.sdkMetrics));
    }
    const sdk: SdkOptions = { ...(options.sdkMetrics === undefined ? {} : { metricSink: options.sdkMetrics }), ...(options.bodyBudget === undefined ? {} : { bodyBudget: options.bodyBudget }), ...options.sdk };
    mountSdkRoutes(app, services.deps, sdk);
  }
  return app;
}
