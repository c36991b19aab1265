import { useMemo, useRef, useState } from 'react';
import type { Page } from '@xp/shared';
import type { AsyncState } from './use-async.js';
import { useAsync } from './use-async.js';

export interface PagesResult<T> {
  /** The first page followed by every older page loaded so far. */
  readonly state: AsyncState<readonly T[]>;
  readonly reload: () => void;
  /** Loads the next page; undefined when there is none. */
  readonly loadMore: (() => Promise<void>) | undefined;
  /** Why the last `loadMore` failed (null after a success). */
  readonly moreError: unknown;
}

export interface PagesOptions<T> {
  /** Refreshes the first page on its own this often. */
  readonly pollMs?: number;
  /**
   * An item's identity. With it, a refresh of the same query keeps the older pages loaded so far
   * when the new first page joins onto what is shown (fewer new items than a page); without it, or
   * when there is a gap, a refresh starts over from the first page.
   */
  readonly keyOf?: (item: T) => string;
  /** Refreshes the first page in the background whenever this changes (a change-feed tick): a refresh, not a new query. */
  readonly refreshKey?: unknown;
}

/** What the list shows, and for which query (the deps it was loaded with, without the refresh key). */
interface Shown<T> {
  readonly deps: readonly unknown[];
  readonly first: readonly T[];
  readonly more: readonly T[];
}

const sameDeps = (a: readonly unknown[], b: readonly unknown[]): boolean => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

/**
 * The items of `shown` older than the new first page, when that page joins onto them (its last item
 * is among them); undefined when it does not, so older pages cannot be kept without a gap.
 */
export function olderThan<T>(first: readonly T[], shown: readonly T[], keyOf: (item: T) => string): T[] | undefined {
  const last = first[first.length - 1];
  if (last === undefined) {
    return undefined;
  }
  const lastKey = keyOf(last);
  const at = shown.findIndex((item) => keyOf(item) === lastKey);
  if (at < 0) {
    return undefined;
  }
  const inFirst = new Set(first.map(keyOf));
  return shown.slice(at + 1).filter((item) => !inFirst.has(keyOf(item)));
}

/**
 * A cursor-paged list (newest first): `useAsync` over the first page, plus older pages on demand.
 * A new query (deps) starts from the first page; a refresh keeps the older pages where it can (see
 * `keyOf`).
 */
export function usePages<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>, deps: readonly unknown[], options: PagesOptions<T> = {}): PagesResult<T> {
  const [more, setMore] = useState<readonly T[]>([]);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const [moreError, setMoreError] = useState<unknown>(null);
  const shown = useRef<Shown<T> | undefined>(undefined);
  const { keyOf } = options;
  const { state: first, reload } = useAsync(
    async (): Promise<readonly T[]> => {
      const page = await fetchPage(undefined);
      const before = shown.current;
      const kept = before !== undefined && keyOf !== undefined && before.more.length > 0 && sameDeps(before.deps, deps) ? olderThan(page.items, [...before.first, ...before.more], keyOf) : undefined;
      shown.current = { deps, first: page.items, more: kept ?? [] };
      setMore(kept ?? []);
      // Kept pages end where the old cursor points; a fresh start goes on from the new page.
      if (kept === undefined) {
        setCursor(page.nextCursor);
      }
      return page.items;
    },
    deps,
    { ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }), refreshKey: options.refreshKey },
  );
  const state = useMemo((): AsyncState<readonly T[]> => (first.status === 'ready' ? { ...first, data: [...first.data, ...more] } : first), [first, more]);
  const loadMore =
    cursor === undefined
      ? undefined
      : async (): Promise<void> => {
          const base = shown.current;
          try {
            const page = await fetchPage(cursor);
            // A new query or a fresh start in the meantime: this page no longer follows what is shown.
            if (shown.current !== base || base === undefined) {
              return;
            }
            const next = [...base.more, ...page.items];
            shown.current = { ...base, more: next };
            setMore(next);
            setCursor(page.nextCursor);
            setMoreError(null);
          } catch (e) {
            setMoreError(e);
          }
        };
  return { state, reload, loadMore, moreError };
}
