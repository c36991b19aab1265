/**
 * Data requested before the screen that needs it has loaded its code: the first screen's request
 * runs in parallel with its chunk download instead of after it. Each entry is taken once.
 */
const pending = new Map<string, Promise<unknown>>();

export function prefetch(key: string, load: () => Promise<unknown>): void {
  if (!pending.has(key)) {
    const p = load();
    // A failed prefetch is reported by the screen's own request, not as an unhandled rejection.
    p.catch(() => undefined);
    pending.set(key, p);
  }
}

/** The prefetched promise for this key, once; later calls get undefined and load afresh. */
export function takePrefetched<T>(key: string): Promise<T> | undefined {
  const p = pending.get(key);
  pending.delete(key);
  return p as Promise<T> | undefined;
}
