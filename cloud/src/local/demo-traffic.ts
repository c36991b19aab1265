/**
 * Demo traffic: on the first start, synthetic users go through the REAL SDK endpoints of the local
 * API (GET /sdk/v1/ruleset, POST /sdk/v1/events with a server key), so the three demo experiments
 * fill with data through the whole pipeline within a minute. Each user also evaluates the demo
 * flags, as an app would, and every wave sends their evaluation counts (one `evaluations` record),
 * with a key no flag has any more (DEMO_RETIRED_FLAG) asked by some users. Everything random comes
 * from one seeded PRNG, so a run is reproducible.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { SdkBatchItem, SdkEvent } from '@xp/shared';
import { MAX_EVENTS_PER_BATCH, evaluateExperiment, evaluateFlag } from '@xp/shared';
import { DemoEvent, DemoExperiment } from '../domain/bootstrap.js';
import { seededRandom } from '@xp/shared';

/** How the simulated users behave; the defaults give one clear winner, one null and one SRM. */
/** Demo users' countries (US twice as common) and platforms, sent with their exposures. */
/** The `X-XP-Client` the simulator sends; the local stack does not log its successful requests. */
export const DEMO_CLIENT = 'demo-traffic';
export const DEMO_COUNTRIES = ['US', 'GB', 'US', 'DE', 'BR', 'IN'] as const;
export const DEMO_PLATFORMS = ['web', 'ios', 'web', 'android'] as const;
/**
 * A flag key the demo's code still asks for though no flag has it (a flag deleted while code still
 * calls it): every DEMO_RETIRED_FLAG_EVERY-th user evaluates it and gets the default, so the console
 * lists it under "Evaluated but not defined".
 */
export const DEMO_RETIRED_FLAG = 'legacy-banner';
export const DEMO_RETIRED_FLAG_EVERY = 20;

/**
 * The demo's two applications (the SDKs' `appName`), so that the counts show which service asks for
 * which flag: the shop's pages (web-shop) and its checkout service (checkout-api). A flag listed here
 * is evaluated by that one only (the retired key by the checkout service alone, the button colour by
 * the pages alone); any other flag by both, each user's evaluation by one of them (alternately).
 */
export const DEMO_APPS = ['web-shop', 'checkout-api'] as const;
export type DemoApp = (typeof DEMO_APPS)[number];
const DEMO_FLAG_APP: Readonly<Record<string, DemoApp>> = { 'button-color': 'web-shop', [DEMO_RETIRED_FLAG]: 'checkout-api' };

/** The application that evaluates `flag` for the `index`th user. */
export function demoAppOf(flag: string, index: number): DemoApp {
  return DEMO_FLAG_APP[flag] ?? DEMO_APPS[index % DEMO_APPS.length]!;
}

export const DEMO_BEHAVIOUR = {
  /** Purchase probability of a user in no winning arm. */
  baseConversion: 0.1,
  /** Added to it for users in the winner experiment's treatment. */
  winnerLift: 0.06,
  /** Share of the SRM experiment's treatment exposures the simulator drops. */
  srmDropRate: 0.25,
  /** Probability a user hits an error (the guardrail; the same in every arm). */
  errorRate: 0.05,
  /** Purchase amounts are uniform in [min, min + spread). */
  amountMin: 20,
  amountSpread: 60,
} as const;

export interface DemoTrafficOptions {
  /** The local API, e.g. http://127.0.0.1:8000. */
  readonly apiUrl: string;
  /** A server SDK key of the environment the demo experiments run in. */
  readonly sdkKey: string;
  /** Users to simulate. Default 3,000. */
  readonly users?: number;
  /** Users per wave; each wave's events go out in batches of at most 500. Default 100. */
  readonly usersPerWave?: number;
  /** Pause between waves, so results grow visibly. Default 1,000 ms (3,000 users ≈ 30 s); 0 in tests. */
  readonly waveIntervalMs?: number;
  /** Seed of the PRNG. Default 42. */
  readonly seed?: number;
  /** A progress line at most this often (and a final one). Default 5,000 ms. */
  readonly progressEveryMs?: number;
  readonly print?: (line: string) => void;
  /** Epoch milliseconds: event timestamps and progress timing. Default Date.now. */
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
}

export interface DemoStats {
  readonly users: number;
  readonly eventsSent: number;
  /** Exposures the simulator dropped on purpose (the SRM experiment). */
  readonly exposuresDropped: number;
  /** Per experiment and variation: exposures sent. */
  readonly exposures: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Per flag key and served variation ('' for the default): evaluations counted in records sent. */
  readonly evaluations: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Per application and flag key: evaluations counted in records sent. */
  readonly evaluationsByApp: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

export interface DemoTraffic {
  /** Settles when every user was simulated, the run was stopped, or it failed (the error is printed). */
  readonly done: Promise<DemoStats>;
  stats(): DemoStats;
  /** Stops after the request in flight (which is aborted) and waits for the run to end. */
  stop(): Promise<void>;
}

export const mulberry32 = seededRandom;

const MAX_ATTEMPTS = 5;

class StoppedError extends Error {
  constructor() {
    super('demo traffic stopped');
    this.name = 'StoppedError';
  }
}

/** Starts the simulator in the background. */
export function startDemoTraffic(options: DemoTrafficOptions): DemoTraffic {
  const users = options.users ?? 3_000;
  const perWave = Math.max(1, options.usersPerWave ?? 100);
  const waveIntervalMs = options.waveIntervalMs ?? 1_000;
  const progressEveryMs = options.progressEveryMs ?? 5_000;
  const print = options.print ?? (() => undefined);
  const now = options.now ?? Date.now;
  const doFetch = options.fetch ?? fetch;
  const random = mulberry32(options.seed ?? 42);
  const abort = new AbortController();
  const exposures: Record<string, Record<string, number>> = {};
  const evaluations: Record<string, Record<string, number>> = {};
  const evaluationsByApp: Record<string, Record<string, number>> = {};
  let simulated = 0;
  let eventsSent = 0;
  let exposuresDropped = 0;
  let lastProgress = now();

  const stats = (): DemoStats => ({
    users: simulated,
    eventsSent,
    exposuresDropped,
    exposures: Object.fromEntries(Object.entries(exposures).map(([k, v]) => [k, { ...v }])),
    evaluations: Object.fromEntries(Object.entries(evaluations).map(([k, v]) => [k, { ...v }])),
    evaluationsByApp: Object.fromEntries(Object.entries(evaluationsByApp).map(([k, v]) => [k, { ...v }])),
  });
  const headers = { 'X-XP-SDK-Key': options.sdkKey, 'content-type': 'application/json', 'X-XP-Client': DEMO_CLIENT };

  const wait = async (ms: number): Promise<void> => {
    if (ms > 0) {
      await delay(ms, undefined, { signal: abort.signal }).catch(() => undefined);
    }
    if (abort.signal.aborted) {
      throw new StoppedError();
    }
  };

  const fetchRuleset = async (): Promise<unknown> => {
    const res = await doFetch(`${options.apiUrl}/sdk/v1/ruleset`, { headers, signal: abort.signal });
    if (!res.ok) {
      throw new Error(`GET /sdk/v1/ruleset answered ${res.status}`);
    }
    return res.json();
  };

  /** Sends one batch; retries 429/503 (honouring Retry-After) and network errors a few times. */
  const send = async (events: readonly SdkBatchItem[]): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      let retryAfterMs = 200 * 2 ** attempt;
      try {
        const res = await doFetch(`${options.apiUrl}/sdk/v1/events`, { method: 'POST', headers, body: JSON.stringify({ events }), signal: abort.signal });
        if (res.status === 202) {
          await res.body?.cancel();
          eventsSent += events.length;
          return;
        }
        const text = await res.text();
        if (res.status !== 429 && res.status !== 503) {
          throw new Error(`POST /sdk/v1/events answered ${res.status}: ${text.slice(0, 200)}`);
        }
        const retryAfter = Number(res.headers.get('retry-after'));
        if (Number.isFinite(retryAfter) && retryAfter > 0) {
          retryAfterMs = retryAfter * 1000;
        }
      } catch (error) {
        if (abort.signal.aborted) {
          throw new StoppedError();
        }
        if (attempt >= MAX_ATTEMPTS || !(error instanceof TypeError)) {
          throw error;
        }
      }
      if (attempt >= MAX_ATTEMPTS) {
        throw new Error(`POST /sdk/v1/events kept failing after ${MAX_ATTEMPTS} attempts`);
      }
      await wait(retryAfterMs);
    }
  };

  /** One user: the demo flags evaluated (counted into `wave`), assignment in every demo experiment, exposures (some dropped), then behaviour. */
  const simulateUser = (ruleset: unknown, index: number, at: number, waves: Map<DemoApp, Map<string, Map<string | null, number>>>): SdkEvent[] => {
    const unitId = `demo-user-${String(index).padStart(6, '0')}`;
    // The attributes the demo experiments list as result dimensions (the same lift everywhere).
    const attributes = { country: DEMO_COUNTRIES[index % DEMO_COUNTRIES.length]!, platform: DEMO_PLATFORMS[Math.floor(index / 7) % DEMO_PLATFORMS.length]! };
    const flags = Object.keys((ruleset as { flags?: Record<string, unknown> } | null)?.flags ?? {});
    for (const flag of index % DEMO_RETIRED_FLAG_EVERY === 0 ? [...flags, DEMO_RETIRED_FLAG] : flags) {
      const served = evaluateFlag(ruleset, flag, { attributes: { id: unitId, ...attributes }, now: at }, { defaultValue: null }).variationKey;
      const app = demoAppOf(flag, index);
      const wave = waves.get(app) ?? new Map<string, Map<string | null, number>>();
      waves.set(app, wave);
      const perFlag = wave.get(flag) ?? new Map<string | null, number>();
      wave.set(flag, perFlag.set(served, (perFlag.get(served) ?? 0) + 1));
    }
    const events: SdkEvent[] = [];
    let seq = 0;
    const id = (): string => `demo-${unitId}-${seq++}`;
    let conversion: number = DEMO_BEHAVIOUR.baseConversion;
    for (const experiment of Object.values(DemoExperiment)) {
      const result = evaluateExperiment(ruleset, experiment, { attributes: { id: unitId }, now: at });
      if (!result.inExperiment || result.variationKey === null) {
        continue;
      }
      const variation = result.variationKey;
      if (experiment === DemoExperiment.Winner && variation !== 'control') {
        conversion += DEMO_BEHAVIOUR.winnerLift;
      }
      if (experiment === DemoExperiment.SampleRatioMismatch && variation !== 'control' && random() < DEMO_BEHAVIOUR.srmDropRate) {
        exposuresDropped++;
        continue;
      }
      const perVariation = (exposures[experiment] ??= {});
      perVariation[variation] = (perVariation[variation] ?? 0) + 1;
      events.push({ id: id(), type: 'exposure', unitId, timestamp: at, experiment, variation, attributes });
    }
    // Behaviour happens just after exposure, inside every experiment's analysis window.
    if (random() < conversion) {
      const amount = Math.round((DEMO_BEHAVIOUR.amountMin + random() * DEMO_BEHAVIOUR.amountSpread) * 100) / 100;
      events.push({ id: id(), type: 'track', unitId, timestamp: at + 1 + Math.floor(random() * 500), name: DemoEvent.Purchase, properties: { amount } });
    }
    if (random() < DEMO_BEHAVIOUR.errorRate) {
      events.push({ id: id(), type: 'track', unitId, timestamp: at + 1 + Math.floor(random() * 500), name: DemoEvent.Error });
    }
    return events;
  };

  const progress = (final: boolean): void => {
    const t = now();
    if (final || t - lastProgress >= progressEveryMs) {
      lastProgress = t;
      print(`demo traffic: ${simulated.toLocaleString('en')} / ${users.toLocaleString('en')} users simulated, ${eventsSent.toLocaleString('en')} events sent${final ? ' (done)' : ''}`);
    }
  };

  const run = async (): Promise<DemoStats> => {
    try {
      const ruleset = await fetchRuleset();
      print(`demo traffic: simulating ${users.toLocaleString('en')} users in ${Object.values(DemoExperiment).join(', ')} (turn off with --no-demo or XP_DEMO=0)`);
      for (let start = 0; start < users; start += perWave) {
        if (start > 0) {
          await wait(waveIntervalMs);
        }
        const at = now();
        const events: SdkBatchItem[] = [];
        const end = Math.min(users, start + perWave);
        const waves = new Map<DemoApp, Map<string, Map<string | null, number>>>();
        for (let i = start; i < end; i++) {
          events.push(...simulateUser(ruleset, i + 1, at, waves));
        }
        // Each application's evaluation counts of the wave, as its SDK sends them at a flush (a handful of pairs: one record).
        const sentCounts: { app: DemoApp; counts: { flag: string; variation: string | null; count: number }[] }[] = [];
        for (const app of DEMO_APPS) {
          const counts = [...(waves.get(app) ?? [])].flatMap(([flag, served]) => [...served].map(([variation, count]) => ({ flag, variation, count })));
          if (counts.length > 0) {
            events.push({ id: `demo-evaluations-${app}-${String(start).padStart(6, '0')}`, type: 'evaluations', start: at, timestamp: at, app, counts });
            sentCounts.push({ app, counts });
          }
        }
        for (let i = 0; i < events.length; i += MAX_EVENTS_PER_BATCH) {
          await send(events.slice(i, i + MAX_EVENTS_PER_BATCH));
        }
        for (const { app, counts } of sentCounts) {
          for (const { flag, variation, count } of counts) {
            const perFlag = (evaluations[flag] ??= {});
            perFlag[variation ?? ''] = (perFlag[variation ?? ''] ?? 0) + count;
            const perApp = (evaluationsByApp[app] ??= {});
            perApp[flag] = (perApp[flag] ?? 0) + count;
          }
        }
        simulated = end;
        progress(false);
      }
      progress(true);
    } catch (error) {
      if (!(error instanceof StoppedError) && !abort.signal.aborted) {
        print(`demo traffic stopped: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return stats();
  };

  const done = run();
  return {
    done,
    stats,
    async stop() {
      abort.abort();
      await done;
    },
  };
}
