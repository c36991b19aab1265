'use client';
/**
 * @xp/sdk/react — React bindings: `<XpProvider>` and hooks that evaluate with the app's client,
 * re-render on ruleset changes and user changes, and log exposures from effects (never on the server).
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useSyncExternalStore } from 'react';
import type { ReactNode } from 'react';
import type { ExperimentResult } from '@xp/shared/eval';
import { CLIENT_STATE, UNCOUNTED_OPTIONS } from './client.js';
import type { ExperimentationClient, JsonDefault, JsonValue } from './client.js';
import type { XpError } from './errors.js';
import { ClientStatus } from './types.js';
import type { EvaluationDetails, User } from './types.js';

/** Loading state of the provider's client. */
export interface XpReadyState {
  /**
   * Whether to render content rather than a loading state. In a server render and while the page
   * hydrates: whether the client serves a ruleset (the API's or a bootstrap), so a server without one
   * and the page it embedded `null` in both render the loading state. After hydration (and in pages
   * rendered without a server): also once `ready()` has given up waiting (status DEFAULTS), so a page
   * whose API is down renders its defaults rather than loading forever.
   */
  readonly ready: boolean;
  /** What the client serves now (may differ between the server and the page: don't render it in hydrated markup). */
  readonly status: ClientStatus;
  /**
   * Why the API's ruleset is not (yet) served, once startup has settled without it (`error.code`:
   * TIMEOUT, NETWORK, UNAUTHORIZED, …); undefined again once the API's ruleset is served.
   */
  readonly error: XpError | undefined;
}

/**
 * What the hooks read of a client, shared by every provider and hook using it. The value hooks
 * re-render on `changes` alone (what `onChange` announces: a new ruleset that serves something else,
 * a timed rule taking effect), so an API ruleset equal to the bootstrap re-renders only `useXpReady`.
 */
interface ClientStore {
  readonly subscribe: (onStoreChange: () => void) => () => void;
  /** Change notifications so far: read live, so one made while nobody listened (a hidden Activity) is seen. */
  readonly changes: () => number;
  readonly readyState: () => XpReadyState;
  /** The ready state of a server render (`ready`: serves a ruleset) and of hydration (`ready`: was given one to start with). */
  readonly serverReadyState: () => XpReadyState;
  /**
   * Calls `log` (a committed hook's exposure) again whenever the client serves another ruleset object,
   * even an equal one that re-renders nothing, until the returned function is called: an exposure the
   * client dropped unsent is logged again then (the client de-duplicates the others).
   */
  readonly logWhileMounted: (log: () => void) => () => void;
}

const stores = new WeakMap<ExperimentationClient, ClientStore>();

function storeOf(client: ExperimentationClient): ClientStore {
  let store = stores.get(client);
  if (store !== undefined) {
    return store;
  }
  // Typed loosely: a missing client (`undefined` in a server pass) or another object gets a clear error.
  const given = client as Partial<ExperimentationClient> | null | undefined;
  const source = given?.[CLIENT_STATE];
  if (source === undefined) {
    throw new TypeError(`<XpProvider client={…}> needs an ExperimentationClient from @xp/sdk, got ${given === null ? 'null' : typeof given}`);
  }
  const listeners = new Set<() => void>();
  let unwatch: (() => void) | undefined;
  const loggers = new Set<() => void>();
  let served = client.getSnapshot({ includeServerOnly: true });
  // Cached per value: useSyncExternalStore re-renders when the object changes, and only then.
  const cached = { live: undefined as XpReadyState | undefined, server: undefined as XpReadyState | undefined };
  const view = (which: 'live' | 'server', ready: boolean): XpReadyState => {
    const status = client.status;
    const error = source.error();
    const last = cached[which];
    if (last?.ready === ready && last.status === status && last.error === error) {
      return last;
    }
    return (cached[which] = Object.freeze({ ready, status, error }));
  };
  const subscribe = (onStoreChange: () => void): (() => void) => {
    listeners.add(onStoreChange);
    // One watcher per client while anything listens: none left once the last hook unmounts.
    unwatch ??= source.watch(() => {
      for (const listener of [...listeners]) {
        listener();
      }
      const ruleset = client.getSnapshot({ includeServerOnly: true });
      if (ruleset !== served) {
        served = ruleset;
        for (const log of [...loggers]) {
          log();
        }
      }
    });
    return () => {
      listeners.delete(onStoreChange);
      if (listeners.size === 0) {
        unwatch?.();
        unwatch = undefined;
      }
    };
  };
  store = {
    subscribe,
    changes: source.changes,
    readyState: () => view('live', client.status !== ClientStatus.Starting),
    // On a server, whether the client serves a ruleset (what the HTML shows); in a page, what it was
    // given to hydrate with (a bootstrap), not what its API sent since: a part hydrated late (a lazy
    // Suspense boundary, a late hydrateRoot) then matches a server that had no ruleset.
    serverReadyState: () => view('server', source.startedWithRuleset() || ((globalThis as { window?: unknown }).window === undefined && client.getSnapshot({ includeServerOnly: true }) !== undefined)),
    logWhileMounted: (log) => {
      loggers.add(log);
      return () => {
        loggers.delete(log);
      };
    },
  };
  stores.set(client, store);
  return store;
}

interface XpContextValue {
  readonly client: ExperimentationClient;
  readonly user: User;
  /** The user's canonical JSON (or the user itself when it has none): what the hooks' memos and effects depend on. */
  readonly userKey: unknown;
}

const XpContext = createContext<XpContextValue | undefined>(undefined);

/** A JSON value with every object's keys sorted: equal users give equal strings, whatever their key order. */
function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(sortedKeys);
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, sortedKeys(v)]));
  }
  return value;
}

/** The user as canonical JSON, or the user itself when it cannot be serialised (then compared by identity). */
function keyOf(user: User): unknown {
  try {
    // Serialised first (toJSON, cycles and BigInts throw here), then its keys sorted.
    const json = JSON.stringify(user) as string | undefined;
    return json === undefined ? user : JSON.stringify(sortedKeys(JSON.parse(json)));
  } catch {
    // A cycle or a BigInt: such a user is compared by identity.
    return user;
  }
}

export interface XpProviderProps {
  /** The app's client, created once (at module scope, not per render); the provider never closes it. */
  readonly client: ExperimentationClient;
  /** The unit every hook below evaluates for; pass another (or the same with new attributes) to switch. */
  readonly user: User;
  readonly children?: ReactNode;
}

/**
 * Gives the hooks below it a client and a user. A `user` with the same JSON (in any key order) is the
 * same user (an inline object literal does not re-render the hooks); one with other values, or the
 * same object changed in place and rendered again, re-evaluates them.
 */
export function XpProvider({ client, user, children }: XpProviderProps): ReactNode {
  const userKey = keyOf(user);
  // An equal literal passed on every render keeps the context value; an object changed in place gets a new one.
  // The user itself is left out: an equal one keeps the value (and the user it holds), whatever its identity.
  const value = useMemo<XpContextValue>(() => ({ client, user, userKey }), [client, userKey]);
  return <XpContext.Provider value={value}>{children}</XpContext.Provider>;
}

function useXpContext(hook: string): XpContextValue {
  const value = useContext(XpContext);
  if (value === undefined) {
    throw new Error(`${hook} must be used inside <XpProvider client={…} user={…}>`);
  }
  return value;
}

/** The provider's client and user, and the client's change count: a hook calling it re-renders when evaluations may change. */
function useEvaluationContext(hook: string): XpContextValue & { readonly changes: number } {
  const context = useXpContext(hook);
  const store = storeOf(context.client);
  const changes = useSyncExternalStore(store.subscribe, store.changes, store.changes);
  return { ...context, changes };
}

const NO_EXPOSURE = Object.freeze({ exposure: false });

/**
 * Evaluates in render without logging, and logs the exposure of the assignment once it is
 * committed: a render React discards (or a server render, which runs no effects) logs nothing, and
 * the client's exposure cache makes StrictMode's second effect run a no-op. While mounted, the
 * exposure is logged again whenever the hook re-evaluates and whenever the client serves another
 * ruleset (even an equal one): an exposure the client dropped unsent (queue full, API down) is sent
 * again then, as the client's methods do at the unit's next evaluation.
 */
function useFlagEvaluation(hook: string, flagKey: string, defaultValue: unknown): EvaluationDetails {
  const { client, user, userKey, changes } = useEvaluationContext(hook);
  const details = useMemo(
    () => (client.evaluate as (key: string, user: User, defaultValue: unknown, options: typeof NO_EXPOSURE) => EvaluationDetails)(flagKey, user, defaultValue, NO_EXPOSURE),
    // The user by its key: an object changed in place re-evaluates, an equal one passed anew does not.
    [client, flagKey, userKey, defaultValue, changes],
  );
  const assignment = details.experiment?.inExperiment === true ? `${details.experiment.key}\u0000${details.experiment.variationKey}` : undefined;
  useEffect(() => {
    if (assignment === undefined) {
      return undefined;
    }
    // Without a default: the assignment does not depend on it, and a type mismatch had no assignment to log.
    // Not counted: the render's evaluation above was.
    const log = (): void => {
      client.evaluate(flagKey, user, undefined, UNCOUNTED_OPTIONS);
    };
    log();
    return storeOf(client).logWhileMounted(log);
  }, [client, flagKey, userKey, assignment, changes]);
  return details;
}

/**
 * The flag's value for the provider's user, as `client.getValue`: `defaultValue` until the client
 * has a ruleset, and when the flag is missing, broken or of another type.
 */
export function useFlag(flagKey: string, defaultValue: boolean): boolean;
export function useFlag(flagKey: string, defaultValue: string): string;
export function useFlag(flagKey: string, defaultValue: number): number;
export function useFlag(flagKey: string, defaultValue: null): JsonValue;
export function useFlag<T extends JsonDefault>(flagKey: string, defaultValue: T): T;
export function useFlag(flagKey: string, defaultValue: unknown): unknown {
  return useFlagEvaluation('useFlag', flagKey, defaultValue).value;
}

/** The evaluation with its reason, variation, rule and error code, as `client.evaluate`. */
export function useFlagDetails(flagKey: string, defaultValue: boolean): EvaluationDetails<boolean>;
export function useFlagDetails(flagKey: string, defaultValue: string): EvaluationDetails<string>;
export function useFlagDetails(flagKey: string, defaultValue: number): EvaluationDetails<number>;
export function useFlagDetails(flagKey: string, defaultValue?: null): EvaluationDetails<JsonValue>;
export function useFlagDetails<T extends JsonDefault>(flagKey: string, defaultValue?: T): EvaluationDetails<T>;
export function useFlagDetails(flagKey: string, defaultValue?: unknown): EvaluationDetails {
  return useFlagEvaluation('useFlagDetails', flagKey, defaultValue);
}

/** Whether the flag serves a truthy value, as `client.isFeatureEnabled` (false until the client has a ruleset). */
export function useFeatureEnabled(flagKey: string): boolean {
  return Boolean(useFlagEvaluation('useFeatureEnabled', flagKey, undefined).value);
}

function useExperimentEvaluation(hook: string, experimentKey: string): ExperimentResult {
  const { client, user, userKey, changes } = useEvaluationContext(hook);
  const result = useMemo(
    () => client.getExperiment(experimentKey, user, NO_EXPOSURE),
    // The user by its key, as in useFlagEvaluation.
    [client, experimentKey, userKey, changes],
  );
  const variation = result.inExperiment ? result.variationKey : null;
  useEffect(() => {
    if (variation === null) {
      return undefined;
    }
    const log = (): void => {
      client.getExperiment(experimentKey, user);
    };
    log();
    return storeOf(client).logWhileMounted(log);
  }, [client, experimentKey, userKey, variation, changes]);
  return result;
}

/** The assignment to a standalone experiment, as `client.getExperiment`; its exposure is logged once committed. */
export function useExperiment(experimentKey: string): ExperimentResult {
  return useExperimentEvaluation('useExperiment', experimentKey);
}

/** The unit's variation key in a standalone experiment, or null, as `client.getVariant`. */
export function useVariant(experimentKey: string): string | null {
  return useExperimentEvaluation('useVariant', experimentKey).variationKey;
}

/** The provider's client, for what the hooks do not cover (`flush`, `getSnapshot`, …). */
export function useXpClient(): ExperimentationClient {
  return useXpContext('useXpClient').client;
}

/** The provider's user (the object last given whose JSON differs from the one before). */
export function useXpUser(): User {
  return useXpContext('useXpUser').user;
}

/**
 * `trackEvent` bound to the provider's client and user: `track('purchase', { value: 9.99 })`. The
 * function keeps its identity while the client and the user (by its JSON) do.
 */
export function useTrackEvent(): (name: string, properties?: Readonly<Record<string, unknown>>) => void {
  const { client, user, userKey } = useXpContext('useTrackEvent');
  return useCallback(
    (name: string, properties?: Readonly<Record<string, unknown>>) => {
      client.trackEvent(name, user, properties);
    },
    // The user by its key, as in useFlagEvaluation.
    [client, userKey],
  );
}

/** Whether the client is ready, for loading states; re-renders when the status or the error changes. */
export function useXpReady(): XpReadyState {
  const { client } = useXpContext('useXpReady');
  const store = storeOf(client);
  return useSyncExternalStore(store.subscribe, store.readyState, store.serverReadyState);
}
