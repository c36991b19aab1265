/**
 * The webhook dispatcher on a schedule (EventBridge, every minute), inside the VPC: it claims due
 * deliveries in PostgreSQL, has the sender function (outside the VPC) POST each one, and records
 * the outcomes. One invocation keeps polling until DISPATCH_RESERVE_MS before its timeout; with
 * the deployed timeout that is a little over a minute, so the next scheduled invocation has begun
 * before it stops, something always polls, and a change waits about a second.
 */
import type { Deps, Logger } from '../domain/context.js';
import { dispatchDueWebhooks } from '../domain/webhooks.js';
import type { DispatchReport, WebhookSender } from '../domain/webhooks.js';
import { platformDeps } from './platform-deps.js';
import { EnvVar, functionLogger, lazy } from './runtime.js';
import type { SecretReader } from './runtime.js';

/**
 * Time an invocation leaves unpolled before its timeout: the last pass may have claimed 20
 * deliveries, sent 8 at a time, each taking up to the 10 s receiver timeout (3 rounds), plus their recording.
 */
export const DISPATCH_RESERVE_MS = 35_000;

/** What the handler reads of Lambda's context object. */
export interface DispatchContext {
  getRemainingTimeInMillis(): number;
}

export interface WebhookDispatchOptions {
  readonly deps?: () => Promise<Deps>;
  readonly readSecret?: SecretReader;
  readonly logger?: Logger;
  /** Default: the deps' sender (the sender function named by XP_WEBHOOK_SENDER_FUNCTION). */
  readonly sender?: WebhookSender;
  /** Default: dispatchDueWebhooks. */
  readonly dispatch?: typeof dispatchDueWebhooks;
  /** Milliseconds since the epoch; default Date.now. */
  readonly now?: () => number;
}

export function createWebhookDispatchHandler(env: NodeJS.ProcessEnv, options: WebhookDispatchOptions = {}): (event: unknown, context: DispatchContext) => Promise<DispatchReport> {
  const logger = options.logger ?? functionLogger();
  const now = options.now ?? Date.now;
  const dispatch = options.dispatch ?? dispatchDueWebhooks;
  const deps = options.deps ?? lazy(() => platformDeps(env, logger, options.readSecret));
  return async (_event, context) => {
    const d = await deps();
    // Failing (rather than idling) makes a misconfigured stage visible: the error-rate alarm fires.
    if (d.platformKey === undefined) {
      throw new Error(`the webhook dispatcher needs the platform key (${EnvVar.PlatformKeySecretArn} or ${EnvVar.PlatformKey})`);
    }
    // Inside the VPC a direct HTTP send could only time out: without the sender function, do not try.
    const sender = options.sender ?? d.webhookSender;
    if (sender === undefined) {
      throw new Error(`the webhook dispatcher needs the sender function (${EnvVar.WebhookSenderFunction})`);
    }
    // With no webhook enabled anywhere it returns after one pass: no per-second polling keeps the database awake.
    const report = await dispatch(d, sender, { until: now() + context.getRemainingTimeInMillis() - DISPATCH_RESERVE_MS, stopWhenUnused: true });
    logger.info('webhook dispatch', { ...report });
    return report;
  };
}

export const handler = createWebhookDispatchHandler(process.env);
