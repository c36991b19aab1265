import { Component, lazy } from 'react';
import type { ComponentType, JSX, ReactNode } from 'react';
import { ErrorNote } from './ui.js';

/** A code-split screen that can be loaded ahead of its first render. */
export interface LazyScreen<P extends object> {
  (props: P): ReactNode;
  /** Starts (or joins) the chunk download. */
  readonly preload: () => Promise<unknown>;
}

/**
 * Shows a screen's failure in place of the screen: its chunk could not be downloaded (the console
 * server is down or restarting, or a new deployment replaced it) or it threw while rendering.
 * Without it React unmounts the whole console, leaving a blank page that navigation cannot leave.
 */
class ScreenBoundary extends Component<{ children: ReactNode }, { error: unknown }> {
  override state: { error: unknown } = { error: null };

  static getDerivedStateFromError(error: unknown): { error: unknown } {
    return { error };
  }

  override render(): ReactNode {
    // React keeps a failed chunk download as the lazy screen's result: loading the page again retries it.
    return this.state.error === null ? this.props.children : <ErrorNote error={this.state.error} onRetry={() => { window.location.reload(); }} />;
  }
}

/**
 * Like React.lazy, but once the chunk has loaded the screen renders directly instead of
 * suspending: a suspended boundary holds its content back for React's fallback throttle
 * (~300 ms), which would delay a screen whose code and data are already here.
 */
export function lazyScreen<P extends object>(factory: () => Promise<{ default: ComponentType<P> }>): LazyScreen<P> {
  let loaded: ComponentType<P> | undefined;
  let loading: Promise<unknown> | undefined;
  const preload = (): Promise<unknown> =>
    (loading ??= factory().then((m) => {
      loaded = m.default;
      return m;
    }));
  const Lazy = lazy(() => preload().then(() => ({ default: loaded! })));
  const Screen = (props: P): ReactNode => {
    const Component = loaded;
    return <ScreenBoundary>{Component === undefined ? <Lazy {...(props as P & JSX.IntrinsicAttributes)} /> : <Component {...props} />}</ScreenBoundary>;
  };
  return Object.assign(Screen, { preload });
}
