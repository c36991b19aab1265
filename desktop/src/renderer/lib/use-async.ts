import { useCallback, useEffect, useRef, useState } from 'react';

export type AsyncState<T> =
  | { readonly status: 'loading' }
  | { readonly status: 'error'; readonly error: Error }
  | { readonly status: 'ready'; readonly data: T; readonly refreshing: boolean; readonly refreshError: Error | null };

export interface AsyncResult<T> {
  readonly state: AsyncState<T>;
  /** Loads again, keeping the current data on screen until the new data arrives. */
  readonly reload: () => void;
  /** Replaces the data locally (optimistic updates). */
  readonly setData: (update: (current: T) => T) => void;
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

export interface AsyncOptions {
  /** Refreshes on its own this often; a tick that finds the previous load still running is skipped. */
  readonly pollMs?: number;
  /**
   * Refreshes whenever this changes (the session's change-feed tick). Unlike a dependency, it keeps
   * the data on screen meanwhile, so what the screen holds (drafts, choices, older pages) survives.
   */
  readonly refreshKey?: unknown;
}

/**
 * Loads data with loading/error states. A dependency change loads afresh (loading state); a refresh
 * (`pollMs`, `refreshKey`, `reload`) replaces the data in place (the component keeps its scroll,
 * filters and inputs) and a failed refresh keeps the last good data with `refreshError` set.
 *
 * `load` gets a signal that aborts when its result is no longer wanted: a newer load replaced it or
 * the component unmounted. A loader of many requests (a list of many pages) stops on it.
 */
export function useAsync<T>(load: (signal: AbortSignal) => Promise<T>, deps: readonly unknown[], options: AsyncOptions = {}): AsyncResult<T> {
  const [state, setState] = useState<AsyncState<T>>({ status: 'loading' });
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  /** The running load's controller; null once it has settled. */
  const running = useRef<AbortController | null>(null);

  const run = useCallback((background: boolean) => {
    const mine = ++generation.current;
    running.current?.abort();
    const controller = new AbortController();
    running.current = controller;
    if (background) {
      setState((s) => (s.status === 'ready' ? { ...s, refreshing: true } : s));
    } else {
      setState({ status: 'loading' });
    }
    loadRef.current(controller.signal).then(
      (data) => {
        if (mine === generation.current) {
          running.current = null;
          setState({ status: 'ready', data, refreshing: false, refreshError: null });
        }
      },
      (e: unknown) => {
        if (mine === generation.current) {
          running.current = null;
          setState((s) => (background && s.status === 'ready' ? { ...s, refreshing: false, refreshError: asError(e) } : { status: 'error', error: asError(e) }));
        }
      },
    );
  }, []);

  useEffect(() => {
    run(false);
    // The caller lists what the loader depends on, as with useEffect.
  }, deps);

  // Leaving the screen stops its load (and drops its result).
  useEffect(
    () => () => {
      generation.current++;
      running.current?.abort();
      running.current = null;
    },
    [],
  );

  useEffect(() => {
    if (options.pollMs === undefined) {
      return undefined;
    }
    const timer = setInterval(() => {
      // A poll does not pile onto a load still running (a long list on a slow link).
      if (running.current === null && (typeof document === 'undefined' || document.visibilityState !== 'hidden')) {
        run(true);
      }
    }, options.pollMs);
    return () => {
      clearInterval(timer);
    };
  }, [options.pollMs, run]);

  const refreshedFor = useRef(options.refreshKey);
  useEffect(() => {
    if (!Object.is(refreshedFor.current, options.refreshKey)) {
      refreshedFor.current = options.refreshKey;
      run(true);
    }
  }, [options.refreshKey, run]);

  const reload = useCallback(() => {
    run(true);
  }, [run]);
  const setData = useCallback((update: (current: T) => T) => {
    setState((s) => (s.status === 'ready' ? { ...s, data: update(s.data) } : s));
  }, []);
  return { state, reload, setData };
}
