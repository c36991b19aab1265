/**
 * A periodic system job of one process (the guardrail check, the bandits): run every `intervalMs`,
 * never two at once, a failure logged and the schedule going on. The timer does not keep the
 * process alive.
 */
import type { Deps } from './context.js';

/** A running periodic job. */
export interface Schedule<R> {
  /** Runs the job now (after the run in progress, if any) and returns its report (undefined when it failed). */
  runNow(): Promise<R | undefined>;
  /** Cancels the next run and waits for the one in progress. */
  stop(): Promise<void>;
}

/** Runs `job` every `intervalMs` (the first run after one interval); `failure` is what a failed run is logged as. */
export function startSchedule<R>(job: () => Promise<R>, options: { readonly intervalMs: number; readonly logger: Deps['logger']; readonly failure: string }): Schedule<R> {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let inFlight: Promise<R | undefined> = Promise.resolve(undefined);
  const run = (): Promise<R | undefined> => {
    inFlight = inFlight.then(
      () =>
        job().catch((error: unknown) => {
          options.logger.error(options.failure, { error: error instanceof Error ? error.message : String(error) });
          return undefined;
        }),
      () => undefined,
    );
    return inFlight;
  };
  const arm = (): void => {
    if (stopped) {
      return;
    }
    timer = setTimeout(() => {
      void run().finally(arm);
    }, options.intervalMs);
    timer.unref();
  };
  arm();
  return {
    runNow: run,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    },
  };
}
