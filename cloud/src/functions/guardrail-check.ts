/**
 * The statistical guardrail check on a schedule (EventBridge, every minute): what the local stack's
 * timer does — every running experiment's guardrail metrics under the sequential test; an alert for
 * each significant degradation, and the experiment stopped (with an audit entry) where it says so.
 */
import type { Deps, Logger } from '../domain/context.js';
import { GuardrailChecker } from '../domain/guardrails.js';
import { platformDeps } from './platform-deps.js';
import { functionLogger, lazy } from './runtime.js';
import type { SecretReader } from './runtime.js';

export interface GuardrailCheckOptions {
  readonly deps?: () => Promise<Deps>;
  readonly readSecret?: SecretReader;
  readonly logger?: Logger;
}

/** What one scheduled check did, as the function returns and logs it. */
export interface GuardrailCheckSummary {
  readonly experiments: number;
  readonly comparisons: number;
  readonly raised: number;
  readonly stopped: readonly string[];
  readonly resolved: number;
}

export function createGuardrailCheckHandler(env: NodeJS.ProcessEnv, options: GuardrailCheckOptions = {}): () => Promise<GuardrailCheckSummary> {
  const logger = options.logger ?? functionLogger();
  const deps = options.deps ?? lazy(() => platformDeps(env, logger, options.readSecret));
  return async () => {
    const report = await new GuardrailChecker(await deps()).check();
    const summary: GuardrailCheckSummary = {
      experiments: report.experiments,
      comparisons: report.comparisons,
      raised: report.raised.length,
      stopped: report.stopped,
      resolved: report.resolved,
    };
    logger.info('guardrail check', { ...summary });
    return summary;
  };
}

export const handler = createGuardrailCheckHandler(process.env);
