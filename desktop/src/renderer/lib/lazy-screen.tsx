import { lazy } from 'react';
import type { ComponentType, JSX, ReactNode } from 'react';

/** A code-split screen that can be loaded ahead of its first render. */
export interface LazyScreen<P extends object> {
  (props: P): ReactNode;
  /** Starts (or joins) the chunk download. */
  readonly preload: () => Promise<unknown>;
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
    return Component === undefined ? <Lazy {...(props as P & JSX.IntrinsicAttributes)} /> : <Component {...props} />;
  };
  return Object.assign(Screen, { preload });
}
