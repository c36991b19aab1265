'use client';
/**
 * @xp/sdk/react — React bindings: `<XpProvider>` and hooks that evaluate with the app's client,
 * re-render on ruleset changes and user changes, and log exposures from effects (never on the server).
 */
import { createContext, useContext, useEffect, useMemo, useSyncExternalStore } from 'react';
import type { ReactNode } from 'react';
import type { ExperimentResult } from '@xp/shared/eval';
import type { ExperimentationClient, JsonDefault, JsonValue } from './client.js';
import type { XpError } from './errors.js';
import { ClientStatus } from './types.js';
import type { EvaluationDetails, RulesetSnapshot, User } from './types.js';

/** What the hooks re-render on: a new object whenever the client changes what it serves. */
interface ClientState {
  readonly status: ClientStatus;
  /** The ruleset served (its identity changes with every new ruleset). */
  readonly ruleset: RulesetSnapshot | undefined;
  /** Change notifications seen: timed rules (ramp steps, active windows) keep the ruleset. */
  readonly changes: number;
  /** Why `ready()` settled without the API's ruleset, once it has. */
  readonly error: XpError | undefined;
}

interface ClientStore {
  readonly subscribe: (onStoreChange: () => void) => () => void;
  readonly get: () => ClientState;
}

/** One store per client, shared by every provider and hook using it. */
const stores = new WeakMap<ExperimentationClient, ClientStore>();

function storeOf(client: ExperimentationClient): ClientStore {
  let store = stores.get(client);
  if (store !== undefined) {
    return store;
  }
  const listeners = new Set<() => void>();
  let state: ClientState = { status: client.status, ruleset: client.getSnapshot({ includeServerOnly: true }), changes: 0, error: undefined };
  let detach: (() => void) | undefined;
  let awaitingReady = true;
  const emit = (): void => {
    for (const listener of [...listeners]) {
      listener();
    }
  };
  const get = (): ClientState => {
    // Read live: a ruleset or status that changed while nobody listened (between render and subscribe) is seen.
    const status = client.status;
    const ruleset = client.getSnapshot({ includeServerOnly: true });
    if (status !== state.status || ruleset !== state.ruleset) {
      state = { ...state, status, ruleset };
    }
    return state;
  };
  const subscribe = (onStoreChange: () => void): (() => void) => {
    listeners.add(onStoreChange);
    detach ??= client.onChange(() => {
      state = { ...get(), changes: state.changes + 1 };
      emit();
    });
    if (awaitingReady) {
      awaitingReady = false;
      // STARTING becomes DEFAULTS when ready() settles, with no change notification; a settled
      // ready() that changes nothing the hooks show (the usual case) re-renders nothing.
      void client.ready().then(({ error }) => {
        const seen = state;
        get();
        if (error !== undefined) {
          state = { ...state, error };
        }
        if (state !== seen) {
          emit();
        }
      });
    }
    return () => {
      listeners.delete(onStoreChange);
      if (listeners.size === 0) {
        detach?.();
        detach = undefined;
      }
    };
  };
  store = { subscribe, get };
  stores.set(client, store);
  return store;
}

interface XpContextValue {
  readonly client: ExperimentationClient;
  /** Kept while the provider's user has the same JSON: what the hooks' memos and effects depend on. */
  readonly user: User;
}

const XpContext = createContext<XpContextValue | undefined>(undefined);

/** The user as JSON, or undefined when it cannot be serialised (then compared by identity). */
function keyOf(user: User): string | undefined {
  try {
    return JSON.stringify(user);
  } catch {
    // A cycle or a BigInt: such a user is compared by identity.
    return undefined;
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
 * Gives the hooks below it a client and a user. A new `user` prop with the same JSON is the same
 * user (an inline object literal does not re-render the hooks); one with other values re-evaluates them.
 */
export function XpProvider({ client, user, children }: XpProviderProps): ReactNode {
  const userKey = keyOf(user);
  const value = useMemo<XpContextValue>(
    () => ({ client, user }),
    // The user by its JSON: an equal literal passed on every render keeps the context value (and the hooks' user).
    [client, userKey ?? user],
  );
  return <XpContext.Provider value={value}>{children}</XpContext.Provider>;
}

function useXpContext(hook: string): XpContextValue {
  const value = useContext(XpContext);
  if (value === undefined) {
    throw new Error(`${hook} must be used inside <XpProvider client={…} user={…}>`);
  }
  return value;
}

/** The provider's client and user, and the client's state: a hook calling it re-renders on every change. */
function useEvaluationContext(hook: string): XpContextValue & { readonly state: ClientState } {
  const context = useXpContext(hook);
  const store = storeOf(context.client);
  // The server snapshot is the live one: a page hydrating with the server's bootstrap evaluates the same.
  const state = useSyncExternalStore(store.subscribe, store.get, store.get);
  return { ...context, state };
}

const NO_EXPOSURE = Object.freeze({ exposure: false });

/**
 * Evaluates in render without logging, and logs the exposure of the assignment once it is
 * committed: a render React discards (or a server render, which runs no effects) logs nothing, and
 * the client's exposure cache makes StrictMode's second effect run a no-op.
 */
function useFlagEvaluation(hook: string, flagKey: string, defaultValue: unknown): EvaluationDetails {
  const { client, user, state } = useEvaluationContext(hook);
  const details = useMemo(
    () => (client.evaluate as (key: string, user: User, defaultValue: unknown, options: typeof NO_EXPOSURE) => EvaluationDetails)(flagKey, user, defaultValue, NO_EXPOSURE),
    [client, flagKey, user, defaultValue, state],
  );
  const assignment = details.experiment?.inExperiment === true ? `${details.experiment.key}\u0000${details.experiment.variationKey}` : undefined;
  useEffect(() => {
    if (assignment !== undefined) {
      // Without a default: the assignment does not depend on it, and a type mismatch had no assignment to log.
      client.evaluate(flagKey, user);
    }
  }, [client, flagKey, user, assignment]);
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

/** The assignment to a standalone experiment, as `client.getExperiment`; its exposure is logged once committed. */
export function useExperiment(experimentKey: string): ExperimentResult {
  const { client, user, state } = useEvaluationContext('useExperiment');
  const result = useMemo(() => client.getExperiment(experimentKey, user, NO_EXPOSURE), [client, experimentKey, user, state]);
  const variation = result.inExperiment ? result.variationKey : null;
  useEffect(() => {
    if (variation !== null) {
      client.getExperiment(experimentKey, user);
    }
  }, [client, experimentKey, user, variation]);
  return result;
}

/** The unit's variation key in a standalone experiment, or null, as `client.getVariant`. */
export function useVariant(experimentKey: string): string | null {
  return useExperiment(experimentKey).variationKey;
}

/** The provider's client, for what the hooks do not cover (`trackEvent`, `flush`). */
export function useXpClient(): ExperimentationClient {
  return useXpContext('useXpClient').client;
}

/** Loading state of the provider's client. */
export interface XpReadyState {
  /**
   * The client serves a ruleset (the API's or a bootstrap), or has given up waiting for the first
   * one (`ready()` settled: defaults until the API answers). The same on a server that renders with a
   * ruleset and in the page that hydrates with it as bootstrap.
   */
  readonly ready: boolean;
  /** What the client serves now (may differ between the server and the page: don't render it in hydrated markup). */
  readonly status: ClientStatus;
  /** Why the API's ruleset is not served, once `ready()` has settled (`error.code`: TIMEOUT, UNAUTHORIZED, …). */
  readonly error: XpError | undefined;
}

/** Whether the client is ready, for loading states; re-renders when that changes. */
export function useXpReady(): XpReadyState {
  const { state } = useEvaluationContext('useXpReady');
  const { status, error } = state;
  return useMemo(() => ({ ready: status !== ClientStatus.Starting, status, error }), [status, error]);
}
