/**
 * The statistical guardrail check on a schedule (EventBridge, every minute): what the local stack's
 * timer does — every running experiment's guardrail metrics under the sequential test; an alert for
 * each significant degradation, and the experiment stopped (with an audit entry) where it says so.
 * Before it, the scheduled flag changes that are due (domain/scheduled-changes.ts), as the local
 * stack's own timer applies them: within `guardrailCheckMinutes` (default 1) of their time. After it,
 * the multi-armed bandits that are due move their splits (domain/bandit.ts), as the local stack's
 * bandit timer does: one schedule for every periodic job that judges running experiments, rather
 * than another function, alarm and database connection pool for a check that is due once a day.
 */
import { BanditUpdater } from '../domain/bandit.js';
import type { Deps, Logger } from '../domain/context.js';
import { GuardrailChecker } from '../domain/guardrails.js';
import { ScheduledChangeService } from '../domain/scheduled-changes.js';
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
  /** Scheduled flag changes (and change requests with a time) applied and failed this run (the same schedule runs them: see domain/scheduled-changes.ts). */
  readonly scheduledApplied: number;
  readonly scheduledFailed: number;
  /** Running bandit experiments, those due and checked this run, `project/experiment` of those whose split moved, and those due but left to the next run (its time budget spent). */
  readonly bandits: { readonly experiments: number; readonly checked: number; readonly moved: readonly string[]; readonly deferred: number };
}

export function createGuardrailCheckHandler(env: NodeJS.ProcessEnv, options: GuardrailCheckOptions = {}): () => Promise<GuardrailCheckSummary> {
  const logger = options.logger ?? functionLogger();
  const deps = options.deps ?? lazy(() => platformDeps(env, logger, options.readSecret));
  return async () => {
    const d = await deps();
    // Due scheduled changes first (their time has come), and whatever the guardrail check does after.
    const scheduled = await new ScheduledChangeService(d).runDue().catch((error: unknown) => {
      logger.error('scheduled changes failed', { error: error instanceof Error ? error.message : String(error) });
      return { applied: [], failed: [], changeRequests: { applied: [], failed: [] } };
    });
    if (scheduled.applied.length + scheduled.failed.length + scheduled.changeRequests.applied.length + scheduled.changeRequests.failed.length > 0) {
      logger.info('scheduled changes', { ...scheduled });
    }
    const report = await new GuardrailChecker(d).check();
    // After the guardrails (which may stop an experiment a bandit would otherwise move); a failure is
    // logged, and the guardrails' summary is returned all the same.
    const bandits = await new BanditUpdater(d).update().catch((error: unknown) => {
      logger.error('bandit update failed', { error: error instanceof Error ? error.message : String(error) });
      return { experiments: 0, checked: 0, moved: [], kept: {}, deferred: 0 };
    });
    if (bandits.checked > 0) {
      logger.info('bandit update', { ...bandits });
    }
    const summary: GuardrailCheckSummary = {
      experiments: report.experiments,
      comparisons: report.comparisons,
      raised: report.raised.length,
      stopped: report.stopped,
      resolved: report.resolved,
      scheduledApplied: scheduled.applied.length + scheduled.changeRequests.applied.length,
      scheduledFailed: scheduled.failed.length + scheduled.changeRequests.failed.length,
      bandits: { experiments: bandits.experiments, checked: bandits.checked, moved: bandits.moved, deferred: bandits.deferred },
    };
    logger.info('guardrail check', { ...summary });
    return summary;
  };
}

export const handler = createGuardrailCheckHandler(process.env);
